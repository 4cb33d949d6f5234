"""The browser pages' routes: signing in and out, the password, and the
static files every page links to (``/console/static/...``, from the package: nothing
comes from another site). Pages are not part of the REST API: none is in the OpenAPI
document. Who may see what is ``web/auth.py``'s; the working pages, the home among
them, are web/console/'s.
"""

from __future__ import annotations

import os
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from tillpoint.access.accounts import NeedsCode, SignedIn
from tillpoint.core.errors import InvalidInput, Refused
from tillpoint.core.i18n import _
from tillpoint.web.auth import (
    CASHIER,
    CONSOLE,
    HALF_COOKIE,
    PORTAL,
    Member,
    SignInFirst,
    Staff,
    accounts,
    address,
    check_csrf,
    check_pre_session,
    clear_half_session_cookie,
    clear_session_cookie,
    new_pre_session,
    safe_next,
    set_half_session_cookie,
    set_session_cookie,
    signed_in,
    site_home,
)
from tillpoint.web.cashier import ROUTERS as CASHIER_ROUTERS
from tillpoint.web.console import ROUTERS as CONSOLE_ROUTERS
from tillpoint.web.page import cashier_shop, page, site_of
from tillpoint.web.portal import ROUTERS as PORTAL_ROUTERS
from tillpoint.web.render import STATIC, STATIC_PATH, render

# Static addresses carry a digest of their content (render.static_url), so a browser may
# keep them for a year: a changed file has a new address.
STATIC_CACHE_CONTROL = "public, max-age=31536000, immutable"


class CachedStaticFiles(StaticFiles):
    """The package's static files, cached long by browsers and proxies."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = STATIC_CACHE_CONTROL
        return response


router = APIRouter(include_in_schema=False)
router.mount(STATIC_PATH, CachedStaticFiles(directory=STATIC), name="console-static")
# Every page route, in the order they are matched: the static files and this module's
# own (signing in and out, the password: below), then each area's pages.
ROUTERS = (router, *CONSOLE_ROUTERS, *PORTAL_ROUTERS, *CASHIER_ROUTERS)


def _sign_in_form(
    request: Request, next_: str | None, *, login: str, error: str | None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    site = site_of(request)
    response = render(request, "console/sign_in.html", status_code=status_code, login=login,
                      error=error, next=safe_next(next_, site.home), csrf_token=token,
                      site=site)  # fmt: skip
    new_pre_session(request, response, token)
    return response


def sign_in_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form: email or mobile number, and password."""
    if signed_in(request) is not None:
        return RedirectResponse(safe_next(next, site_of(request).home), status_code=303)
    return _sign_in_form(request, next, login="", error=None)


async def sign_in(request: Request) -> Response:
    await check_pre_session(request)
    form = await request.form()
    login, password, next_ = (str(form.get(k) or "") for k in ("login", "password", "next"))
    try:
        session = accounts(request).sign_in(login[:254], password[:256], address(request))
    except Refused as refusal:
        return _sign_in_refused(request, next_, login[:254], refusal)
    if isinstance(session, NeedsCode):  # a second factor: the code, on a second page
        response = _code_form(request, next_, error=None)
        set_half_session_cookie(request, response, session)
        return response
    return _signed_in(request, session, next_)


def _sign_in_refused(request: Request, next_: str, login: str, refusal: Refused) -> HTMLResponse:
    code = {"account.locked": 423, "account.throttled": 429}.get(refusal.code, 401)
    return _sign_in_form(request, next_, login=login, error=_(refusal.message).format(
        **refusal.params), status_code=code)  # fmt: skip


def _signed_in(request: Request, session: SignedIn, next_: str) -> Response:
    """Into the site the person belongs to: staff to the console, merchants' users and
    applicants to the portal, whichever sign-in page they used."""
    home = CONSOLE if session.account.staff else PORTAL
    target = safe_next(next_, home)
    if site_home(target) != home:
        target = home
    if target == PORTAL and cashier_shop(session) is not None:
        target = CASHIER  # a cashier (of one shop) lands at the till
    if session.account.must_change_password:
        target = home + "/password"
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, session)
    clear_half_session_cookie(request, response)
    return response


def _code_form(
    request: Request, next_: str | None, *, error: str | None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    site = site_of(request)
    response = render(request, "console/sign_in_code.html", status_code=status_code,
                      error=error, next=safe_next(next_, site.home), csrf_token=token,
                      site=site)  # fmt: skip
    new_pre_session(request, response, token)
    return response


async def sign_in_code(request: Request) -> Response:
    """The second step of signing in, for an account with a second factor: the code."""
    await check_pre_session(request)
    form = await request.form()
    code, next_ = (str(form.get(k) or "") for k in ("code", "next"))
    half = request.cookies.get(HALF_COOKIE) or ""
    try:
        session = accounts(request).sign_in_code(half[:200], code[:20], address(request))
    except Refused as refusal:
        if refusal.code == "account.wrong_code":
            return _code_form(request, next_, error=_(refusal.message), status_code=401)
        response = _sign_in_refused(request, next_, "", refusal)
        clear_half_session_cookie(request, response)
        return response
    return _signed_in(request, session, next_)


async def sign_out(request: Request) -> Response:
    session = signed_in(request)
    if session is not None:
        await check_csrf(request, session)
        accounts(request).sign_out(session.token)
    response = RedirectResponse(site_of(request).home + "/sign-in", status_code=303)
    clear_session_cookie(request, response)
    return response


def _password_page(request: Request, session: SignedIn) -> HTMLResponse:
    must = session.account.must_change_password
    return page(request, session, "console/password.html", must_change=must, error=None,
                 done=False)  # fmt: skip


async def _change_password(request: Request, session: SignedIn) -> Response:
    await check_csrf(request, session)
    form = await request.form()
    current, new = (str(form.get(k) or "") for k in ("current", "new"))
    try:
        accounts(request).change_password(
            session.account.id, current[:256], new[:256], keep_session=session.token
        )
    except (Refused, InvalidInput) as refusal:
        return page(request, session, "console/password.html", status_code=400,
                     must_change=session.account.must_change_password,
                     error=_(refusal.message).format(**refusal.params), done=False)  # fmt: skip
    return RedirectResponse(site_of(request).home, status_code=303)


@router.get("/console/password", response_class=HTMLResponse)
def password_page(request: Request, session: Staff) -> HTMLResponse:
    return _password_page(request, session)


@router.post("/console/password", response_class=HTMLResponse)
async def change_password(request: Request, session: Staff) -> Response:
    return await _change_password(request, session)


@router.get("/portal/password", response_class=HTMLResponse)
def portal_password_page(request: Request, session: Member) -> HTMLResponse:
    return _password_page(request, session)


@router.post("/portal/password", response_class=HTMLResponse)
async def portal_change_password(request: Request, session: Member) -> Response:
    return await _change_password(request, session)


# Each site signs in and out under its own prefix, with the same handlers.
for _home in (CONSOLE, PORTAL):
    router.add_api_route(f"{_home}/sign-in", sign_in_page, methods=["GET"],
                         response_class=HTMLResponse)  # fmt: skip
    router.add_api_route(f"{_home}/sign-in", sign_in, methods=["POST"],
                         response_class=HTMLResponse)  # fmt: skip
    router.add_api_route(f"{_home}/sign-in/code", sign_in_code, methods=["POST"],
                         response_class=HTMLResponse)  # fmt: skip
    router.add_api_route(f"{_home}/sign-out", sign_out, methods=["POST"])


def handle_sign_in_first(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInFirst)
    return RedirectResponse(exc.location, status_code=303)


def handle_forbidden(request: Request, exc: Exception) -> Response:
    session = signed_in(request)
    site = site_of(request)
    at_home = session is not None and (
        session.account.staff if site.home == CONSOLE else session.account.portal
    )
    if session is None or not at_home:
        return render(request, "console/forbidden.html", status_code=403, site=site)
    return page(request, session, "console/forbidden.html", status_code=403)
