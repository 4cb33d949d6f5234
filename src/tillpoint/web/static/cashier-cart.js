// The cart (TP.Cart): what the customer is buying, priced exactly as the server prices
// it (the shop's price, price x quantity rounded half up, discounts by amount or
// percentage, the order's discount), kept in this browser's storage so that a reload,
// a lost session or (next) a lost network loses nothing. It becomes one request:
// POST /cashier/api/orders with its own client_ref (a UUID made here), which the server
// answers once however often it is sent.
(function () {
  "use strict";
  var TP = window.TP;
  var KEY = "tillpoint.cart";

  function Cart(saved) {
    this.ref = TP.uuid(); // the order's client_ref
    this.lines = [];
    this.discount = null; // {amount_minor} or {percent: hundredths}
    this.counter = null;
    this.approval = null; // a manager's, for this cart only: never stored
    this.approvedBy = null;
    this.order = null; // the server's order once sent (OrderView)
    this.selected = -1;
    this.nextKey = 1;
    if (saved) {
      this.ref = saved.ref || this.ref;
      this.lines = saved.lines || [];
      this.discount = saved.discount || null;
      this.counter = saved.counter || null;
      this.order = saved.order || null;
      this.selected = this.lines.length - 1;
      this.nextKey = this.lines.reduce(function (m, l) { return Math.max(m, l.key + 1); }, 1);
    }
  }

  Cart.load = function (scope) {
    try {
      var saved = JSON.parse(window.localStorage.getItem(KEY + "." + scope) || "null");
      return new Cart(saved);
    } catch (e) {
      return new Cart(null);
    }
  };

  Cart.prototype.save = function (scope) {
    var keep = { ref: this.ref, lines: this.lines, discount: this.discount, counter: this.counter, order: this.order };
    try { window.localStorage.setItem(KEY + "." + scope, JSON.stringify(keep)); } catch (e) { /* full or private */ }
  };

  Cart.prototype.empty = function () { return this.lines.length === 0; };

  // A product found by a scan, a search or the local copy: one more of it (a piece
  // already in the cart as it is: its quantity goes up), or a new line.
  Cart.prototype.add = function (found, quantityMilli) {
    var qty = quantityMilli || found.quantity_milli || 1000;
    if (found.sold_by === "piece" && !found.scale) {
      for (var i = 0; i < this.lines.length; i++) {
        var same = this.lines[i];
        if (same.product_id === found.product_id && same.price === null && !same.discount && !same.scale) {
          same.qty += qty;
          this.selected = i;
          return same;
        }
      }
    }
    var line = {
      key: this.nextKey++,
      product_id: found.product_id,
      barcode: found.scale ? null : (found.code || null),
      sku: found.sku,
      name: found.name,
      unit: found.unit,
      sold_by: found.sold_by,
      list_price: found.price_minor,
      price: null, // a price of the till's own (a manager approves)
      qty: qty,
      discount: null, // {amount_minor} or {percent}
      scale: !!found.scale,
      label_amount: found.amount_minor || null,
    };
    this.lines.push(line);
    this.selected = this.lines.length - 1;
    return line;
  };

  Cart.prototype.line = function () { return this.lines[this.selected] || null; };

  Cart.prototype.remove = function (index) {
    this.lines.splice(index, 1);
    this.selected = Math.min(index, this.lines.length - 1);
  };

  Cart.prototype.unitPrice = function (line) { return line.price === null ? line.list_price : line.price; };

  Cart.prototype.gross = function (line) { return TP.rules.lineGross(this.unitPrice(line), line.qty); };

  Cart.prototype.lineDiscount = function (line) {
    if (!line.discount) return 0;
    if (line.discount.percent !== undefined) return TP.rules.percentOf(this.gross(line), line.discount.percent);
    return line.discount.amount_minor;
  };

  Cart.prototype.amount = function (line) { return this.gross(line) - this.lineDiscount(line); };

  // The figures the server will come to (and checks: expected_total_minor).
  Cart.prototype.totals = function () {
    var self = this;
    var gross = 0, subtotal = 0, items = 0;
    this.lines.forEach(function (l) {
      gross += self.gross(l);
      subtotal += self.amount(l);
      items += l.sold_by === "piece" ? (l.qty - (l.qty % 1000)) / 1000 : 1;
    });
    var discount = 0;
    if (this.discount) {
      discount = this.discount.percent !== undefined
        ? TP.rules.percentOf(subtotal, this.discount.percent)
        : this.discount.amount_minor;
    }
    return { gross: gross, subtotal: subtotal, discount: discount, total: subtotal - discount, items: items };
  };

  // Why a manager must approve (the server's rule, store/orders.py), or null.
  Cart.prototype.needsApproval = function () {
    var self = this;
    if (this.lines.some(function (l) { return l.price !== null && l.price !== l.list_price; })) {
      return TP.t("a price was changed");
    }
    var t = this.totals();
    // A member's coupons and points (t.perks) are no discount of the cashier's.
    if ((t.gross - t.total - (t.perks || 0)) * 100 > t.gross * TP.data.free_discount_percent) {
      return TP.t("the discounts are more than 10%");
    }
    return null;
  };

  // The request that rings the cart up (with its first tenders, or held).
  Cart.prototype.body = function (shiftId, extra) {
    var self = this;
    var body = {
      client_ref: this.ref,
      shift_id: shiftId,
      lines: this.lines.map(function (l) {
        var line = { quantity_milli: l.qty, expected_amount_minor: self.amount(l) };
        if (l.barcode) line.barcode = l.barcode; else line.product_id = l.product_id;
        if (l.price !== null) line.unit_price_minor = l.price;
        if (l.discount) {
          if (l.discount.percent !== undefined) line.discount_percent = TP.percentText(l.discount.percent);
          else line.discount_minor = l.discount.amount_minor;
        }
        return line;
      }),
      expected_total_minor: this.totals().total,
    };
    if (this.discount) {
      body.discount = this.discount.percent !== undefined
        ? { percent: TP.percentText(this.discount.percent) }
        : { amount_minor: this.discount.amount_minor };
    }
    if (this.counter) body.counter_number = this.counter;
    if (this.approval) body.approval = this.approval;
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    return body;
  };

  // The lines of an order the server holds (a recalled one) as an editable cart.
  Cart.fromOrder = function (order) {
    var cart = new Cart(null);
    order.lines.forEach(function (x) {
      var line = cart.add({
        product_id: x.product_id, code: x.barcode, sku: "", name: x.name, unit: x.unit,
        sold_by: x.quantity_milli % 1000 || x.unit === "kg" ? "weight" : "piece",
        price_minor: x.list_price_minor, scale: false, quantity_milli: x.quantity_milli,
      }, x.quantity_milli);
      if (x.unit_price_minor !== x.list_price_minor) line.price = x.unit_price_minor;
      if (x.discount_minor) line.discount = { amount_minor: x.discount_minor };
    });
    if (order.discount_minor) cart.discount = { amount_minor: order.discount_minor };
    cart.counter = order.counter_number;
    return cart;
  };

  TP.Cart = Cart;
})();
