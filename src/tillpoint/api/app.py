"""The HTTP application: the REST API under /v1 (docs/api.md), its OpenAPI document
at /openapi.json and its pages at /docs and /redoc, and the pages around it (wallet simulator,
receipts, the browser console under /console)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from sqlalchemy import text

from tillpoint import __version__
from tillpoint.api import problems
from tillpoint.api.limits import BodyLimit, route_limits
from tillpoint.api.routes import ROUTERS
from tillpoint.app import Tillpoint
from tillpoint.core.i18n import normalise_locale, set_locale
from tillpoint.http.services import KeyRateLimiter, Services, client_ip
from tillpoint.payments.acquirer import Acquirer
from tillpoint.payments.online import OnlinePayments
from tillpoint.web.auth import Forbidden, SignInFirst
from tillpoint.web.routes import ROUTERS as WEB_ROUTERS
from tillpoint.web.routes import handle_forbidden, handle_sign_in_first
from tillpoint.web.security import WEB_PREFIXES, SecurityHeaders

DESCRIPTION = """\
Tillpoint's REST API: merchants and their review, shops, terminals, operators, fee plans,
payments (QR wallets both ways; card payments come from terminals), refunds, settlements,
webhooks and API keys. Authenticate with `Authorization: Bearer <API key>`; every POST
needs an `Idempotency-Key`. Errors are RFC 9457 problem documents with a stable `code`.
Send `Accept-Language: zh-CN` for Chinese. 中文: 请求头 Accept-Language: zh-CN。
"""
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


class Health(BaseModel):
    status: str
    version: str
    database: str


def create_api(app: Tillpoint, acquirer: Acquirer) -> FastAPI:
    """The HTTP side over the same acquirer (and so the same networks) as the host."""
    # FastAPIOffline: the docs pages load Swagger UI and ReDoc from the installed
    # package, never from a CDN.
    api = FastAPIOffline(
        title="Tillpoint",
        version=__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url="/redoc",
    )
    settings = app.ctx.settings
    api.state.services = Services(
        app,
        acquirer,
        OnlinePayments(acquirer),
        app.access,
        key_limiter=KeyRateLimiter(settings.api_key_requests_per_minute),
        trusted_proxies=settings.trusted_proxy_networks(),
    )
    problems.install(api)

    @api.middleware("http")
    async def locale_and_audit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """Answer in the caller's language; write every change asked for to the audit
        log (who, what, when, from where, and how it ended)."""
        set_locale(normalise_locale(request.headers.get("accept-language", "en")))
        response = await call_next(request)
        if request.method in MUTATING and request.url.path.startswith("/v1/"):
            route = request.scope.get("route")
            api.state.services.access.audit(
                principal=getattr(request.state, "principal", None),
                action=f"{request.method} {getattr(route, 'path', request.url.path)}",
                target=request.url.path,
                status_code=response.status_code,
                client_ip=client_ip(request),
            )
        return response

    @api.get("/health", response_model=Health, tags=["system"])
    def health() -> Health:
        """Liveness and database reachability."""
        with app.ctx.db.transaction() as s:
            s.execute(text("SELECT 1"))
        return Health(status="ok", version=__version__, database=app.ctx.db.engine.dialect.name)

    # The routes as their modules built them, not api.include_router(): FastAPI builds
    # an included router's routes again for each application, at its first requests
    # (about a second and a half of CPU for all of them: a slow first answer in every
    # process, and in every test), and walks every included router at each request.
    # None of our routers needs what including adds (a prefix, tags, dependencies).
    for router in (*ROUTERS, *WEB_ROUTERS):  # the API, then the browser pages (web/)
        api.router.routes.extend(router.routes)
    api.add_exception_handler(SignInFirst, handle_sign_in_first)
    api.add_exception_handler(Forbidden, handle_forbidden)
    api.add_middleware(SecurityHeaders, prefixes=WEB_PREFIXES)
    # Added last, so outermost: a body over its limit is refused before anything else.
    # The pages' routes state theirs too (the portal's document uploads, the till's
    # offline sync).
    api.add_middleware(BodyLimit, routes=route_limits([*ROUTERS, *WEB_ROUTERS]))
    return api
