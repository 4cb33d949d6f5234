"""What every page of the console and of the merchant portal shares: its area of the
menu and who may enter it, the page around its content, forms read safely, the message
after an action, and paging.

- ``AREAS`` is the console's menu and its doors in one table: each area names the roles
  that may enter it (an admin enters all). A page's route takes ``area_guard(area)`` as
  its dependency, so the menu a person sees and the pages they may open never disagree.
- ``PORTAL_AREAS`` is the same for the merchant portal (``/portal``): merchant users and
  applicants, each area with its roles (``portal_guard``). Which site a page is on
  follows from its address (``site_of``); both share everything below.
- ``page()`` renders a template inside the layout, with the menu of the person's roles,
  their name, the session's CSRF token and the message left by the last action.
- ``read_form()`` checks the CSRF token first (403 and nothing changes without it), then
  gives the form's fields as bounded, stripped strings.
- ``after_action()`` answers a form post with a redirect (303) back to a page, carrying
  a one-time message (``tp_flash`` cookie) in the person's language: reloading the page
  never repeats the action.
- ``page_link()`` builds the link to the next page of a list: the same address and
  filters, with one parameter changed (lists page by keyset: ``after=<last id>``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from tillpoint.access.accounts import SignedIn, console_actor
from tillpoint.access.models import AccountRole
from tillpoint.app import Tillpoint
from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import N_, set_locale
from tillpoint.http.services import Services
from tillpoint.http.sse import event_stream
from tillpoint.merchants.documents import IMAGES, file_name
from tillpoint.merchants.views import DocumentView
from tillpoint.notify.events import EventService, EventView
from tillpoint.web.auth import PORTAL, address, check_csrf, member, site_home, staff
from tillpoint.web.render import NavItem, asked_locale, choose_locale, render

R = AccountRole


@dataclass(frozen=True)
class Area:
    """One entry of the console's menu: its label (an English message id), its address
    and the roles that may open it (none named: every member of staff)."""

    label: str
    href: str
    roles: tuple[AccountRole, ...] = ()
    also: tuple[str, ...] = ()  # other addresses whose pages belong to the area

    def holds(self, path: str, home: str) -> bool:
        """Whether the page at ``path`` is in this area (the site's home holds only
        itself)."""
        if path == self.href or (self.href != home and path.startswith(self.href + "/")):
            return True
        return any(path == a or path.startswith(a + "/") for a in self.also)

    def open_to(self, session: SignedIn) -> bool:
        return not self.roles or session.account.has(*self.roles)


HOME = Area(N_("Home"), "/console")
APPLICATIONS = Area(N_("Applications"), "/console/applications", (R.REVIEWER, R.RISK))
MERCHANTS = Area(N_("Merchants"), "/console/merchants", (R.REVIEWER, R.FLEET, R.RISK, R.FINANCE))
FLEET = Area(N_("Fleet"), "/console/terminals", (R.FLEET,))
RISK = Area(N_("Risk"), "/console/risk", (R.REVIEWER, R.RISK), also=("/console/payments",))
MONEY = Area(N_("Days and money"), "/console/days", (R.FINANCE,))
FEE_PLANS = Area(N_("Fee plans"), "/console/fee-plans", (R.FINANCE, R.REVIEWER, R.RISK))
USERS = Area(N_("Users"), "/console/users", (R.ADMIN,))
API_KEYS = Area(N_("API keys"), "/console/api-keys", (R.ADMIN,))
AUDIT = Area(N_("Audit log"), "/console/audit", (R.ADMIN,))
PASSWORD = Area(N_("Password"), "/console/password")
SECURITY = Area(N_("Security"), "/console/security")

AREAS: tuple[Area, ...] = (
    HOME, APPLICATIONS, MERCHANTS, FLEET, RISK, MONEY, FEE_PLANS, USERS, API_KEYS, AUDIT,
    PASSWORD, SECURITY,
)  # fmt: skip


# The merchant portal's menu, in its order (web/portal/).
P_HOME = Area(N_("Home"), "/portal", (R.OWNER, R.MANAGER, R.CASHIER))
P_PAYMENTS = Area(N_("Payments"), "/portal/payments", (R.OWNER, R.MANAGER, R.CASHIER))
P_REPORTS = Area(N_("Reports"), "/portal/reports", (R.OWNER, R.MANAGER, R.CASHIER))
P_SETTLEMENTS = Area(N_("Settlements"), "/portal/settlements", (R.OWNER, R.MANAGER))
P_SHOPS = Area(N_("Shops and terminals"), "/portal/shops", (R.OWNER, R.MANAGER),
               also=("/portal/terminals", "/portal/people"))  # fmt: skip
P_PRODUCTS = Area(N_("Products"), "/portal/products", (R.OWNER, R.MANAGER),
                  also=("/portal/product-categories",))  # fmt: skip
P_STOCK = Area(N_("Stock"), "/portal/stock", (R.OWNER, R.MANAGER))
P_CASHIER = Area(N_("Cashier"), "/cashier", (R.OWNER, R.MANAGER, R.CASHIER))
P_MEMBERS = Area(N_("Members"), "/portal/members", (R.OWNER, R.MANAGER),
                 also=("/portal/loyalty", "/portal/coupons"))  # fmt: skip
P_DEVELOPERS = Area(N_("Developers"), "/portal/developers", (R.OWNER,))
P_APPLICATION = Area(N_("Application"), "/portal/application", (R.APPLICANT, R.OWNER))
P_PASSWORD = Area(N_("Password"), "/portal/password")

PORTAL_AREAS: tuple[Area, ...] = (
    P_HOME, P_PAYMENTS, P_REPORTS, P_SETTLEMENTS, P_SHOPS, P_PRODUCTS, P_STOCK,
    P_MEMBERS, P_CASHIER, P_DEVELOPERS, P_APPLICATION, P_PASSWORD,
)  # fmt: skip


@dataclass(frozen=True)
class Site:
    """The console or the portal: its name beside the product's (an English message
    id), its home's address and its menu."""

    name: str
    home: str
    areas: tuple[Area, ...]


CONSOLE = Site(N_("Operations console"), "/console", AREAS)
PORTAL_SITE = Site(N_("Merchant portal"), PORTAL, PORTAL_AREAS)


def site_of(request: Request) -> Site:
    """The site the page asked for is on."""
    return PORTAL_SITE if site_home(request.url.path) == PORTAL else CONSOLE


def area_guard(area: Area, *narrower: AccountRole) -> Any:
    """The dependency of a route in ``area``: its roles, or ``narrower`` ones for an
    action not every visitor of the page may take. Use it in an alias:
    ``MerchantsStaff = Annotated[SignedIn, area_guard(MERCHANTS)]``."""
    return Depends(staff(*(narrower or area.roles)))


def portal_guard(area: Area, *narrower: AccountRole) -> Any:
    """``area_guard`` for a page of the merchant portal: the merchant's users (or the
    applicant) holding the area's roles, or ``narrower`` ones. The session's account
    names the merchant (``merchant_id``) and, for a cashier, the shop (``shop_id``):
    every read of the page is scoped by them."""
    return Depends(member(*(narrower or area.roles)))


def tp(request: Request) -> Tillpoint:
    """The application behind the pages (the same one the REST API serves)."""
    services: Services = request.app.state.services
    return services.tp


def actor(session: SignedIn) -> str:
    """Who did it, as the histories and the audit log name a person of the console."""
    return console_actor(session.account)


def cashier_shop(session: SignedIn) -> int | None:
    """The one shop a merchant's person is held to: a cashier's (one who is not also an
    owner or manager); None for everyone else (all the merchant's shops)."""
    account = session.account
    if R.CASHIER in account.roles and not account.has(R.OWNER, R.MANAGER):
        return account.shop_id
    return None


def nav(request: Request, session: SignedIn) -> list[NavItem]:
    """The menu of the areas this person may open; the one the page is in is marked."""
    path = request.url.path
    site = site_of(request)
    items = []
    for area in site.areas:
        if not area.open_to(session):
            continue
        items.append(NavItem(area.label, area.href, area.holds(path, site.home)))
    return items


PAGE = 50  # rows on a page of any list

FLASH_COOKIE = "tp_flash"
FLASH_MAX_CHARS = 400


def page(
    request: Request, session: SignedIn, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A console page for a signed-in person: the menu of their roles, their name, the
    session's CSRF token, and the message the last action left (shown once)."""
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))[:FLASH_MAX_CHARS]
    kind, _sep, text = flash.partition(":")
    preferred = session.account.locale
    asked = asked_locale(request)
    if preferred is not None and asked is not None and asked != preferred:
        # The switch link changes the language the person chose for themselves.
        preferred = tp(request).accounts.set_locale(session.account.id, asked).locale
    response = render(request, template, status_code=status_code, nav=nav(request, session),
                      preferred_locale=preferred, site=site_of(request),
                      who=session.account.name, csrf_token=session.csrf_token,
                      flash=text if kind in ("ok", "error") else "",
                      flash_kind=kind, **context)  # fmt: skip
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def speak(request: Request, session: SignedIn) -> None:
    """Messages made before a page renders (a form post's, a download's) in the
    person's language, as the page would choose it."""
    set_locale(choose_locale(request, session.account.locale)[0])


async def read_form(
    request: Request, session: SignedIn, *fields: str, max_chars: int = 500
) -> dict[str, str]:
    """The named fields of a posted form, stripped and cut at ``max_chars``, after the
    CSRF check (403 without the session's token). A field not sent is ``""``."""
    await check_csrf(request, session)
    speak(request, session)  # for after_action's message
    form = await request.form()
    values = {}
    for name in fields:
        value = form.get(name)
        values[name] = value.strip()[:max_chars] if isinstance(value, str) else ""
    return values


def after_action(to: str, message: str, *, error: bool = False) -> RedirectResponse:
    """A redirect (303) to ``to`` after a form post, leaving ``message`` (already in
    the person's language) to be shown once there."""
    response = RedirectResponse(to, status_code=303)
    kind = "error" if error else "ok"
    response.set_cookie(FLASH_COOKIE, quote(f"{kind}:{message}"[:FLASH_MAX_CHARS]), max_age=60,
                        path="/", httponly=True, samesite="lax")  # fmt: skip
    return response


def page_link(request: Request, **changes: object) -> str:
    """This page's address with ``changes`` made to its query (None removes one): the
    next page of a list, a filter, a sort."""
    query = {k: v for k, v in request.query_params.items() if k not in changes and k != "lang"}
    query.update({k: str(v) for k, v in changes.items() if v is not None})
    return f"{request.url.path}?{urlencode(query)}" if query else request.url.path


def query_text(request: Request, name: str, max_chars: int = 100) -> str:
    """A query parameter as bounded, stripped text (``""`` when absent)."""
    return (request.query_params.get(name) or "").strip()[:max_chars]


MAX_ID = 2**31 - 1  # ids are 32-bit in the database: a larger number is past them all


def query_int(request: Request, name: str, default: int = 0) -> int:
    """A query parameter as a non-negative integer (a keyset position, a count), at most
    ``MAX_ID``; anything else is ``default``."""
    value = request.query_params.get(name) or ""
    if not (value.isascii() and value.isdigit()):
        return default
    return min(int(value[:12]), MAX_ID)


def audit(
    request: Request,
    session: SignedIn,
    action: str,
    target: str,
    refusal: TillpointError | None = None,
    *,
    merchant_id: int | None = None,
    **detail: object,
) -> None:
    """A line in the audit log for what a person did in the console, or was refused
    (``console <action>``, with the refusal's status and code)."""
    if refusal is not None:
        detail["refused"] = refusal.code
    tp(request).access.audit(
        principal=None, action=f"console {action}", target=target,
        status_code=refusal.http_status if refusal is not None else 200,
        client_ip=address(request), detail=detail or None, actor=actor(session),
        merchant_id=merchant_id,
    )  # fmt: skip


E = TypeVar("E", bound=StrEnum)


def enum_query(request: Request, name: str, enum: type[E]) -> E | None:
    """A filter's value from the query, if it is one of ``enum``'s (else no filter)."""
    value = query_text(request, name, 30)
    return enum(value) if value in {e.value for e in enum} else None


def day_of(text: str) -> date | None:
    """A date typed as 2026-12-04 (a date field's value); None for anything else."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def trouble(request: Request, session: SignedIn, error: TillpointError, back: str) -> Response:
    """A page that says what is wrong (no such merchant or terminal, a malformed
    reference) and links back; 404 or 400."""
    speak(request, session)
    status = 404 if error.http_status == 404 else 400
    return page(request, session, "console/trouble.html", status_code=status,
                message=error.localized(), back=back)  # fmt: skip


FEED_MAX_S = 3600.0  # a live stream ends after an hour; the browser reconnects by itself


async def live_events(
    request: Request,
    merchant_id: int | None,
    last_event_id: str | None,
    timeout_s: float | None,
    messages: Callable[[list[EventView]], list[str]],
) -> StreamingResponse:
    """A page's live part: the payment events of one merchant (None: every merchant's)
    after ``Last-Event-ID`` (none: from the next), as server-sent events that
    ``messages`` writes, through the REST API's event stream machinery."""
    events = EventService(tp(request).ctx)
    position = (
        int(last_event_id)
        if last_event_id is not None and last_event_id.isdigit()
        else await asyncio.to_thread(events.latest_id)
    )
    return StreamingResponse(
        event_stream(request, events.feed(position, merchant_id), timeout_s or FEED_MAX_S,
                     messages),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )  # fmt: skip


def document_file(request: Request, doc: DocumentView, content: bytes) -> Response:
    """An application's document, for the merchant's people or operations: served as the
    type it was checked to be when uploaded (``nosniff``), images inline (unless
    ``?download=1``), PDFs as a download, never kept by a cache."""
    inline = doc.content_type in IMAGES and request.query_params.get("download") != "1"
    disposition = "inline" if inline else "attachment"
    return Response(content, media_type=doc.content_type, headers={
        "Content-Disposition": f'{disposition}; filename="{file_name(doc)}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store, private",
    })  # fmt: skip
