// The till's own copy of the catalogue (TP.Catalogue), in this browser's IndexedDB: a
// worker (cashier-sync.js) fills it from the server's changes in the background; once
// complete, a scan is answered from it (an index read, no network), exactly as the
// server's lookup answers it (store/catalogue.py's lookup, store/barcodes.py's scale
// labels). A code the copy does not know goes to the server, which may know it already.
// The copy is kept per merchant and shop (prices are the shop's): the next step, selling
// without the network, reads it as it is.
(function () {
  "use strict";
  var TP = window.TP;
  var DB_VERSION = 2; // 2: the sku and name indexes, for the search box offline

  function Catalogue(merchantId, shop, onState) {
    this.name = "tillpoint-catalogue-" + merchantId + "-" + shop;
    this.shop = shop;
    this.db = null;
    this.complete = false;
    this.count = 0;
    this.working = false;
    this.failed = null;
    this.worker = null;
    this.onState = onState || function () {};
  }

  Catalogue.prototype.open = function () {
    var self = this;
    if (!window.indexedDB) return Promise.resolve(null);
    return new Promise(function (resolve) {
      var req = window.indexedDB.open(self.name, DB_VERSION);
      req.onupgradeneeded = function () {
        var d = req.result;
        var products = d.objectStoreNames.contains("products")
          ? req.transaction.objectStore("products")
          : d.createObjectStore("products", { keyPath: "id" });
        if (!products.indexNames.contains("code")) products.createIndex("code", "b", { multiEntry: true });
        if (!products.indexNames.contains("plu")) products.createIndex("plu", "plu");
        if (!products.indexNames.contains("sku")) products.createIndex("sku", "sku");
        if (!products.indexNames.contains("name")) products.createIndex("name", "name");
        if (!d.objectStoreNames.contains("meta")) d.createObjectStore("meta", { keyPath: "k" });
      };
      req.onsuccess = function () {
        self.db = req.result;
        // A newer page wants another layout: step aside (this page asks the server).
        self.db.onversionchange = function () { self.db.close(); self.db = null; self.complete = false; };
        resolve(self.db);
      };
      req.onerror = function () { resolve(null); };
      req.onblocked = function () { resolve(null); };
    });
  };

  // Start (or go on with) the copy in the background.
  Catalogue.prototype.start = function (workerUrl, apiUrl) {
    var self = this;
    if (!window.Worker || !window.indexedDB) return;
    this.open().then(function (db) {
      if (!db) return;
      self.worker = new Worker(workerUrl);
      self.worker.onmessage = function (event) {
        var m = event.data;
        if (m.type === "state") {
          self.complete = !!m.state.complete;
          self.count = m.state.count || 0;
          self.working = !!m.working;
          self.failed = null;
        } else if (m.type === "failed") {
          self.failed = m.why;
          self.working = false;
        }
        self.onState(self);
      };
      self.worker.postMessage({ type: "start", name: self.name, shop: self.shop, api: apiUrl });
    });
  };

  // The cashier is at work: the copy waits for a quiet moment (at most one message a
  // half second).
  Catalogue.prototype.busy = function () {
    var now = Date.now();
    if (!this.worker || now - (this.lastBusy || 0) < 500) return;
    this.lastBusy = now;
    this.worker.postMessage({ type: "busy" });
  };

  // Ask for what changed now (after a sale refused for old prices, say).
  Catalogue.prototype.refresh = function () {
    if (this.worker) this.worker.postMessage({ type: "sync" });
  };

  // --- codes, as store/barcodes.py reads them -------------------------------------------
  function normalise(code) {
    var text = String(code || "").trim().toUpperCase();
    if (text.length === 13 && text.charAt(0) === "0" && /^\d+$/.test(text)) return text.slice(1);
    return text;
  }
  function checkDigit(digits) {
    var sum = 0;
    for (var i = digits.length - 1, w = 3; i >= 0; i--, w = 4 - w) sum += w * (digits.charCodeAt(i) - 48);
    return String((10 - (sum % 10)) % 10);
  }
  // An in-store scale's label: 2 F PPPPP VVVVV C (13) or 2 F PPPPP AAAAA WWWWW C (18).
  function scaleCode(code) {
    if (!/^2\d+$/.test(code) || (code.length !== 13 && code.length !== 18)) return null;
    if (checkDigit(code.slice(0, -1)) !== code.charAt(code.length - 1)) return null;
    var flag = parseInt(code.charAt(1), 10);
    var plu = parseInt(code.slice(2, 7), 10);
    if (plu === 0) return null;
    if (code.length === 18) {
      return { plu: plu, amount: parseInt(code.slice(7, 12), 10), weight: parseInt(code.slice(12, 17), 10) };
    }
    var value = parseInt(code.slice(7, 12), 10);
    return flag <= 4 ? { plu: plu, amount: value, weight: null } : { plu: plu, amount: null, weight: value };
  }
  TP.codes = { normalise: normalise, checkDigit: checkDigit, scaleCode: scaleCode };

  function get(index, key) {
    return new Promise(function (resolve, reject) {
      var req = index.get(key);
      req.onsuccess = function () { resolve(req.result || null); };
      req.onerror = function () { reject(req.error); };
    });
  }

  function refusal(message, params) {
    var error = new Error(TP.t(message, params));
    error.status = 409;
    return error;
  }

  // The scanned code's product as the server's lookup would answer it; null when the
  // copy cannot answer (not complete, or it does not know the code).
  Catalogue.prototype.lookup = function (code) {
    if (!this.complete || !this.db) return Promise.resolve(null);
    var stored = normalise(String(code).slice(0, 64));
    if (!stored || stored.length > 32) return Promise.resolve(null);
    var tx = this.db.transaction("products");
    var store = tx.objectStore("products");
    var scale = null;
    return get(store.index("code"), stored).then(function (p) {
      if (p) return p;
      scale = scaleCode(stored);
      return scale ? get(store.index("plu"), scale.plu) : null;
    }).then(function (p) {
      if (!p) return null;
      if (!p.active) {
        throw refusal("{name} ({sku}) is not on sale: it is inactive in the catalogue", { name: p.name, sku: p.sku });
      }
      var quantity = p.sold_by === "piece" ? 1000 : null;
      var amount = null;
      if (scale) {
        if (scale.weight !== null) {
          if (p.sold_by === "piece") {
            throw refusal("{name} ({sku}) is sold by the piece: a scale's weight does not fit", { name: p.name, sku: p.sku });
          }
          if (scale.weight <= 0) throw refusal("The scale's label weighs nothing");
          quantity = scale.weight;
        }
        amount = scale.amount;
        if (amount !== null && quantity === null && p.price > 0) {
          quantity = Math.max(1, Number((2n * BigInt(amount) * 1000n + BigInt(p.price)) / (2n * BigInt(p.price))));
        }
      }
      return {
        product_id: p.id, sku: p.sku, name: p.name, category: p.cat, unit: p.unit,
        sold_by: p.sold_by, plu: p.plu === undefined ? null : p.plu, price_minor: p.price,
        code: stored, scale: !!scale, quantity_milli: quantity, amount_minor: amount, local: true,
      };
    });
  };

  // Records of an index whose key begins with ``text``, in the index's order (the key,
  // then the product's id): at most ``most``, the inactive ones left out.
  function prefixed(index, text, most) {
    return new Promise(function (resolve, reject) {
      var found = [];
      var req = index.openCursor(IDBKeyRange.bound(text, text + "\uffff"));
      req.onsuccess = function () {
        var cursor = req.result;
        if (!cursor) { resolve(found); return; }
        if (cursor.value.active) found.push(cursor.value);
        if (found.length >= most) resolve(found);
        else cursor.continue();
      };
      req.onerror = function () { reject(req.error); };
    });
  }
  function byName(a, b) {
    return a.name < b.name ? -1 : a.name > b.name ? 1 : a.id - b.id;
  }

  // The search box from the copy, as the server's search answers it (store/catalogue.py
  // ``search``): the active product whose barcode is the text, then those whose SKU begins
  // with it, then those whose name does, each group by name; at most ``limit``. Null when
  // the copy cannot answer. Its SKU group looks at the first SKU_SCAN matches only (a
  // text that begins thousands of SKUs is no search).
  var SKU_SCAN = 2000;
  Catalogue.prototype.search = function (text, limit) {
    if (!this.complete || !this.db) return Promise.resolve(null);
    text = String(text).split(/\s+/).filter(Boolean).join(" ").slice(0, 120);
    if (!text) return Promise.resolve([]);
    var store = this.db.transaction("products").objectStore("products");
    var found = [];
    var ids = {};
    function take(records) {
      for (var i = 0; i < records.length && found.length < limit; i++) {
        var p = records[i];
        if (p && p.active && !ids[p.id]) { ids[p.id] = true; found.push(p); }
      }
      return found.length >= limit;
    }
    var code = normalise(text).slice(0, 32);
    return get(store.index("code"), code).then(function (p) {
      if (take([p])) return null;
      return prefixed(store.index("sku"), text, SKU_SCAN).then(function (records) {
        if (take(records.sort(byName))) return null;
        return prefixed(store.index("name"), text, limit).then(take);
      });
    }).then(function () {
      return found.map(function (p) {
        return {
          product_id: p.id, sku: p.sku, name: p.name, category: p.cat, unit: p.unit,
          sold_by: p.sold_by, plu: p.plu === undefined ? null : p.plu, price_minor: p.price,
          code: "", scale: false, quantity_milli: null, amount_minor: null, local: true,
        };
      });
    });
  };

  TP.Catalogue = Catalogue;
})();
