// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  // Quick exit: replace this page (no back-button return) with the neutral page.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-quick-exit]") : null;
    if (!link) return;
    event.preventDefault();
    try { sessionStorage.clear(); } catch (e) { /* storage may be blocked */ }
    window.location.replace(link.href);
  });
  // Escape pressed three times also leaves quickly.
  var escapes = 0, timer = null;
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var link = document.querySelector("[data-quick-exit]");
    if (!link) return;
    escapes += 1;
    clearTimeout(timer);
    timer = setTimeout(function () { escapes = 0; }, 1500);
    if (escapes >= 3) window.location.replace(link.href);
  });
  // Move focus to an error summary so screen readers announce it.
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
    // Stop a double click from sending a form twice (the server also refuses duplicates).
    // Print buttons (the receipt slip, the poster) exist only where a script can print; the browser's own
    // print command works without them.
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function () {
        form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (b) {
          setTimeout(function () { b.disabled = true; }, 0);
        });
      });
    });
  });
})();
