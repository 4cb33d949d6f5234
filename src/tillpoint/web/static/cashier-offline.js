// Selling while the server cannot be reached (TP.offline): the till notices (a request
// that could not reach the server, the browser saying it is offline), says so in a
// banner, and goes on selling for cash only: the products from its copy of the
// catalogue, each sale kept in the offline queue (cashier-outbox.js) with a receipt
// number in the page's own form (1-T1-P2.7), its receipt laid out and printed here. What needs
// the server (card, wallet and QR, returns, holding and recalling, a price of the till's
// own or a discount that needs a manager, the shift's reports, opening or closing it)
// says so instead. A cheap question (/cashier/api/ping) tells when the server is back;
// then the queue is sent by itself, and the "Offline sales" view shows what synced and
// what needs a look.
//
// Also here: the service worker (cashier-sw.js) that keeps the page for opening offline,
// and the till's state kept in this browser (the shift, the shop) for that opening.
(function () {
  "use strict";
  var TP = window.TP;
  var t = TP.t;
  var data = TP.data;
  var $ = function (id) { return document.getElementById(id); };
  var PING_OFFLINE_MS = 5000;
  var PING_ONLINE_MS = 30000;
  var PING_TIMEOUT_MS = 4000;
  var STATE_KEY = "tillpoint.offline.state";
  var FLAGS = {
    stock_negative: "stock went below zero",
    shift_closed: "its shift was closed before it arrived",
    not_approved: "a price or discount without a manager's approval",
    no_counter: "no counter named",
    clock: "the till's clock was off",
    fallback_number: "numbered past the receipt blocks",
    price_changed: "the price changed meanwhile",
    product_inactive: "the product was switched off meanwhile",
  };

  var O = {
    online: navigator.onLine !== false,
    cached: document.body.dataset.cached === "1",
    outbox: null,
    till: null, // {merchant, shop, till, shift, account}
    counts: { waiting: 0, look: 0 },
    pingTimer: null,
    listeners: [],
  };
  if (O.cached) O.online = false; // the network failed for the page itself

  // --- online or not --------------------------------------------------------------------
  function set(online) {
    if (O.online === online) return;
    O.online = online;
    render();
    O.listeners.forEach(function (f) { f(online); });
    if (online) back();
    schedulePing();
  }
  function lost() { set(false); }
  // A proxy in front of the server answers for it when it is down: that is no answer.
  function unreachable(status) { return status === 0 || status === 502 || status === 503 || status === 504; }

  // Every question of the page: one that cannot reach the server means offline; an
  // answer (any answer) means online.
  var api = TP.api;
  TP.api = function () {
    return api.apply(this, arguments).then(function (answer) {
      set(true);
      return answer;
    }, function (e) {
      if (unreachable(e.status)) lost(); else set(true);
      throw e;
    });
  };

  function ping() {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = setTimeout(function () { if (controller) controller.abort(); }, PING_TIMEOUT_MS);
    return fetch(data.urls.api + "/ping", {
      credentials: "same-origin", cache: "no-store", signal: controller ? controller.signal : undefined,
    }).then(function (r) {
      clearTimeout(timer);
      if (unreachable(r.status)) { lost(); return; }
      if (r.status === 401 && TP.signedOut) TP.signedOut();
      set(true);
      if (O.counts.waiting && O.outbox && !O.outbox.syncing && !O.outbox.timer) sync();
    }, function () {
      clearTimeout(timer);
      lost();
    });
  }
  function schedulePing() {
    clearTimeout(O.pingTimer);
    O.pingTimer = setTimeout(function () { ping().then(schedulePing); }, O.online ? PING_ONLINE_MS : PING_OFFLINE_MS);
  }
  window.addEventListener("offline", lost);
  window.addEventListener("online", function () {
    ping().then(function () { if (O.online) sync(); });
  });

  // Back online: numbers for the next outage, then the queue.
  function back() {
    if (!O.outbox || !O.till) return;
    O.outbox.ensureNumbers(O.till.shop, O.till.till).catch(function () { return null; });
    sync();
  }
  function sync() {
    if (!O.outbox) return Promise.resolve(0);
    return O.outbox.sync().catch(function (e) {
      if (unreachable(e.status)) lost();
      if (e.status === 401 && TP.signedOut) TP.signedOut();
      return 0;
    });
  }

  // --- the banner and the buttons that need the server ----------------------------------
  function render() {
    document.body.classList.toggle("offline", !O.online);
    var banner = $("offline-banner");
    if (!banner) return;
    var text;
    if (!O.online) {
      text = t("Offline: cash only; sales are kept here and sent when the server is back ({n} waiting)", { n: O.counts.waiting });
    } else if (O.counts.waiting) {
      text = t("Back online: sending {n} offline sales…", { n: O.counts.waiting });
    } else if (O.counts.look) {
      text = t("Offline sales: {n} need a look", { n: O.counts.look });
    } else {
      text = "";
    }
    $("offline-text").textContent = text;
    banner.hidden = !text;
    banner.dataset.state = !O.online ? "offline" : O.counts.waiting ? "sending" : "look";
    $("offline-count").textContent = O.counts.waiting || O.counts.look ? String(O.counts.waiting + O.counts.look) : "";
  }
  function recount() {
    if (!O.outbox) return;
    O.outbox.counts().then(function (c) {
      O.counts = c;
      render();
      if ($("offline-dialog") && $("offline-dialog").open) showList();
    }, function () { return null; });
  }

  // What needs the server, refused with a word while offline (cashier.js asks).
  TP.needsServer = function () {
    if (O.online) return false;
    var notice = document.body.dataset.step === "tender" ? $("tender-notice") : $("notice");
    if (notice) {
      notice.textContent = t("This needs the server: not while offline");
      notice.hidden = false;
    }
    return true;
  };

  // --- the till's state, kept for opening offline ----------------------------------------
  function keep(state, shift) {
    try {
      window.localStorage.setItem(STATE_KEY, JSON.stringify({ state: state, shift: shift, at: Date.now() }));
    } catch (e) { /* full or private */ }
  }
  // The till as it was last seen online (its shift), when the page opened offline.
  function kept(shop, till) {
    try {
      var k = JSON.parse(window.localStorage.getItem(STATE_KEY) || "null");
      if (!k || !k.state || !k.state.shop || !k.shift) return null;
      if (data.state && data.state.account && k.state.account.id !== data.state.account.id) return null;
      if (shop && k.state.shop.number !== shop) return null;
      if (till && k.shift.till !== till) return null;
      return k;
    } catch (e) { return null; }
  }

  // --- the page's start and its till ------------------------------------------------------
  // The till is chosen and its shift open (cashier.js's afterState): keep it, take numbers
  // while online, send what waits.
  function start(state, shift) {
    keep(state, shift);
    if (!window.indexedDB) return;
    // Sales may wait here: ask the browser not to clear this site's storage by itself.
    if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () { return false; });
    var mid = state.merchant.id;
    if (!O.outbox || O.outbox.merchant !== mid) {
      O.outbox = new TP.Outbox(mid);
      O.outbox.merchant = mid;
      O.outbox.onChange = recount;
      O.outbox.onReach = function () { set(true); };
    }
    O.till = { shop: state.shop.number, till: shift.till, shift: shift, state: state };
    // The members' snapshot, for selling to them offline (cashier-members.js).
    if (TP.members && TP.members.keepSnapshot) TP.members.keepSnapshot(mid, state.shop.number);
    recount();
    if (O.online) back();
  }

  // --- a cash sale made offline ----------------------------------------------------------
  function offsetTime(date) {
    function two(n) { return (n < 10 ? "0" : "") + n; }
    var off = -date.getTimezoneOffset();
    var sign = off >= 0 ? "+" : "-";
    off = Math.abs(off);
    return date.getFullYear() + "-" + two(date.getMonth() + 1) + "-" + two(date.getDate()) + "T" +
      two(date.getHours()) + ":" + two(date.getMinutes()) + ":" + two(date.getSeconds()) + "." +
      String(date.getMilliseconds()).padStart(3, "0") + sign + two(Math.floor(off / 60)) + ":" + two(off % 60);
  }

  // The cart as /v1/orders/sync takes it: the till's own figures, cash in full.
  function saleBody(cart, shift, account, receivedMinor) {
    var totals = cart.totals();
    var body = {
      client_ref: cart.ref,
      receipt_no: null, // the outbox numbers it
      made_at: offsetTime(new Date()),
      shift_id: shift.id,
      cashier_id: account.id,
      counter_number: cart.counter || null,
      lines: cart.lines.map(function (l) {
        var line = {
          product_id: l.product_id, name: l.name, unit: l.unit, quantity_milli: l.qty,
          list_price_minor: l.list_price, unit_price_minor: cart.unitPrice(l),
          discount_minor: cart.lineDiscount(l), amount_minor: cart.amount(l),
        };
        if (l.barcode) line.barcode = l.barcode;
        return line;
      }),
      subtotal_minor: totals.subtotal,
      discount_minor: totals.discount,
      total_minor: totals.total,
      tenders: totals.total > 0
        ? [{ kind: "cash", amount_minor: totals.total, received_minor: receivedMinor, change_minor: receivedMinor - totals.total }]
        : [],
      note: null,
    };
    // A member's sale (cashier-members.js puts cart.member): the server's sync gives
    // the points; offline no points are redeemed and no coupons used.
    if (cart.member && cart.member.id) body.member_id = cart.member.id;
    return body;
  }

  function refusal(message) {
    var error = new Error(message);
    error.status = 409;
    return error;
  }

  // Sell the cart for cash, offline. Resolves (once the sale is kept for good) with an
  // order as the page shows a paid one, marked ``offline``.
  TP.offline = {
    on: function () { return !O.online; },
    cached: function () { return O.cached; },
    onChange: function (f) { O.listeners.push(f); },
    start: start,
    kept: kept,
    forget: function () {
      try { window.localStorage.removeItem(STATE_KEY); } catch (e) { /* */ }
    },
    sync: sync,
    ping: ping,
    outbox: function () { return O.outbox; },
    sell: function (cart, shift, account, receivedMinor) {
      if (!O.outbox) return Promise.reject(refusal(t("This browser cannot keep offline sales")));
      if (cart.order) return Promise.reject(refusal(t("This order was started at the server: finish it when the server is back")));
      if (cart.needsApproval()) return Promise.reject(refusal(t("A manager's approval needs the server: not while offline")));
      if (cart.lines.some(function (l) { return !l.product_id; })) return Promise.reject(refusal(t("This needs the server: not while offline")));
      var total = cart.totals().total;
      if (receivedMinor < total) return Promise.reject(refusal(t("Offline, a sale is paid in cash in full: {amount}", { amount: TP.money(total) })));
      var body = saleBody(cart, shift, account, receivedMinor);
      // The member as the receipt names them (masked), and the points expected: the
      // server gives them when the sale syncs.
      var member = body.member_id ? {
        id: body.member_id, mobile: cart.member.mobile || "#" + body.member_id,
        expected: TP.members && TP.members.expected ? TP.members.expected(cart) : null,
      } : null;
      return O.outbox.add(O.till.shop, O.till.till, body).then(function (kept) {
        var b = kept.body;
        var cash = b.tenders[0];
        return {
          id: null, offline: true, client_ref: b.client_ref, receipt_no: b.receipt_no,
          status: "paid", total_minor: b.total_minor, subtotal_minor: b.subtotal_minor,
          discount_minor: b.discount_minor, change_minor: cash ? cash.change_minor : 0,
          paid_minor: b.total_minor, due_minor: 0,
          tenders: cash ? [{ kind: "cash", status: "paid", amount_minor: cash.amount_minor,
                             received_minor: cash.received_minor, change_minor: cash.change_minor }] : [],
          body: b, member: member,
        };
      });
    },
    slip: slip,
  };

  // --- the receipt, laid out here as the server's _slip.html does it ---------------------
  function esc(text) {
    return String(text === null || text === undefined ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function cny(minor) {
    var n = Math.abs(minor), cents = n % 100, whole = String((n - cents) / 100);
    var grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (minor < 0 ? "-" : "") + grouped + "." + (cents < 10 ? "0" : "") + cents;
  }
  function qty(milli, unit) {
    if (milli % 1000 === 0) return String(milli / 1000);
    return (milli / 1000).toFixed(3).replace(/0+$/, "") + unit;
  }
  function rows(list) {
    return '<dl class="slip-rows">' + list.map(function (r) {
      return "<div><dt>" + esc(r[0]) + "</dt><dd>" + esc(r[1]) + "</dd></div>";
    }).join("") + "</dl>";
  }
  function slip(order) {
    var L = data.slip || {};
    var b = order.body;
    var st = O.till ? O.till.state : data.state;
    var made = new Date(b.made_at);
    function two(n) { return (n < 10 ? "0" : "") + n; }
    var when = made.getFullYear() + "-" + two(made.getMonth() + 1) + "-" + two(made.getDate()) + " " +
      two(made.getHours()) + ":" + two(made.getMinutes()) + ":" + two(made.getSeconds());
    var heading = [[L.receipt_no, b.receipt_no], [L.time, when], [L.shop, st.shop && st.shop.name],
                   [L.till, O.till && O.till.till], [L.cashier, st.account && st.account.name]];
    if (b.counter_number) heading.push([L.counter, String(b.counter_number)]);
    var totals = [[L.subtotal, cny(b.subtotal_minor)]];
    if (b.discount_minor) totals.push([L.order_discount, "-" + cny(b.discount_minor)]);
    var tenders = [];
    b.tenders.forEach(function (x) {
      tenders.push([L.cash, cny(x.amount_minor)]);
      if (x.change_minor) {
        tenders.push([L.received, cny(x.received_minor)]);
        tenders.push([L.change, cny(x.change_minor)]);
      }
    });
    return '<article class="slip" lang="zh-CN">' +
      '<h2 class="slip-title">' + esc(L.sale) + "</h2>" +
      '<p class="slip-centre slip-merchant">' + esc(st.merchant && st.merchant.name) + "</p>" +
      rows(heading.filter(function (r) { return r[1]; })) +
      '<ul class="slip-lines">' + b.lines.map(function (l) {
        var gross = l.amount_minor + l.discount_minor;
        return '<li><div class="slip-name">' + esc(l.name) + "</div>" +
          '<div class="slip-detail"><span>' + esc(qty(l.quantity_milli, l.unit) + " x " + cny(l.unit_price_minor)) +
          "</span><span>" + esc(cny(gross)) + "</span></div>" +
          (l.discount_minor ? '<div class="slip-detail"><span>' + esc(L.discount) + "</span><span>-" + esc(cny(l.discount_minor)) + "</span></div>" : "") +
          "</li>";
      }).join("") + "</ul>" +
      rows(totals) +
      '<p class="slip-total-label">' + esc(L.total) + "</p>" +
      '<p class="slip-total">CNY ' + esc(cny(b.total_minor)) + "</p>" +
      rows(tenders) +
      (order.member ? '<div class="slip-member">' + rows([[L.member, order.member.mobile]].concat(
        order.member.expected !== null ? [[L.points_expected, "+" + order.member.expected]] : [])) +
        '<p class="slip-centre">' + esc(L.points_later) + "</p></div>" : "") +
      '<p class="slip-centre">' + esc(L.thanks) + "</p>" +
      '<p class="slip-centre slip-offline">' + esc(L.offline) + "</p>" +
      "</article>";
  }

  // --- the view: what synced, what waits, what needs a look ------------------------------
  function statusText(x) {
    if (x.status === "waiting") return t("waiting");
    if (x.status === "refused") return t("refused");
    return x.needs_look ? t("synced: needs a look") : t("synced");
  }
  function why(x) {
    var words = [];
    (x.flags || []).forEach(function (f) { words.push(t(FLAGS[f] || f)); });
    (x.lines || []).forEach(function (l) {
      (l.flags || []).forEach(function (f) {
        if (f === "stock_negative" && l.level_milli !== null && l.level_milli !== undefined) {
          words.push(t("line {n}: stock now {level}", { n: l.line_no, level: qty(l.level_milli, "") }));
        } else if (f !== "stock_negative") {
          words.push(t("line {n}: {why}", { n: l.line_no, why: t(FLAGS[f] || f) }));
        }
      });
    });
    if (x.message) words.push(x.message);
    return words.filter(function (w, i) { return words.indexOf(w) === i; }).join(" · ");
  }
  function showList() {
    if (!O.outbox) return;
    O.outbox.list(200).then(function (items) {
      var body = $("offline-rows");
      body.textContent = "";
      $("offline-none").hidden = items.length > 0;
      items.forEach(function (x) {
        var tr = document.createElement("tr");
        tr.className = "offline-row " + (x.status === "waiting" ? "waiting" : x.needs_look && !x.seen ? "look" : "ok");
        tr.dataset.ref = x.client_ref;
        var made = new Date(x.made_at);
        [x.receipt_no, made.toLocaleString(data.lang, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }),
         TP.money(x.total_minor), statusText(x), why(x)].forEach(function (text, i) {
          var td = document.createElement("td");
          td.textContent = text || "";
          if (i === 2) td.className = "num";
          tr.appendChild(td);
        });
        var td = document.createElement("td");
        if (x.status !== "waiting" && x.needs_look && !x.seen) {
          var b = document.createElement("button");
          b.type = "button";
          b.className = "seen";
          b.textContent = t("Seen");
          b.addEventListener("click", function () { O.outbox.seen(x.client_ref); });
          td.appendChild(b);
        }
        tr.appendChild(td);
        body.appendChild(tr);
      });
      $("offline-summary").textContent = t("{waiting} waiting · {look} need a look", { waiting: O.counts.waiting, look: O.counts.look });
    });
  }
  function openList() {
    showList();
    $("offline-dialog").showModal();
  }

  // --- the service worker ----------------------------------------------------------------
  function register() {
    if (!("serviceWorker" in navigator) || !data.urls.service_worker) return;
    navigator.serviceWorker.register(data.urls.service_worker, { scope: data.urls.scope }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function () {
      // The page came before its worker (the first visit): the worker never saw it, so
      // it is put where the worker keeps it (the same request, through the worker now).
      if (O.cached || !window.caches) return null;
      return window.caches.open("tillpoint-cashier-page").then(function (cache) {
        return cache.match("/cashier").then(function (hit) {
          if (hit) return null;
          return fetch(window.location.href, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
            if (response.status !== 200 || response.redirected) return null;
            return cache.put("/cashier", response);
          });
        });
      });
    }).catch(function () {
      return null; // the till works without it; it only cannot open offline
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    render();
    schedulePing();
    register();
    var open = $("offline-open");
    if (open) open.addEventListener("click", openList);
    var menu = document.querySelector('[data-act="offline-sales"]');
    if (menu) menu.addEventListener("click", function () { $("menu").hidden = true; openList(); });
    var sendNow = $("offline-send");
    if (sendNow) sendNow.addEventListener("click", function () { ping().then(sync); });
    var dialog = $("offline-dialog");
    if (dialog) dialog.addEventListener("click", function (event) {
      if (event.target.closest("button.cancel")) dialog.close();
    });
    // Signing out: the page kept for opening offline is this person's; it goes.
    var out = document.querySelector('form[action="/portal/sign-out"]');
    if (out) out.addEventListener("submit", function () {
      try { window.localStorage.removeItem(STATE_KEY); } catch (e) { /* */ }
      if (navigator.serviceWorker && navigator.serviceWorker.controller) {
        navigator.serviceWorker.controller.postMessage({ type: "forget" });
      }
    });
  });
  TP.O = O; // for the tests and a curious engineer's console
})();
