// The customer display (/cashier/display): a second window of the till's browser, on
// the screen that faces the customer. It follows the till window live through a
// BroadcastChannel (no server round trip, nothing to set up): the cart as it is rung
// up, the total, the QR code to scan when the cashier asks for one, then "paid, thank
// you" with the e-receipt's QR code. Opened, it asks the till for what to show. On
// another device it follows the till through the server instead (below).
(function () {
  "use strict";
  var node = document.getElementById("display-data");
  var data = JSON.parse(node ? node.textContent : "{}");
  var $ = function (id) { return document.getElementById(id); };
  var MONEY = data.money || { pos: ["¥", ""], neg: ["-¥", ""], group: ",", decimal: "." };
  function t(message) { return (data.texts && data.texts[message]) || message; }
  function money(minor) {
    var n = Math.abs(minor);
    var cents = n % 100;
    var digits = String((n - cents) / 100);
    var out = "";
    while (digits.length > 3) { out = MONEY.group + digits.slice(-3) + out; digits = digits.slice(0, -3); }
    var around = minor < 0 ? MONEY.neg : MONEY.pos;
    return around[0] + digits + out + MONEY.decimal + (cents < 10 ? "0" : "") + cents + around[1];
  }
  function el(tag, cls, text) {
    var x = document.createElement(tag);
    if (cls) x.className = cls;
    if (text !== undefined) x.textContent = text;
    return x;
  }

  $("display-merchant").textContent = data.merchant || "";

  function view(name) {
    document.body.dataset.view = name;
    $("d-idle").hidden = name !== "idle";
    $("d-cart").hidden = name === "idle";
    $("d-total-box").hidden = name === "idle";
    $("d-qr").hidden = name !== "qr";
    $("d-paid").hidden = name !== "paid";
  }

  function lines(list) {
    var ol = $("d-lines");
    ol.textContent = "";
    (list || []).forEach(function (l) {
      var li = el("li", "d-line");
      li.appendChild(el("span", "d-name", l.name));
      li.appendChild(el("span", "d-qty", "× " + l.qty));
      li.appendChild(el("span", "d-amount", money(l.amount)));
      ol.appendChild(li);
    });
    var last = ol.lastElementChild;
    if (last && last.scrollIntoView) last.scrollIntoView({ block: "end" });
  }

  function showMessage(m) {
    if (!m || !m.type) return;
    if (m.merchant) $("display-merchant").textContent = m.merchant;
    if (m.type === "idle") { view("idle"); return; }
    if (m.type === "cart") {
      lines(m.lines);
      $("d-total").textContent = money(m.total);
      $("d-due").textContent = m.due !== null && m.due !== undefined && m.due !== m.total ? t("To pay") + " " + money(m.due) : "";
      view("cart");
      return;
    }
    if (m.type === "qr") {
      $("d-total").textContent = money(m.total);
      $("d-due").textContent = t("To pay") + " " + money(m.due);
      $("d-qr-img").src = m.src;
      view("qr");
      return;
    }
    if (m.type === "paid") {
      $("d-total").textContent = money(m.total);
      $("d-due").textContent = "";
      $("d-change").textContent = m.change ? t("Change") + " " + money(m.change) : "";
      $("d-receipt-img").hidden = !m.receipt;
      if (m.receipt) $("d-receipt-img").src = m.receipt;
      view("paid");
    }
  }

  view("idle");
  if (window.BroadcastChannel) {
    var channel = new window.BroadcastChannel("tillpoint-display");
    channel.onmessage = function (event) { showMessage(event.data); };
    channel.postMessage({ type: "hello" });
  }
  // On another device (a tablet facing the customer): opened as
  // /cashier/display?shop=1&till=T1, signed in to that shop, it asks the server for the
  // till's display and waits there for the next (the till sends it when "Customer
  // display on another device" is on in its menu).
  var params = new URLSearchParams(window.location.search);
  var shop = params.get("shop");
  var till = params.get("till");
  function follow(after) {
    var url = data.api + "/display?shop=" + encodeURIComponent(shop) + "&till=" + encodeURIComponent(till) +
      "&after=" + after + "&wait_s=25";
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (response) {
      if (response.status === 401) { window.location.reload(); throw new Error("signed out"); }
      if (!response.ok) throw new Error(response.statusText);
      return response.json();
    }).then(function (answer) {
      if (answer.message && answer.version !== after) showMessage(answer.message);
      document.body.dataset.version = answer.version;
      follow(answer.version);
    }, function () {
      window.setTimeout(function () { follow(after); }, 3000);
    });
  }
  if (shop && till) follow(0);
  window.TPDisplay = { show: showMessage };
})();
