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

// ---- Campaign page ----------------------------------------------------
// section#campaign[data-live] opens an EventSource on the campaign's live
// stream and updates the counters, progress, rate, ETA, limiter and
// snapshot in place; a new state reloads the page, so that the buttons
// match it. Without the script the page is complete as served.

function formatCount(n) {
  return Number(n || 0).toLocaleString("en-US");
}

function formatRate(r) {
  if (!r || r <= 0) return "\u2014";
  return (r < 10 ? r.toFixed(1) : formatCount(Math.round(r))) + "/s";
}

function formatDuration(s) {
  if (!s || s <= 0) return "\u2014";
  s = Math.round(s);
  if (s < 60) return s + "s";
  var m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (s < 3600) return m + "m" + String(s % 60).padStart(2, "0") + "s";
  if (h < 48) return h + "h" + String(m % 60).padStart(2, "0") + "m";
  return Math.floor(h / 24) + "d" + String(h % 24).padStart(2, "0") + "h";
}

function formatTime(iso) {
  var d = new Date(iso);
  if (isNaN(d)) return "";
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function setText(id, value) {
  var el = document.getElementById(id);
  if (el && el.textContent !== String(value)) el.textContent = value;
}

function renderLimiter(l) {
  var el = document.getElementById("limiter");
  if (!el) return;
  var text = "not known";
  if (l) {
    text = l.effective_rate > 0 ? formatRate(l.effective_rate) : "unlimited";
    if (l.rate > 0 && l.effective_rate < l.rate) text += " (of " + formatRate(l.rate) + ": lowered after 429s)";
    if (l.paused_until && new Date(l.paused_until) > new Date()) text += " \u00b7 paused until " + formatTime(l.paused_until);
  }
  el.textContent = text;
}

function renderSnapshot(s, total) {
  var el = document.getElementById("snapshot");
  if (!el || !s || !s.enabled) return;
  // The complete summary is rendered by the server (the page reloads on
  // a state change); live updates only follow the listing.
  if (s.complete) {
    if (!el.querySelector("[data-phase=complete]")) window.location.reload();
    return;
  }
  var text = "listing: " + formatCount(s.pages) + " pages, " + formatCount(s.listed) + " assets listed, " +
    formatCount(s.found) + " of " + formatCount(total) + " found";
  if (s.segments) text += " (" + s.segments_done + " of " + s.segments + " segments complete)";
  var p = el.querySelector("p");
  if (p) p.textContent = text + ".";
}

function campaignLive() {
  var section = document.getElementById("campaign");
  if (!section || !section.dataset.live || !window.EventSource) return;
  var state = section.dataset.state;
  var source = new EventSource(section.dataset.live);
  // An action posted from this page changes the state itself and answers
  // with the page to show: a reload for that change would abort it (and
  // lose its message), so the stream ends when a form posts.
  document.addEventListener("submit", function (e) {
    if (e.target.method === "post") source.close();
  });
  source.addEventListener("progress", function (e) {
    var d;
    try { d = JSON.parse(e.data); } catch (err) { return; }
    if (d.state !== state) {
      source.close();
      window.location.reload();
      return;
    }
    Object.keys(d.counts || {}).forEach(function (o) { setText("count-" + o, d.counts[o]); });
    setText("finished", d.finished);
    setText("total", d.total);
    var bar = document.getElementById("progress");
    if (bar) { bar.max = d.total; bar.value = d.finished; }
    setText("percent", d.total > 0 ? (Math.floor(d.finished * 1000 / d.total) / 10) + "%" : "0%");
    setText("rate", formatRate(d.rate));
    setText("eta", formatDuration(d.eta_seconds));
    renderLimiter(d.limiter);
    renderSnapshot(d.snapshot, d.total);
  });
  source.addEventListener("gone", function () {
    source.close();
    window.location.reload();
  });
  // The browser reconnects by itself after an error; a stream refused
  // (503, too many) leaves the page as served.
}

document.addEventListener("DOMContentLoaded", function () {
  refreshTables();
  confirmForms();
  campaignLive();
  if (window.labelresetPage) window.labelresetPage();
});
