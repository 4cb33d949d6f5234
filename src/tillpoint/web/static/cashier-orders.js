// Orders on their way to the server (TP.Orders): each is kept in this browser's storage
// under its client_ref until the server has answered it, and sent again while the
// network fails (the server makes the same client_ref into one order however often it
// arrives). A refusal (the server said no: nothing was made) takes it off. What the next
// step, selling without the network, builds on: orders waiting here, sent when it is
// back. And waiting for a tender: one long request at a time (?wait_s=) that the server
// answers as soon as the terminal or the customer's wallet has.
(function () {
  "use strict";
  var TP = window.TP;
  var KEY = "tillpoint.outbox";
  var RETRY_MS = [1000, 2000, 4000, 8000];
  var WAIT_S = 25;

  function Orders(scope) {
    this.key = KEY + "." + scope;
    this.pending = {};
    try { this.pending = JSON.parse(window.localStorage.getItem(this.key) || "{}") || {}; } catch (e) { this.pending = {}; }
  }

  Orders.prototype.keep = function () {
    try { window.localStorage.setItem(this.key, JSON.stringify(this.pending)); } catch (e) { /* full */ }
  };

  Orders.prototype.waiting = function () { return Object.keys(this.pending).length; };

  // Send an order (its body names its client_ref); resolves with the server's order.
  Orders.prototype.send = function (body) {
    var self = this;
    var ref = body.client_ref;
    this.pending[ref] = { body: body, since: Date.now() };
    this.keep();
    function attempt(n) {
      return TP.api("POST", "/orders", body).then(
        function (order) {
          delete self.pending[ref];
          self.keep();
          return order;
        },
        function (error) {
          if (error.status === 0 && n < RETRY_MS.length) {
            return new Promise(function (resolve) { setTimeout(resolve, RETRY_MS[n]); }).then(function () {
              return attempt(n + 1);
            });
          }
          if (error.status !== 0 && error.status !== 401) {
            delete self.pending[ref];
            self.keep();
          }
          throw error;
        }
      );
    }
    return attempt(0);
  };

  // Orders left from before (the page was closed, or the network failed): sent again.
  Orders.prototype.flush = function () {
    var self = this;
    return Promise.all(Object.keys(this.pending).map(function (ref) {
      return self.send(self.pending[ref].body).catch(function () { return null; });
    }));
  };

  // The order once none of its tenders is pending (or ``stop()`` says to stop caring).
  Orders.wait = function (orderId, stop) {
    function round() {
      return TP.api("GET", "/orders/" + orderId + "?wait_s=" + WAIT_S).then(function (order) {
        var pending = order.tenders.some(function (t) { return t.status === "pending"; });
        if (!pending || (stop && stop())) return order;
        return round();
      }, function (error) {
        if (error.status === 0 && !(stop && stop())) {
          return new Promise(function (resolve) { setTimeout(resolve, 2000); }).then(round);
        }
        throw error;
      });
    }
    return round();
  };

  TP.Orders = Orders;
})();
