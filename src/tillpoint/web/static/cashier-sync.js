// The till's copy of the catalogue, filled in the background (a worker: the page that
// sells never waits for it). It asks /cashier/api/changes for what changed since the
// revision it holds, page after page, and writes each page with that revision in one
// IndexedDB transaction, so a copy cut off half way goes on from where it stopped. Once
// complete it asks again every minute (and when the page says so). While the cashier is
// scanning, it waits: the page says so with every scan, and the copy goes on in the
// quiet between customers, so that it never slows a scan down (2 cores: the page, the
// server and the copy share them).
"use strict";

var PAGE = 5000;
var AGAIN_MS = 60000;
var QUIET_MS = 1500; // after the cashier's last scan or key
var quietUntil = 0;

var setup = null;
var db = null;
var running = false;
var timer = null;

// The page made the database (and brought it to its layout, cashier-catalogue.js) before it
// started this worker: it is opened as it is, at whatever version the page left it.
function openDb(name) {
  return new Promise(function (resolve, reject) {
    var req = indexedDB.open(name);
    req.onsuccess = function () {
      var d = req.result;
      d.onversionchange = function () { d.close(); db = null; clearTimeout(timer); };
      resolve(d);
    };
    req.onerror = function () { reject(req.error); };
  });
}

function meta() {
  return new Promise(function (resolve, reject) {
    var req = db.transaction("meta").objectStore("meta").get("sync");
    req.onsuccess = function () { resolve(req.result || { k: "sync", revision: 0, complete: false, count: 0 }); };
    req.onerror = function () { reject(req.error); };
  });
}

// One page of changes into the copy, with the revision it brings the copy to and how
// many products the copy holds then.
function write(page, state) {
  return new Promise(function (resolve, reject) {
    var tx = db.transaction(["products", "meta"], "readwrite");
    var store = tx.objectStore("products");
    var c = page.columns;
    var at = {};
    for (var i = 0; i < c.length; i++) at[c[i]] = i;
    page.rows.forEach(function (r) {
      var plu = r[at.plu];
      var record = {
        id: r[at.id], sku: r[at.sku], name: r[at.name], cat: r[at.category], unit: r[at.unit],
        sold_by: r[at.sold_by], price: r[at.price_minor], active: r[at.active], b: r[at.barcodes],
      };
      if (plu !== null && plu !== undefined) record.plu = plu;
      store.put(record);
    });
    var next = { k: "sync", revision: page.revision, complete: state.complete || !page.has_more, count: 0 };
    var counted = store.count();
    counted.onsuccess = function () {
      next.count = counted.result;
      tx.objectStore("meta").put(next);
    };
    tx.oncomplete = function () { resolve(next); };
    tx.onerror = function () { reject(tx.error); };
    tx.onabort = function () { reject(tx.error || new Error("aborted")); };
  });
}

function fetchPage(since) {
  var url = setup.api + "/changes?shop=" + encodeURIComponent(setup.shop) + "&since=" + since + "&limit=" + PAGE;
  return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  });
}

function run() {
  if (running || !db) return; // (closed for a newer page's layout)
  running = true;
  clearTimeout(timer);
  var state;
  meta()
    .then(function (m) {
      state = m;
      postMessage({ type: "state", state: state, working: !state.complete });
      function step() {
        var wait = quietUntil - Date.now();
        if (wait > 0) {
          return new Promise(function (resolve) { setTimeout(resolve, wait); }).then(step);
        }
        return fetchPage(state.revision).then(function (page) {
          if (!page.rows.length && state.complete) return null;
          return write(page, state).then(function (s) {
            state = s;
            postMessage({ type: "state", state: state, working: page.has_more });
            return page.has_more ? step() : null;
          });
        });
      }
      return step();
    })
    .then(function () {
      running = false;
      postMessage({ type: "state", state: state, working: false });
      timer = setTimeout(run, AGAIN_MS);
    })
    .catch(function (e) {
      running = false;
      postMessage({ type: "failed", why: String(e && e.message ? e.message : e) });
      timer = setTimeout(run, AGAIN_MS);
    });
}

onmessage = function (event) {
  var m = event.data;
  if (m.type === "start") {
    setup = m;
    openDb(m.name).then(function (d) {
      db = d;
      run();
    }, function (e) {
      postMessage({ type: "failed", why: String(e) });
    });
  } else if (m.type === "sync" && db) {
    run();
  } else if (m.type === "busy") {
    quietUntil = Date.now() + QUIET_MS;
  }
};
