"""Security headers on every response of the browser pages.

``SecurityHeaders`` is a plain ASGI middleware that adds them to every response whose
path is under one of its prefixes (``/console``, ``/portal`` and ``/cashier``), whatever
route, error handler or static file produced it:

- a Content-Security-Policy that lets a page load scripts, styles, fonts and images
  from this server only, runs no inline script or style, is never framed, and posts
  forms only back to this server;
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``;
- ``X-Content-Type-Options: nosniff``, so a file is only ever what its type says;
- ``Referrer-Policy: no-referrer``, so no page address leaves for another site;
- ``Cache-Control: no-store`` on pages (HTML): what an operator saw is never kept by a
  shared computer's browser or a proxy. Static files keep their own long caching.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEB_PREFIXES = ("/console", "/portal", "/cashier")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGE_CACHE_CONTROL = "no-store"


def under(path: str, prefixes: Sequence[str]) -> bool:
    """``/console`` and ``/console/...``, not ``/consoles``."""
    return any(path == p or path.startswith(p + "/") for p in prefixes)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, prefixes: Sequence[str] = WEB_PREFIXES) -> None:
        self.app, self.prefixes = app, tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not under(scope["path"], self.prefixes):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if headers.get("content-type", "").startswith("text/html"):
                    headers["Cache-Control"] = PAGE_CACHE_CONTROL
            await send(message)

        await self.app(scope, receive, send_with_headers)
