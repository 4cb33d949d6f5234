"""The console's terminal fleet: terminals by state, one terminal's page, and its
lifecycle (add to stock, bind to one merchant, ship, freeze, unfreeze, unbind, retire,
rekey). For the fleet team (and admins).

Keys never reach a page: adding a terminal or rekeying it makes a new master key (TMK)
that the service hands back once, in clear, for key injection. The console shows only
its check value (KCV) and drops the key; a key to inject into a device is made at the
key-injection station with ``tillpoint terminals rekey``, which prints it there once.
Operators' passwords are never shown either: the supervisor's is typed in when binding.

The list also shows merchants' open requests for another terminal (from the portal):
fulfilling one binds a terminal from stock to the requested shop; declining one takes
the reason the merchant will read. Both are audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.iso8583.mac import MacMethod
from tillpoint.terminals.models import TerminalStatus
from tillpoint.terminals.views import TerminalOrderView
from tillpoint.web.page import (
    FLEET,
    PAGE,
    after_action,
    area_guard,
    audit,
    enum_query,
    page,
    page_link,
    query_int,
    query_text,
    read_form,
    tp,
    trouble,
)
from tillpoint.web.page import actor as actor_of

router = APIRouter(include_in_schema=False)

Fleet = Annotated[SignedIn, area_guard(FLEET)]

HOME = "/console/terminals"
KEY_NOTE = N_(
    "Its master key is not shown here (check value {kcv}): make the key to inject at the "
    "key-injection station with: tillpoint terminals rekey {tid} --reason ..."
)


@router.get("/console/terminals", response_class=HTMLResponse)
def terminal_list(request: Request, session: Fleet) -> Response:
    q = query_text(request, "q", 40)
    state = enum_query(request, "state", TerminalStatus)
    rows = tp(request).terminals.search(
        status=state, text=q, after_id=query_int(request, "after"), limit=PAGE
    )
    next_href = page_link(request, after=rows[-1].id) if len(rows) == PAGE else None
    tabs = [(None, page_link(request, state=None, after=None))] + [
        (s, page_link(request, state=s.value, after=None)) for s in TerminalStatus
    ]
    return page(request, session, "console/fleet/list.html", rows=rows, q=q, state=state,
                tabs=tabs, next_href=next_href, mac_methods=list(MacMethod),
                orders=tp(request).terminal_orders.open(limit=PAGE))  # fmt: skip


@router.post("/console/terminals/requests/{order_id}/fulfil")
async def fulfil_request(request: Request, session: Fleet, order_id: int) -> Response:
    """Fulfil a merchant's request for a terminal: bind one from stock to its shop."""
    form = await read_form(request, session, "tid", "supervisor_password", "note")
    orders = tp(request).terminal_orders

    def fulfil() -> tuple[TerminalOrderView, str]:
        done = orders.fulfil(order_id, form["tid"][:12], actor_of(session),
                             supervisor_password=form["supervisor_password"],
                             note=form["note"] or None).order  # fmt: skip
        return done, _("Request {id} fulfilled: terminal {tid} bound to merchant {mid}, "
                       "shop {shop}.").format(id=done.id, tid=done.tid, mid=done.mid,
                                              shop=done.shop_number)  # fmt: skip

    return _decide(request, session, order_id, "fulfil", fulfil)


@router.post("/console/terminals/requests/{order_id}/decline")
async def decline_request(request: Request, session: Fleet, order_id: int) -> Response:
    """Decline a merchant's request for a terminal, with the reason it will read."""
    form = await read_form(request, session, "reason")
    orders = tp(request).terminal_orders

    def decline() -> tuple[TerminalOrderView, str]:
        done = orders.decline(order_id, actor_of(session), form["reason"])
        return done, _("Request {id} declined.").format(id=done.id)

    return _decide(request, session, order_id, "decline", decline)


def _decide(
    request: Request,
    session: SignedIn,
    order_id: int,
    what: str,
    decide: Callable[[], tuple[TerminalOrderView, str]],
) -> Response:
    """A decision on a request, audited either way (a refusal with its reason)."""
    target = f"terminal request {order_id}"
    try:
        done, message = decide()
    except TillpointError as e:
        audit(request, session, f"terminal request {what}", target, e)
        return after_action(HOME, e.localized(), error=True)
    audit(request, session, f"terminal request {what}", target, merchant_id=done.merchant_id,
          tid=done.tid)  # fmt: skip
    return after_action(HOME, message)


@router.post("/console/terminals/add")
async def add_terminal(request: Request, session: Fleet) -> Response:
    form = await read_form(request, session, "serial", "model", "mac", "sell_rule")
    try:
        mac = MacMethod(form["mac"]) if form["mac"] else MacMethod.ECB
    except ValueError:
        return after_action(HOME, _("Choose a MAC method from the list"), error=True)
    try:
        made = tp(request).terminals.add(
            form["serial"], form["model"], actor_of(session), mac_method=mac,
            require_operator_password=form["sell_rule"] != "open",
        )  # fmt: skip
    except TillpointError as e:
        return after_action(HOME, e.localized(), error=True)
    t = made.terminal
    del made  # the clear key goes no further than this line: never a page, never a log
    message = _("Terminal {tid} added to stock.").format(tid=t.tid) + " "
    return after_action(f"{HOME}/{t.tid}", message + _(KEY_NOTE).format(kcv=t.tmk_kcv, tid=t.tid))


@router.get("/console/terminals/{tid}", response_class=HTMLResponse)
def terminal_page(request: Request, session: Fleet, tid: str) -> Response:
    app = tp(request)
    try:
        t = app.terminals.get(tid[:12])
    except TillpointError as e:
        return trouble(request, session, e, HOME)
    return page(request, session, "console/fleet/detail.html", t=t,
                history=app.terminals.history(t.tid),
                operators=app.terminals.list_operators(t.tid))  # fmt: skip


# Each action: the form's fields, and what the service is asked.
ACTIONS = ("bind", "ship", "freeze", "unfreeze", "unbind", "retire", "rekey")


@router.post("/console/terminals/{tid}/{action}")
async def terminal_action(request: Request, session: Fleet, tid: str, action: str) -> Response:
    if action not in ACTIONS:
        raise HTTPException(status_code=404)
    form = await read_form(request, session, "reason", "merchant", "shop", "supervisor_password")
    tid = tid[:12]
    back = f"{HOME}/{tid}"
    service, who, why = tp(request).terminals, actor_of(session), form["reason"]
    try:
        if action == "bind":
            shop = form["shop"]
            if shop and not (shop.isascii() and shop.isdigit() and len(shop) <= 6):
                raise InvalidInput("console.shop_number", N_("A shop number is a whole number"))
            bound = service.bind(tid, form["merchant"], who, shop=int(shop) if shop else None,
                                 supervisor_password=form["supervisor_password"])  # fmt: skip
            t = bound.terminal
            done = _("Terminal {tid} bound to merchant {mid}, shop {shop}.").format(
                tid=t.tid, mid=t.mid, shop=t.shop_number)  # fmt: skip
        elif action == "rekey":
            made = service.rekey(tid, who, why)
            kcv = made.tmk_kcv
            del made  # as on adding: the clear key is dropped here
            done = _("Terminal {tid} has a new master key; the old one no longer works.").format(
                tid=tid) + " " + _(KEY_NOTE).format(kcv=kcv, tid=tid)  # fmt: skip
        else:
            t = {
                "ship": lambda: service.ship(tid, who, why or None),
                "freeze": lambda: service.freeze(tid, who, why),
                "unfreeze": lambda: service.unfreeze(tid, who, why),
                "unbind": lambda: service.unbind(tid, who, why),
                "retire": lambda: service.retire(tid, who, why),
            }[action]()
            done = _("Terminal {tid} is now {status}.").format(tid=t.tid, status=_(t.status.value))
    except TillpointError as e:
        return after_action(back, e.localized(), error=True)
    return after_action(back, done)
