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

document.addEventListener("DOMContentLoaded", function () {
  refreshTables();
  confirmForms();
  if (window.labelresetPage) window.labelresetPage();
});
