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
  // later, waiting longer each time. A signed-out session stops them for good.
  var requested = 0, applied = 0;
  function refresh() {
    var ticket = ++requested;
    return fetch(window.location.href, { credentials: "same-origin", redirect: "manual", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401) { throw new Error("signed out"); }
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (ticket < applied) { return; }   // a later refresh already landed: never go back in time
        applied = ticket;
        var next = new DOMParser().parseFromString(html, "text/html");
        var current = document.querySelectorAll("[data-live-region]");
        var fresh = next.querySelectorAll("[data-live-region]");
        if (current.length !== fresh.length) { throw new Error("the page changed shape"); }
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
    var reconnect = null;
    var stopped = false;
    // The feed compares with the state this page shows, so a change in between is not missed; it moves only once
    // a refresh has landed.
    var since = document.getElementById("main").getAttribute("data-live-since") || "";

    function stop(text) {
      stopped = true;
      if (source) { source.close(); source = null; }
      clearTimeout(watchdog);
      clearTimeout(reconnect);
      showStatus(text);
    }

    function armWatchdog() {
      clearTimeout(watchdog);
      watchdog = setTimeout(function () { dropped("no heartbeat for 35 s"); }, 35000);
    }

    function later(delay) {
      if (stopped || reconnect !== null) { return; }   // one reconnection at a time
      reconnect = setTimeout(function () { reconnect = null; connect(); }, delay);
    }

    function dropped(reason) {
      if (stopped) { return; }
      if (source) { source.close(); source = null; }
      clearTimeout(watchdog);
      // A feed refused because the session ended looks like any error to EventSource: ask the page itself.
      fetch(window.location.href, { credentials: "same-origin", redirect: "manual" }).then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401) {
          stop("Signed out: live updates stopped. Sign in again to follow.");
          return;
        }
        showStatus("Live updates paused (" + reason + "); retrying in " + Math.round(retryDelay / 1000) + " s. Reload to see the latest.");
        later(retryDelay);
        retryDelay = Math.min(retryDelay * 2, 60000);
      }, function () {
        showStatus("Live updates paused (" + reason + "); retrying in " + Math.round(retryDelay / 1000) + " s. Reload to see the latest.");
        later(retryDelay);
        retryDelay = Math.min(retryDelay * 2, 60000);
      });
    }

    function connect() {
      if (stopped || source) { return; }
      var current = new EventSource("/console/live?since=" + encodeURIComponent(since));
      source = current;
      current.addEventListener("open", function () {
        retryDelay = 5000;
        document.body.setAttribute("data-live", "connected");
        armWatchdog();
        // Back after a drop: catch up once, then say it is live again.
        if (status && !status.hidden) { refresh().then(function () { showStatus(""); }, function () {}); }
      });
      current.addEventListener("heartbeat", armWatchdog);
      current.addEventListener("change", function (event) {
        armWatchdog();
        refresh().then(function () {
          since = event.data;
          showStatus("");
        }, function (error) {
          if (String(error.message) === "signed out") { stop("Signed out: live updates stopped. Sign in again to follow."); return; }
          dropped("the page could not be fetched");
        });
      });
      current.addEventListener("signed-out", function () { stop("Signed out: live updates stopped. Sign in again to follow."); });
      // The server ends a feed after a while: reconnect at once, without a word.
      current.addEventListener("end", function () {
        current.close();
        if (source === current) { source = null; }
        clearTimeout(watchdog);
        later(0);
      });
      current.addEventListener("error", function () {
        if (source === current) { dropped("connection lost"); }
      });
    }

    connect();
    window.addEventListener("beforeunload", function () { stopped = true; if (source) { source.close(); } });
  }

  document.addEventListener("DOMContentLoaded", function () {
    status = document.getElementById("live-status");
    localizeTimes(document);
    var main = document.getElementById("main");
    if (main && main.getAttribute("data-live") === "on" && window.EventSource) { follow(); }
  });
})();
