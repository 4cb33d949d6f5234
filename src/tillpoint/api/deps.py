"""What every route depends on: the services, and who is calling.

Authentication is ``Authorization: Bearer <key>``. Failed attempts are counted per
client address; after ``FAILURES_ALLOWED`` within a minute the address gets 429 until
the minute is over, whatever it sends.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tillpoint.access.models import Role
from tillpoint.access.service import AccessService, Principal
from tillpoint.api.problems import ApiProblem
from tillpoint.app import Tillpoint
from tillpoint.core.i18n import _
from tillpoint.payments.acquirer import Acquirer
from tillpoint.payments.online import OnlinePayments

FAILURES_ALLOWED = 10
FAILURE_WINDOW_S = 60.0


class FailedAuthLimiter:
    """Failed authentications per client address, in a sliding window."""

    def __init__(self, allowed: int = FAILURES_ALLOWED, window_s: float = FAILURE_WINDOW_S):
        self.allowed, self.window_s = allowed, window_s
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures[client]
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


@dataclass
class Services:
    tp: Tillpoint
    acquirer: Acquirer
    online: OnlinePayments
    access: AccessService
    limiter: FailedAuthLimiter = field(default_factory=FailedAuthLimiter)


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


Svc = Annotated[Services, Depends(services)]
_bearer = HTTPBearer(auto_error=False, description="An API key: Bearer tp_live_...")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def principal(
    request: Request,
    svc: Svc,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    client = client_ip(request)
    wait = svc.limiter.blocked_for(client)
    if wait:
        raise ApiProblem(
            429,
            "auth.rate_limited",
            _("Too many failed authentications from this address: try again in {s} s").format(
                s=wait
            ),
            headers={"Retry-After": str(wait)},
        )
    if credentials is None:
        svc.limiter.failed(client)
        raise ApiProblem(
            401,
            "auth.missing",
            _("Send an API key: Authorization: Bearer <key>"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = svc.access.authenticate(credentials.credentials)
    if caller is None:
        svc.limiter.failed(client)
        raise ApiProblem(
            401,
            "auth.invalid",
            _("This API key is unknown or revoked"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = caller
    return caller


Caller = Annotated[Principal, Depends(principal)]


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
