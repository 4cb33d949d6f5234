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

The services holder, the client's address and the limiters themselves are
``tillpoint.http.services``'s (the pages share them).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from tillpoint.access.models import OPERATIONS, Role
from tillpoint.access.service import Principal
from tillpoint.api.problems import ApiProblem
from tillpoint.core.i18n import _
from tillpoint.http.services import Services, client_ip, services

Svc = Annotated[Services, Depends(services)]
_bearer = HTTPBearer(auto_error=False, description="An API key: Bearer tp_live_...")


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
RISK_DESK = (Role.OPS_ADMIN, Role.RISK)
Reader = Annotated[Principal, Depends(allow(*EVERYONE))]
Taker = Annotated[Principal, Depends(allow(*STAFF_AND_UP))]  # takes payments, refunds
Owner = Annotated[Principal, Depends(allow(*OWNERS))]
Ops = Annotated[Principal, Depends(allow(*OPS))]
Reviewer = Annotated[Principal, Depends(allow(*REVIEW))]  # reviews applications
# The acquirer's own reads (ops_admin, reviewer, risk): risk rules and cases, fee plans.
Watcher = Annotated[Principal, Depends(allow(*OPERATIONS))]
RiskDesk = Annotated[Principal, Depends(allow(*RISK_DESK))]  # works risk rules and cases


# Ids in paths: positive and inside a 64-bit column, or the request is malformed (422).
ObjectId = Annotated[int, Path(ge=1, le=2**62, description="The object's id")]
