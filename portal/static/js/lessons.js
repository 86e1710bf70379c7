// Lesson pages, progressive enhancement only: every lesson works without this file.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    // Read aloud (Band A) with the browser's own speech synthesis; nothing leaves the device.
    var button = document.querySelector("[data-read-aloud]");
    if (button && "speechSynthesis" in window && typeof window.SpeechSynthesisUtterance === "function") {
      var target = document.querySelector("[data-read-aloud-target]");
      var startLabel = button.textContent;
      var stopLabel = button.getAttribute("data-stop-label") || startLabel;
      var speaking = false;
      var reset = function () {
        speaking = false;
        button.textContent = startLabel;
      };
      button.hidden = false;
      button.addEventListener("click", function () {
        window.speechSynthesis.cancel();
        if (speaking || !target) { reset(); return; }
        var utterance = new window.SpeechSynthesisUtterance(target.innerText);
        utterance.lang = document.documentElement.lang === "en" ? "en-US" : "ko-KR";
        utterance.rate = 0.95;
        utterance.onend = reset;
        utterance.onerror = reset;
        speaking = true;
        button.textContent = stopLabel;
        window.speechSynthesis.speak(utterance);
      });
      window.addEventListener("pagehide", function () { window.speechSynthesis.cancel(); });
    }
    // A print button where printing from script is possible; the browser's own print command always works.
    document.querySelectorAll("[data-print]").forEach(function (printButton) {
      if (typeof window.print !== "function") return;
      printButton.hidden = false;
      printButton.addEventListener("click", function () { window.print(); });
    });
  });
})();
