// The portal's payments list: its filters fold away on a phone (a <details> the page
// opens when a filter is in use); on a wider screen there is room, so they stand open.
(function () {
  "use strict";
  var box = document.querySelector("details.pay-filters");
  if (box && window.matchMedia("(min-width: 48rem)").matches) {
    box.open = true;
  }
})();
