// On a phone the menu scrolls sideways inside itself: bring the area the page is in into
// view, so the person sees where they are without looking for it.
(function () {
  "use strict";
  var here = document.querySelector('.nav a[aria-current="page"]');
  var menu = document.querySelector(".nav");
  if (!here || !menu || menu.scrollWidth <= menu.clientWidth) return;
  menu.scrollLeft = here.offsetLeft - (menu.clientWidth - here.offsetWidth) / 2;
})();
