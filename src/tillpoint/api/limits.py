"""Request bodies have a size limit per route, enforced before anything reads them.

``BodyLimit`` is a plain ASGI middleware, outside everything else but the server's own
error handling. A ``Content-Length`` over the route's limit is answered 413 at once,
before authentication, routing or any byte of the body is read. A body of unknown
length (chunked) is counted as it streams through ``receive`` and cut off as soon as it
passes the limit: whoever is reading gets ``BodyTooLarge``, and the caller a 413 from
here, whatever the app made of it. So a request never makes the process hold more than
the limit (plus one chunk) of its body.

Every route takes ``DEFAULT_BODY_BYTES``; a route that needs more says so with
``openapi_extra=body_limit(n)``, which also shows in the OpenAPI document as
``x-max-body-bytes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tillpoint.api.problems import BodyTooLarge, too_large
from tillpoint.core.i18n import normalise_locale, set_locale
from tillpoint.http.limits import DEFAULT_BODY_BYTES, EXTRA_KEY


@dataclass(frozen=True)
class RouteLimit:
    path: re.Pattern[str]
    methods: frozenset[str]
    limit_bytes: int


def route_limits(routers: Iterable[APIRouter]) -> list[RouteLimit]:
    """The routes that state a limit of their own."""
    return [
        RouteLimit(route.path_regex, frozenset(route.methods or ()), route.openapi_extra[EXTRA_KEY])
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.openapi_extra and EXTRA_KEY in route.openapi_extra
    ]


class BodyLimit:
    def __init__(
        self,
        app: ASGIApp,
        routes: Sequence[RouteLimit] = (),
        default_bytes: int = DEFAULT_BODY_BYTES,
    ) -> None:
        self.app, self.routes, self.default_bytes = app, routes, default_bytes

    def limit_for(self, scope: Scope) -> int:
        for route in self.routes:
            if scope["method"] in route.methods and route.path.match(scope["path"]):
                return route.limit_bytes
        return self.default_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            set_locale(normalise_locale(Headers(scope=scope).get("accept-language", "en")))
            await too_large(limit, scope["path"])(scope, receive, send)
            return
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def answer(message: Message) -> None:
            nonlocal started
            if received > limit:
                return  # whatever the app makes of a body cut off, the answer is 413
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except Exception:
            # BodyTooLarge itself, or wrapped in a group by a middleware's task group
            if received <= limit or started:
                raise
        if received > limit and not started:
            set_locale(normalise_locale(Headers(scope=scope).get("accept-language", "en")))
            await too_large(limit, scope["path"])(scope, receive, send)
