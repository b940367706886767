// Live state and log tail of a job page (vendored; no external code). Polls the JSON API with the
// session cookie: the job every 2 s, the logs from the last offset read.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) { return; }
  var api = root.dataset.api, logsUrl = root.dataset.logs;
  var offsets = { stdout: 0, stderr: 0 };
  var done = root.dataset.terminal === "true";
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }
  function pullLog(stream) {
    return getJSON(logsUrl + "?stream=" + stream + "&offset=" + offsets[stream]).then(function (c) {
      if (c.data) {
        var pre = document.getElementById("log-" + stream);
        var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        pre.appendChild(document.createTextNode(c.data));
        if (atEnd) { pre.scrollTop = pre.scrollHeight; }
      }
      offsets[stream] = c.next_offset;
      return c;
    });
  }
  function tick() {
    Promise.all([getJSON(api), pullLog("stdout"), pullLog("stderr")]).then(function (r) {
      var job = r[0];
      var badge = document.getElementById("job-state");
      if (badge.textContent !== job.state) {
        badge.textContent = job.state;
        badge.className = "badge state-" + job.state;
        document.getElementById("job-reason").textContent = job.state_reason || "";
      }
      var ended = ["COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"].indexOf(job.state) >= 0;
      if (ended && !done) { window.location.reload(); return; }
      if (!ended || r[1].data || r[2].data) { setTimeout(tick, ended ? 200 : 1500); }
    }).catch(function () { setTimeout(tick, 5000); });
  }
  tick();
})();
