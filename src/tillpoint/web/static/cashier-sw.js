// The till's service worker (served at /cashier/sw.js, scope /cashier: the route puts
// VERSION and KEEP above this text). It keeps the till's application in the browser so
// that the till opens again while the server cannot be reached:
// - KEEP, the page's scripts and styles (their addresses carry their digests), in a
//   cache named after VERSION: a release that changes a file is a new worker, which
//   fills a new cache and deletes the old ones;
// - the till's page itself, the last one the server sent this browser (its data: the
//   shop, the shift, the session's CSRF token), in a cache of its own: the page is asked
//   of the network first, and only when that fails is the kept copy answered (marked
//   data-cached, so the page knows it opened offline);
// - nothing of /cashier/api: the page's questions go to the network as they are (the
//   page decides what to do when they fail).
"use strict";

var APP = "tillpoint-cashier-" + VERSION;
var PAGE = "tillpoint-cashier-page";
var PAGE_KEY = "/cashier";

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(APP).then(function (cache) { return cache.addAll(KEEP); }).then(function () {
      return self.skipWaiting();
    })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf("tillpoint-cashier-") === 0 && name !== APP && name !== PAGE;
      }).map(function (name) { return caches.delete(name); }));
    }).then(function () { return self.clients.claim(); })
  );
});

// Sign-out (the page says so): the kept page is the person's, forget it.
self.addEventListener("message", function (event) {
  if (event.data && event.data.type === "forget") {
    event.waitUntil(caches.delete(PAGE));
  }
});

function thePage(event) {
  var request = event.request;
  return fetch(request).then(function (response) {
    if (response.status === 200 && response.type === "basic" && !response.redirected) {
      var copy = response.clone();
      event.waitUntil(caches.open(PAGE).then(function (cache) { return cache.put(PAGE_KEY, copy); }));
    }
    return response;
  }, function (failed) {
    return caches.open(PAGE).then(function (cache) { return cache.match(PAGE_KEY); }).then(function (kept) {
      if (!kept) throw failed;
      return kept.text().then(function (html) {
        var headers = new Headers(kept.headers);
        headers.delete("Content-Length");
        return new Response(html.replace('<body class="till"', '<body class="till" data-cached="1"'), {
          status: 200, headers: headers,
        });
      });
    });
  });
}

function aFile(request) {
  return caches.open(APP).then(function (cache) {
    return cache.match(request).then(function (hit) {
      if (hit) return hit;
      return fetch(request).catch(function (failed) {
        // A page kept from the release before names older digests: any copy will do.
        return cache.match(request, { ignoreSearch: true }).then(function (any) {
          if (any) return any;
          throw failed;
        });
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === PAGE_KEY) {
    event.respondWith(thePage(event));
  } else if (url.pathname.indexOf("/console/static/") === 0) {
    event.respondWith(aFile(request));
  }
});
