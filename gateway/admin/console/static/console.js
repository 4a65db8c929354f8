// approach-gateway console: the only script (CSP script-src 'self'; no inline script anywhere).
// Live lint of the policy editor: posts the edited text to the server's lint (the same checks as
// `approach-gateway policy lint`) and shows its errors with file:line. Results go in as text,
// never as HTML.
"use strict";
(function () {
  var form = document.getElementById("edit-form");
  var text = document.getElementById("policy-text");
  var out = document.getElementById("lint-results");
  if (!form || !text || !out) { return; }
  var timer = null;
  var seq = 0;
  function show(result) {
    out.textContent = "";
    var list = document.createElement(result.ok ? "p" : "ul");
    if (result.ok) {
      list.className = "ok";
      list.id = "lint-ok";
      list.textContent = "Lint passed: " + result.rules + " rules.";
    } else {
      list.className = "error";
      list.id = "lint-errors";
      result.errors.forEach(function (e) {
        var li = document.createElement("li");
        li.textContent = e;
        list.appendChild(li);
      });
    }
    out.appendChild(list);
  }
  function lint() {
    var mine = ++seq;
    var data = new FormData();
    data.append("csrf", form.elements.csrf.value);
    data.append("file", form.elements.file.value);
    data.append("text", text.value);
    fetch(form.dataset.lintUrl, {method: "POST", body: data, credentials: "same-origin",
                                 headers: {"Accept": "application/json", "X-CSRF-Token": form.elements.csrf.value}})
      .then(function (r) { return r.json(); })
      .then(function (result) { if (mine === seq) { show(result); } })
      .catch(function () { /* the Lint button still works without this */ });
  }
  text.addEventListener("input", function () {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(lint, 500);
  });
})();
