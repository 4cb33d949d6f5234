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
    HALF_COOKIE,
    SIGN_IN_PATH,
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
)
from tillpoint.web.console import ROUTERS
from tillpoint.web.page import page
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
for area_router in ROUTERS:
    router.include_router(area_router)


@router.get("/console/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form: email or mobile number, and password."""
    if signed_in(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _sign_in_form(request, next, login="", error=None)


def _sign_in_form(
    request: Request, next_: str | None, *, login: str, error: str | None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "console/sign_in.html", status_code=status_code, login=login,
                      error=error, next=safe_next(next_), csrf_token=token)  # fmt: skip
    new_pre_session(request, response, token)
    return response


@router.post("/console/sign-in", response_class=HTMLResponse)
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
    target = "/console/password" if session.account.must_change_password else safe_next(next_)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(request, response, session)
    clear_half_session_cookie(request, response)
    return response


def _code_form(
    request: Request, next_: str | None, *, error: str | None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "console/sign_in_code.html", status_code=status_code,
                      error=error, next=safe_next(next_), csrf_token=token)  # fmt: skip
    new_pre_session(request, response, token)
    return response


@router.post("/console/sign-in/code", response_class=HTMLResponse)
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


@router.post("/console/sign-out")
async def sign_out(request: Request) -> Response:
    session = signed_in(request)
    if session is not None:
        await check_csrf(request, session)
        accounts(request).sign_out(session.token)
    response = RedirectResponse(SIGN_IN_PATH, status_code=303)
    clear_session_cookie(request, response)
    return response


@router.get("/console/password", response_class=HTMLResponse)
def password_page(request: Request, session: Staff) -> HTMLResponse:
    must = session.account.must_change_password
    return page(request, session, "console/password.html", must_change=must, error=None,
                 done=False)  # fmt: skip


@router.post("/console/password", response_class=HTMLResponse)
async def change_password(request: Request, session: Staff) -> Response:
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
    return RedirectResponse("/console", status_code=303)


def handle_sign_in_first(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInFirst)
    return RedirectResponse(exc.location, status_code=303)


def handle_forbidden(request: Request, exc: Exception) -> Response:
    session = signed_in(request)
    if session is None or not session.account.staff:
        return render(request, "console/forbidden.html", status_code=403)
    return page(request, session, "console/forbidden.html", status_code=403)
