// The portal's application page: a document larger than the limit is refused here,
// before a phone spends minutes sending it (the server refuses it too, with a bare 413).
(function () {
  "use strict";
  var forms = document.querySelectorAll("form.apply-upload");
  Array.prototype.forEach.call(forms, function (form) {
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    var input = form.querySelector('input[type="file"]');
    if (!input || !max) return;
    var note = document.createElement("p");
    note.className = "error";
    note.setAttribute("role", "alert");
    note.hidden = true;
    form.appendChild(note);
    function tooLarge() {
      var file = input.files && input.files[0];
      return Boolean(file && file.size > max);
    }
    function check() {
      var bad = tooLarge();
      note.textContent = bad ? form.getAttribute("data-too-large") : "";
      note.hidden = !bad;
      if (bad) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
      return !bad;
    }
    input.addEventListener("change", check);
    form.addEventListener("submit", function (event) {
      if (!check()) event.preventDefault();
    });
  });
})();
