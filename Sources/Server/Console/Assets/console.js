// The console's only script: local times, confirmations, and the live feed. Pages work without it.
(function () {
  "use strict";

  // Times arrive in UTC; show them in the viewer's zone, UTC on hover.
  function localizeTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      var date = new Date(element.getAttribute("datetime"));
      if (isNaN(date.getTime())) { return; }
      element.title = element.getAttribute("datetime").replace("T", " ").replace("Z", " UTC");
      element.textContent = date.toLocaleString();
    });
  }

  // Forms that change something ask first.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  var status = null;
  function showStatus(text) {
    if (!status) { return; }
    status.textContent = text;
    status.hidden = !text;
  }

  // Live pages refresh their live regions when the server says something changed. When the feed drops (no
  // message, not even a heartbeat, for 35 s, or an error) updates stop, the page says so, and it tries again
  // later, waiting longer each time.
  function refresh() {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || response.status === 401) { throw new Error("signed out"); }
        return response.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html");
        var current = document.querySelectorAll("[data-live-region]");
        var fresh = next.querySelectorAll("[data-live-region]");
        if (current.length !== fresh.length) { return; }
        current.forEach(function (region, index) {
          region.replaceWith(fresh[index]);
          localizeTimes(fresh[index]);
        });
        document.body.setAttribute("data-refreshed", String(Date.now()));
      });
  }

  function follow() {
    var retryDelay = 5000;
    var source = null;
    var watchdog = null;

    function armWatchdog() {
      clearTimeout(watchdog);
      watchdog = setTimeout(function () { dropped("no heartbeat for 35 s"); }, 35000);
    }

    function dropped(reason) {
      if (source) { source.close(); source = null; }
      clearTimeout(watchdog);
      showStatus("Live updates paused (" + reason + "); retrying in " + Math.round(retryDelay / 1000) + " s. Reload to see the latest.");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 60000);
    }

    // The feed compares with the state this page was rendered at, so a change in between is not missed.
    var since = document.getElementById("main").getAttribute("data-live-since") || "";

    function connect() {
      source = new EventSource("/console/live?since=" + encodeURIComponent(since));
      source.addEventListener("open", function () {
        retryDelay = 5000;
        showStatus("");
        document.body.setAttribute("data-live", "connected");
        armWatchdog();
      });
      source.addEventListener("heartbeat", armWatchdog);
      source.addEventListener("change", function (event) {
        armWatchdog();
        since = event.data;
        refresh().catch(function () { dropped("the page could not be fetched"); });
      });
      source.addEventListener("signed-out", function () {
        source.close();
        clearTimeout(watchdog);
        showStatus("Signed out: live updates stopped.");
      });
      source.addEventListener("error", function () { dropped("connection lost"); });
    }

    connect();
    window.addEventListener("beforeunload", function () { if (source) { source.close(); } });
  }

  document.addEventListener("DOMContentLoaded", function () {
    status = document.getElementById("live-status");
    localizeTimes(document);
    var main = document.getElementById("main");
    if (main && main.getAttribute("data-live") === "on" && window.EventSource) { follow(); }
  });
})();
