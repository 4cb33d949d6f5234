"""The portal's shops and terminals (``/portal/shops``), for the merchant's owner and
managers: its shops with their terminals; one terminal's page with its operators (the
codes and passwords a cashier types on the POS: add one, change a password, remove one);
requests for another terminal; an owner opens a shop.

Everything is the signed-in account's merchant's: a terminal is looked up within it
(``within``), so another merchant's TID is answered 404 exactly as a TID nobody has.
Operators' passwords go into the service and nowhere else: never back to a page, a
message or the audit log. Every change, and every refusal of one, is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import AccountRole
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.merchants import validation
from tillpoint.merchants.models import ShopStatus
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

router = APIRouter(include_in_schema=False)

ShopsUser = Annotated[SignedIn, portal_guard(P_SHOPS)]
Owner = Annotated[SignedIn, portal_guard(P_SHOPS, AccountRole.OWNER)]

HERE = P_SHOPS.href  # /portal/shops
TERMINALS = "/portal/terminals"


def merchant_of(session: SignedIn) -> tuple[int, str]:
    """The id and MID of the signed-in person's merchant (an owner's or a manager's
    account always names an approved one)."""
    account = session.account
    if account.merchant_id is None or account.mid is None:
        raise HTTPException(status_code=403)
    return account.merchant_id, account.mid


def _shop_number(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise InvalidInput("portal.shop_number", N_("A shop number is a whole number"))
    return int(text)


@router.get(HERE, response_class=HTMLResponse)
def shops_page(request: Request, session: ShopsUser) -> Response:
    merchant_id, mid = merchant_of(session)
    app = tp(request)
    shops = app.merchants.list_shops(mid)
    rows = app.terminals.search(merchant_ref=mid, after_id=query_int(request, "after"),
                                limit=PAGE + 1)  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    by_shop = {shop.number: [t for t in rows if t.shop_number == shop.number] for shop in shops}
    before = query_int(request, "before") or None
    orders = app.terminal_orders.for_merchant(merchant_id, before_id=before, limit=PAGE + 1)
    older, orders = len(orders) > PAGE, orders[:PAGE]
    return page(request, session, "portal/shops/list.html", shops=shops, by_shop=by_shop,
                shown=len(rows), next_href=page_link(request, after=rows[-1].id) if more else "",
                orders=orders,
                older_href=page_link(request, before=orders[-1].id) if older else "",
                open_shops=[x for x in shops if x.status is ShopStatus.OPEN],
                allowance=app.terminal_orders.allowance(merchant_id),
                owner=session.account.has(AccountRole.OWNER))  # fmt: skip


def _act(
    request: Request,
    session: SignedIn,
    back: str,
    what: str,
    target: str,
    change: Callable[[], str],
) -> Response:
    """One change: its message (or why it was refused: nothing changed), back to
    ``back``; audited either way. A terminal that is not the merchant's is not found,
    as on its page."""
    merchant_id, _mid = merchant_of(session)
    try:
        done = change()
    except TillpointError as e:
        audit(request, session, what, target, e, merchant_id=merchant_id)
        if e.code == "terminal.not_found":
            return trouble(request, session, e, HERE)
        return after_action(back, e.localized(), error=True)
    audit(request, session, what, target, merchant_id=merchant_id)
    return after_action(back, done)


@router.post(HERE + "/add")
async def open_shop(request: Request, session: Owner) -> Response:
    form = await read_form(request, session, "name", "address", "city", "latitude", "longitude")
    _id, mid = merchant_of(session)

    def change() -> str:
        position = validation.position(form["latitude"], form["longitude"])
        shop = tp(request).merchants.add_shop(mid, form["name"], form["address"], actor(session),
                                              position=position, city=form["city"])  # fmt: skip
        return _("Shop {number} ({name}) opened.").format(number=shop.number, name=shop.name)

    return _act(request, session, HERE, "shop opened", f"merchant {mid} shop", change)


@router.post(HERE + "/terminal-requests")
async def request_terminal(request: Request, session: ShopsUser) -> Response:
    form = await read_form(request, session, "shop", "note")
    merchant_id, mid = merchant_of(session)

    def change() -> str:
        shop = _shop_number(form["shop"])
        order = tp(request).terminal_orders.request(merchant_id, shop, actor(session),
                                                    form["note"] or None)  # fmt: skip
        return _("Terminal requested for shop {number}: the acquirer's fleet team will "
                 "answer here.").format(number=order.shop_number)  # fmt: skip

    return _act(request, session, HERE, "terminal requested", f"merchant {mid}", change)


# --- one terminal and its operators -------------------------------------------------------


@router.get(TERMINALS + "/{tid}", response_class=HTMLResponse)
def terminal_page(request: Request, session: ShopsUser, tid: str) -> Response:
    merchant_id, mid = merchant_of(session)
    app = tp(request)
    try:
        t = app.terminals.get(tid[:12], within=merchant_id)
        operators = app.terminals.list_operators(t.tid, within=merchant_id)
    except TillpointError as e:
        return trouble(request, session, e, HERE)
    shop = next((x for x in app.merchants.list_shops(mid) if x.number == t.shop_number), None)
    return page(request, session, "portal/shops/terminal.html", t=t, shop=shop,
                operators=operators)  # fmt: skip


def _operator_target(tid: str, code: str) -> str:
    return f"terminal {tid} operator {code}"


@router.post(TERMINALS + "/{tid}/operators")
async def add_operator(request: Request, session: ShopsUser, tid: str) -> Response:
    form = await read_form(request, session, "code", "name", "password", max_chars=100)
    merchant_id, _mid = merchant_of(session)
    tid = tid[:12]

    def change() -> str:
        op = tp(request).terminals.add_operator(tid, form["code"], form["password"],
                                                actor(session), form["name"] or None,
                                                within=merchant_id)  # fmt: skip
        return _("Operator {code} added: they sign in at the terminal with the password "
                 "you chose.").format(code=op.code)  # fmt: skip

    back = f"{TERMINALS}/{tid}"
    return _act(request, session, back, "operator added",
                _operator_target(tid, form["code"][:3]), change)  # fmt: skip


@router.post(TERMINALS + "/{tid}/operators/{code}/password")
async def operator_password(request: Request, session: ShopsUser, tid: str, code: str) -> Response:
    form = await read_form(request, session, "password", max_chars=100)
    merchant_id, _mid = merchant_of(session)
    tid, code = tid[:12], code[:3]

    def change() -> str:
        tp(request).terminals.set_operator_password(tid, code, form["password"], actor(session),
                                                    within=merchant_id)  # fmt: skip
        return _("Operator {code} has a new password (and is unlocked).").format(code=code)

    return _act(request, session, f"{TERMINALS}/{tid}", "operator password changed",
                _operator_target(tid, code), change)  # fmt: skip


@router.post(TERMINALS + "/{tid}/operators/{code}/remove")
async def remove_operator(request: Request, session: ShopsUser, tid: str, code: str) -> Response:
    await read_form(request, session)
    merchant_id, _mid = merchant_of(session)
    tid, code = tid[:12], code[:3]

    def change() -> str:
        tp(request).terminals.remove_operator(tid, code, actor(session), within=merchant_id)
        return _("Operator {code} removed.").format(code=code)

    return _act(request, session, f"{TERMINALS}/{tid}", "operator removed",
                _operator_target(tid, code), change)  # fmt: skip
