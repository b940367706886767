// Behaviour that templates declare with data attributes (the CSP allows no inline script or style).
"use strict";
(function () {
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
})();
