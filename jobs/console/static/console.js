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
    if (expressMoved(d.express)) {
      source.close();
      window.location.reload();
    }
  });
  source.addEventListener("gone", function () {
    source.close();
    window.location.reload();
  });
  // The browser reconnects by itself after an error; a stream refused
  // (503, too many) leaves the page as served.
}

// expressMoved follows an express campaign's bulk call (#express): true
// for a new express state, which reloads the page, whose Express panel
// says what that state means; within a state only the verified count
// moves. A panel served without a state (not readable) is left alone.
function expressMoved(x) {
  var el = document.getElementById("express");
  if (!x || !el || el.dataset.expressState === undefined) return false;
  if ((x.state || "waiting") !== el.dataset.expressState) return true;
  if (document.getElementById("express-verified")) {
    setText("express-verified", formatCount(x.verified) + " seen without the labels (path bulk)");
  }
  return false;
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
  failuresSection();
  refreshTables();
  confirmForms();
  campaignLive();
  newCampaignForm();
});
