// The offline sales of this browser (TP.Outbox), in IndexedDB: each cash sale made while
// the server could not be reached, numbered in the page's own form and written
// here (durably: the transaction has completed) before its receipt shows; sent when the
// server is back, in batches of one page of one till (at most 500), again and again
// with a growing pause until the server has answered; and then moved from the queue to
// the results in one transaction with the answer. The server writes each order once by
// its client_ref, so a batch sent twice (a reload mid-sync, an answer lost on the way)
// is answered "already synced" and nothing doubles; nothing leaves the queue before its
// answer is kept, so nothing is lost.
//
// The database (one per merchant): "queue" (the sales to send, by client_ref, in the
// order made: "seq"), "done" (each one's answer: synced, already synced, refused, what
// needs a look), "meta" (the page's id, the count of sales, and per till the page's
// number and how many receipt numbers it has used).
(function () {
  "use strict";
  var TP = window.TP;
  var DB_VERSION = 1;
  var BATCH = 500; // the server's limit per sync
  var KEEP_DONE = 2000; // answers kept to show (those that need a look are never dropped)
  var PAUSES_MS = [1000, 2000, 4000, 8000, 15000, 30000, 60000];

  function request(req) {
    return new Promise(function (resolve, reject) {
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function finished(tx) {
    return new Promise(function (resolve, reject) {
      tx.oncomplete = function () { resolve(); };
      tx.onerror = function () { reject(tx.error); };
      tx.onabort = function () { reject(tx.error || new Error("aborted")); };
    });
  }
  // A setting a test (or a curious engineer) may lower: tillpoint.offline.<name>.
  function setting(name, fallback) {
    try {
      var value = parseInt(window.localStorage.getItem("tillpoint.offline." + name) || "", 10);
      return value > 0 ? Math.min(value, fallback) : fallback;
    } catch (e) { return fallback; }
  }

  function Outbox(merchantId) {
    this.name = "tillpoint-offline-" + merchantId;
    this.db = null;
    this.syncing = null;
    this.fails = 0;
    this.timer = null;
    this.onChange = function () {};
    this.onReach = function () {}; // the server answered
    this.batch = setting("batch", BATCH);
  }

  Outbox.prototype.open = function () {
    var self = this;
    if (this.db) return Promise.resolve(this.db);
    if (!window.indexedDB) return Promise.reject(new Error("no IndexedDB"));
    var req = window.indexedDB.open(this.name, DB_VERSION);
    req.onupgradeneeded = function () {
      var d = req.result;
      if (!d.objectStoreNames.contains("queue")) d.createObjectStore("queue", { keyPath: "client_ref" }).createIndex("seq", "seq");
      if (!d.objectStoreNames.contains("done")) d.createObjectStore("done", { keyPath: "client_ref" }).createIndex("seq", "seq");
      if (!d.objectStoreNames.contains("meta")) d.createObjectStore("meta", { keyPath: "k" });
    };
    return request(req).then(function (db) {
      self.db = db;
      db.onversionchange = function () { db.close(); self.db = null; };
      return db;
    });
  };

  // --- the page's id and its receipt numbers ----------------------------------------------
  // The page's id: made once, kept in the database (and in localStorage beside it).
  Outbox.prototype.pageId = function () {
    var self = this;
    return this.open().then(function (db) {
      var tx = db.transaction("meta", "readwrite");
      var meta = tx.objectStore("meta");
      var id = null;
      request(meta.get("page")).then(function (rec) {
        id = rec ? rec.id : TP.uuid();
        if (!rec) meta.put({ k: "page", id: id });
      });
      return finished(tx).then(function () {
        try { window.localStorage.setItem(self.name + ".page", id); } catch (e) { /* */ }
        return id;
      });
    });
  };

  function numbersKey(shop, till) { return "numbers:" + shop + ":" + till; }

  // The till's numbers as kept: the page's form (<shop>-<till>-P<page>.) and how many
  // it has printed.
  Outbox.prototype.numbers = function (shop, till) {
    return this.open().then(function (db) {
      return request(db.transaction("meta").objectStore("meta").get(numbersKey(shop, till)));
    });
  };

  // While online: the page makes itself known to the server for this till, once (its
  // page number within the till gives its receipt numbers' form). It takes none of the
  // till's online numbers: those stay contiguous.
  Outbox.prototype.ensureNumbers = function (shop, till) {
    var self = this;
    var key = numbersKey(shop, till);
    if (this.asking === key) return Promise.resolve(null);
    return Promise.all([this.pageId(), this.numbers(shop, till)]).then(function (got) {
      var pageId = got[0], rec = got[1];
      if (rec && rec.page_id === pageId && rec.prefix) return rec;
      self.asking = key;
      var url = TP.data.urls.api + "/till-pages?shop=" + encodeURIComponent(shop);
      return post(url, { till: till, page_id: pageId }).then(function (page) {
        var tx = self.db.transaction("meta", "readwrite");
        var meta = tx.objectStore("meta");
        request(meta.get(key)).then(function (now) {
          if (now && now.page_id === pageId && now.prefix) return; // another tab did
          meta.put({ k: key, page_id: pageId, page_number: page.page_number,
                     prefix: page.receipt_prefix, count: 0 });
        });
        return finished(tx);
      }).then(function () {
        self.asking = null;
        return self.numbers(shop, till);
      }, function (e) {
        self.asking = null;
        throw e;
      });
    });
  };

  // --- selling -------------------------------------------------------------------------------
  // A sale into the queue: numbered and written in one transaction (two tabs of this
  // browser never print the same number). Resolves, once it is durable, with what was
  // kept: its receipt number and the body the server will be sent.
  Outbox.prototype.add = function (shop, till, body) {
    var self = this;
    return this.open().then(function (db) {
      var tx = db.transaction(["meta", "queue"], "readwrite");
      var meta = tx.objectStore("meta");
      var kept = null;
      var refused = null;
      Promise.all([request(meta.get(numbersKey(shop, till))), request(meta.get("seq"))]).then(function (got) {
        var rec = got[0];
        var seq = (got[1] ? got[1].n : 0) + 1;
        if (!rec || !rec.prefix) {
          refused = new Error(TP.t("This till has no receipt numbers for selling offline: it must be online once first"));
          tx.abort();
          return;
        }
        rec.count += 1;
        var number = rec.prefix + rec.count;
        var order = Object.assign({}, body, { receipt_no: number });
        kept = {
          client_ref: order.client_ref, seq: seq, shop: shop, till: till, page_id: rec.page_id,
          receipt_no: number, total_minor: order.total_minor, made_at: order.made_at, body: order,
        };
        meta.put(rec);
        meta.put({ k: "seq", n: seq });
        tx.objectStore("queue").put(kept);
      }, function (e) { refused = e; });
      return finished(tx).then(function () {
        self.onChange();
        return kept;
      }, function (e) { throw refused || e; });
    });
  };

  // --- what is waiting, what came back -----------------------------------------------------
  Outbox.prototype.counts = function () {
    return this.open().then(function (db) {
      var tx = db.transaction(["queue", "done"]);
      var waiting = request(tx.objectStore("queue").count());
      var look = new Promise(function (resolve, reject) {
        var n = 0;
        var req = tx.objectStore("done").openCursor();
        req.onsuccess = function () {
          var c = req.result;
          if (!c) { resolve(n); return; }
          if (c.value.needs_look && !c.value.seen) n += 1;
          c.continue();
        };
        req.onerror = function () { reject(req.error); };
      });
      return Promise.all([waiting, look]).then(function (x) { return { waiting: x[0], look: x[1] }; });
    });
  };

  function all(store, limit) {
    return new Promise(function (resolve, reject) {
      var out = [];
      var req = store.index("seq").openCursor(null, "prev");
      req.onsuccess = function () {
        var c = req.result;
        if (!c || out.length >= limit) { resolve(out); return; }
        out.push(c.value);
        c.continue();
      };
      req.onerror = function () { reject(req.error); };
    });
  }

  // The newest first: what still waits, then the answers (at most ``limit`` of each).
  Outbox.prototype.list = function (limit) {
    return this.open().then(function (db) {
      var tx = db.transaction(["queue", "done"]);
      return Promise.all([all(tx.objectStore("queue"), limit), all(tx.objectStore("done"), limit)]);
    }).then(function (x) {
      return x[0].map(function (q) { return Object.assign({ status: "waiting" }, q); }).concat(x[1]);
    });
  };

  // The cashier has looked at it: it no longer counts as needing a look.
  Outbox.prototype.seen = function (clientRef) {
    var self = this;
    return this.open().then(function (db) {
      var tx = db.transaction("done", "readwrite");
      var store = tx.objectStore("done");
      request(store.get(clientRef)).then(function (rec) {
        if (rec) { rec.seen = true; store.put(rec); }
      });
      return finished(tx);
    }).then(function () { self.onChange(); });
  };

  // --- the sync ----------------------------------------------------------------------------
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json", "Accept-Language": TP.data.lang,
        "Content-Type": "application/json", "X-CSRF-Token": TP.data.csrf,
      },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (payload) {
        if (response.ok) return payload;
        var error = new Error(payload.detail || response.statusText);
        error.status = response.status;
        error.code = payload.code;
        throw error;
      });
    }, function () {
      var error = new Error(TP.t("The server cannot be reached: check the network"));
      error.status = 0;
      throw error;
    });
  }

  // The next batch: the oldest waiting sale's page and till, up to BATCH of its sales in
  // the order they were made.
  Outbox.prototype.next = function () {
    var self = this;
    return this.open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var out = [];
        var req = db.transaction("queue").objectStore("queue").index("seq").openCursor();
        req.onsuccess = function () {
          var c = req.result;
          if (!c || out.length >= self.batch) { resolve(out); return; }
          var q = c.value;
          if (!out.length || (q.shop === out[0].shop && q.till === out[0].till && q.page_id === out[0].page_id)) out.push(q);
          c.continue();
        };
        req.onerror = function () { reject(req.error); };
      });
    });
  };

  // The server's answer kept, and the sales it answered out of the queue, at once.
  Outbox.prototype.record = function (batch, answer) {
    var self = this;
    var tx = this.db.transaction(["queue", "done"], "readwrite");
    var queue = tx.objectStore("queue"), done = tx.objectStore("done");
    var at = new Date().toISOString();
    batch.forEach(function (q, i) {
      var r = answer.results[i];
      if (!r || r.client_ref !== q.client_ref) return; // not answered: it stays queued
      queue.delete(q.client_ref);
      var rec = {
        client_ref: q.client_ref, seq: q.seq, shop: q.shop, till: q.till, page_id: q.page_id,
        receipt_no: q.receipt_no, total_minor: q.total_minor, made_at: q.made_at,
        status: r.status, order_id: r.order_id, needs_look: r.needs_look, flags: r.flags,
        lines: r.lines, code: r.code, message: r.message, answered_at: at,
      };
      if (r.needs_look) rec.body = q.body; // kept to show (a manager rings it up again)
      done.put(rec);
    });
    return finished(tx).then(function () { return self.prune(); });
  };

  // A batch the server refused whole (422: not of the shape, a fault of this program):
  // each sale kept, refused, to show.
  Outbox.prototype.refuseAll = function (batch, error) {
    return this.record(batch, {
      results: batch.map(function (q) {
        return { client_ref: q.client_ref, status: "refused", order_id: null, needs_look: true,
                 flags: [], lines: [], code: error.code || "sync.batch", message: error.message };
      }),
    });
  };

  // The oldest answers that need no look, beyond KEEP_DONE.
  Outbox.prototype.prune = function () {
    var tx = this.db.transaction("done", "readwrite");
    var store = tx.objectStore("done");
    request(store.count()).then(function (n) {
      var extra = n - KEEP_DONE;
      if (extra <= 0) return;
      var req = store.index("seq").openCursor();
      req.onsuccess = function () {
        var c = req.result;
        if (!c || extra <= 0) return;
        if (!c.value.needs_look) { c.delete(); extra -= 1; }
        c.continue();
      };
    });
    return finished(tx);
  };

  // Send everything waiting, batch after batch; resolves with how many were answered.
  // One sync at a time in this browser (Web Locks: another tab syncing, this one waits
  // for its turn); it stops at the first failure and tries again after a pause.
  Outbox.prototype.sync = function () {
    var self = this;
    if (this.syncing) return this.syncing;
    clearTimeout(this.timer);
    this.timer = null;
    function run() {
      var answered = 0;
      function round() {
        return self.next().then(function (batch) {
          if (!batch.length) return answered;
          var url = TP.data.urls.api + "/orders/sync?shop=" + encodeURIComponent(batch[0].shop);
          var body = { till: batch[0].till, page_id: batch[0].page_id, orders: batch.map(function (q) { return q.body; }) };
          return post(url, body).then(function (answer) {
            self.onReach();
            return self.record(batch, answer);
          }, function (e) {
            if (e.status === 422) return self.refuseAll(batch, e);
            if (e.status === 413 && batch.length > 1) { // too big for the server: halve it
              self.batch = Math.ceil(batch.length / 2);
              return "smaller";
            }
            throw e;
          }).then(function (how) {
            if (how === "smaller") return round();
            answered += batch.length;
            self.fails = 0;
            self.onChange();
            return round();
          });
        });
      }
      return round();
    }
    var locked = navigator.locks
      ? navigator.locks.request(this.name + ".sync", run)
      : run();
    this.syncing = locked.then(function (n) {
      self.syncing = null;
      return n;
    }, function (e) {
      self.syncing = null;
      self.fails += 1;
      self.failed = { status: e.status, code: e.code || null, message: e.message };
      self.later();
      self.onChange(e);
      throw e;
    });
    return this.syncing;
  };

  // Try again after a pause that grows with each failure (with some jitter, so that two
  // tills do not come back at the same instant).
  Outbox.prototype.later = function () {
    var self = this;
    clearTimeout(this.timer);
    var pause = PAUSES_MS[Math.min(this.fails - 1, PAUSES_MS.length - 1)];
    this.timer = setTimeout(function () {
      self.timer = null;
      self.sync().catch(function () { return null; });
    }, Math.round(pause * (0.75 + Math.random() * 0.5)));
  };

  TP.Outbox = Outbox;
})();
