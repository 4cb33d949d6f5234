// The portal's developers pages: a button that copies a secret shown once (an API
// key's, a webhook's signing secret) to the clipboard. Without this script the secret
// is still there to select (a tap selects it all) and copy by hand.
(function () {
  "use strict";
  function copied(button) {
    button.textContent = button.getAttribute("data-done");
  }
  function byHand(source, button) {
    // Pages served over plain http (not localhost) have no navigator.clipboard.
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try {
      if (document.execCommand("copy")) copied(button);
    } catch (e) {
      // the text stays selected: the person copies it themselves
    }
  }
  var buttons = document.querySelectorAll("button[data-copy]");
  Array.prototype.forEach.call(buttons, function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = source.textContent.trim();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () {
          copied(button);
        }, function () {
          byHand(source, button);
        });
      } else {
        byHand(source, button);
      }
    });
  });
})();
