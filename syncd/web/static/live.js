// syncd status page: keeps server-rendered parts live over /ws. The page works without it.
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  var timers = {};
  var inflight = {};
  var backoff = 500;

  function say(state) {
    if (!status) return;
    status.className = "live live-" + state;
    var text = status.getAttribute("data-text-" + state) || "";
    status.textContent = text;
  }

  function topId(el) {
    var row = el.querySelector("[data-movement-id]");
    return row ? parseInt(row.getAttribute("data-movement-id"), 10) : 0;
  }

  function refresh(el) {
    var name = el.getAttribute("data-live");
    if (inflight[name]) { schedule(el, 300); return; }
    inflight[name] = true;
    var query = el.getAttribute("data-live-query") || "";
    var before = topId(el);
    fetch("/partials/" + name + (query ? "?" + query : ""), {
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (response) {
      if (response.status === 401 || response.redirected) { window.location.reload(); return null; }
      if (!response.ok) { schedule(el, 3000); return null; }
      return response.text();
    }).then(function (html) {
      if (html === null || html === undefined) return;
      var open = {};
      el.querySelectorAll("details[open]").forEach(function (d, i) { open[i] = true; });
      el.innerHTML = html;
      el.querySelectorAll("details").forEach(function (d, i) { if (open[i]) d.open = true; });
      el.querySelectorAll("[data-movement-id]").forEach(function (row) {
        if (before && parseInt(row.getAttribute("data-movement-id"), 10) > before) {
          row.classList.add("new");
        }
      });
    }).catch(function () {
      schedule(el, 1000);  // a dropped connection: try again soon, not at the next event
    }).finally(function () { inflight[name] = false; });
  }

  function schedule(el, delay) {
    var name = el.getAttribute("data-live");
    if (timers[name]) return;
    timers[name] = setTimeout(function () { timers[name] = null; refresh(el); }, delay);
  }

  function onEvent(event) {
    document.querySelectorAll("[data-live-on]").forEach(function (el) {
      var wanted = el.getAttribute("data-live-on").split(" ");
      if (wanted.indexOf(event.event) >= 0) schedule(el, 250);
    });
  }

  function connect() {
    say("connecting");
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + "/ws");
    socket.onopen = function () {
      backoff = 500;
      say("on");
      // Catch up on what happened while we were away.
      document.querySelectorAll("[data-live]").forEach(function (el) { schedule(el, 50); });
    };
    socket.onmessage = function (message) {
      try { onEvent(JSON.parse(message.data)); } catch (e) { /* not JSON: ignore */ }
    };
    socket.onclose = function () {
      say("lost");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    };
  }

  document.querySelectorAll("[data-live-every]").forEach(function (el) {
    var seconds = parseInt(el.getAttribute("data-live-every"), 10);
    if (seconds > 0) setInterval(function () { schedule(el, 0); }, seconds * 1000);
  });
  if ("WebSocket" in window && "fetch" in window) connect();
})();
