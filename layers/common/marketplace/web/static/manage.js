// Small helpers on the publisher pages: confirm before a destructive submit (<button data-confirm="...">) and copy a
// new token's value (<button data-copy="#selector">). Without this script the forms still submit as plain forms.
(function () {
  "use strict";
  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var confirmButton = target && target.closest("button[data-confirm]");
    if (confirmButton && confirmButton.form && !window.confirm(confirmButton.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    var copyButton = target && target.closest("button[data-copy]");
    if (!copyButton) { return; }
    event.preventDefault();
    var source = document.querySelector(copyButton.getAttribute("data-copy"));
    if (!source) { return; }
    var value = (source.textContent || "").trim();
    var copied = function () { copyButton.textContent = "Copied"; };
    var manual = function () { select(source); copyButton.textContent = "Selected: copy it with Ctrl+C or ⌘C"; };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(value).then(copied, manual);
    } else {
      manual();
    }
  });
})();
