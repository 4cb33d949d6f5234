// The till (/cashier): one page that sells without reloading. Touch first (big buttons,
// a keypad for every number), and as good with a keyboard and a keyboard-wedge barcode
// scanner: the scanner types its code fast and ends with Enter into whatever has focus,
// and the page takes it from there (a burst of keys ending in Enter is a scan: in the
// cart a product, while paying the customer's wallet code, in a return the receipt).
// The cart, the catalogue's copy and the orders on their way live in their own modules
// (cashier-cart.js, cashier-catalogue.js, cashier-orders.js); this file is the screen.
(function () {
  "use strict";
  var TP = window.TP;
  var t = TP.t;
  var data = TP.data;
  var $ = function (id) { return document.getElementById(id); };

  var GAP_MS = 50; // a scanner types each character well within this of the one before
  var PAUSE_MS = 1500; // a person's pause between two things typed
  var MIN_CODE = 3;
  var WALLET = /^(?:(?:1[0-5]|2[5-9]|30)\d{16}|62\d{17})$/; // networks/wallets.py's prefixes
  var DENOMINATIONS = [10000, 5000, 2000, 1000, 500, 100, 50, 10];
  var NOTES = [1000, 2000, 5000, 10000];

  var S = {
    state: data.state || {},
    shift: null,
    cart: null,
    step: "loading",
    scope: "",
    catalogue: null,
    orders: null,
    waitingFor: null,
    lastReceipt: null, // a promise of the last receipt
    lastPaidId: null,
    results: [],
    resultAt: -1,
    returnSale: null,
    returnOrder: null,
    busy: false,
    payStarted: 0,
  };
  S.shift = S.state.shift || null;

  // --- small helpers ------------------------------------------------------------------------
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }
  function show(id, on) { $(id).hidden = !on; }
  function notice(id, text) {
    var node = $(id);
    node.textContent = text || "";
    node.hidden = !text;
  }
  function dialogOpen() { return document.querySelector("dialog[open]"); }
  function isField(node) {
    if (!node) return false;
    var tag = node.tagName;
    return (tag === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(node.type)) || tag === "TEXTAREA" || tag === "SELECT";
  }
  function kind(k) { return t(k); }
  function remember() {
    try {
      window.localStorage.setItem("tillpoint.till", JSON.stringify({ shop: TP.shop, till: S.state.till }));
    } catch (e) { /* private mode */ }
  }
  function saveCart() { if (S.cart && S.scope) S.cart.save(S.scope); }

  // --- the customer display (a second window of this browser) ------------------------------
  var display = window.BroadcastChannel ? new window.BroadcastChannel("tillpoint-display") : null;
  var lastShown = { type: "idle" };
  function tell(message) {
    lastShown = message;
    if (display) display.postMessage(message);
    tellRemote(message);
  }
  // A display on another device (Menu → "Customer display on another device", kept per
  // till): each message also goes to the server, where that device's display page waits
  // for it. One request at a time; what came meanwhile is sent next, the latest only.
  var remote = { on: false, busy: false, next: null };
  function tellRemote(message) {
    if (!remote.on || !S.shift) return;
    remote.next = message;
    if (remote.busy) return;
    remote.busy = true;
    var sending = remote.next;
    remote.next = null;
    var done = function () {
      remote.busy = false;
      if (remote.next) tellRemote(remote.next);
    };
    TP.api("POST", "/display?till=" + encodeURIComponent(S.shift.till), sending).then(done, done);
  }
  if (display) {
    display.onmessage = function (event) {
      if (event.data && event.data.type === "hello") display.postMessage(lastShown);
    };
  }
  function tellCart() {
    if (!S.cart || S.cart.empty()) { tell({ type: "idle", merchant: S.state.merchant && S.state.merchant.name }); return; }
    var totals = S.cart.totals();
    tell({
      type: "cart",
      merchant: S.state.merchant && S.state.merchant.name,
      lines: S.cart.lines.map(function (l) {
        return { name: l.name, qty: TP.quantity(l.qty, l.sold_by, l.unit), amount: S.cart.amount(l) };
      }),
      total: totals.total,
      discount: totals.discount,
      due: S.cart.order ? S.cart.order.due_minor : null,
    });
  }

  // --- the bar ------------------------------------------------------------------------------
  function renderBar() {
    var shop = S.state.shop;
    $("shop-name").textContent = $("shop-name").title = shop ? shop.number + " " + shop.name : "";
    $("shift-name").textContent = $("shift-name").title = S.shift ? t("Shift {number} · till {till}", { number: S.shift.number, till: S.shift.till }) : "";
  }
  function renderSync(c) {
    var text;
    if (!c || (!c.complete && !c.working && !c.failed)) text = t("Catalogue: on the server");
    else if (c.failed && !c.complete) text = t("Catalogue: the copy stopped ({why}); scans ask the server", { why: c.failed });
    else if (!c.complete) text = t("Catalogue: copying {count} products…", { count: c.count.toLocaleString() });
    else text = t("Catalogue: {count} products on this till", { count: c.count.toLocaleString() });
    $("sync-state").textContent = $("sync-state").title = text;
    $("sync-state").dataset.complete = c && c.complete ? "1" : "0";
  }

  // --- steps ----------------------------------------------------------------------------------
  function step(name) {
    S.step = name;
    document.body.dataset.step = name;
    show("start", name === "start");
    show("sell", name === "sell");
    show("tender", name === "tender");
    show("done", name === "done");
    if (name === "sell") focusScan();
    if (name === "tender") $("amount").focus();
    if (name === "done") setTimeout(function () { document.activeElement && document.activeElement.blur && document.activeElement.blur(); }, 0);
  }
  function focusScan() {
    if (!dialogOpen()) setTimeout(function () {
      if (S.step !== "sell" || dialogOpen()) return;
      // A closed dialog gives the focus back to the box that had it, without its caret
      // (Chromium): a scan typed then would go nowhere. So it is focused afresh.
      var scan = $("scan");
      if (document.activeElement === scan) scan.blur();
      scan.focus();
    }, 0);
  }

  // --- the start: choose the till, open (or continue) its shift ----------------------------
  function renderStart(error) {
    var select = $("start-shop");
    select.textContent = "";
    (S.state.shops || []).forEach(function (shop) {
      var option = el("option", null, shop.number + " " + shop.name);
      option.value = shop.number;
      if (TP.shop === shop.number) option.selected = true;
      select.appendChild(option);
    });
    if (S.state.till) $("start-till").value = S.state.till;
    var holder = $("continue");
    holder.textContent = "";
    (S.state.open_tills || []).forEach(function (x) {
      var b = el("button", "continue-button", t("Till {till} has shift {number} open (by {who}): continue it",
        { till: x.till, number: x.number, who: x.cashier_id === S.state.account.id ? S.state.account.name : "#" + x.cashier_id }));
      b.type = "button";
      b.addEventListener("click", function () { chooseTill(TP.shop, x.till); });
      holder.appendChild(b);
    });
    notice("start-error", error || "");
    step("start");
    setTimeout(function () { $("start-float").focus(); $("start-float").select(); }, 0);
  }

  function chooseTill(shop, till) {
    TP.shop = shop;
    return TP.api("GET", "/state?till=" + encodeURIComponent(till)).then(function (state) {
      S.state = state;
      S.shift = state.shift;
      afterState();
    }, function (e) { renderStart(e.message); });
  }

  $("start-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var shop = parseInt($("start-shop").value, 10);
    var till = $("start-till").value.trim();
    var float = TP.parseYuan($("start-float").value);
    if (float === null) { notice("start-error", t("An amount is in yuan with at most two decimals")); return; }
    if (shop !== TP.shop) {
      TP.shop = shop;
      chooseTill(shop, till).then(function () { if (!S.shift) openShift(till, float); });
      return;
    }
    openShift(till, float);
  });

  function openShift(till, float) {
    TP.api("GET", "/state?till=" + encodeURIComponent(till)).then(function (state) {
      S.state = state;
      if (state.shift) { S.shift = state.shift; afterState(); return null; }
      return TP.api("POST", "/shifts", { till: till, float_minor: float }).then(function (shift) {
        S.state.till = till;
        S.shift = shift;
        afterState();
      });
    }).catch(function (e) { notice("start-error", e.message); });
  }

  function afterState() {
    renderBar();
    if (!S.state.shop) { renderStart(); return; }
    TP.shop = S.state.shop.number;
    if (!S.shift) { renderStart(); startCatalogue(); return; }
    S.state.till = S.shift.till;
    remember();
    var url = new URL(window.location.href);
    if (url.searchParams.get("shop") !== String(TP.shop) || url.searchParams.get("till") !== S.shift.till) {
      url.searchParams.set("shop", TP.shop);
      url.searchParams.set("till", S.shift.till);
      url.searchParams.delete("lang");
      window.history.replaceState(null, "", url.pathname + url.search);
    }
    S.scope = [S.state.merchant.id, TP.shop, S.shift.till].join("-");
    S.cart = TP.Cart.load(S.scope);
    S.orders = new TP.Orders(S.scope);
    renderCounters();
    renderTerminals();
    renderRemote();
    startCatalogue();
    if (TP.offline) TP.offline.start(S.state, S.shift);
    S.orders.flush();
    if (S.cart.order && S.cart.order.status === "open") {
      showOrder(S.cart.order);
      refreshOrder();
    } else {
      if (S.cart.order) { S.cart = new TP.Cart(null); saveCart(); }
      renderCart();
      step("sell");
    }
    if (TP.timings.ready_ms === null) {
      TP.timings.ready_ms = Math.round(performance.now());
      document.body.dataset.ready = "1";
    }
  }

  function startCatalogue() {
    if (S.catalogue && S.catalogue.shop === TP.shop) return;
    S.catalogue = new TP.Catalogue(S.state.merchant.id, TP.shop, renderSync);
    renderSync(S.catalogue);
    S.catalogue.start(data.urls.sync_worker, data.urls.api);
  }

  // What the member panel (cashier-members.js) may reach of the screen.
  TP.till = {
    cart: function () { return S.cart; },
    shift: function () { return S.shift; },
    step: function () { return S.step; },
    render: function () { renderCart(); },
    focusScan: function () { focusScan(); },
  };

  // --- the cart ----------------------------------------------------------------------------
  function renderCounters() {
    var counters = S.state.counters || [];
    show("counter-row", counters.length > 0);
    var select = $("counter");
    select.textContent = "";
    if (!counters.length) return;
    var none = el("option", null, "—");
    none.value = "";
    select.appendChild(none);
    counters.forEach(function (c) {
      var option = el("option", null, c.number + " " + c.name);
      option.value = c.number;
      select.appendChild(option);
    });
  }

  // A shop with several terminals: each till says which one takes its cards (kept in
  // this browser, per till); the amount goes to that terminal's screen.
  function terminalKey() { return "tillpoint.terminal." + S.scope; }
  function renderTerminals() {
    var terminals = S.state.terminals || [];
    show("terminal-row", terminals.length > 1);
    var select = $("card-terminal");
    select.textContent = "";
    if (terminals.length < 2) return;
    var kept = null;
    try { kept = window.localStorage.getItem(terminalKey()); } catch (e) { /* private mode */ }
    var none = el("option", null, t("Choose…"));
    none.value = "";
    select.appendChild(none);
    terminals.forEach(function (x) {
      var option = el("option", null, x.tid + " · " + x.model + " · " + x.serial_no);
      option.value = x.tid;
      select.appendChild(option);
    });
    select.value = terminals.some(function (x) { return x.tid === kept; }) ? kept : "";
  }
  function cardTerminal() {
    var terminals = S.state.terminals || [];
    return terminals.length > 1 ? $("card-terminal").value || null : undefined;
  }

  function lineRow(line, index) {
    var cart = S.cart;
    var li = el("li", "line" + (index === cart.selected ? " selected" : ""));
    li.dataset.index = index;
    li.setAttribute("aria-selected", index === cart.selected ? "true" : "false");
    var name = el("div", "line-name");
    name.appendChild(el("span", "name", line.name));
    var notes = [];
    if (line.price !== null) notes.push(t("price changed from {price}", { price: TP.money(line.list_price) }));
    if (line.discount) {
      notes.push("−" + (line.discount.percent !== undefined ? TP.percentText(line.discount.percent) + "%" : TP.money(line.discount.amount_minor)));
    }
    if (TP.lineNotes) notes = notes.concat(TP.lineNotes(line)); // a member's price (cashier-members.js)
    if (notes.length) name.appendChild(el("span", "line-note", notes.join(" · ")));
    li.appendChild(name);
    var qty = el("div", "line-qty");
    var minus = el("button", "qty-step", "−");
    minus.type = "button";
    minus.dataset.act = "line-minus";
    minus.setAttribute("aria-label", t("One less"));
    var plus = el("button", "qty-step", "+");
    plus.type = "button";
    plus.dataset.act = "line-plus";
    var shown = el("span", "qty", TP.quantity(line.qty, line.sold_by, line.unit));
    if (line.sold_by === "piece") { qty.appendChild(minus); qty.appendChild(shown); qty.appendChild(plus); }
    else qty.appendChild(shown);
    li.appendChild(qty);
    li.appendChild(el("div", "line-price", TP.money(cart.unitPrice(line))));
    li.appendChild(el("div", "line-amount", TP.money(cart.amount(line))));
    return li;
  }

  function renderCart() {
    var cart = S.cart;
    var list = $("lines");
    list.textContent = "";
    cart.lines.forEach(function (line, i) { list.appendChild(lineRow(line, i)); });
    show("empty", cart.empty());
    var totals = cart.totals();
    $("t-items").textContent = String(totals.items);
    $("t-subtotal").textContent = TP.money(totals.subtotal);
    show("t-discount-row", totals.discount > 0);
    $("t-discount").textContent = "−" + TP.money(totals.discount);
    $("t-total").textContent = TP.money(totals.total);
    $("pay-total").textContent = TP.money(totals.total);
    $("pay").disabled = cart.empty();
    var why = cart.needsApproval();
    var approvalNode = $("approval-state");
    if (why) {
      approvalNode.hidden = false;
      approvalNode.textContent = cart.approval ? t("Approved by {login}", { login: cart.approval.login }) : t("A manager's approval is needed: {why}", { why: why });
      approvalNode.classList.toggle("ok", !!cart.approval);
    } else {
      approvalNode.hidden = true;
    }
    if (S.state.counters && S.state.counters.length) $("counter").value = cart.counter ? String(cart.counter) : "";
    var selected = list.querySelector(".selected");
    if (selected && selected.scrollIntoView) selected.scrollIntoView({ block: "nearest" });
    saveCart();
    tellCart();
    if (TP.onCart) TP.onCart(cart); // the member panel (cashier-members.js)
  }

  $("lines").addEventListener("click", function (event) {
    var li = event.target.closest("li.line");
    if (!li) return;
    var index = parseInt(li.dataset.index, 10);
    S.cart.selected = index;
    var act = event.target.closest("[data-act]");
    if (act && act.dataset.act === "line-minus") changeQty(-1);
    else if (act && act.dataset.act === "line-plus") changeQty(1);
    else renderCart();
    focusScan();
  });

  $("card-terminal").addEventListener("change", function () {
    try { window.localStorage.setItem(terminalKey(), $("card-terminal").value); } catch (e) { /* private mode */ }
    notice("tender-notice", "");
  });
  $("counter").addEventListener("change", function () {
    S.cart.counter = $("counter").value ? parseInt($("counter").value, 10) : null;
    saveCart();
    focusScan();
  });

  // A product into the cart: from the copy on this till, else from the server's lookup.
  function addCode(code, startedAt) {
    notice("notice", "");
    hideResults();
    var started = startedAt || performance.now();
    var local = S.catalogue ? S.catalogue.lookup(code) : Promise.resolve(null);
    return local.then(function (found) {
      // Offline, a complete copy is the whole catalogue: what it does not know, search.
      if (found || offlineCopy()) return found;
      return TP.api("GET", "/lookup?code=" + encodeURIComponent(code)).catch(function (e) {
        if (e.status === 404) return null;
        throw e;
      });
    }).then(function (found) {
      if (found) return addFound(found, started);
      var text = code.trim();
      return search(text, true).then(function (hits) {
        if (!hits.length) notice("notice", t("No product found for {text}", { text: text }));
        return null;
      });
    }, function (e) {
      notice("notice", e.message);
      return null;
    });
  }
  function offlineCopy() {
    return !!(TP.offline && TP.offline.on() && S.catalogue && S.catalogue.complete);
  }

  function addFound(found, started) {
    if (found.sold_by === "weight" && !found.quantity_milli) {
      return keypad(t("Weight of {name} (kg)", { name: found.name }), "", function (text) {
        var milli = TP.parseMilli(text);
        return milli ? { value: milli } : { error: t("A weight is in kg with at most three decimals, more than 0") };
      }).then(function (milli) {
        if (milli) { S.cart.add(found, milli); renderCart(); }
        focusScan();
      });
    }
    S.cart.add(found);
    renderCart();
    if (started) TP.timings.scans_ms.push(Math.round((performance.now() - started) * 10) / 10);
    if (S.cart.order) S.cart.order = null;
    return found;
  }

  // --- the search box ----------------------------------------------------------------------
  var searchTimer = null;
  var searchSeq = 0;
  function search(text, pick) {
    var seq = ++searchSeq;
    if (text.length < 1) { hideResults(); return Promise.resolve([]); }
    // Offline, the till's copy of the catalogue answers (when complete); else the server.
    var local = offlineCopy() ? S.catalogue.search(text, 20) : Promise.resolve(null);
    return local.then(function (hits) {
      return hits || TP.api("GET", "/search?q=" + encodeURIComponent(text) + "&limit=20");
    }).then(function (hits) {
      if (seq !== searchSeq) return hits;
      showResults(hits);
      if (pick && hits.length) S.resultAt = 0, highlight();
      return hits;
    }, function (e) { notice("notice", e.message); return []; });
  }
  function showResults(hits) {
    S.results = hits;
    S.resultAt = -1;
    var list = $("results");
    list.textContent = "";
    hits.forEach(function (found, i) {
      var li = el("li", "result");
      li.setAttribute("role", "option");
      li.dataset.index = i;
      li.appendChild(el("span", "name", found.name));
      li.appendChild(el("span", "sku", found.sku));
      li.appendChild(el("span", "price", TP.money(found.price_minor) + (found.sold_by === "weight" ? "/" + found.unit : "")));
      list.appendChild(li);
    });
    list.hidden = hits.length === 0;
  }
  function hideResults() { $("results").hidden = true; S.results = []; S.resultAt = -1; }
  function highlight() {
    Array.prototype.forEach.call($("results").children, function (li, i) {
      li.classList.toggle("active", i === S.resultAt);
      li.setAttribute("aria-selected", i === S.resultAt ? "true" : "false");
    });
  }
  function pickResult(i) {
    var found = S.results[i];
    if (!found) return;
    $("scan").value = "";
    hideResults();
    addFound(Object.assign({}, found, { quantity_milli: found.sold_by === "piece" ? 1000 : null, code: null }), null);
    focusScan();
  }
  $("results").addEventListener("click", function (event) {
    var li = event.target.closest("li.result");
    if (li) pickResult(parseInt(li.dataset.index, 10));
  });
  $("scan").addEventListener("input", function () {
    clearTimeout(searchTimer);
    var text = $("scan").value.trim();
    if (text.length < 2 || /^\d{4,}$/.test(text)) { hideResults(); return; }
    searchTimer = setTimeout(function () { search(text, false); }, 250);
  });
  $("scan").addEventListener("keydown", function (event) {
    if (!S.results.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      event.stopPropagation();
      var n = S.results.length;
      S.resultAt = event.key === "ArrowDown" ? (S.resultAt + 1) % n : (S.resultAt - 1 + n) % n;
      highlight();
    } else if (event.key === "Escape") {
      hideResults();
    }
  });
  var scanQueue = Promise.resolve();
  $("scan-form").addEventListener("submit", function (event) {
    event.preventDefault();
    clearTimeout(searchTimer);
    var text = $("scan").value.trim();
    var started = S.enterAt || performance.now();
    S.enterAt = 0;
    if (S.resultAt >= 0 && S.results.length) { pickResult(S.resultAt); return; }
    $("scan").value = "";
    if (!text) return;
    if (/\s/.test(text) || text.length > 64) { search(text, true); return; }
    scanQueue = scanQueue.then(function () { return addCode(text, started); });
  });

  // --- line and order changes -------------------------------------------------------------
  function chosenLine() {
    var line = S.cart.line();
    if (!line) notice("notice", t("Choose a line first"));
    return line;
  }
  function changeQty(delta) {
    var line = chosenLine();
    if (!line || line.sold_by !== "piece") return;
    var next = line.qty + delta * 1000;
    if (next <= 0) S.cart.remove(S.cart.selected); else line.qty = next;
    renderCart();
  }
  function askQuantity() {
    var line = chosenLine();
    if (!line) return;
    var weighed = line.sold_by === "weight";
    var title = weighed ? t("Weight of {name} (kg)", { name: line.name }) : t("Quantity of {name}", { name: line.name });
    keypad(title, weighed ? TP.kgText(line.qty) : TP.quantity(line.qty, "piece"), function (text) {
      var milli = TP.parseMilli(text, weighed ? 3 : 0);
      if (!milli) return { error: weighed ? t("A weight is in kg with at most three decimals, more than 0") : t("A quantity is a whole number of pieces, more than 0") };
      return { value: milli };
    }).then(function (milli) {
      if (milli) { line.qty = milli; renderCart(); }
      focusScan();
    });
  }
  function parseDiscount(text, limit, tooMuch) {
    var raw = String(text || "").trim();
    if (!raw || raw === "0") return { value: { none: true } };
    if (/%\s*$/.test(raw)) {
      var pct = TP.parsePercent(raw);
      return pct === null ? { error: t("A percentage is 0 to 100 with at most two decimals") } : { value: pct ? { percent: pct } : { none: true } };
    }
    var minor = TP.parseYuan(raw);
    if (minor === null) return { error: t("An amount is in yuan with at most two decimals") };
    if (minor > limit) return { error: tooMuch };
    return { value: minor ? { amount_minor: minor } : { none: true } };
  }
  function discountText(d) {
    if (!d) return "";
    return d.percent !== undefined ? TP.percentText(d.percent) + "%" : TP.yuanText(d.amount_minor);
  }
  function askApprovalIfNeeded() {
    var why = S.cart.needsApproval();
    if (!why || S.cart.approval) return Promise.resolve(true);
    return approval(why).then(function (given) {
      if (given) { S.cart.approval = given; renderCart(); }
      return !!given;
    });
  }
  function askLineDiscount() {
    var line = chosenLine();
    if (!line) return;
    keypad(t("Discount on {name}: yuan, or a percentage ending in %", { name: line.name }), discountText(line.discount), function (text) {
      return parseDiscount(text, S.cart.gross(line), t("The discount is more than the line"));
    }, true).then(function (d) {
      if (!d) return focusScan();
      line.discount = d.none ? null : d;
      renderCart();
      askApprovalIfNeeded().then(focusScan);
    });
  }
  function askOrderDiscount() {
    if (S.cart.empty()) return;
    keypad(t("Discount on the order: yuan, or a percentage ending in %"), discountText(S.cart.discount), function (text) {
      return parseDiscount(text, S.cart.totals().subtotal, t("The discount is more than the order"));
    }, true).then(function (d) {
      if (!d) return focusScan();
      S.cart.discount = d.none ? null : d;
      renderCart();
      askApprovalIfNeeded().then(focusScan);
    });
  }
  function askPrice() {
    var line = chosenLine();
    if (!line) return;
    keypad(t("Price of {name} (yuan)", { name: line.name }), TP.yuanText(S.cart.unitPrice(line)), function (text) {
      var minor = TP.parseYuan(text);
      return minor === null ? { error: t("An amount is in yuan with at most two decimals") } : { value: { minor: minor } };
    }).then(function (p) {
      if (!p) return focusScan();
      var before = line.price;
      line.price = p.minor === line.list_price ? null : p.minor;
      if (line.price === null) { renderCart(); return focusScan(); }
      // A price of the till's own: the manager approves it now, standing at the till.
      approval(t("a price was changed")).then(function (given) {
        if (given) S.cart.approval = given; else line.price = before;
        renderCart();
        focusScan();
      });
    });
  }
  function removeLine() {
    if (!chosenLine()) return;
    S.cart.remove(S.cart.selected);
    renderCart();
    focusScan();
  }
  function clearCart() {
    if (S.cart.order) return;
    S.cart = new TP.Cart(null);
    renderCart();
    notice("notice", "");
    focusScan();
  }

  // --- sending the order -----------------------------------------------------------------
  // The cart as an order at the server (with ``tenders``, or held); a manager's approval
  // asked for when the server says one is needed, and the request sent again with it.
  function sendOrder(extra) {
    var body = S.cart.body(S.shift.id, extra);
    return S.orders.send(body).catch(function (e) {
      if (e.code === "order.approval_required" || e.code === "approval.wrong") {
        S.cart.approval = null;
        return approval(e.message).then(function (given) {
          if (!given) throw e;
          S.cart.approval = given;
          renderCart();
          return sendOrder(extra);
        });
      }
      if (e.code === "order.figures_differ" || e.code === "order.total_differs") {
        return reprice().then(function () { throw e; });
      }
      throw e;
    });
  }

  // The till's prices were old: take the server's again for every line.
  function reprice() {
    if (S.catalogue) S.catalogue.refresh();
    var jobs = S.cart.lines.map(function (line) {
      if (!line.barcode) return Promise.resolve();
      return TP.api("GET", "/lookup?code=" + encodeURIComponent(line.barcode)).then(function (found) {
        line.list_price = found.price_minor;
      }, function () { /* left as it was: the server says why at the next try */ });
    });
    return Promise.all(jobs).then(function () {
      renderCart();
      notice("notice", t("Prices were updated from the server: check the total"));
    });
  }

  function pay() {
    if (S.cart.empty()) return;
    if (S.state.counters && S.state.counters.length && !S.cart.counter) {
      notice("notice", t("Choose the counter first"));
      $("counter").focus();
      return;
    }
    askApprovalIfNeeded().then(function (ok) {
      if (!ok) return;
      renderTender();
      step("tender");
    });
  }

  function hold() {
    if (S.cart.empty()) return;
    var done = S.cart.order
      ? TP.api("POST", "/orders/" + S.cart.order.id + "/hold")
      : sendOrder({ hold: true });
    done.then(function () {
      S.cart = new TP.Cart(null);
      renderCart();
      step("sell");
      notice("notice", t("Held: recall it from the menu"));
    }, function (e) { notice(S.step === "tender" ? "tender-notice" : "notice", e.message); });
  }

  function recallList() {
    TP.api("GET", "/orders?status=held").then(function (held) {
      var list = $("held");
      list.textContent = "";
      if (!held.length) list.appendChild(el("li", "none", t("No held orders")));
      held.forEach(function (o) {
        var li = el("li");
        var b = el("button", "held-order");
        b.type = "button";
        var at = new Date(o.updated_at);
        b.appendChild(el("strong", null, TP.money(o.total_minor)));
        b.appendChild(el("span", null, " #" + o.id + " · " + t("held at {time} · {n} items", {
          time: at.toLocaleTimeString(data.lang, { hour: "2-digit", minute: "2-digit" }), n: o.lines.length,
        })));
        b.appendChild(el("span", "held-names", o.lines.map(function (x) { return x.name; }).join(", ")));
        b.addEventListener("click", function () {
          $("recall-dialog").close();
          TP.api("POST", "/orders/" + o.id + "/recall", { shift_id: S.shift.id }).then(function (order) {
            if (!S.cart.empty() && !S.cart.order) sendOrder({ hold: true }).catch(function () { return null; });
            S.cart = TP.Cart.fromOrder(order);
            S.cart.order = order;
            showOrder(order);
          }, function (e) { notice("notice", e.message); });
        });
        li.appendChild(b);
        list.appendChild(li);
      });
      $("recall-dialog").showModal();
    }, function (e) { notice("notice", e.message); });
  }

  // --- paying --------------------------------------------------------------------------------
  function due() {
    return S.cart.order ? S.cart.order.due_minor : S.cart.totals().total;
  }
  function renderTender() {
    var order = S.cart.order;
    var list = $("tender-lines");
    list.textContent = "";
    S.cart.lines.forEach(function (l) {
      var li = el("li");
      li.appendChild(el("span", null, l.name + " × " + TP.quantity(l.qty, l.sold_by, l.unit)));
      li.appendChild(el("span", null, TP.money(S.cart.amount(l))));
      list.appendChild(li);
    });
    var total = order ? order.total_minor : S.cart.totals().total;
    $("order-ref").textContent = order ? "#" + order.id : "";
    $("o-total").textContent = TP.money(total);
    $("o-paid").textContent = TP.money(order ? order.paid_minor : 0);
    $("due").textContent = TP.money(due());
    var tenders = $("tenders");
    tenders.textContent = "";
    (order ? order.tenders : []).forEach(function (x) {
      var li = el("li", "tender-row " + x.status);
      li.appendChild(el("span", "kind", kind(x.kind)));
      li.appendChild(el("span", "tender-amount", TP.money(x.amount_minor)));
      li.appendChild(el("span", "status", kind(x.status)));
      if (x.why) li.appendChild(el("span", "why", x.why));
      if (x.kind === "cash" && x.change_minor) {
        li.appendChild(el("span", "why", t("Cash received {received}, change {change}", {
          received: TP.money(x.received_minor), change: TP.money(x.change_minor),
        })));
      }
      tenders.appendChild(li);
    });
    var quick = $("quick");
    quick.textContent = "";
    var left = due();
    var amounts = [left];
    NOTES.forEach(function (note) {
      var up = Math.ceil(left / note) * note;
      if (up > left && amounts.indexOf(up) < 0) amounts.push(up);
    });
    amounts.slice(0, 5).forEach(function (a, i) {
      var b = el("button", "quick-amount", i === 0 ? t("Exact") + " " + TP.money(a) : TP.money(a));
      b.type = "button";
      b.addEventListener("click", function () { takeCash(a); });
      quick.appendChild(b);
    });
    $("amount").value = "";
    var pending = order && order.tenders.filter(function (x) { return x.status === "pending"; })[0];
    show("waiting", !!pending);
    if (pending) {
      $("waiting-text").textContent = pending.kind === "qr"
        ? t("Waiting for the customer to scan the QR code: {amount}", { amount: TP.money(pending.amount_minor) })
        : t("Waiting for the terminal: {amount} on its screen", { amount: TP.money(pending.amount_minor) });
    }
    var live = order && order.tenders.some(function (x) { return x.status === "paid" || x.status === "pending"; });
    document.querySelector('[data-act="back"]').disabled = !!live;
    document.querySelector('[data-act="cancel-order"]').hidden = !order;
    Array.prototype.forEach.call(document.querySelectorAll(".method, .quick-amount"), function (b) { b.disabled = !!pending || S.busy; });
  }

  function showOrder(order) {
    S.cart.order = order;
    saveCart();
    if (order.status === "paid") { finished(order); return; }
    if (order.status !== "open") {
      S.cart.order = null;
      saveCart();
      renderCart();
      step("sell");
      return;
    }
    renderTender();
    if (S.step !== "tender") step("tender");
    var pending = order.tenders.some(function (x) { return x.status === "pending"; });
    var qr = order.tenders.filter(function (x) { return x.status === "pending" && x.kind === "qr" && x.qr_code; })[0];
    if (qr) {
      tell({ type: "qr", total: order.total_minor, due: qr.amount_minor,
             src: data.urls.api + "/orders/" + order.id + "/tenders/" + qr.id + "/qr.svg?shop=" + TP.shop });
    } else {
      tell({ type: "cart", merchant: S.state.merchant.name, lines: S.cart.lines.map(function (l) {
        return { name: l.name, qty: TP.quantity(l.qty, l.sold_by, l.unit), amount: S.cart.amount(l) };
      }), total: order.total_minor, discount: order.discount_minor, due: order.due_minor });
    }
    if (pending && S.waitingFor !== order.id) waitFor(order.id);
  }

  function waitFor(orderId) {
    S.waitingFor = orderId;
    TP.Orders.wait(orderId, function () { return S.waitingFor !== orderId; }).then(function (order) {
      if (S.waitingFor !== orderId) return;
      S.waitingFor = null;
      if (S.cart.order && S.cart.order.id === orderId) showOrder(order);
    }, function (e) {
      S.waitingFor = null;
      notice("tender-notice", e.message);
    });
  }

  function refreshOrder() {
    if (!S.cart.order) return;
    TP.api("GET", "/orders/" + S.cart.order.id).then(showOrder, function (e) {
      if (e.status === 404) { S.cart.order = null; renderCart(); step("sell"); }
    });
  }

  // What the amount field says, for a part of what is left (empty: all of it).
  function typedAmount() {
    var text = $("amount").value.trim();
    if (!text) return { value: null };
    var minor = TP.parseYuan(text);
    if (!minor) return { error: t("An amount is in yuan with at most two decimals") };
    return { value: minor };
  }

  function busy(on) {
    S.busy = on;
    document.body.classList.toggle("busy", on);
    if (S.step === "tender") renderTender();
  }

  // The order at the server first (once), then a tender for it.
  function tender(body) {
    if (!S.payStarted) S.payStarted = performance.now();
    notice("tender-notice", "");
    busy(true);
    var made = S.cart.order ? Promise.resolve(S.cart.order) : sendOrder({});
    return made.then(function (order) {
      S.cart.order = order;
      saveCart();
      return TP.api("POST", "/orders/" + order.id + "/tenders", body);
    }).then(function (order) {
      busy(false);
      showOrder(order);
      var failed = order.tenders[order.tenders.length - 1];
      if (failed && failed.status === "failed") {
        notice("tender-notice", t("{kind} {amount}: {why}", { kind: kind(failed.kind), amount: TP.money(failed.amount_minor), why: failed.why }));
      }
      return order;
    }, function (e) {
      busy(false);
      renderTender();
      notice("tender-notice", e.message);
      return null;
    });
  }

  function takeCash(receivedMinor) {
    var received = receivedMinor;
    if (received === undefined) {
      var typed = typedAmount();
      if (typed.error) { notice("tender-notice", typed.error); return; }
      received = typed.value === null ? due() : typed.value;
    }
    if (TP.offline && TP.offline.on() && !S.cart.order) { sellOffline(received); return; }
    if (!S.cart.order) {
      // The fast path: the cart and its cash in one request, paid as it is written.
      S.payStarted = performance.now();
      notice("tender-notice", "");
      busy(true);
      sendOrder({ tenders: [{ kind: "cash", received_minor: received }] }).then(function (order) {
        busy(false);
        showOrder(order);
      }, function (e) {
        busy(false);
        renderTender();
        notice("tender-notice", e.message);
      });
      return;
    }
    tender({ kind: "cash", received_minor: received });
  }

  // Offline: the sale kept on this till (cashier-offline.js), its receipt laid out here.
  function sellOffline(received) {
    if (S.orders) { delete S.orders.pending[S.cart.ref]; S.orders.keep(); } // the queue has it now
    TP.offline.sell(S.cart, S.shift, S.state.account, received).then(finished, function (e) {
      notice("tender-notice", e.message);
    });
  }

  function electronic(kindName, code) {
    var typed = typedAmount();
    if (typed.error) { notice("tender-notice", typed.error); return; }
    var body = { kind: kindName };
    if (kindName === "card") {
      var tid = cardTerminal();
      if (tid === null) { notice("tender-notice", t("Choose the terminal that takes the card")); $("card-terminal").focus(); return; }
      if (tid) body.tid = tid;
    }
    if (typed.value !== null) body.amount_minor = typed.value;
    if (code) body.code = code;
    if (kindName === "wallet") notice("tender-notice", t("Charging the wallet…"));
    tender(body);
  }

  function walletCode(code) {
    var digits = String(code).trim();
    if (!WALLET.test(digits)) { notice("tender-notice", t("That is not a wallet's payment code")); return; }
    electronic("wallet", digits);
  }

  function cancelTender() {
    var order = S.cart.order;
    if (!order) return;
    var pending = order.tenders.filter(function (x) { return x.status === "pending"; })[0];
    if (!pending) return;
    TP.api("POST", "/orders/" + order.id + "/tenders/" + pending.id + "/cancel").then(showOrder, function (e) {
      notice("tender-notice", e.message);
    });
  }

  function cancelOrder(silent) {
    var order = S.cart.order;
    if (!order) { step("sell"); return Promise.resolve(); }
    if (!silent && !window.confirm(t("Cancel this order? Card, wallet and QR money is refunded, cash goes back."))) {
      return Promise.resolve();
    }
    S.waitingFor = null;
    return TP.api("POST", "/orders/" + order.id + "/cancel").then(function (canceled) {
      var lines = S.cart.lines;
      S.cart = new TP.Cart(null);
      S.cart.lines = lines;
      S.cart.selected = lines.length - 1;
      S.cart.nextKey = lines.length + 1;
      renderCart();
      step("sell");
      if (!silent) notice("notice", t("Order {id} canceled", { id: canceled.id }));
    }, function (e) { notice("tender-notice", e.message); });
  }

  function back() {
    var order = S.cart.order;
    if (!order) { step("sell"); renderCart(); return; }
    var live = order.tenders.some(function (x) { return x.status === "paid" || x.status === "pending"; });
    if (!live) cancelOrder(true);
  }

  function finished(order) {
    S.waitingFor = null;
    S.lastPaidId = order.id;
    if (S.payStarted) {
      TP.timings.checkouts_ms.push(Math.round(performance.now() - S.payStarted));
      S.payStarted = 0;
    }
    $("done-title").textContent = t("Paid") + " " + TP.money(order.total_minor);
    $("done-change").textContent = TP.money(order.change_minor);
    $("done-detail").textContent = order.tenders.filter(function (x) { return x.status === "paid"; }).map(function (x) {
      return kind(x.kind) + " " + TP.money(x.amount_minor);
    }).join(" · ");
    $("done-receipt").textContent = order.receipt_no ? t("Receipt {number}", { number: order.receipt_no }) : "";
    if (TP.onPaid) TP.onPaid(order); // the member's points (cashier-members.js)
    $("done-qr").hidden = true;
    S.cart = new TP.Cart(null);
    saveCart();
    step("done");
    tell({ type: "paid", total: order.total_minor, change: order.change_minor });
    if (order.offline) {
      S.lastReceipt = Promise.resolve({ html: TP.offline.slip(order) });
      if ($("autoprint").checked) printReceipt();
      return;
    }
    loadReceipt(order.id).then(function (r) {
      if (!r) return;
      $("done-qr").src = r.qr_svg_url;
      $("done-qr").hidden = false;
      tell({ type: "paid", total: order.total_minor, change: order.change_minor, receipt: r.qr_svg_url });
      if ($("autoprint").checked) printReceipt();
    });
  }

  // The receipt of a paid order, laid out for printing: the last one is what the
  // print buttons print (once it has arrived).
  function loadReceipt(orderId) {
    S.lastReceipt = TP.api("GET", "/orders/" + orderId + "/receipt").then(null, function (e) {
      notice("notice", e.message);
      return null;
    });
    return S.lastReceipt;
  }

  function newSale() {
    S.cart = new TP.Cart(null);
    renderCart();
    step("sell");
    tellCart();
  }

  // --- printing: the browser prints the page's print area (a receipt, a report) ---------
  function printHtml(html, kindName) {
    var area = $("print-area");
    area.innerHTML = html; // the server's own markup, escaped there
    document.body.dataset.print = kindName;
    window.print();
    setTimeout(function () { delete document.body.dataset.print; }, 500);
  }
  function printReceipt() {
    if (!S.lastReceipt) { notice("notice", t("Nothing to print yet")); return Promise.resolve(); }
    return S.lastReceipt.then(function (r) { if (r) printHtml(r.html, "slip"); });
  }

  // --- dialogs: the keypad and the manager's approval -------------------------------------
  function keypad(title, initial, check, percent) {
    var dialog = $("keypad");
    var input = $("keypad-input");
    $("keypad-title").textContent = title;
    input.value = initial || "";
    notice("keypad-error", "");
    dialog.querySelector(".percent-key").hidden = !percent;
    return new Promise(function (resolve) {
      function done(value) {
        dialog.removeEventListener("close", onClose);
        $("keypad-form").removeEventListener("submit", onSubmit);
        dialog.onclick = null;
        if (dialog.open) dialog.close();
        resolve(value);
      }
      function onClose() { done(null); }
      function onSubmit(event) {
        event.preventDefault();
        var checked = check(input.value);
        if (checked.error) { notice("keypad-error", checked.error); input.focus(); return; }
        done(checked.value);
      }
      dialog.onclick = function (event) {
        var b = event.target.closest("button");
        if (!b) return;
        if (b.value === "cancel") { done(null); return; }
        if (b.value === "back") input.value = input.value.slice(0, -1);
        else if (b.type === "button" && b.value) input.value += b.value;
        input.focus();
      };
      dialog.addEventListener("close", onClose);
      $("keypad-form").addEventListener("submit", onSubmit);
      dialog.showModal();
      input.focus();
      input.select();
    });
  }

  function approval(why) {
    var dialog = $("approval");
    $("approval-why").textContent = why;
    $("approval-secret").value = "";
    notice("approval-error", "");
    return new Promise(function (resolve) {
      function done(value) {
        dialog.removeEventListener("close", onClose);
        $("approval-form").removeEventListener("submit", onSubmit);
        dialog.onclick = null;
        if (dialog.open) dialog.close();
        resolve(value);
      }
      function onClose() { done(null); }
      function onSubmit(event) {
        event.preventDefault();
        var login = $("approval-login").value.trim();
        var secret = $("approval-secret").value;
        if (!login || !secret) return;
        done(/^\d{6}$/.test(secret) ? { login: login, code: secret } : { login: login, password: secret });
      }
      dialog.onclick = function (event) {
        var b = event.target.closest("button");
        if (b && b.value === "cancel") done(null);
      };
      dialog.addEventListener("close", onClose);
      $("approval-form").addEventListener("submit", onSubmit);
      dialog.showModal();
      ($("approval-login").value ? $("approval-secret") : $("approval-login")).focus();
    });
  }

  // Close buttons of the simple dialogs.
  Array.prototype.forEach.call(document.querySelectorAll("#recall-dialog, #report-dialog, #help-dialog, #return-dialog, #close-dialog"), function (d) {
    d.addEventListener("click", function (event) {
      var b = event.target.closest("button.cancel");
      if (b) d.close();
    });
    d.addEventListener("close", focusScan);
  });

  // --- reports and the shift's end -----------------------------------------------------------
  function xReport() {
    if (!S.shift) return;
    TP.api("GET", "/shifts/" + S.shift.id + "/report").then(function (html) {
      $("report-body").innerHTML = html; // the server's own markup
      $("report-dialog").showModal();
    }, function (e) { notice("notice", e.message); });
  }
  document.querySelector('[data-act="report-print"]').addEventListener("click", function () {
    printHtml($("report-body").innerHTML, "report");
  });

  function countedFromRows() {
    var total = 0;
    Array.prototype.forEach.call($("count-rows").querySelectorAll("input"), function (input) {
      var n = /^\d{1,6}$/.test(input.value.trim()) ? parseInt(input.value, 10) : 0;
      var value = parseInt(input.dataset.value, 10) * n;
      total += value;
      input.closest("tr").querySelector(".row-amount").textContent = TP.money(value);
    });
    return total;
  }
  function showDifference(expected) {
    var counted = TP.parseYuan($("count-total").value);
    if (counted === null) { $("count-diff").textContent = "—"; return; }
    var diff = counted - expected;
    $("count-diff").textContent = TP.money(diff);
    $("count-diff-label").textContent = diff > 0 ? t("Over") : diff < 0 ? t("Short") : t("Even");
    $("count-diff").className = diff > 0 ? "over" : diff < 0 ? "short" : "even";
  }
  function closeShift() {
    if (!S.shift) return;
    TP.api("GET", "/shifts/" + S.shift.id).then(function (shift) {
      var expected = shift.report.expected_cash_minor;
      $("count-expected").textContent = TP.money(expected);
      var rows = $("count-rows");
      rows.textContent = "";
      DENOMINATIONS.forEach(function (value) {
        var tr = el("tr");
        var label = el("th", null, TP.money(value));
        label.scope = "row";
        tr.appendChild(label);
        var td = el("td");
        var input = el("input", "count-input");
        input.inputMode = "numeric";
        input.autocomplete = "off";
        input.dataset.value = value;
        input.setAttribute("aria-label", TP.money(value));
        input.addEventListener("input", function () {
          $("count-total").value = TP.yuanText(countedFromRows());
          showDifference(expected);
        });
        td.appendChild(input);
        tr.appendChild(td);
        tr.appendChild(el("td", "row-amount", TP.money(0)));
        rows.appendChild(tr);
      });
      $("count-total").value = "";
      $("count-total").oninput = function () { showDifference(expected); };
      showDifference(expected);
      notice("close-error", "");
      var dialog = $("close-dialog");
      $("close-form").onsubmit = function (event) {
        event.preventDefault();
        var counted = TP.parseYuan($("count-total").value);
        if (counted === null) { notice("close-error", t("An amount is in yuan with at most two decimals")); return; }
        TP.api("POST", "/shifts/" + S.shift.id + "/close", { counted_cash_minor: counted }).then(function (closed) {
          dialog.close();
          var number = closed.number;
          return TP.api("GET", "/shifts/" + closed.id + "/report").then(function (html) {
            S.shift = null;
            S.state.shift = null;
            if (TP.offline) TP.offline.forget();
            $("report-body").innerHTML = html;
            $("report-dialog").showModal();
            renderBar();
            notice("start-error", "");
            renderStart();
            $("report-dialog").dataset.closed = String(number);
          });
        }, function (e) { notice("close-error", e.message); });
      };
      dialog.showModal();
      rows.querySelector("input").focus();
    }, function (e) { notice("notice", e.message); });
  }

  // --- returns ---------------------------------------------------------------------------
  function takenBack(amount, sold, before, now) {
    var a = BigInt(amount), s = BigInt(sold);
    function share(q) { return (2n * a * BigInt(q) + s) / (2n * s); }
    return Number(share(before + now) - share(before));
  }
  function openReturn() {
    S.returnSale = null;
    S.returnOrder = null;
    $("return-ref").value = "";
    $("return-hint").textContent = t("Find the sale: its receipt number, or scan its receipt's QR code");
    show("return-find", true);
    show("return-sale", false);
    show("return-done", false);
    notice("return-error", "");
    returnButtons();
    $("return-dialog").showModal();
    $("return-ref").focus();
  }
  function returnButtons() {
    var order = S.returnOrder;
    document.querySelector('[data-act="return-go"]').hidden = !S.returnSale || !!order;
    document.querySelector('[data-act="return-cash"]').hidden = !(order && order.status === "open" && order.due_minor > 0);
    document.querySelector('[data-act="return-print"]').hidden = !(order && order.status === "paid");
  }
  function findSale(text) {
    var ref = String(text || "").trim();
    notice("return-error", "");
    if (!ref) return;
    var byLink = /\/o\/(\d+)-[0-9a-f]+/.exec(ref);
    var found = byLink
      ? TP.api("GET", "/orders/" + byLink[1]).then(function (o) { return o.kind === "sale" ? [o] : []; })
      : TP.api("GET", "/orders?receipt_no=" + encodeURIComponent(ref));
    found.then(function (sales) {
      var sale = sales.filter(function (o) { return o.status === "paid"; })[0];
      if (!sale) { notice("return-error", t("No sale with receipt {number} in this shop", { number: ref })); return; }
      S.returnSale = sale;
      $("return-ref").value = sale.receipt_no;
      showReturnLines();
    }, function (e) {
      notice("return-error", e.status === 404 ? t("No sale with receipt {number} in this shop", { number: ref }) : e.message);
    });
  }
  function showReturnLines() {
    var sale = S.returnSale;
    $("return-sale-title").textContent = t("Receipt {number}", { number: sale.receipt_no }) + " · " + TP.money(sale.total_minor);
    var list = $("return-lines");
    list.textContent = "";
    sale.lines.forEach(function (line) {
      var left = line.quantity_milli - line.returned_milli;
      var li = el("li", "return-line" + (left <= 0 ? " none-left" : ""));
      var weighed = line.quantity_milli % 1000 !== 0 || line.unit === "kg";
      li.appendChild(el("span", "name", line.name));
      li.appendChild(el("span", "sold", t("sold {sold}, returned {returned}", {
        sold: TP.quantity(line.quantity_milli, weighed ? "weight" : "piece", line.unit),
        returned: TP.quantity(line.returned_milli, weighed ? "weight" : "piece", line.unit),
      })));
      var input = el("input", "return-qty");
      input.value = "0";
      input.inputMode = "decimal";
      input.autocomplete = "off";
      input.disabled = left <= 0;
      input.dataset.line = line.id;
      input.dataset.left = left;
      input.dataset.weighed = weighed ? "1" : "";
      input.setAttribute("aria-label", line.name);
      input.addEventListener("input", returnTotal);
      var all = el("button", "return-all", "↺ " + TP.quantity(left, weighed ? "weight" : "piece", line.unit));
      all.type = "button";
      all.disabled = left <= 0;
      all.addEventListener("click", function () {
        input.value = weighed ? TP.kgText(left) : TP.quantity(left, "piece");
        returnTotal();
      });
      li.appendChild(input);
      li.appendChild(all);
      list.appendChild(li);
    });
    show("return-sale", true);
    returnTotal();
    returnButtons();
  }
  function returnLines() {
    var out = [];
    var bad = false;
    Array.prototype.forEach.call($("return-lines").querySelectorAll("input.return-qty"), function (input) {
      if (input.disabled || !input.value.trim() || input.value.trim() === "0") return;
      var milli = TP.parseMilli(input.value, input.dataset.weighed ? 3 : 0);
      if (!milli || milli > parseInt(input.dataset.left, 10)) { bad = true; input.classList.add("bad"); return; }
      input.classList.remove("bad");
      out.push({ line_id: parseInt(input.dataset.line, 10), quantity_milli: milli });
    });
    return bad ? null : out;
  }
  function returnTotal() {
    var lines = returnLines() || [];
    var byId = {};
    S.returnSale.lines.forEach(function (l) { byId[l.id] = l; });
    var total = lines.reduce(function (sum, x) {
      var l = byId[x.line_id];
      return sum + takenBack(l.net_minor, l.quantity_milli, l.returned_milli, x.quantity_milli);
    }, 0);
    $("return-total").textContent = TP.money(total);
  }
  function goReturn() {
    var lines = returnLines();
    if (!lines || !lines.length) { notice("return-error", t("Nothing to take back: choose a quantity")); return; }
    var ref = TP.uuid();
    function attempt(why) {
      return approval(why).then(function (given) {
        if (!given) return null;
        return TP.api("POST", "/orders/" + S.returnSale.id + "/returns", {
          client_ref: ref, shift_id: S.shift.id, lines: lines, approval: given,
        }).then(function (order) {
          showReturn(order);
        }, function (e) {
          if (e.code === "approval.wrong") return attempt(e.message);
          notice("return-error", e.message);
          return null;
        });
      });
    }
    attempt(t("A manager's approval is needed: {why}", { why: t("a return") }));
  }
  function showReturn(order) {
    S.returnOrder = order;
    show("return-find", false);
    show("return-sale", false);
    show("return-done", true);
    $("return-done-title").textContent = order.status === "paid"
      ? t("Paid back: {amount}", { amount: TP.money(order.total_minor) }) + (order.receipt_no ? " · " + t("Receipt {number}", { number: order.receipt_no }) : "")
      : t("Still to pay back: {amount}", { amount: TP.money(order.due_minor) });
    var list = $("return-tenders");
    list.textContent = "";
    order.tenders.forEach(function (x) {
      var li = el("li", "tender-row " + x.status);
      li.appendChild(el("span", "kind", kind(x.kind)));
      li.appendChild(el("span", "tender-amount", TP.money(x.amount_minor)));
      li.appendChild(el("span", "status", kind(x.status)));
      if (x.why) li.appendChild(el("span", "why", x.why));
      list.appendChild(li);
    });
    notice("return-error", "");
    returnButtons();
    if (order.status === "paid") {
      loadReceipt(order.id).then(function () { if ($("autoprint").checked) printReceipt(); });
    }
  }
  document.querySelector('[data-act="return-find"]').addEventListener("click", function () { findSale($("return-ref").value); });
  $("return-ref").addEventListener("keydown", function (event) {
    if (event.key === "Enter") { event.preventDefault(); findSale($("return-ref").value); }
  });
  document.querySelector('[data-act="return-go"]').addEventListener("click", goReturn);
  document.querySelector('[data-act="return-cash"]').addEventListener("click", function () {
    TP.api("POST", "/orders/" + S.returnOrder.id + "/tenders", { kind: "cash" }).then(showReturn, function (e) {
      notice("return-error", e.message);
    });
  });
  document.querySelector('[data-act="return-print"]').addEventListener("click", printReceipt);

  // What needs the server says so while the till is offline (cashier-offline.js).
  function serverOnly(fn) {
    return function () {
      if (TP.needsServer && TP.needsServer()) return Promise.resolve(null);
      return fn.apply(this, arguments);
    };
  }
  hold = serverOnly(hold);
  recallList = serverOnly(recallList);
  openReturn = serverOnly(openReturn);
  xReport = serverOnly(xReport);
  closeShift = serverOnly(closeShift);
  askPrice = serverOnly(askPrice);
  electronic = serverOnly(electronic);
  approval = serverOnly(approval);
  cancelOrder = serverOnly(cancelOrder);

  // --- one handler for every button with data-act ------------------------------------------
  var ACTIONS = {
    "minus": function () { changeQty(-1); }, "plus": function () { changeQty(1); },
    "quantity": askQuantity, "line-discount": askLineDiscount, "price": askPrice,
    "remove": removeLine, "order-discount": askOrderDiscount, "hold": hold,
    "recall": recallList, "clear": clearCart, "pay": pay,
    "cash": function () { takeCash(); }, "card": function () { electronic("card"); },
    "wallet": function () {
      notice("tender-notice", t("Scan the customer's payment code now"));
      document.activeElement && document.activeElement.blur && document.activeElement.blur();
    },
    "qr": function () { electronic("qr"); }, "cancel-tender": cancelTender,
    "cancel-order": function () { cancelOrder(false); }, "back": back,
    "print": printReceipt, "new-sale": newSale, "x-report": xReport, "return": openReturn,
    "reprint": printReceipt, "close-shift": closeShift,
    "help": function () { $("help-dialog").showModal(); },
  };
  document.addEventListener("click", function (event) {
    var b = event.target.closest("[data-act]");
    if (!b || !ACTIONS[b.dataset.act] || b.closest("#lines")) return;
    if (b.closest("#menu")) toggleMenu(false);
    ACTIONS[b.dataset.act]();
  });

  // --- the menu and the display window ------------------------------------------------------
  function toggleMenu(on) {
    var open = on === undefined ? $("menu").hidden : on;
    $("menu").hidden = !open;
    $("menu-button").setAttribute("aria-expanded", open ? "true" : "false");
  }
  $("menu-button").addEventListener("click", function () { toggleMenu(); });
  $("open-display").addEventListener("click", function () {
    window.open(data.urls.display, "tillpoint-display", "popup,width=1024,height=768");
    setTimeout(function () { tell(lastShown); }, 1000);
  });
  try { $("autoprint").checked = window.localStorage.getItem("tillpoint.autoprint") === "on"; } catch (e) { /* */ }
  $("autoprint").addEventListener("change", function () {
    try { window.localStorage.setItem("tillpoint.autoprint", $("autoprint").checked ? "on" : "off"); } catch (e) { /* */ }
  });
  function remoteKey() { return "tillpoint.remote-display." + S.scope; }
  function renderRemote() {
    var on = false;
    try { on = !!S.shift && window.localStorage.getItem(remoteKey()) === "on"; } catch (e) { /* */ }
    remote.on = on;
    $("remote-display").checked = on;
    var link = $("remote-display-link");
    link.hidden = !on;
    link.textContent = on ? t("On the other device, sign in and open {url}", {
      url: window.location.origin + data.urls.display + "?shop=" + TP.shop + "&till=" + encodeURIComponent(S.shift.till),
    }) : "";
    if (on) tellRemote(lastShown);
  }
  $("remote-display").addEventListener("change", function () {
    try { window.localStorage.setItem(remoteKey(), $("remote-display").checked ? "on" : "off"); } catch (e) { /* */ }
    renderRemote();
  });

  // --- the keyboard and the scanner --------------------------------------------------------
  // A scan is a burst: characters each within GAP_MS of the one before, then Enter. Into
  // a field other than the scan box, the burst is taken back out of it; with no field
  // focused, typing goes to the scan box (selling) or is kept aside (paying).
  var burst = { text: "", first: 0, last: 0, field: null, before: "" };
  function scanned(code, at) {
    var open = dialogOpen();
    if (open && open.id === "return-dialog") { $("return-ref").value = code; findSale(code); return; }
    if (open && open.id === "member-dialog" && TP.memberScanned) { TP.memberScanned(code); return; }
    if (open) open.close();
    if (S.step === "tender") { walletCode(code); return; }
    if (S.step === "done") newSale();
    if (S.step === "sell") scanQueue = scanQueue.then(function () { return addCode(code, at); });
  }
  var SHORTCUTS = {
    sell: { F1: ACTIONS.help, F2: function () { $("scan").focus(); $("scan").select(); }, F3: askQuantity,
            F4: askLineDiscount, F5: askOrderDiscount, F6: askPrice, F7: hold, F8: recallList,
            F9: openReturn, F10: xReport, F12: pay, Delete: removeLine },
    tender: { F1: ACTIONS.cash, F2: ACTIONS.card, F3: ACTIONS.wallet, F4: ACTIONS.qr, F7: hold, F9: openReturn, F10: xReport },
    done: { F1: printReceipt, F9: openReturn, F10: xReport, Enter: newSale },
  };
  document.addEventListener("keydown", function (event) {
    if (event.isComposing || event.ctrlKey || event.altKey || event.metaKey) return;
    var now = performance.now();
    var active = document.activeElement;
    var field = isField(active) ? active : null;
    if (S.catalogue) S.catalogue.busy();
    if (event.key.length === 1) {
      // Paying, with no field focused, what is typed can only be a wallet's code (the
      // cashier asked for it): a pause of a slow scanner or a busy machine does not cut
      // it in two; only a person's pause does.
      var gap = !field && !dialogOpen() && S.step === "tender" ? PAUSE_MS : GAP_MS;
      if (now - burst.last > gap) {
        burst.text = "";
        burst.first = now;
        burst.field = field;
        burst.before = field ? field.value : "";
      } else if (burst.field !== field) {
        // Focus moved in the middle of a scan: the rest goes on (and comes out of) there.
        burst.field = field;
        burst.before = field ? field.value : "";
      }
      burst.text += event.key;
      burst.last = now;
      if (!field && !dialogOpen()) {
        if (S.step === "sell") {
          event.preventDefault();
          $("scan").focus();
          $("scan").value += event.key;
          burst.field = $("scan");
          burst.before = "";
          return;
        }
        if (S.step === "tender" || S.step === "done") event.preventDefault();
        if (event.code === "NumpadAdd" || event.code === "NumpadSubtract") burst.text = "";
      }
      if (S.step === "sell" && field === $("scan") && (event.code === "NumpadAdd" || event.code === "NumpadSubtract") && !field.value) {
        event.preventDefault();
        burst.text = "";
        changeQty(event.code === "NumpadAdd" ? 1 : -1);
      }
      return;
    }
    if (event.key === "Enter") {
      var quick = burst.text.length >= MIN_CODE && now - burst.last <= GAP_MS * 2 &&
        burst.last - burst.first <= GAP_MS * burst.text.length;
      if (field === $("scan") && !dialogOpen()) { S.enterAt = now; burst.text = ""; return; }
      if (quick && (field || !dialogOpen() || dialogOpen().id === "return-dialog")) {
        event.preventDefault();
        event.stopPropagation();
        var code = burst.text;
        if (field && field.id !== "return-ref") field.value = burst.before;
        burst.text = "";
        scanned(code, now);
        return;
      }
      if (!field && !dialogOpen() && burst.text && S.step !== "done") {
        event.preventDefault();
        var typed = burst.text;
        burst.text = "";
        scanned(typed, now);
        return;
      }
      burst.text = "";
    }
    if (dialogOpen()) return;
    if (S.step === "tender" && event.key === "Enter" && field === $("amount")) {
      event.preventDefault();
      var typedCode = field.value.replace(/\s/g, "");
      if (WALLET.test(typedCode)) { field.value = ""; walletCode(typedCode); return; } // not an amount
      takeCash();
      return;
    }
    if (S.step === "tender" && event.key === "Escape") { back(); return; }
    if (S.step === "sell" && !S.results.length && (event.key === "ArrowUp" || event.key === "ArrowDown") && S.cart.lines.length) {
      event.preventDefault();
      var n = S.cart.lines.length;
      S.cart.selected = event.key === "ArrowDown" ? Math.min(n - 1, S.cart.selected + 1) : Math.max(0, S.cart.selected - 1);
      renderCart();
      return;
    }
    if (S.step === "sell" && event.key === "Delete" && field === $("scan") && field.value) return;
    var keys = SHORTCUTS[S.step] || {};
    var action = keys[event.key];
    if (action && (event.key.charAt(0) === "F" || event.key === "Delete" || !field || S.step === "done")) {
      event.preventDefault();
      action();
    }
  }, true);

  // --- signed out: keep the cart, say so ------------------------------------------------
  TP.signedOut = function () {
    var banner = $("banner");
    banner.textContent = t("Signed out: sign in again (the cart is kept)") + " ";
    var link = el("a", null, t("Sign in"));
    link.href = data.urls.sign_in + encodeURIComponent(window.location.search);
    banner.appendChild(link);
    banner.hidden = false;
  };

  // --- start -------------------------------------------------------------------------------
  (function boot() {
    var url = new URL(window.location.href);
    // Opened without the server (the service worker's copy of the page): the till as it
    // was last seen online, its shift open.
    var held = TP.offline && TP.offline.on() &&
      TP.offline.kept(parseInt(url.searchParams.get("shop") || "0", 10), url.searchParams.get("till"));
    if (held) {
      S.state = held.state;
      S.shift = held.shift;
      TP.shop = held.state.shop.number;
      afterState();
      return;
    }
    if (!url.searchParams.get("till")) {
      try {
        var kept = JSON.parse(window.localStorage.getItem("tillpoint.till") || "null");
        if (kept && kept.till && (!url.searchParams.get("shop") || String(kept.shop) === url.searchParams.get("shop"))) {
          var known = (S.state.shops || []).some(function (x) { return x.number === kept.shop; });
          if (known) {
            TP.shop = kept.shop;
            chooseTill(kept.shop, kept.till);
            return;
          }
        }
      } catch (e) { /* nothing kept */ }
    }
    afterState();
  })();
  TP.S = S; // for the tests and a curious engineer's console
})();
