// labelreset console: a little plain JavaScript on top of pages that work
// without it. No inline script (the CSP forbids it); everything hangs off
// data attributes and the IDs of the console's contract.
"use strict";

// Tables with data-refresh swap their tbody with a fresh one from the same
// URL (fragment=1) every data-refresh milliseconds while the tab is visible.
function refreshTables() {
  document.querySelectorAll("table[data-refresh]").forEach(function (table) {
    var every = parseInt(table.dataset.refresh, 10) || 5000;
    setInterval(function () {
      if (document.hidden) return;
      var url = new URL(window.location.href);
      url.searchParams.set("fragment", "1");
      fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (!html) return;
        var tpl = document.createElement("template");
        tpl.innerHTML = html.trim();
        var body = tpl.content.querySelector("tbody");
        var old = table.querySelector("tbody");
        if (body && old) old.replaceWith(body);
      }).catch(function () {});
    }, every);
  });
}

// Forms with data-confirm-value keep their submit button disabled until the
// input named confirm holds exactly that value (the campaign ID). The
// server checks it as well.
function confirmForms() {
  document.querySelectorAll("form[data-confirm-value]").forEach(function (form) {
    var input = form.querySelector("input[name=confirm]");
    var button = form.querySelector("button[type=submit]");
    if (!input || !button) return;
    var check = function () { button.disabled = input.value.trim() !== form.dataset.confirmValue; };
    input.addEventListener("input", check);
    check();
  });
}

// The new-campaign form: the labels input counts only in mode remove (a
// disabled input is not sent), unchecking the snapshot shows its warning,
// and the plan is fetched and shown in place, so that a chosen file stays
// chosen. Without the script the plan comes back as a page of its own.
function newCampaignForm() {
  var form = document.getElementById("new-campaign");
  if (!form) return;
  var mode = document.getElementById("mode");
  var labels = document.getElementById("labels");
  var snapshot = document.getElementById("snapshot");
  var warning = document.getElementById("snapshot-warning");
  var syncMode = function () {
    var remove = mode.value === "remove";
    labels.disabled = !remove;
    labels.required = remove;
  };
  var syncSnapshot = function () { warning.hidden = snapshot.checked; };
  mode.addEventListener("change", syncMode);
  snapshot.addEventListener("change", syncSnapshot);
  syncMode();
  syncSnapshot();

  var main = document.getElementById("main");
  // replace puts the response's element id (or none) where the page's is,
  // before the element that where() finds once the old one is gone.
  var replace = function (id, fresh, where) {
    var old = document.getElementById(id);
    if (old) old.remove();
    if (!fresh) return;
    var before = where();
    before.parentNode.insertBefore(document.importNode(fresh, true), before);
  };
  form.addEventListener("submit", function (ev) {
    if (!ev.submitter || ev.submitter.id !== "plan-submit" || !window.fetch || !window.DOMParser) return;
    ev.preventDefault();
    var button = ev.submitter;
    button.disabled = true;
    var plan = document.getElementById("plan");
    if (plan) plan.classList.add("loading");
    fetch("/ui/new/plan", { method: "POST", body: new FormData(form), credentials: "same-origin" }).then(function (r) {
      if (r.status === 401) { window.location.reload(); return null; }
      return r.text();
    }).then(function (html) {
      if (html === null) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      var flash = document.getElementById("flash");
      if (flash) flash.remove();
      replace("error", doc.getElementById("error"), function () { return main.firstElementChild; });
      replace("plan", doc.getElementById("plan"), function () { return form; });
      var shown = document.getElementById("plan") || document.getElementById("error");
      if (shown) shown.scrollIntoView({ block: "nearest" });
    }).catch(function () {
      // The network failed: send the form the ordinary way.
      form.action = "/ui/new/plan";
      form.submit();
    }).finally(function () {
      button.disabled = false;
      var p = document.getElementById("plan");
      if (p) p.classList.remove("loading");
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  refreshTables();
  confirmForms();
  newCampaignForm();
  if (window.labelresetPage) window.labelresetPage();
});
