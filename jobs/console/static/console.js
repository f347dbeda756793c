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

// The failures section (section#failures[data-fragment]): its filter form
// and paging links fetch the section alone and swap it in place, so the
// live page around it is not reloaded; the address bar keeps the filter.
// Without the script they load the campaign page with the same query.
var failureParams = ["outcome", "reason", "asset", "after"];
function loadFailures(section, params) {
  if (!section || !section.dataset.fragment) return;
  var q = new URLSearchParams();
  q.set("fragment", "1"); // a lapsed session answers 401, not the sign-in page
  failureParams.forEach(function (k) { if (params.get(k)) q.set(k, params.get(k)); });
  fetch(section.dataset.fragment + "?" + q.toString(), { credentials: "same-origin" }).then(function (r) {
    if (r.status === 401) { window.location.reload(); return null; }
    return r.text();
  }).then(function (html) {
    if (!html) return;
    var tpl = document.createElement("template");
    tpl.innerHTML = html.trim();
    var fresh = tpl.content.querySelector("section#failures");
    if (!fresh) return;
    section.replaceWith(fresh);
    var url = new URL(window.location.href);
    failureParams.forEach(function (k) { url.searchParams.delete(k); if (q.get(k)) url.searchParams.set(k, q.get(k)); });
    url.hash = "failures";
    history.replaceState(null, "", url);
  }).catch(function () {});
}
function failuresSection() {
  document.addEventListener("submit", function (e) {
    if (e.target.id !== "failures-filter") return;
    e.preventDefault();
    loadFailures(e.target.closest("section"), new URLSearchParams(new FormData(e.target)));
  });
  document.addEventListener("click", function (e) {
    var a = e.target.closest ? e.target.closest("#failures-next, #failures-first") : null;
    if (!a) return;
    e.preventDefault();
    loadFailures(a.closest("section"), new URL(a.href).searchParams);
  });
}

document.addEventListener("DOMContentLoaded", function () {
  failuresSection();
  refreshTables();
  confirmForms();
  if (window.labelresetPage) window.labelresetPage();
});
