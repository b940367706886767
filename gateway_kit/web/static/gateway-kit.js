// Behaviour that templates declare with data attributes (the CSP allows no inline script or style).
"use strict";
// Shared helpers for the pages' scripts (loaded after this file).
window.GK = {
  // Service units as the pages print them (jobs.accounting.fmt): 2 decimals from 1 SU, two
  // significant digits below, so a small charge never reads 0.00.
  su: function (su) {
    if (su === 0 || isNaN(su)) { return "0.00"; }
    if (Math.abs(su) >= 1) {
      return su.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    }
    var lead = Math.max(0, -Math.floor(Math.log10(Math.abs(su))) - 1);
    return su.toFixed(Math.min(6, Math.max(2, lead + 2)));
  },
  // Sizes as the pages print them (web/sizes.py human_size): decimal units, 1 kB = 1000 bytes.
  size: function (n) {
    var units = ["B", "kB", "MB", "GB", "TB"], i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    return i ? n.toFixed(2) + " " + units[i] : n + " B";
  }
};
(function () {
  // The navigation's menu button (narrow screens).
  var toggle = document.getElementById("nav-toggle");
  var bar = document.getElementById("topbar");
  if (toggle && bar) {
    toggle.addEventListener("click", function () {
      var open = bar.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }
  // <span data-width="42.5">: a bar filled to 42.5 % (set through the CSSOM, which the CSP allows).
  document.querySelectorAll("[data-width]").forEach(function (el) {
    var pct = parseFloat(el.getAttribute("data-width"));
    if (!isNaN(pct)) { el.style.width = Math.max(0, Math.min(100, pct)) + "%"; }
  });
  // <select data-autosubmit>: submit its form on change.
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { if (el.form) { el.form.submit(); } });
  });
  // <button data-confirm="Really?">: ask before submitting.
  document.querySelectorAll("[data-confirm]").forEach(function (el) {
    el.addEventListener("click", function (ev) {
      if (!window.confirm(el.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });
  // A field error inside a collapsed <details>: open it so the message is seen.
  document.querySelectorAll("details .field-error").forEach(function (el) {
    var d = el.closest("details");
    while (d) { d.open = true; d.classList.add("has-errors"); d = d.parentElement && d.parentElement.closest("details"); }
  });
})();
