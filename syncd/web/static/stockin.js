// syncd delivery and count pages: the scan field keeps the focus, and scans are sent one after
// the other without reloading the page, so a fast scanner (a code and Enter every 200 ms) loses
// none. Without this script each scan is a plain form post and the page comes back focused.
(function () {
  "use strict";
  var form = document.getElementById("scan-form");
  var input = document.getElementById("scan-code");
  if (!form || !input || !("fetch" in window) || !("DOMParser" in window)) return;
  var status = document.getElementById("scan-status");
  var queue = [];
  var scanIds = [];  // one per queued scan: sent again after a dropped connection, counted once
  var busy = false;

  function newId() {
    var bytes = new Uint8Array(8);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function say(text, failed) {
    if (!status) return;
    status.textContent = text;
    status.className = "scan-status small" + (failed ? " failed" : "");
  }

  function editing(el) {
    return el && el !== input && /^(INPUT|SELECT|TEXTAREA|BUTTON|SUMMARY|A)$/.test(el.tagName);
  }

  // Back to the scan field whenever nothing else asked for the focus.
  input.addEventListener("blur", function () {
    setTimeout(function () {
      if (!editing(document.activeElement)) input.focus();
    }, 0);
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var code = input.value.trim();
    input.value = "";
    if (!code) return;
    queue.push(code);
    scanIds.push(newId());
    pump();
  });

  function swap(html, url) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var region = fresh.getElementById("draft");
    var current = document.getElementById("draft");
    if (!region || !current) { window.location.assign(url); return; }
    // Keep the quantities the merchant is typing: a scan must not undo them.
    var typed = {};
    current.querySelectorAll("input.qty").forEach(function (q) {
      if (q.value !== q.defaultValue) typed[q.getAttribute("data-code")] = q.value;
    });
    var focused = document.activeElement && current.contains(document.activeElement)
      ? document.activeElement.id : "";
    region.querySelectorAll("input.qty").forEach(function (q) {
      var code = q.getAttribute("data-code");
      if (Object.prototype.hasOwnProperty.call(typed, code)) q.value = typed[code];
    });
    current.replaceWith(document.adoptNode(region));
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    var freshForm = fresh.getElementById("scan-form");
    if (freshForm) form.setAttribute("action", freshForm.getAttribute("action"));
    if (url && window.history && window.history.replaceState) window.history.replaceState(null, "", url);
  }

  function pump() {
    if (busy || !queue.length) return;
    busy = true;
    say(status ? status.getAttribute("data-text-sending") : "", false);
    var code = queue[0];
    var body = new URLSearchParams();
    form.querySelectorAll("input[type=hidden]").forEach(function (h) { body.set(h.name, h.value); });
    body.set("code", code);
    body.set("scan_id", scanIds[0]);
    fetch(form.getAttribute("action"), {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (response) {
      return response.text().then(function (html) {
        if (!response.ok) throw { refused: true };
        queue.shift();
        scanIds.shift();
        swap(html, response.url);
      });
    }).then(function () {
      busy = false;
      if (queue.length) pump(); else say("", false);
    }, function (error) {
      busy = false;
      if (error && error.refused) {
        // Refused (the form expired, the list was booked elsewhere): say which codes wait.
        var lost = queue.splice(0, queue.length);
        scanIds.splice(0, scanIds.length);
        say((status ? status.getAttribute("data-text-failed") : "") + " " + lost.join(", "), true);
      } else {
        setTimeout(pump, 1000);  // the connection dropped: send the same scan again
      }
    });
  }
})();
