"""/v1 routes: the terminal fleet and each terminal's operators.

Operations provision, bind, ship, freeze and retire terminals (docs/terminals.md); a
merchant's keys see and staff the terminals bound to their merchant only. The master
key of a new terminal and the supervisor password of a newly bound one are in the
answer that made them, and never again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tillpoint.api.deps import Ops, Owner, Reader, Svc
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page, whole
from tillpoint.api.schemas import (
    PROBLEMS,
    BindIn,
    BoundTerminal,
    NoteIn,
    OperatorCode,
    OperatorIn,
    PasswordIn,
    ProvisionedTerminal,
    ReasonIn,
    TerminalIn,
    Tid,
)
from tillpoint.api.scope import scoped_mid, visible_terminal
from tillpoint.http.text import Text
from tillpoint.terminals.models import TerminalStatus
from tillpoint.terminals.views import (
    Bound,
    OperatorView,
    Provisioned,
    TerminalEventView,
    TerminalView,
)

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
NO_STORE = "no-store"  # answers that carry a secret are not to be cached anywhere


@router.get("/v1/terminals", tags=["terminals"], summary="List terminals")
def list_terminals(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[TerminalStatus | None, Query(description="Only this status")] = None,
    mid: Annotated[Text | None, Query(max_length=20, description="Only this merchant's")] = None,
) -> Page[TerminalView]:
    """Terminals in the order they were provisioned. A merchant's key lists only the
    terminals bound to its merchant."""
    rows = svc.tp.terminals.search(
        status=status,
        merchant_ref=scoped_mid(caller, mid),
        after_id=decode_cursor(cursor) or 0,
        limit=limit + 1,
    )
    return page(rows, limit, lambda t: t.id)


@router.get("/v1/terminals/{tid}", tags=["terminals"], summary="Show a terminal")
def get_terminal(tid: Tid, caller: Reader, svc: Svc) -> TerminalView:
    """One terminal (its master key's check value, never the key)."""
    return visible_terminal(svc, caller, tid)


@router.get("/v1/terminals/{tid}/history", tags=["terminals"], summary="A terminal's history")
def terminal_history(tid: Tid, caller: Reader, svc: Svc) -> Page[TerminalEventView]:
    """Every lifecycle change, oldest first: from, to, who, when, why."""
    visible_terminal(svc, caller, tid)
    return whole(svc.tp.terminals.history(tid))


# --- the fleet (ops_admin) ---------------------------------------------------------------


@router.post(
    "/v1/terminals",
    status_code=201,
    tags=["terminals"],
    summary="Provision a terminal",
    response_model=ProvisionedTerminal,
)
def provision(
    body: TerminalIn, caller: Ops, svc: Svc, response: Response, _key: Key
) -> Provisioned:
    """Take a terminal into stock and create its master key (TMK). The clear TMK is in
    this answer only, for injecting into the device: it is stored encrypted and never
    shown again."""
    response.headers["Cache-Control"] = NO_STORE
    return svc.tp.terminals.add(
        body.serial_no,
        body.model,
        caller.actor,
        capabilities=body.capabilities,
        mac_method=body.mac_method,
        tid=body.tid,
    )


@router.post(
    "/v1/terminals/{tid}/bind",
    tags=["terminals"],
    summary="Bind to a merchant",
    response_model=BoundTerminal,
)
def bind(tid: Tid, body: BindIn, caller: Ops, svc: Svc, response: Response, _key: Key) -> Bound:
    """Bind a terminal in stock to one approved merchant and one of its shops (一机一户).
    The supervisor's (00) new password is in this answer only."""
    response.headers["Cache-Control"] = NO_STORE
    return svc.tp.terminals.bind(tid, body.mid, caller.actor, shop=body.shop_number)


@router.post("/v1/terminals/{tid}/unbind", tags=["terminals"], summary="Unbind from its merchant")
def unbind(tid: Tid, body: ReasonIn, caller: Ops, svc: Svc, _key: Key) -> TerminalView:
    """Take a terminal back into stock (refused while its batch is unsettled); its
    operators go with it."""
    return svc.tp.terminals.unbind(tid, caller.actor, body.reason)


@router.post("/v1/terminals/{tid}/ship", tags=["terminals"], summary="Mark as shipped")
def ship(tid: Tid, body: NoteIn, caller: Ops, svc: Svc, _key: Key) -> TerminalView:
    """Mark a bound terminal as shipped to its merchant."""
    return svc.tp.terminals.ship(tid, caller.actor, body.note)


@router.post("/v1/terminals/{tid}/freeze", tags=["terminals"], summary="Freeze a terminal")
def freeze(tid: Tid, body: ReasonIn, caller: Ops, svc: Svc, _key: Key) -> TerminalView:
    """Freeze a terminal: it can no longer sign on or take payments."""
    return svc.tp.terminals.freeze(tid, caller.actor, body.reason)


@router.post("/v1/terminals/{tid}/unfreeze", tags=["terminals"], summary="Lift a freeze")
def unfreeze(tid: Tid, body: ReasonIn, caller: Ops, svc: Svc, _key: Key) -> TerminalView:
    """Lift a freeze: the terminal goes back to where it was."""
    return svc.tp.terminals.unfreeze(tid, caller.actor, body.reason)


@router.post("/v1/terminals/{tid}/retire", tags=["terminals"], summary="Retire a terminal")
def retire(tid: Tid, body: ReasonIn, caller: Ops, svc: Svc, _key: Key) -> TerminalView:
    """Retire a terminal in stock for good."""
    return svc.tp.terminals.retire(tid, caller.actor, body.reason)


# --- operators ---------------------------------------------------------------------------


@router.get("/v1/terminals/{tid}/operators", tags=["operators"], summary="A terminal's operators")
def list_operators(tid: Tid, caller: Reader, svc: Svc) -> Page[OperatorView]:
    """The supervisor (00) and the cashiers, by code (never their passwords)."""
    visible_terminal(svc, caller, tid)
    return whole(svc.tp.terminals.list_operators(tid))


@router.post(
    "/v1/terminals/{tid}/operators", status_code=201, tags=["operators"], summary="Add a cashier"
)
def add_operator(tid: Tid, body: OperatorIn, caller: Owner, svc: Svc, _key: Key) -> OperatorView:
    """Add a cashier (operator 001-999, a 4-digit password) to a bound terminal."""
    visible_terminal(svc, caller, tid)
    return svc.tp.terminals.add_operator(tid, body.code, body.password, caller.actor, body.name)


@router.post(
    "/v1/terminals/{tid}/operators/{code}/password",
    tags=["operators"],
    summary="Set an operator's password",
)
def set_operator_password(
    tid: Tid, code: OperatorCode, body: PasswordIn, caller: Owner, svc: Svc, _key: Key
) -> OperatorView:
    """A new password for an operator (the supervisor's included); it also unlocks an
    operator locked out after wrong passwords."""
    visible_terminal(svc, caller, tid)
    return svc.tp.terminals.set_operator_password(tid, code, body.password, caller.actor)


@router.delete(
    "/v1/terminals/{tid}/operators/{code}",
    status_code=204,
    tags=["operators"],
    summary="Remove a cashier",
)
def remove_operator(tid: Tid, code: OperatorCode, caller: Owner, svc: Svc) -> None:
    """Remove a cashier (the supervisor stays: change its password instead)."""
    visible_terminal(svc, caller, tid)
    svc.tp.terminals.remove_operator(tid, code, caller.actor)
