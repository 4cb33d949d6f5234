"""What every route depends on: the services, and who is calling.

Authentication is ``Authorization: Bearer <key>``, checked from the headers alone
before the request body is read (``ApiRoute``): an anonymous request is refused without
its body ever being taken in. Then two limits, each per process (docs/api.md):

- failed authentications per client address: after ``FAILURES_ALLOWED`` within a
  minute, the address gets 429 until the minute is over, except for keys that have
  already authenticated (in this process): a guesser behind a shared address does not
  lock out the valid keys used from it;
- requests per API key (``TILLPOINT_API_KEY_REQUESTS_PER_MINUTE``): over it, 429 with
  ``Retry-After``.

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
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tillpoint.access.models import Role
from tillpoint.access.service import AccessService, Principal
from tillpoint.api.problems import ApiProblem
from tillpoint.app import Tillpoint
from tillpoint.core.i18n import _
from tillpoint.payments.acquirer import Acquirer
from tillpoint.payments.online import OnlinePayments

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


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]
_bearer = HTTPBearer(auto_error=False, description="An API key: Bearer tp_live_...")


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


def _bearer_secret(request: Request) -> str | None:
    scheme, _sep, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


def authenticate(request: Request, svc: Services) -> Principal:
    """The caller, from the Authorization header alone, or a 401 or 429 problem."""
    client, secret = client_ip(request), _bearer_secret(request)
    wait = svc.limiter.blocked_for(client)
    if wait and not (secret and svc.limiter.known(secret)):
        raise ApiProblem(
            429,
            "auth.rate_limited",
            _("Too many failed authentications from this address: try again in {s} s").format(
                s=wait
            ),
            headers={"Retry-After": str(wait)},
        )
    if secret is None:
        svc.limiter.failed(client)
        raise ApiProblem(
            401,
            "auth.missing",
            _("Send an API key: Authorization: Bearer <key>"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = svc.access.authenticate(secret)
    if caller is None:
        svc.limiter.failed(client)
        raise ApiProblem(
            401,
            "auth.invalid",
            _("This API key is unknown or revoked"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    svc.limiter.succeeded(secret)
    request.state.principal = caller  # known from here on, to the audit log too
    wait = svc.key_limiter.take(caller.key_id)
    if wait:
        raise ApiProblem(
            429,
            "api_key.rate_limited",
            _("This API key has made too many requests: try again in {s} s").format(s=wait),
            headers={"Retry-After": str(wait)},
        )
    return caller


def principal(
    request: Request,
    svc: Svc,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller ``ApiRoute`` found before the body was read (``_credentials`` only
    declares the scheme in the OpenAPI document)."""
    caller: Principal | None = getattr(request.state, "principal", None)
    return caller if caller is not None else authenticate(request, svc)


Caller = Annotated[Principal, Depends(principal)]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _needs_caller(dependant: Dependant) -> bool:
    return dependant.call is principal or any(_needs_caller(d) for d in dependant.dependencies)


class ApiRoute(APIRoute):
    """A route that knows its caller before anything reads the request body: an
    anonymous or throttled request is answered from its headers alone, whatever body
    it brings (the body's size is limited before this, by api/limits.py)."""

    def get_route_handler(self) -> Handler:
        handler = self.wrap_handler(super().get_route_handler())
        if not _needs_caller(self.dependant):
            return handler

        async def authenticated(request: Request) -> Response:
            # A database read: off the event loop, as FastAPI runs sync dependencies.
            await run_in_threadpool(authenticate, request, services(request))
            return await handler(request)

        return authenticated

    def wrap_handler(self, handler: Handler) -> Handler:
        """What a subclass does between authentication and the route (idempotency)."""
        return handler


def allow(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency: the caller, if its role is one of ``roles`` (else 403)."""

    def check(caller: Caller) -> Principal:
        if caller.role not in roles:
            raise ApiProblem(
                403,
                "auth.forbidden",
                _("A {role} key may not do this").format(role=_(caller.role.value)),
            )
        return caller

    return check


EVERYONE = tuple(Role)
STAFF_AND_UP = (Role.OPS_ADMIN, Role.MERCHANT_OWNER, Role.MERCHANT_STAFF)
OWNERS = (Role.OPS_ADMIN, Role.MERCHANT_OWNER)
OPS = (Role.OPS_ADMIN,)
REVIEW = (Role.OPS_ADMIN, Role.REVIEWER)
Reader = Annotated[Principal, Depends(allow(*EVERYONE))]
Taker = Annotated[Principal, Depends(allow(*STAFF_AND_UP))]  # takes payments, refunds
Owner = Annotated[Principal, Depends(allow(*OWNERS))]
Ops = Annotated[Principal, Depends(allow(*OPS))]
Reviewer = Annotated[Principal, Depends(allow(*REVIEW))]


# Ids in paths: positive and inside a 64-bit column, or the request is malformed (422).
ObjectId = Annotated[int, Path(ge=1, le=2**62, description="The object's id")]
