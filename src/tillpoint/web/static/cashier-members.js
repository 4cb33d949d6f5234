// Members at the till (docs/members.md, "At the till"): find the customer by their mobile
// number (typed, or scanned into the member dialog), or sign them up with their consent;
// attach them to the cart; their prices, their coupons and their points, priced here
// exactly as the server will (store/loyalty_rules.py, store/orders.py ``_reckon``) and
// confirmed by the server's quote (POST /cashier/api/quote, which writes nothing).
//
// Offline (docs/offline.md, "Members offline"): the till keeps a snapshot of the members
// in IndexedDB (masked numbers, names, levels, points; the programme and the member
// prices), taken while online and brought up to date with its changes; offline the
// member is found in it by the masked form of the number typed, their prices come from
// it, and what needs the server (points redeemed, coupons, sign-up) says so. The sale
// names the member; the server gives the points when it syncs.
//
// The number typed lives in the dialog's field only, and is cleared when it closes:
// nothing kept in this browser (the cart's storage, the snapshot) ever holds it, only
// its masked form (138****5678).
(function () {
  "use strict";
  var TP = window.TP;
  var t = TP.t;
  var Cart = TP.Cart;
  var $ = function (id) { return document.getElementById(id); };
  var KEY = "tillpoint.cart-member.";
  var QUOTE_WAIT_MS = 200;
  var FULL_MS = 24 * 3600 * 1000; // the snapshot taken whole again once a day
  var REFRESH_MS = 10 * 60 * 1000; // and its changes asked this often while online
  function offline() { return !!(TP.offline && TP.offline.on()); }

  var M = (TP.members = {
    programme: null, // the programme's terms and notice, and member prices (once asked)
    prices: {}, // product id -> member price (fen)
    loading: null,
  });

  function notice(id, text) {
    var node = $(id);
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }

  // --- the arithmetic, as the server's ------------------------------------------------------
  function hundredths(percentText) {
    return percentText === null || percentText === undefined ? 0 : (TP.parsePercent(String(percentText)) || 0);
  }
  // The lowest of the list price, the product's member price and the list price less
  // the level's percentage (rounded half up): loyalty_rules.member_price.
  M.memberPrice = function (listMinor, productId, levelPercent) {
    var best = listMinor;
    var own = M.prices[productId];
    if (own !== undefined && own !== null) best = Math.min(best, own);
    var pct = hundredths(levelPercent);
    if (pct) best = Math.min(best, listMinor - TP.rules.percentOf(listMinor, pct));
    return best;
  };

  function couponOf(m, code) {
    var all = (m.coupons || []).concat(m.extra || []);
    for (var i = 0; i < all.length; i++) if (all[i].code === code) return all[i];
    return null;
  }

  // The member's coupons (in the order chosen, each off what the ones before left, its
  // minimum spend against what the order comes to before any) and points (whole steps,
  // never more than the balance nor what is left): loyalty.perks.
  M.perks = function (cart, leftMinor) {
    var m = cart.member;
    var out = { minor: 0, coupons: [], points: 0, points_minor: 0, problems: [] };
    if (!m || m.held || offline()) return out; // points and coupons need the server
    var left = leftMinor;
    (m.codes || []).forEach(function (code) {
      var c = couponOf(m, code);
      if (!c) return;
      if (leftMinor < c.min_spend_minor) {
        out.problems.push(t("Coupon {code} needs a spend of {min} or more", { code: code, min: TP.money(c.min_spend_minor) }));
        return;
      }
      var off = c.amount_minor !== null && c.amount_minor !== undefined
        ? Math.min(c.amount_minor, left)
        : Math.min(TP.rules.percentOf(left, hundredths(c.percent)), left);
      left -= off;
      out.coupons.push({ code: code, name: c.name, discount_minor: off });
    });
    var step = m.redeem_points, stepMinor = m.redeem_minor;
    if (m.redeem && step > 0 && stepMinor > 0 && m.points > 0 && left > 0) {
      var most = Math.min(Math.floor(m.points / step), Math.floor(left / stepMinor)) * step;
      var points = m.redeem === "max" ? most : Math.min(m.redeem, most);
      points -= points % step;
      out.points = points;
      out.points_minor = points / step * stepMinor;
      left -= out.points_minor;
    }
    out.minor = leftMinor - left;
    return out;
  };

  // --- the cart, for a member ---------------------------------------------------------------
  function priceLine(line, m) {
    if (line.shop_price === undefined) line.shop_price = line.list_price;
    line.list_price = m ? M.memberPrice(line.shop_price, line.product_id, m.level_percent) : line.shop_price;
    if (m) line.member_id = m.id;
    else { delete line.shop_price; delete line.member_id; }
  }
  Cart.prototype.setMember = function (m) {
    this.member = m;
    M.last = m;
    this.lines.forEach(function (line) { priceLine(line, m); });
  };

  var baseAdd = Cart.prototype.add;
  Cart.prototype.add = function (found, quantityMilli) {
    var line = baseAdd.call(this, found, quantityMilli);
    if (this.member && line.shop_price === undefined) priceLine(line, this.member);
    return line;
  };

  var baseTotals = Cart.prototype.totals;
  Cart.prototype.totals = function () {
    var totals = baseTotals.call(this);
    var p = M.perks(this, totals.total);
    totals.perks = p.minor;
    totals.perkDetail = p;
    totals.total -= p.minor;
    return totals;
  };

  var baseBody = Cart.prototype.body;
  Cart.prototype.body = function (shiftId, extra) {
    var body = baseBody.call(this, shiftId, extra);
    var m = this.member;
    if (m) {
      var p = this.totals().perkDetail;
      body.member_id = m.id;
      if (p.points) body.redeem_points = p.points;
      if (p.coupons.length) body.coupon_codes = p.coupons.map(function (c) { return c.code; });
    }
    return body;
  };

  // The member stays with the cart across a reload (masked number only).
  var baseSave = Cart.prototype.save;
  Cart.prototype.save = function (scope) {
    baseSave.call(this, scope);
    try {
      if (this.member) window.localStorage.setItem(KEY + scope, JSON.stringify({ ref: this.ref, member: this.member }));
      else window.localStorage.removeItem(KEY + scope);
    } catch (e) { /* full or private */ }
  };
  var baseLoad = Cart.load;
  Cart.load = function (scope) {
    var cart = baseLoad(scope);
    try {
      var kept = JSON.parse(window.localStorage.getItem(KEY + scope) || "null");
      if (kept && kept.ref === cart.ref) cart.member = M.last = kept.member;
    } catch (e) { /* */ }
    return cart;
  };
  // A held order recalled: its member is shown; its coupons and points were taken
  // when it was held (part of its discount), so nothing is added here.
  var baseFromOrder = Cart.fromOrder;
  Cart.fromOrder = function (order) {
    var cart = baseFromOrder(order);
    if (order.member_id && order.loyalty) {
      cart.member = {
        id: order.member_id, mobile: order.loyalty.member_mobile, name: null, level: null,
        level_percent: null, points: order.loyalty.points_balance, redeem_points: 100, redeem_minor: 100,
        coupons: [], extra: [], codes: [], redeem: 0, held: true,
      };
    }
    return cart;
  };

  // --- the server -----------------------------------------------------------------------------
  M.load = function () {
    if (M.programme) return Promise.resolve(M.programme);
    if (offline()) return fromSnapshot();
    if (!M.loading) {
      M.loading = TP.api("GET", "/members/programme").then(function (answer) {
        M.programme = answer.programme;
        M.prices = {};
        answer.member_prices.forEach(function (x) { M.prices[x.product_id] = x.price_minor; });
        return M.programme;
      }, function (e) {
        M.loading = null;
        if (e.status === 0 || offline()) return fromSnapshot();
        throw e;
      });
    }
    return M.loading;
  };
  // The programme and the member prices as the snapshot kept them.
  function fromSnapshot() {
    return snap.ready().then(function (meta) {
      if (!meta) throw new Error(t("This till has no copy of the members yet: finding a member needs the server"));
      usePrices(meta);
      return M.programme;
    });
  }
  function usePrices(meta) {
    M.programme = meta.programme;
    M.prices = {};
    meta.member_prices.forEach(function (x) { M.prices[x.product_id] = x.price_minor; });
  }

  function fromServer(view) {
    return {
      id: view.id, mobile: view.mobile, name: view.name, level: view.level,
      level_percent: view.level_percent, points: view.points, redeem_points: view.redeem_points,
      redeem_minor: view.redeem_minor,
      coupons: view.coupons.filter(function (c) { return c.usable; }), extra: [], codes: [], redeem: 0,
    };
  }

  function attach(view) {
    var cart = TP.till.cart();
    return M.load().then(function () {
      cart.setMember(fromServer(view));
      lastQuoted = "";
      TP.till.render();
    });
  }

  function detach() {
    var cart = TP.till.cart();
    if (!cart || cart.order) return;
    cart.setMember(null);
    lastQuoted = "";
    TP.till.render();
  }

  // The server prices the cart as it will make the order: the page's own figures are
  // checked against it, and the server's list prices taken if the page's copy is old.
  var quoteTimer = null, quoteSeq = 0, lastQuoted = "";
  function quoteBody(cart) {
    var shift = TP.till.shift();
    var full = cart.body(shift ? shift.id : 0);
    var body = { shift_id: full.shift_id, lines: full.lines.map(function (l) {
      var x = Object.assign({}, l);
      delete x.expected_amount_minor;
      return x;
    }) };
    ["discount", "member_id", "redeem_points", "coupon_codes"].forEach(function (k) {
      if (full[k] !== undefined) body[k] = full[k];
    });
    return body;
  }
  function scheduleQuote(cart) {
    clearTimeout(quoteTimer);
    var m = cart.member;
    if (!m || m.held || cart.order || cart.empty() || !TP.till.shift() || offline()) return;
    var body = quoteBody(cart);
    var key = JSON.stringify(body);
    if (key === lastQuoted) return;
    quoteTimer = setTimeout(function () {
      var seq = ++quoteSeq;
      lastQuoted = key;
      M.quoting = TP.api("POST", "/quote", body).then(function (q) {
        if (seq !== quoteSeq || TP.till.cart() !== cart) return q;
        var changed = false;
        q.lines.forEach(function (x, i) {
          var line = cart.lines[i];
          if (line && line.price === null && line.list_price !== x.list_price_minor) {
            line.list_price = x.list_price_minor;
            changed = true;
          }
        });
        m.quote = { points_earned: q.points_earned, total_minor: q.total_minor };
        notice("member-notice", "");
        if (changed || q.total_minor !== cart.totals().total) {
          notice("notice", t("Prices were updated from the server: check the total"));
          lastQuoted = "";
          TP.till.render();
        } else {
          renderPanel(cart);
        }
        return q;
      }, function (e) {
        if (seq !== quoteSeq) return null;
        if (e.status === 0) { lastQuoted = ""; return null; } // offline: the page's figures stand
        lastQuoted = "";
        m.quote = null;
        if (e.code === "member.not_found") { detach(); notice("notice", e.message); return null; }
        if (e.code && e.code.indexOf("coupon.") === 0) {
          m.codes = (m.codes || []).filter(function (code) { return e.message.indexOf(code) < 0; });
          TP.till.render();
        }
        if (e.code === "order.points_short" || e.code === "order.redeem_too_many") { m.redeem = 0; TP.till.render(); }
        notice("member-notice", e.message);
        return null;
      });
    }, QUOTE_WAIT_MS);
  }

  // --- the panel ------------------------------------------------------------------------------
  function couponText(c) {
    var off = c.amount_minor !== null && c.amount_minor !== undefined
      ? "−" + TP.money(c.amount_minor)
      : "−" + TP.percentText(hundredths(c.percent)) + "%";
    var min = c.min_spend_minor ? " · " + t("from {min}", { min: TP.money(c.min_spend_minor) }) : "";
    return c.name + " " + off + min;
  }

  function renderPanel(cart) {
    var m = cart && cart.member;
    $("member-find").hidden = !!m;
    $("member-card").hidden = !m;
    if (!m) return;
    $("member-mobile").textContent = m.mobile || "#" + m.id;
    $("member-name").textContent = m.name || "";
    $("member-level").textContent = m.level ? m.level + (m.level_percent && hundredths(m.level_percent) ? " −" + TP.percentText(hundredths(m.level_percent)) + "%" : "") : "";
    $("member-points").textContent = String(m.points);
    var off = offline();
    var asof = $("member-asof");
    asof.textContent = m.as_of ? t("as of {time}", { time: when(m.as_of) }) : "";
    asof.hidden = !m.as_of;
    var totals = cart.totals();
    var p = totals.perkDetail;
    var earns = m.quote && !cart.empty() && !off ? t("this sale earns {points}", { points: m.quote.points_earned }) : "";
    if (off && !cart.empty()) earns = t("about {points} points, earned when the sale syncs", { points: M.expected(cart) });
    $("member-earns").textContent = earns;
    $("member-earns").classList.toggle("later", off);
    var redeem = $("member-redeem");
    redeem.setAttribute("aria-pressed", m.redeem && !off ? "true" : "false");
    redeem.disabled = !!m.held || m.points < m.redeem_points || !!cart.order || off;
    $("member-coupon-form").hidden = off;
    redeem.textContent = off ? t("Redeem points: needs the server") : m.redeem && p.points
      ? t("Redeeming {points} points", { points: p.points })
      : t("Redeem points") + (m.points >= m.redeem_points ? " (" + t("up to {value}", { value: TP.money(Math.floor(m.points / m.redeem_points) * m.redeem_minor) }) + ")" : "");
    var list = $("member-coupons");
    list.textContent = "";
    if (off) {
      var note = document.createElement("li");
      note.className = "member-offline-note";
      note.textContent = t("Coupons: need the server");
      list.appendChild(note);
    }
    (off ? [] : (m.coupons || []).concat(m.extra || [])).forEach(function (c) {
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button";
      b.className = "member-coupon";
      b.dataset.code = c.code;
      var on = (m.codes || []).indexOf(c.code) >= 0;
      b.setAttribute("aria-pressed", on ? "true" : "false");
      b.disabled = !!m.held || !!cart.order;
      b.textContent = couponText(c);
      li.appendChild(b);
      list.appendChild(li);
    });
    var dl = $("member-perks");
    dl.textContent = "";
    function row(label, value) {
      var div = document.createElement("div");
      var dt = document.createElement("dt");
      dt.textContent = label;
      var dd = document.createElement("dd");
      dd.textContent = value;
      div.appendChild(dt);
      div.appendChild(dd);
      dl.appendChild(div);
    }
    p.coupons.forEach(function (c) { row(t("Coupon {name}", { name: c.name }), "−" + TP.money(c.discount_minor)); });
    if (p.points) row(t("{points} points", { points: p.points }), "−" + TP.money(p.points_minor));
    dl.hidden = !p.coupons.length && !p.points;
    if (p.problems.length) notice("member-notice", p.problems.join(" · "));
  }

  TP.onCart = function (cart) {
    // The screen made a new cart of these lines (back from paying: the order given up):
    // the member stays with them; lines priced for a member who is gone go back.
    if (cart && !cart.member && !cart.order) {
      var last = M.last;
      if (last && cart.lines.some(function (l) { return l.member_id === last.id; })) {
        cart.member = last;
        TP.till.render();
        return;
      }
      if (cart.lines.some(function (l) { return l.shop_price !== undefined; })) {
        cart.setMember(null);
        TP.till.render();
        return;
      }
    }
    renderPanel(cart);
    scheduleQuote(cart);
  };

  TP.lineNotes = function (line) {
    if (line.shop_price !== undefined && line.list_price < line.shop_price && line.price === null) {
      return [t("member price, was {price}", { price: TP.money(line.shop_price) })];
    }
    return [];
  };

  TP.onPaid = function (order) {
    var x = order.loyalty;
    var detail = $("done-detail");
    if (order.offline && order.member) {
      detail.textContent = (detail.textContent ? detail.textContent + " · " : "") +
        t("Member {mobile}: about {points} points, earned when the sale syncs", { mobile: order.member.mobile, points: order.member.expected });
      return;
    }
    if (!x) return;
    var text = t("Member {mobile}: {earned} points earned, balance {balance}", {
      mobile: x.member_mobile || "#" + x.member_id,
      earned: x.points_earned,
      balance: x.points_balance_after === null || x.points_balance_after === undefined ? x.points_balance : x.points_balance_after,
    });
    if (x.points_redeemed) text += " · " + t("{points} points redeemed", { points: x.points_redeemed });
    detail.textContent = (detail.textContent ? detail.textContent + " · " : "") + text;
  };

  // --- the dialog: find, or sign up ----------------------------------------------------------
  function dialogReset() {
    $("member-number").value = "";
    $("member-signup-name").value = "";
    $("member-birthday").value = "";
    $("member-consent").checked = false;
    $("member-marketing").checked = false;
    $("member-signup").hidden = true;
    $("member-choices").textContent = "";
    $("member-choices").hidden = true;
    document.querySelector('[data-member="signup"]').hidden = true;
    notice("member-error", "");
    $("member-hint").textContent = t("Type or scan the customer's mobile number, then Find");
  }
  function openDialog() {
    var cart = TP.till.cart();
    if (!cart || cart.order) return;
    dialogReset();
    $("member-dialog").showModal();
    $("member-number").focus();
    M.load().catch(function (e) { notice("member-error", e.message); });
  }
  function closeDialog() {
    dialogReset(); // the number typed goes with it
    if ($("member-dialog").open) $("member-dialog").close();
    TP.till.focusScan();
  }
  $("member-dialog").addEventListener("close", function () { dialogReset(); TP.till.focusScan(); });

  function lookup() {
    var typed = $("member-number").value;
    notice("member-error", "");
    if (!typed.trim()) { $("member-number").focus(); return; }
    if (offline()) { lookupOffline(typed); return; }
    TP.api("POST", "/members/lookup", { mobile: typed }).then(function (found) {
      if (!found.member) {
        $("member-hint").textContent = t("No member has that number: sign them up with their consent");
        showSignUp();
        return null;
      }
      closeDialog();
      return attach(found.member);
    }, function (e) {
      if (e.status === 0 || offline()) { lookupOffline(typed); return; }
      notice("member-error", e.message);
    });
  }
  // Offline: the members of the snapshot with the masked form of the number typed; one
  // is attached, several are listed by name for the cashier to ask.
  function lookupOffline(typed) {
    $("member-choices").textContent = "";
    $("member-choices").hidden = true;
    if (!M.mask(typed)) {
      notice("member-error", t("Offline, a member is found by their whole mobile number (11 digits)"));
      return;
    }
    snap.find(typed).then(function (found) {
      var meta = snap.meta;
      if (!meta) { notice("member-error", t("This till has no copy of the members yet: finding a member needs the server")); return; }
      if (!found.length) {
        $("member-hint").textContent = t("No member with that number in this till's copy ({asof}); signing up needs the server",
          { asof: t("as of {time}", { time: when(meta.as_of) }) });
        return;
      }
      if (found.length === 1) { closeDialog(); attachSnapshot(found[0]); return; }
      $("member-hint").textContent = t("Several members have a number like this: ask the customer's name");
      var list = $("member-choices");
      found.forEach(function (x) {
        var li = document.createElement("li");
        var b = document.createElement("button");
        b.type = "button";
        b.className = "member-choice";
        b.dataset.id = String(x.id);
        b.textContent = [x.mobile, x.name || "—", x.level || ""].join(" · ").replace(/ · $/, "");
        b.addEventListener("click", function () { closeDialog(); attachSnapshot(x); });
        li.appendChild(b);
        list.appendChild(li);
      });
      list.hidden = false;
      list.querySelector("button").focus();
    }, function (e) { notice("member-error", e.message); });
  }
  function attachSnapshot(x) {
    var cart = TP.till.cart();
    var asOf = snap.meta.as_of;
    return M.load().then(function (programme) {
      cart.setMember({
        id: x.id, mobile: x.mobile, name: x.name, level: x.level, level_percent: x.level_percent,
        points: x.points, redeem_points: programme.redeem_points, redeem_minor: programme.redeem_minor,
        coupons: [], extra: [], codes: [], redeem: 0, as_of: asOf,
      });
      lastQuoted = "";
      TP.till.render();
    }, function (e) { notice("notice", e.message); });
  }
  function showSignUp() {
    if (offline()) { $("member-hint").textContent = t("Signing up needs the server: not while offline"); return; }
    M.load().then(function (programme) {
      $("member-notice-text").textContent = programme.notice_text;
      $("member-signup").hidden = false;
      document.querySelector('[data-member="signup"]').hidden = false;
      $("member-consent").focus();
    }, function (e) { notice("member-error", e.message); });
  }
  function signUp() {
    notice("member-error", "");
    if (offline()) { notice("member-error", t("Signing up needs the server: not while offline")); return; }
    if (!$("member-consent").checked) {
      notice("member-error", t("The customer must agree to the notice to join"));
      $("member-consent").focus();
      return;
    }
    var body = {
      mobile: $("member-number").value,
      consent: { membership: true, marketing: $("member-marketing").checked, notice_version: M.programme.notice_version },
    };
    var name = $("member-signup-name").value.trim();
    if (name) body.name = name;
    if ($("member-birthday").value) body.birthday = $("member-birthday").value;
    TP.api("POST", "/members", body).then(function (view) {
      closeDialog();
      notice("notice", t("Member {mobile} signed up", { mobile: view.mobile }));
      return attach(view);
    }, function (e) { notice("member-error", e.message); });
  }
  TP.memberScanned = function (code) {
    $("member-number").value = code;
    lookup();
  };

  function addCoupon(code) {
    var cart = TP.till.cart();
    var m = cart && cart.member;
    if (!m || !code.trim()) return;
    notice("member-notice", "");
    TP.api("GET", "/coupons/" + encodeURIComponent(code.trim())).then(function (c) {
      if (c.member_id && c.member_id !== m.id) {
        notice("member-notice", t("Coupon {code} is another member's", { code: c.code }));
        return;
      }
      if (!c.usable) {
        notice("member-notice", t("Coupon {code} cannot be used today", { code: c.code }));
        return;
      }
      if (!couponOf(m, c.code)) m.extra = (m.extra || []).concat([c]);
      if ((m.codes || []).indexOf(c.code) < 0) {
        if ((m.codes || []).length >= 3) { notice("member-notice", t("An order takes at most 3 coupons")); return; }
        m.codes = (m.codes || []).concat([c.code]);
      }
      $("member-coupon-code").value = "";
      TP.till.render();
    }, function (e) { notice("member-notice", e.message); });
  }

  document.addEventListener("click", function (event) {
    var b = event.target.closest("[data-member], .member-coupon");
    if (!b) return;
    var cart = TP.till.cart();
    var act = b.dataset.member;
    if (act === "find") openDialog();
    else if (act === "lookup") lookup();
    else if (act === "signup") signUp();
    else if (act === "remove") detach();
    else if (act === "redeem" && cart && cart.member) {
      cart.member.redeem = cart.member.redeem ? 0 : "max";
      TP.till.render();
    } else if (b.classList.contains("member-coupon") && cart && cart.member) {
      var m = cart.member;
      var code = b.dataset.code;
      var at = (m.codes || []).indexOf(code);
      if (at >= 0) m.codes.splice(at, 1);
      else if ((m.codes || []).length >= 3) { notice("member-notice", t("An order takes at most 3 coupons")); return; }
      else m.codes = (m.codes || []).concat([code]);
      notice("member-notice", "");
      TP.till.render();
    }
  });
  $("member-number").addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); lookup(); }
  });
  $("member-consent").addEventListener("change", function () { notice("member-error", ""); });
  $("member-coupon-form").addEventListener("submit", function (event) {
    event.preventDefault();
    addCoupon($("member-coupon-code").value);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "F11" || !TP.till || TP.till.step() !== "sell") return;
    if (document.querySelector("dialog[open]")) return;
    event.preventDefault();
    openDialog();
  });

  // --- the snapshot, for selling offline (docs/members.md, "The till's snapshot") ---------
  // Every page of the members the till may sell to (``since``: only the changes after an
  // earlier snapshot's ``as_of``). Numbers are masked: the page finds a member offline
  // by masking what the cashier typed the same way (``M.mask``, ``M.matches``).
  M.snapshot = function (since) {
    var members = [];
    function page(afterId, first) {
      var q = "/members/snapshot?after_id=" + afterId + (since ? "&since=" + encodeURIComponent(since) : "");
      return TP.api("GET", q).then(function (answer) {
        if (first) first.value = answer;
        members = members.concat(answer.members);
        if (answer.next_after_id) return page(answer.next_after_id, null);
        return null;
      });
    }
    var head = { value: null };
    return page(0, head).then(function () {
      var answer = head.value;
      answer.members = members;
      return answer;
    });
  };
  // "138 1234 5678" -> "138****5678" (null when it is not a mainland mobile number).
  M.mask = function (typed) {
    var digits = String(typed || "").replace(/[\s\-()\u00a0]/g, "").replace(/^(?:\+86|0086|86)(?=\d{11}$)/, "");
    return /^1[3-9]\d{9}$/.test(digits) ? digits.slice(0, 3) + "****" + digits.slice(-4) : null;
  };
  // The snapshot's active members whose masked number is the one typed (rarely more
  // than one: the page then shows their names and the cashier asks).
  M.matches = function (members, typed) {
    var masked = M.mask(typed);
    if (!masked) return [];
    return members.filter(function (x) { return x.status === "active" && x.mobile === masked; });
  };

  // --- the snapshot kept in this browser (IndexedDB, one database per merchant and shop:
  // the shop's points rate, and its own members when members are each shop's) ---------------
  // "members": the snapshot's members by id (masked number, name, level, points; never
  // the number), indexed by the masked number; "meta": the snapshot's as_of, when it was
  // last taken whole, the programme and the member prices. Taken whole the first time and
  // once a day; otherwise only the changes since its as_of (erased members forgotten).
  function idb(req) {
    return new Promise(function (resolve, reject) {
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  var snap = (M.kept = {
    name: null, db: null, meta: null, opening: null, refreshing: null,
    open: function () {
      var self = this;
      if (this.db) return Promise.resolve(this.db);
      if (!window.indexedDB || !this.name) return Promise.resolve(null);
      if (!this.opening) {
        var req = window.indexedDB.open(this.name, 1);
        req.onupgradeneeded = function () {
          var d = req.result;
          if (!d.objectStoreNames.contains("members")) d.createObjectStore("members", { keyPath: "id" }).createIndex("mobile", "mobile");
          if (!d.objectStoreNames.contains("meta")) d.createObjectStore("meta", { keyPath: "k" });
        };
        var name = this.name;
        this.opening = idb(req).then(function (db) {
          if (self.name !== name) { db.close(); return null; }
          self.db = db;
          db.onversionchange = function () { db.close(); self.db = null; self.opening = null; };
          return idb(db.transaction("meta").objectStore("meta").get("snapshot")).then(function (meta) {
            self.meta = meta || null;
            return db;
          });
        }, function () { self.opening = null; return null; });
      }
      return this.opening;
    },
    // The meta of the snapshot kept (null: none yet).
    ready: function () {
      var self = this;
      return this.open().then(function () { return self.meta; });
    },
    find: function (typed) {
      var masked = M.mask(typed);
      return this.open().then(function (db) {
        if (!db || !masked) return [];
        return idb(db.transaction("members").objectStore("members").index("mobile").getAll(masked)).then(function (list) {
          return M.matches(list, typed).sort(function (a, b) { return a.id - b.id; });
        });
      });
    },
    // Taken from the server (whole, or its changes), then kept in one transaction: a
    // snapshot that could not be fetched leaves the one kept as it was.
    refresh: function () {
      var self = this;
      if (this.refreshing) return this.refreshing;
      this.refreshing = this.open().then(function (db) {
        if (!db || offline()) return null;
        var meta = self.meta;
        var whole = !meta || Date.now() - meta.full_at > FULL_MS;
        return M.snapshot(whole ? null : meta.as_of).then(function (answer) {
          var tx = db.transaction(["members", "meta"], "readwrite");
          var members = tx.objectStore("members");
          if (whole) members.clear();
          answer.members.forEach(function (x) {
            if (x.status === "active") members.put(x); else members.delete(x.id);
          });
          var next = {
            k: "snapshot", as_of: answer.as_of, full_at: whole ? Date.now() : meta.full_at,
            programme: answer.programme, member_prices: answer.member_prices,
          };
          tx.objectStore("meta").put(next);
          return new Promise(function (resolve, reject) {
            tx.oncomplete = function () { resolve(); };
            tx.onerror = tx.onabort = function () { reject(tx.error); };
          }).then(function () {
            self.meta = next;
            usePrices(next);
            return next;
          });
        });
      }).catch(function () { return null; }).then(function (meta) {
        self.refreshing = null;
        return meta;
      });
      return this.refreshing;
    },
  });

  // The till is chosen and its shift open (cashier-offline.js's start): keep its snapshot.
  var timer = null, listening = false;
  M.keepSnapshot = function (merchantId, shopNumber) {
    var name = "tillpoint-members-" + merchantId + "-" + shopNumber;
    if (snap.name !== name) {
      if (snap.db) snap.db.close();
      snap.name = name;
      snap.db = snap.meta = snap.opening = null;
    }
    if (!listening && TP.offline) {
      listening = true;
      TP.offline.onChange(function (online) {
        var cart = TP.till && TP.till.cart();
        if (online) {
          snap.refresh();
          againFromServer(cart);
        }
        lastQuoted = "";
        if (cart) TP.till.render();
      });
    }
    clearInterval(timer);
    timer = setInterval(function () { if (!offline()) snap.refresh(); }, REFRESH_MS);
    return offline() ? snap.ready() : snap.refresh();
  };
  // Back online with a member found in the snapshot: the server's view of them (their
  // points now, their coupons), so the perks are there again.
  function againFromServer(cart) {
    var m = cart && cart.member;
    if (!m || !m.as_of || m.held || cart.order) return;
    TP.api("GET", "/members/" + m.id).then(function (view) {
      if (TP.till.cart() !== cart || cart.member !== m) return;
      cart.setMember(fromServer(view));
      TP.till.render();
    }, function () { return null; });
  }

  // The points an offline sale should earn when it syncs: its total at the shop's rate
  // as the snapshot has it (a category's multiple and a rate changed meanwhile are the
  // server's to apply: so "about").
  M.expected = function (cart) {
    var rate = M.programme ? String(M.programme.points_per_yuan) : "0";
    var parts = rate.split(".");
    var centi = parseInt(parts[0], 10) * 100 + parseInt(((parts[1] || "") + "00").slice(0, 2), 10);
    var total = cart.totals().total;
    return total > 0 && centi > 0 ? Math.floor(total * centi / 10000) : 0;
  };

  // A time of the snapshot as the cashier reads it: the hour today, else the day too.
  function when(iso) {
    var d = new Date(iso);
    var now = new Date();
    var opts = d.toDateString() === now.toDateString()
      ? { hour: "2-digit", minute: "2-digit" }
      : { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" };
    return d.toLocaleString(TP.data.lang, opts);
  }
})();
