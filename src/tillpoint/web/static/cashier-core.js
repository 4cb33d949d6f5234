// The till's foundations (window.TP): its data from the page, its texts in the page's
// language, money and quantities written and read exactly (integers of fen and of
// thousandths: never a float near money), the selling arithmetic as the server does it
// (store/order_rules.py), and the one way the page talks to the server.
(function () {
  "use strict";
  var TP = (window.TP = window.TP || {});
  var node = document.getElementById("till-data");
  var data = JSON.parse(node ? node.textContent : "{}");
  TP.data = data;

  // --- texts ----------------------------------------------------------------------------
  TP.t = function (message, params) {
    var text = (data.texts && data.texts[message]) || message;
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, function (all, key) {
      return Object.prototype.hasOwnProperty.call(params, key) ? String(params[key]) : all;
    });
  };

  // --- money and quantities ---------------------------------------------------------------
  var MONEY = data.money || { pos: ["¥", ""], neg: ["-¥", ""], group: ",", decimal: "." };
  function grouped(digits) {
    var out = "";
    while (digits.length > 3) {
      out = MONEY.group + digits.slice(-3) + out;
      digits = digits.slice(0, -3);
    }
    return digits + out;
  }
  // 123456 fen -> "¥1,234.56" (the page's language, as Babel writes it on the server).
  TP.money = function (minor) {
    var n = Math.abs(minor);
    var cents = n % 100;
    var whole = (n - cents) / 100;
    var body = grouped(String(whole)) + MONEY.decimal + (cents < 10 ? "0" : "") + cents;
    var around = minor < 0 ? MONEY.neg : MONEY.pos;
    return around[0] + body + around[1];
  };
  // "12.5" -> 1250; null when it is not yuan with at most two decimals.
  TP.parseYuan = function (text) {
    var m = /^\s*[¥￥]?\s*(\d{1,11})(?:[.,](\d{0,2}))?\s*$/.exec(String(text || ""));
    if (!m) return null;
    var cents = (m[2] || "").padEnd(2, "0");
    return parseInt(m[1], 10) * 100 + parseInt(cents, 10);
  };
  // 1250 -> "12.50" (for a field to edit).
  TP.yuanText = function (minor) {
    var cents = minor % 100;
    return String((minor - cents) / 100) + "." + (cents < 10 ? "0" : "") + cents;
  };
  // "0.455" kg -> 455 thousandths; null for anything else.
  TP.parseMilli = function (text, decimals) {
    var m = /^\s*(\d{1,5})(?:[.,](\d{0,3}))?\s*$/.exec(String(text || ""));
    if (!m) return null;
    if (decimals === 0 && m[2]) return null;
    return parseInt(m[1], 10) * 1000 + parseInt((m[2] || "").padEnd(3, "0"), 10);
  };
  // Thousandths as shown: pieces whole ("3"), weighed goods in kg with three decimals.
  TP.quantity = function (milli, soldBy, unit) {
    if (soldBy === "weight") {
      var frac = milli % 1000;
      var whole = (milli - frac) / 1000;
      return whole + "." + String(frac).padStart(3, "0") + " " + (unit || "kg");
    }
    var rest = milli % 1000;
    var pieces = String((milli - rest) / 1000);
    return rest === 0 ? pieces : pieces + "." + String(rest).padStart(3, "0").replace(/0+$/, "");
  };
  // 455 thousandths -> "0.455" (a weight for a field to edit).
  TP.kgText = function (milli) {
    var frac = milli % 1000;
    return String((milli - frac) / 1000) + "." + String(frac).padStart(3, "0");
  };
  // "9.5" -> 950 hundredths of a percent; null unless 0-100 with at most two decimals.
  TP.parsePercent = function (text) {
    var m = /^\s*(\d{1,3})(?:[.,](\d{0,2}))?\s*%?\s*$/.exec(String(text || ""));
    if (!m) return null;
    var value = parseInt(m[1], 10) * 100 + parseInt((m[2] || "").padEnd(2, "0"), 10);
    return value <= 10000 ? value : null;
  };
  TP.percentText = function (hundredths) {
    var rest = hundredths % 100;
    return String((hundredths - rest) / 100) + (rest ? "." + String(rest).padStart(2, "0") : "");
  };

  // --- the arithmetic of selling (store/order_rules.py), in BigInt where products grow --
  function halfUp(numerator, denominator) {
    return (2n * numerator + denominator) / (2n * denominator);
  }
  TP.rules = {
    // price x quantity, rounded half up to the fen: 12.80/kg x 0.455 kg = 5.82
    lineGross: function (priceMinor, quantityMilli) {
      return Number(halfUp(BigInt(priceMinor) * BigInt(quantityMilli), 1000n));
    },
    // a percentage (in hundredths: 950 is 9.5%) of an amount, rounded half up
    percentOf: function (amountMinor, hundredths) {
      return Number(halfUp(BigInt(amountMinor) * BigInt(hundredths), 10000n));
    },
  };

  // --- ids ----------------------------------------------------------------------------------
  // A version-4 UUID for an order's client_ref (crypto.randomUUID exists only on https).
  TP.uuid = function () {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x < 16 ? "0" : "") + x.toString(16); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  };

  // --- the server ----------------------------------------------------------------------------
  // One request of /cashier/api for the till's shop. Resolves with the answer; rejects
  // with an Error carrying status (0: unreachable), code and detail (in the page's
  // language) of the server's problem document.
  TP.shop = data.shop;
  TP.api = function (method, path, body) {
    var url = data.urls.api + path + (path.indexOf("?") >= 0 ? "&" : "?") + "shop=" + encodeURIComponent(TP.shop);
    var init = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "Accept-Language": data.lang },
    };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = data.csrf;
      init.body = JSON.stringify(body || {});
    }
    return fetch(url, init).then(
      function (response) {
        var type = response.headers.get("content-type") || "";
        var read = type.indexOf("json") >= 0 ? response.json() : response.text();
        return read.then(function (payload) {
          if (response.ok) return payload;
          var detail = payload && payload.detail ? payload.detail : response.statusText;
          if (payload && payload.errors && payload.errors.length) {
            detail += ": " + payload.errors.map(function (e) { return e.location + " " + e.message; }).join("; ");
          }
          var error = new Error(detail);
          error.status = response.status;
          error.code = payload && payload.code;
          if (response.status === 401 && TP.signedOut) TP.signedOut();
          throw error;
        });
      },
      function () {
        var error = new Error(TP.t("The server cannot be reached: check the network"));
        error.status = 0;
        throw error;
      }
    );
  };

  // Timings the benchmark (bench/cashier.py) and a curious engineer read.
  TP.timings = { ready_ms: null, scans_ms: [], checkouts_ms: [] };
})();
