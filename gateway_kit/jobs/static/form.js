// The job form: the expected cost in SUs and the charged project's balance, updated as the
// resources or the project change (the server checks both again at submission).
"use strict";
(function () {
  var form = document.getElementById("job-form");
  if (!form) { return; }
  var perCpu = parseFloat(form.getAttribute("data-su-cpu")) || 0;
  var perGpu = parseFloat(form.getAttribute("data-su-gpu")) || 0;
  var cost = document.getElementById("su-cost");
  var balance = document.getElementById("su-balance");
  var box = document.getElementById("su-estimate");
  var project = document.getElementById("project");

  var fmt = window.GK.su;
  function value(key) {
    var el = form.querySelector("[data-resource='" + key + "']");
    var v = el ? parseFloat(el.value) : NaN;
    return isNaN(v) ? 0 : v;
  }
  function selectedBalance() {
    if (!project) { return null; }
    var opt = project.tagName === "SELECT" ? project.options[project.selectedIndex] : project;
    var b = opt ? parseFloat(opt.getAttribute("data-balance")) : NaN;
    return isNaN(b) ? null : b;
  }
  function update() {
    var su = Math.round(value("walltime") / 3600 * (value("cpus") * perCpu + value("gpus") * perGpu) * 1e6) / 1e6;
    if (cost) { cost.textContent = fmt(su); }
    var b = selectedBalance();
    if (b !== null && balance) { balance.textContent = fmt(b); }
    if (box) { box.classList.toggle("over", b !== null && su > b); }
  }
  form.querySelectorAll("[data-resource]").forEach(function (el) { el.addEventListener("input", update); });
  if (project) { project.addEventListener("change", update); }
  update();
})();
