// Live state and log tail of a job page (vendored; no external code). Polls the JSON API with the
// session cookie: the job every second, the logs from the last offset read. When the state changes
// the events, outputs and service units are refreshed in place (the page is never reloaded, so the
// log tail and the reader's scroll position stay).
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) { return; }
  var api = root.dataset.api, logsUrl = root.dataset.logs;
  var offsets = { stdout: 0, stderr: 0 };
  var ENDED = ["COMPLETED", "FAILED", "CANCELED", "TIMED_OUT"];
  var shown = document.getElementById("job-state").textContent.trim();
  var refreshed = root.dataset.terminal === "true";  // outputs already rendered by the server
  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); });
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }
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
  function showEvents(url) {
    return getJSON(url).then(function (r) {
      var table = document.getElementById("events");
      if (!table) { return; }
      clear(table);
      r.events.forEach(function (e) {
        var tr = el("tr");
        tr.appendChild(el("td", (e.at || "").substring(11, 19)));
        tr.appendChild(el("td", (e.from || "") + " \u2192 " + (e.to || "")));
        tr.appendChild(el("td", e.message || ""));
        table.appendChild(tr);
      });
    });
  }
  function showOutputs(url) {
    return getJSON(url).then(function (r) {
      var list = document.getElementById("outputs");
      if (!list) { return; }
      clear(list);
      if (!r.outputs.length) { list.appendChild(el("li", "None yet.", "muted")); }
      r.outputs.forEach(function (o) {
        var li = el("li"), a = el("a", o.path);
        a.href = o.url;
        li.appendChild(a);
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", window.GK.size(o.size), "muted"));
        var view = el("a", "view", "view-output");
        view.href = root.dataset.files + o.path.split("/").map(encodeURIComponent).join("/");
        li.appendChild(document.createTextNode(" "));
        li.appendChild(view);
        list.appendChild(li);
      });
    });
  }
  function showJob(job, ended) {
    var badge = document.getElementById("job-state");
    badge.textContent = job.state;
    badge.className = "badge state-" + job.state;
    document.getElementById("job-reason").textContent = job.state_reason || "";
    var sus = document.getElementById("job-sus");
    if (sus && job.su_charged !== null && job.su_charged !== undefined) {
      sus.textContent = window.GK.su(job.su_charged) + " charged";
    } else if (sus && job.su_reserved !== null && job.su_reserved !== undefined) {
      sus.textContent = "up to " + window.GK.su(job.su_reserved) + " reserved";
    }
    var cancel = document.getElementById("cancel-form");
    if (ended && cancel) { cancel.parentNode.removeChild(cancel); }
    // "Job 12 submitted." is news only while the job is queued.
    if (job.state !== "QUEUED") {
      document.querySelectorAll(".flash.transient").forEach(function (f) { f.parentNode.removeChild(f); });
    }
    root.dataset.terminal = ended ? "true" : "false";
  }
  function tick() {
    Promise.all([getJSON(api), pullLog("stdout"), pullLog("stderr")]).then(function (r) {
      var job = r[0];
      var ended = ENDED.indexOf(job.state) >= 0;
      var changed = job.state !== shown;
      var pending = [];
      if (changed || (ended && !refreshed)) {
        showJob(job, ended);
        if (job.links) {
          pending.push(showEvents(job.links.events));
          if (ended || changed) { pending.push(showOutputs(job.links.outputs)); }
        }
      }
      return Promise.all(pending).then(function () {
        shown = job.state;
        if (ended) { refreshed = true; }
        if (!ended || r[1].data || r[2].data) { setTimeout(tick, ended ? 200 : 1000); }
      });
    }).catch(function () { setTimeout(tick, 5000); });
  }
  tick();
})();
