// My sessions: refresh each row's state, time left and Connect link from the JSON API (no inline
// script: the pages run under a strict Content-Security-Policy). Launch form: the expected charge
// follows the duration field.
(function () {
  "use strict";
  var table = document.getElementById("sessions");
  if (table) {
    var LIVE = ["queued", "starting", "ready", "ending"];
    // Once the user follows a link or sends a form, a reload would cancel that navigation (and
    // bring them back here): the page is leaving, it refreshes no more.
    var leaving = false;
    window.addEventListener("beforeunload", function () { leaving = true; });
    window.addEventListener("pageshow", function () { leaving = false; });
    var refresh = function () {
      fetch(table.dataset.api, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (data) {
          var changed = false;
          data.sessions.forEach(function (s) {
            var row = document.getElementById("session-" + s.id);
            if (!row) { return; }
            if (row.dataset.state !== s.state) { changed = true; }
            var left = row.querySelector("[data-role=time-left]");
            left.textContent = s.time_left === null ? "" : Math.floor(s.time_left / 60) + " min";
          });
          // A state change re-renders the page: Connect, Extend and End follow the new state.
          if (changed && !leaving) { window.location.reload(); }
        })
        .catch(function () { /* try again at the next tick */ });
    };
    var anyLive = Array.prototype.some.call(table.querySelectorAll("tr[data-state]"), function (row) {
      return LIVE.indexOf(row.dataset.state) >= 0;
    });
    if (anyLive) { window.setInterval(refresh, 1000); }
  }
  var hours = document.getElementById("hours"), est = document.getElementById("estimate-su");
  var box = document.getElementById("estimate"), where = document.getElementById("destination");
  if (hours && est && box && box.dataset.rate) {
    var update = function () {
      var h = parseFloat(hours.value);
      if (where) {
        var opt = where.options[where.selectedIndex];
        box.dataset.rate = opt.dataset.rate;
        document.getElementById("estimate-destination").textContent = opt.value;
      }
      if (!isNaN(h) && h > 0) { est.textContent = (h * parseFloat(box.dataset.rate)).toFixed(2); }
    };
    hours.addEventListener("input", update);
    if (where) { where.addEventListener("change", update); }
  }
}());
