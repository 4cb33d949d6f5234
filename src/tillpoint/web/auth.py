"""Who is at the browser: the session cookie, the CSRF check and the role guards that
every console (and later portal and cashier) page goes through.

- The cookie ``tp_session`` holds the session's random token: HttpOnly, SameSite=Lax,
  path ``/``, Secure when the site is reached over HTTPS (the request's scheme, or a
  ``TILLPOINT_PUBLIC_URL`` that starts with ``https``).
- Every POST names its session's CSRF token in the form field ``csrf_token`` (or the
  ``X-CSRF-Token`` header); without it, or with another, the answer is 403 and nothing
  changes.
- ``staff(*roles)`` lets in a signed-in member of the acquirer's staff holding one of
  ``roles`` (an admin holds them all); anyone else signed in gets 403, and a browser
  that is not signed in is sent to the sign-in page, with where it was going.
- ``member(*roles)`` does the same for the merchant portal (``/portal``): a merchant's
  user (owner, manager, cashier) or an applicant, holding one of ``roles``; staff get
  403 there. An applicant whose application was approved becomes its merchant's owner
  on the first page they open after (``AccountService.promote_applicant``).

The console and the portal are two sites on one sign-in: each has its own sign-in,
sign-out and password pages under its prefix (``site_home``), and one session cookie.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response

from tillpoint.access.accounts import (
    HALF_SESSION,
    SESSION_MAX,
    AccountService,
    NeedsCode,
    SignedIn,
)
from tillpoint.access.models import AccountRole
from tillpoint.http.services import Services, client_ip

COOKIE = "tp_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CONSOLE = "/console"
PORTAL = "/portal"
CASHIER = "/cashier"  # the till (web/cashier/): the portal's people, signed in there
SIGN_IN_PATH = "/console/sign-in"
PASSWORD_PATH = "/console/password"  # noqa: S105 (an address, not a password)


def site_home(path: str) -> str:
    """The site a path is on: ``/portal`` for the merchant portal and the cashier (whose
    people sign in there), else ``/console``. A query (``?shop=1``) is not the path."""
    path = path.partition("?")[0]
    for home in (PORTAL, CASHIER):
        if path == home or path.startswith(home + "/"):
            return PORTAL
    return CONSOLE


class SignInFirst(Exception):
    """Not signed in: the page answers with a redirect (303) to the sign-in page, which
    brings the browser back to ``next_path`` after."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path

    @property
    def location(self) -> str:
        return sign_in_url(self.next_path)


class ChangePasswordFirst(SignInFirst):
    """Signed in with a password made for the person (a new account, a reset): every
    page but the password's sends them there first."""

    @property
    def location(self) -> str:
        return site_home(self.next_path) + "/password"


class Forbidden(Exception):
    """Signed in, but not allowed (a role, a missing or wrong CSRF token): 403, and
    nothing changes."""


def accounts(request: Request) -> AccountService:
    svc: Services = request.app.state.services
    return svc.tp.accounts


def address(request: Request) -> str:
    return client_ip(request)


def signed_in(request: Request) -> SignedIn | None:
    """The session the request's cookie names, if it is good."""
    token = request.cookies.get(COOKIE)
    return accounts(request).session(token) if token else None


def set_session_cookie(request: Request, response: Response, session: SignedIn) -> None:
    response.set_cookie(
        COOKIE,
        session.token,
        max_age=int(SESSION_MAX.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=_https(request),
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=_https(request))


def _https(request: Request) -> bool:
    svc: Services = request.app.state.services
    public = svc.tp.ctx.settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def next_path(request: Request) -> str:
    """Where to come back to after signing in: this page (a path on this site only)."""
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


def safe_next(value: str | None, home: str = CONSOLE) -> str:
    """A ``next`` parameter, if it is a path on this site; else the site's home."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return home


def sign_in_url(next_: str) -> str:
    """The sign-in page of the site ``next_`` is on, coming back to ``next_`` after."""
    return f"{site_home(next_)}/sign-in?next={quote(next_, safe='/')}"


async def presented_csrf(request: Request) -> str | None:
    """The CSRF token a request echoes: its header, or its form's field."""
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.method == "POST":
        value = (await request.form()).get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    return presented


async def check_csrf(request: Request, session: SignedIn) -> None:
    """403 unless the request echoes its session's CSRF token."""
    if not AccountService.csrf_ok(session, await presented_csrf(request)):
        raise Forbidden


def sign_in_path(request: Request) -> str:
    """The sign-in page of the site the request is on."""
    return site_home(request.url.path) + "/sign-in"


# Before there is a session, the sign-in form (and the portal's sign-up) is guarded by a
# token of its own in a short-lived cookie, which the form must echo (login CSRF).
PRE_COOKIE = "tp_signin"
PRE_MAX_AGE_S = 3600


def new_pre_session(
    request: Request, response: Response, token: str, path: str | None = None
) -> None:
    """The form's own token, in a cookie sent back only to the form's ``path`` (the
    site's sign-in pages; the portal's sign-up form names its own, so that the two
    forms' cookies never meet)."""
    response.set_cookie(PRE_COOKIE, token, max_age=PRE_MAX_AGE_S,
                        path=path or sign_in_path(request), httponly=True, samesite="lax",
                        secure=_https(request))  # fmt: skip


async def check_pre_session(request: Request) -> None:
    expected = request.cookies.get(PRE_COOKIE) or ""
    presented = await presented_csrf(request) or ""
    if not expected or not hmac.compare_digest(expected.encode(), presented.encode()):
        raise Forbidden


# Between a right password and the code of a second factor, the browser holds a signed
# half-session (``AccountService.sign_in``'s NeedsCode): not a session, only the right to
# give the code, for a few minutes, on the sign-in pages.
HALF_COOKIE = "tp_half"


def set_half_session_cookie(request: Request, response: Response, half: NeedsCode) -> None:
    response.set_cookie(HALF_COOKIE, half.token, max_age=int(HALF_SESSION.total_seconds()),
                        path=sign_in_path(request), httponly=True, samesite="lax",
                        secure=_https(request))  # fmt: skip


def clear_half_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(HALF_COOKIE, path=sign_in_path(request), httponly=True, samesite="lax",
                           secure=_https(request))  # fmt: skip


def staff(*roles: AccountRole) -> Callable[[Request], SignedIn]:
    """A dependency: the signed-in staff member holding one of ``roles``."""

    def guard(request: Request) -> SignedIn:
        session = signed_in(request)
        if session is None:
            raise SignInFirst(next_path(request))
        account = session.account
        if not account.staff or (roles and not account.has(*roles)):
            raise Forbidden
        if account.must_change_password and request.url.path != PASSWORD_PATH:
            raise ChangePasswordFirst(next_path(request))
        return session

    return guard


Staff = Annotated[SignedIn, Depends(staff())]


def member(*roles: AccountRole) -> Callable[[Request], SignedIn]:
    """A dependency: the signed-in merchant user or applicant holding one of ``roles``
    (none named: any of them)."""

    def guard(request: Request) -> SignedIn:
        session = signed_in(request)
        if session is None:
            raise SignInFirst(next_path(request))
        account = session.account
        if AccountRole.APPLICANT in account.roles and account.mid is not None:
            promoted = accounts(request).promote_applicant(account.id)
            session = replace(session, account=promoted)
            account = promoted
        if not account.portal or (roles and not account.has(*roles)):
            raise Forbidden
        if account.must_change_password and request.url.path != PORTAL + "/password":
            raise ChangePasswordFirst(next_path(request))
        return session

    return guard


Member = Annotated[SignedIn, Depends(member())]
