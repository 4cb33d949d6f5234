// The console home's live feed: new payments (and changes to those shown) arrive as
// server-sent events from /console/feed, each with its table row drawn by the server.
// Without this script the page shows the newest payments as of its loading.
(function () {
  "use strict";
  var body = document.getElementById("feed-rows");
  var state = document.getElementById("feed-state");
  if (!body || !state || !window.EventSource) return;
  var keep = parseInt(body.getAttribute("data-keep"), 10) || 20;
  var source = new EventSource(body.getAttribute("data-stream"));
  source.addEventListener("open", function () {
    state.textContent = state.getAttribute("data-live");
  });
  source.addEventListener("error", function () {
    state.textContent = state.getAttribute("data-lost");
  });
  source.addEventListener("payment", function (event) {
    var message = JSON.parse(event.data);
    var holder = document.createElement("tbody");
    holder.innerHTML = message.row; // the server's own markup, escaped there
    var row = holder.querySelector("tr");
    if (!row) return;
    var old = body.querySelector('tr[data-payment="' + String(Number(message.payment)) + '"]');
    if (old) {
      old.replaceWith(row);
    } else {
      body.insertBefore(row, body.firstChild);
    }
    while (body.rows.length > keep) body.deleteRow(body.rows.length - 1);
    var empty = document.getElementById("feed-empty");
    if (empty) empty.remove();
  });
})();
