"""The services every HTTP route reaches (``Services``, on ``app.state``), the client's
address and the limiters kept per process (docs/api.md).

The client address is the connection's peer, or, when the peer is one of
``TILLPOINT_TRUSTED_PROXIES``, the nearest address in ``X-Forwarded-For`` that is not.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from fastapi import Request

from tillpoint.access.service import AccessService
from tillpoint.app import Tillpoint
from tillpoint.payments.acquirer import Acquirer
from tillpoint.payments.online import OnlinePayments
from tillpoint.store.tenders import Tenders

FAILURES_ALLOWED = 10
FAILURE_WINDOW_S = 60.0
MAX_ADDRESSES = 100_000  # addresses with recent failures kept; the oldest go first
MAX_KNOWN_KEYS = 10_000  # keys known to be valid, kept; the least recently used go first
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class FailedAuthLimiter:
    """Failed authentications per client address, in a sliding window, and the keys
    that have authenticated (by their SHA-256), which may pass a blocked address."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window_s: float = FAILURE_WINDOW_S):
        self.allowed, self.window_s = allowed, window_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._known: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures.get(client)
        if failures is None:
            failures = self._failures[client] = deque()
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def blocked_for(self, client: str) -> int:
        """Seconds this client must wait, or 0."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(client, now)
            if len(failures) < self.allowed:
                if not failures:
                    self._failures.pop(client, None)
                return 0
            return max(1, int(failures[0] + self.window_s - now) + 1)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)

    def succeeded(self, secret: str) -> None:
        digest = hashlib.sha256(secret.encode()).digest()
        with self._lock:
            self._known[digest] = None
            self._known.move_to_end(digest)
            while len(self._known) > MAX_KNOWN_KEYS:
                self._known.popitem(last=False)

    def known(self, secret: str) -> bool:
        """Whether this key has authenticated before (it is still checked in full)."""
        with self._lock:
            return hashlib.sha256(secret.encode()).digest() in self._known


class KeyRateLimiter:
    """Requests per API key: a bucket of ``per_minute`` requests, refilled evenly
    (``per_minute`` / 60 a second), so a key may burst up to a minute's worth."""

    def __init__(self, per_minute: int) -> None:
        self.capacity, self.per_s = float(per_minute), per_minute / 60.0
        self._buckets: dict[int, tuple[float, float]] = {}  # key id: (tokens, when)
        self._lock = threading.Lock()

    def take(self, key_id: int) -> int:
        """0 if the key may make this request (it is counted), else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(key_id, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - then) * self.per_s)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0
            self._buckets[key_id] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.per_s))


@dataclass
class Services:
    tp: Tillpoint
    acquirer: Acquirer
    online: OnlinePayments
    access: AccessService
    limiter: FailedAuthLimiter = field(default_factory=FailedAuthLimiter)
    key_limiter: KeyRateLimiter = field(default_factory=lambda: KeyRateLimiter(600))
    trusted_proxies: Sequence[Network] = ()

    @cached_property
    def tenders(self) -> Tenders:
        """Orders and their tenders of every kind (the shop's own POS)."""
        return Tenders(self.tp.orders, self.tp.checkouts, self.online)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def forwarded_client(peer: str, forwarded_for: Sequence[str], proxies: Sequence[Network]) -> str:
    """The client's address: ``peer``, unless it is a trusted proxy; then the nearest
    address in ``X-Forwarded-For`` (read from the right, as each proxy appends the
    address it was reached from) that is not a trusted proxy. Everything left of that
    was written by the client and proves nothing."""

    def trusted(address: str) -> bool:
        ip = _address(address)
        return ip is not None and any(ip in network for network in proxies)

    client = peer
    if not trusted(client):
        return client
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        if _address(hop) is None:
            break  # garbage: the last proxy passed is as far as the chain can be believed
        client = hop
        if not trusted(hop):
            break
    return client


def client_ip(request: Request) -> str:
    peer = request.client.host if request.client else "unknown"
    svc: Services = request.app.state.services
    if not svc.trusted_proxies:
        return peer
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), svc.trusted_proxies)
