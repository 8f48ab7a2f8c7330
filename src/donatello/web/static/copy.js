// Copy buttons for one-time secrets (progressive enhancement: without script the field is still there to
// select and copy). Each <input data-copy="Copy key"> gains a button with that label and, beside it, a
// polite live region that says "Copied" once the value is on the clipboard.
"use strict";
(function () {
  function copyButton(field) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary copy";
    button.textContent = field.dataset.copy;
    var said = document.createElement("span");
    said.className = "copied";
    said.setAttribute("aria-live", "polite");
    field.insertAdjacentElement("afterend", button);
    button.insertAdjacentElement("afterend", said);

    function copied() { said.textContent = "Copied"; }
    function byHand() {
      field.select();
      try {
        if (document.execCommand("copy")) { copied(); return; }
      } catch (ignored) { /* the message below says what to do instead */ }
      said.textContent = "Selected: press Ctrl+C (⌘C) to copy";
    }
    button.addEventListener("click", function () {
      said.textContent = "";
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(copied, byHand);
      } else {
        byHand();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("input[data-copy]").forEach(copyButton);
  });
})();
