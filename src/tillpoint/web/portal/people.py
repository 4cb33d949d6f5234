"""The merchant's people in the portal (``/portal/people``): the accounts that sign in
to the portal for it (owners, managers, cashiers). Owners and managers see them; only an
owner changes them: adds a cashier (of one shop) or a manager, resets a password, locks
and unlocks an account. A password made for a person is shown once, on the page that
answers the form (never cached), and must be changed at their first sign-in.

An owner changes its own merchant's managers and cashiers only: another merchant's
account, or staff's, is answered 404 as no account at all; an owner's (its own
included) is the acquirer's to manage, and owners are neither made nor removed here.
The account service audits each change; a refusal is audited here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import PEOPLE_ROLES, AccountView, NewAccount, SignedIn
from tillpoint.access.models import AccountRole
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.merchants.models import ShopStatus
from tillpoint.merchants.views import ShopView
from tillpoint.web.page import (
    P_SHOPS,
    PAGE,
    actor,
    after_action,
    audit,
    page,
    page_link,
    portal_guard,
    query_int,
    read_form,
    tp,
    trouble,
)
from tillpoint.web.portal.shops import merchant_of

router = APIRouter(include_in_schema=False)

ShopsUser = Annotated[SignedIn, portal_guard(P_SHOPS)]
Owner = Annotated[SignedIn, portal_guard(P_SHOPS, AccountRole.OWNER)]

HERE = "/portal/people"
FIELDS = ("name", "login", "role", "shop")
# The roles an owner gives here, in the form's order.
ROLES = tuple(r for r in (AccountRole.CASHIER, AccountRole.MANAGER) if r in PEOPLE_ROLES)


def _shops(request: Request, mid: str) -> list[ShopView]:
    return tp(request).merchants.list_shops(mid)


def _people_page(
    request: Request,
    session: SignedIn,
    values: dict[str, str] | None = None,
    error: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    merchant_id, mid = merchant_of(session)
    rows = tp(request).accounts.people(merchant_id, after_id=query_int(request, "after"),
                                       limit=PAGE + 1)  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    shops = _shops(request, mid)
    return page(request, session, "portal/people/list.html", status_code=status_code,
                rows=rows, shops={x.id: x for x in shops},
                open_shops=[x for x in shops if x.status is ShopStatus.OPEN], roles=ROLES,
                values=values or dict.fromkeys(FIELDS, ""), error=error,
                owner=session.account.has(AccountRole.OWNER),
                next_href=page_link(request, after=rows[-1].id) if more else "")  # fmt: skip


@router.get(HERE, response_class=HTMLResponse)
def people_page(request: Request, session: ShopsUser) -> Response:
    return _people_page(request, session)


def _made(request: Request, session: SignedIn, made: NewAccount, headline: str) -> Response:
    """The page that shows a password made for a person: once, never cached."""
    response = page(request, session, "portal/people/made.html", made=made, headline=headline)
    response.headers["Cache-Control"] = "no-store"
    return response


def _login(text: str) -> tuple[str | None, str | None]:
    """The form's one login field: an email address, or else a mobile number."""
    if not text:
        return None, None
    return (text, None) if "@" in text else (None, text)


@router.post(HERE, response_class=HTMLResponse)
async def add_person(request: Request, session: Owner) -> Response:
    values = await read_form(request, session, *FIELDS, max_chars=254)
    merchant_id, mid = merchant_of(session)
    try:
        role = next((r for r in ROLES if r.value == values["role"]), None)
        if role is None:
            raise InvalidInput("portal.person_role", N_("Choose a cashier or a manager"))
        shop = None
        if role is AccountRole.CASHIER:  # only a cashier belongs to a shop
            if not (values["shop"].isascii() and values["shop"].isdigit()):
                raise InvalidInput("portal.cashier_shop", N_("Choose the cashier's shop"))
            shop = int(values["shop"][:6])
        email, mobile = _login(values["login"])
        made = tp(request).accounts.add_person(merchant_id, role, name=values["name"],
                                               actor=actor(session), email=email,
                                               mobile=mobile, shop_number=shop)  # fmt: skip
    except TillpointError as e:
        audit(request, session, "person added", f"merchant {mid}", e, merchant_id=merchant_id)
        return _people_page(request, session, values, e.localized(), 400)
    headline = _("Account {login} made.").format(login=made.account.login)
    return _made(request, session, made, headline)


@router.get(HERE + "/{account_id}", response_class=HTMLResponse)
def person_page(request: Request, session: ShopsUser, account_id: int) -> Response:
    merchant_id, mid = merchant_of(session)
    try:
        person = tp(request).accounts.person(merchant_id, account_id)
    except TillpointError as e:
        return trouble(request, session, e, HERE)
    shop = next((x for x in _shops(request, mid) if x.id == person.shop_id), None)
    return page(request, session, "portal/people/person.html", person=person, shop=shop,
                may_change=_may_change(session, person))  # fmt: skip


def _may_change(session: SignedIn, person: AccountView) -> bool:
    """Whether the page offers its owner's forms (the service decides in the end)."""
    return session.account.has(AccountRole.OWNER) and AccountRole.OWNER not in person.roles


def _back(account_id: int) -> str:
    return f"{HERE}/{account_id}"


def _refused(
    request: Request, session: SignedIn, account_id: int, what: str, error: TillpointError
) -> Response:
    merchant_id, _mid = merchant_of(session)
    audit(request, session, what, f"account {account_id}", error, merchant_id=merchant_id)
    if error.http_status == 404:
        return trouble(request, session, error, HERE)
    return after_action(_back(account_id), error.localized(), error=True)


@router.post(HERE + "/{account_id}/password", response_class=HTMLResponse)
async def reset_password(request: Request, session: Owner, account_id: int) -> Response:
    await read_form(request, session)
    merchant_id, _mid = merchant_of(session)
    try:
        made = tp(request).accounts.reset_password(str(account_id), actor(session),
                                                   within=merchant_id)  # fmt: skip
    except TillpointError as e:
        return _refused(request, session, account_id, "password reset", e)
    headline = _("New password of {login}.").format(login=made.account.login)
    return _made(request, session, made, headline)


def _act(
    request: Request, session: SignedIn, account_id: int, what: str,
    change: Callable[[int], object], done: str,
) -> Response:  # fmt: skip
    merchant_id, _mid = merchant_of(session)
    try:
        change(merchant_id)
    except TillpointError as e:
        return _refused(request, session, account_id, what, e)
    return after_action(_back(account_id), done)


@router.post(HERE + "/{account_id}/lock")
async def lock(request: Request, session: Owner, account_id: int) -> Response:
    await read_form(request, session)
    accounts, who = tp(request).accounts, actor(session)
    return _act(request, session, account_id, "account lock",
                lambda within: accounts.lock(str(account_id), who, by=session.account.id,
                                             within=within),
                _("Account locked: it cannot sign in."))  # fmt: skip


@router.post(HERE + "/{account_id}/unlock")
async def unlock(request: Request, session: Owner, account_id: int) -> Response:
    await read_form(request, session)
    accounts, who = tp(request).accounts, actor(session)
    return _act(request, session, account_id, "account unlock",
                lambda within: accounts.unlock(str(account_id), who, within=within),
                _("Account unlocked."))  # fmt: skip
