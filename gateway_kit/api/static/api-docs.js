// "Try it" on /api/docs: sends an operation's request with the token typed on the page (or the
// signed-in session) and shows the answer. Loaded from this origin (the CSP allows no inline script).
(function () {
  "use strict";
  var auth = document.getElementById("try-auth");
  var tokenInput = document.getElementById("try-token");
  if (!auth || !tokenInput) { return; }

  function show(pre, text) { pre.hidden = false; pre.textContent = text; }

  document.querySelectorAll("form.try-it").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var method = form.getAttribute("data-method");
      var path = form.getAttribute("data-path");
      var query = new URLSearchParams();
      form.querySelectorAll("input[data-in]").forEach(function (input) {
        if (input.getAttribute("data-in") === "path") {
          path = path.replace("{" + input.name + "}", encodeURIComponent(input.value));
        } else if (input.value !== "") {
          query.append(input.name, input.value);
        }
      });
      var url = path + (query.toString() ? "?" + query.toString() : "");
      var headers = { "Accept": "application/json" };
      var token = tokenInput.value.trim();
      var init = { method: method, headers: headers, credentials: token ? "omit" : "same-origin" };
      if (token) {
        headers["Authorization"] = "Bearer " + token;
      } else if (method !== "GET" && method !== "HEAD") {
        headers["X-CSRF-Token"] = auth.getAttribute("data-csrf");
      }
      var body = form.querySelector("textarea[name=__body]");
      if (body) {
        headers["Content-Type"] = form.getAttribute("data-body-type") || "application/json";
        init.body = body.value;
      }
      var pre = form.querySelector(".try-result");
      show(pre, method + " " + url + " ...");
      fetch(url, init).then(function (resp) {
        return resp.text().then(function (text) {
          var shown = text;
          try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
          show(pre, method + " " + url + "\n" + resp.status + " " + resp.statusText + "\n\n" + shown);
        });
      }).catch(function (err) { show(pre, method + " " + url + "\nfailed: " + err); });
    });
  });
}());
