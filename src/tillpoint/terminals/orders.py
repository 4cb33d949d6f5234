"""Requests for another terminal: a merchant's owner or manager asks for one more
terminal at one of its open shops; the fleet team fulfils the request by binding a
terminal from stock to that shop (the binding and the decision are one unit of work),
or declines it with a reason.

An open request counts towards the merchant's terminal limit as a bound terminal does
(``merchants.limits.max_terminals``: a personal merchant has one), so a merchant cannot
ask for more than it may have. Every public method is one unit of work.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tillpoint.context import Context, check_actor, check_reason
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.paging import check_limit
from tillpoint.merchants.limits import max_terminals
from tillpoint.merchants.models import Merchant, MerchantStatus, Shop, ShopStatus
from tillpoint.merchants.services import find_shop, merchant_label
from tillpoint.terminals.models import OperatorRole, Terminal, TerminalOrder, TerminalOrderState
from tillpoint.terminals.services import TerminalService, check_password, find_terminal
from tillpoint.terminals.views import Allowance, FulfilledOrder, TerminalOrderView

State = TerminalOrderState
MAX_NOTE_CHARS = 500


def check_note(note: str | None) -> str | None:
    cleaned = " ".join((note or "").split())
    if len(cleaned) > MAX_NOTE_CHARS:
        raise InvalidInput(
            "terminal_order.note", N_("A note is at most {max} characters"), max=MAX_NOTE_CHARS
        )
    return cleaned or None


class TerminalOrderService:
    def __init__(self, ctx: Context, terminals: TerminalService) -> None:
        self.ctx = ctx
        self.terminals = terminals

    def request(
        self, merchant_id: int, shop_number: int, actor: str, note: str | None = None
    ) -> TerminalOrderView:
        """Ask for one more terminal at the merchant's open shop ``shop_number``.
        Refused when the merchant's terminals and open requests reach its limit."""
        actor = check_actor(actor)
        note = check_note(note)
        with self.ctx.db.transaction() as s:
            # Locked, so that two requests at once cannot both pass the limit.
            m = s.get(Merchant, merchant_id, with_for_update=True)
            if m is None:
                raise NotFound("merchant.not_found", N_("No merchant {ref}"), ref=merchant_id)
            if m.status is not MerchantStatus.APPROVED:
                raise Refused(
                    "terminal_order.merchant_not_approved",
                    N_("Merchant {ref} is {status}: only approved merchants get terminals"),
                    ref=merchant_label(m),
                    status=m.status,
                )
            shop = find_shop(s, m, shop_number)
            if shop.status is not ShopStatus.OPEN:
                raise Refused(
                    "terminal_order.shop_closed", N_("Shop {number} is closed"), number=shop.number
                )
            room = _allowance(s, m)
            if room.left == 0:
                raise Refused(
                    "terminal_order.limit",
                    N_(
                        "A {kind} merchant may have at most {allowed} terminal(s): this one "
                        "has {have} and {waiting} more requested"
                    ),
                    kind=m.kind,
                    allowed=room.allowed,
                    have=room.have,
                    waiting=room.waiting,
                )
            order = TerminalOrder(
                merchant_id=m.id, shop_id=shop.id, note=note, state=State.REQUESTED,
                created_by=actor, created_at=self.ctx.now(),
            )  # fmt: skip
            s.add(order)
            s.flush()
            return _views(s, [order])[0]

    def allowance(self, merchant_id: int) -> Allowance:
        """How many terminals the merchant may have, has, and has asked for."""
        with self.ctx.db.read() as s:
            m = s.get(Merchant, merchant_id)
            if m is None:
                raise NotFound("merchant.not_found", N_("No merchant {ref}"), ref=merchant_id)
            return _allowance(s, m)

    def for_merchant(
        self, merchant_id: int, *, before_id: int | None = None, limit: int = 50
    ) -> list[TerminalOrderView]:
        """The merchant's requests, newest first, before ``before_id``."""
        check_limit(limit)
        query = select(TerminalOrder).where(TerminalOrder.merchant_id == merchant_id)
        if before_id is not None:
            query = query.where(TerminalOrder.id < before_id)
        with self.ctx.db.read() as s:
            return _views(s, s.scalars(query.order_by(TerminalOrder.id.desc()).limit(limit)).all())

    def open(self, *, after_id: int = 0, limit: int = 50) -> list[TerminalOrderView]:
        """Requests waiting for the fleet team, oldest first, after ``after_id``."""
        check_limit(limit)
        query = (
            select(TerminalOrder)
            .where(TerminalOrder.state == State.REQUESTED, TerminalOrder.id > after_id)
            .order_by(TerminalOrder.id)
            .limit(limit)
        )
        with self.ctx.db.read() as s:
            return _views(s, s.scalars(query).all())

    def get(self, order_id: int) -> TerminalOrderView:
        with self.ctx.db.read() as s:
            return _views(s, [_find(s, order_id)])[0]

    def fulfil(
        self,
        order_id: int,
        tid: str,
        actor: str,
        *,
        supervisor_password: str | None = None,
        note: str | None = None,
    ) -> FulfilledOrder:
        """Bind terminal ``tid`` from stock to the request's merchant and shop, as
        ``TerminalService.bind`` does (its refusals apply: a terminal not in stock, the
        merchant's limit, a closed shop), and mark the request fulfilled."""
        if supervisor_password is not None:
            check_password(OperatorRole.SUPERVISOR, supervisor_password)
        actor = check_actor(actor)
        note = check_note(note)
        with self.ctx.db.transaction() as s:
            order = _find(s, order_id, lock=True)
            _check_open(order)
            t = find_terminal(s, tid, lock=True)
            m = s.get_one(Merchant, order.merchant_id, with_for_update=True)
            shop = s.get_one(Shop, order.shop_id)
            password = self.terminals.bind_in(s, t, m, shop.number, actor, supervisor_password)
            order.state, order.terminal_id = State.FULFILLED, t.id
            order.decided_by, order.decided_at, order.decision_note = actor, self.ctx.now(), note
            s.flush()
            return FulfilledOrder(order=_views(s, [order])[0], supervisor_password=password)

    def decline(self, order_id: int, actor: str, reason: str) -> TerminalOrderView:
        """Say no to a request, with the reason the merchant will read."""
        actor = check_actor(actor)
        why = check_reason(reason, required=True)
        with self.ctx.db.transaction() as s:
            order = _find(s, order_id, lock=True)
            _check_open(order)
            order.state = State.DECLINED
            order.decided_by, order.decided_at, order.decision_note = actor, self.ctx.now(), why
            s.flush()
            return _views(s, [order])[0]


def _count(s: Session, query: Select[int]) -> int:
    return int(s.scalar(query) or 0)


def _allowance(s: Session, m: Merchant) -> Allowance:
    have = _count(s, select(func.count()).select_from(Terminal).where(Terminal.merchant_id == m.id))
    waiting = _count(
        s,
        select(func.count())
        .select_from(TerminalOrder)
        .where(TerminalOrder.merchant_id == m.id, TerminalOrder.state == State.REQUESTED),
    )
    return Allowance(allowed=max_terminals(s, m), have=have, waiting=waiting)


def _find(s: Session, order_id: int, *, lock: bool = False) -> TerminalOrder:
    order = s.get(TerminalOrder, order_id, with_for_update=lock) if 0 < order_id < 2**31 else None
    if order is None:
        raise NotFound(
            "terminal_order.not_found", N_("No request for a terminal {id}"), id=order_id
        )
    return order


def _check_open(order: TerminalOrder) -> None:
    if order.state is not State.REQUESTED:
        raise Refused(
            "terminal_order.decided",
            N_("Request {id} is {state} already"),
            id=order.id,
            state=order.state,
        )


def _views(s: Session, orders: Sequence[TerminalOrder]) -> list[TerminalOrderView]:
    """Views of ``orders`` with their merchants, shops and terminals read in three
    queries, not three per request."""
    if not orders:
        return []
    merchants = {
        m.id: m
        for m in s.scalars(select(Merchant).where(Merchant.id.in_({o.merchant_id for o in orders})))
    }
    shops = {
        x.id: x for x in s.scalars(select(Shop).where(Shop.id.in_({o.shop_id for o in orders})))
    }
    bound = {o.terminal_id for o in orders if o.terminal_id is not None}
    tids = {
        row.id: row.tid
        for row in s.execute(select(Terminal.id, Terminal.tid).where(Terminal.id.in_(bound)))
    }
    views = []
    for o in orders:
        m, shop = merchants[o.merchant_id], shops[o.shop_id]
        views.append(
            TerminalOrderView(
                id=o.id, merchant_id=m.id, mid=m.mid or "", merchant_name=m.display_name,
                merchant_kind=m.kind,
                shop_number=shop.number, shop_name=shop.name, shop_address=shop.address,
                note=o.note, state=o.state, created_by=o.created_by, created_at=o.created_at,
                decided_by=o.decided_by, decided_at=o.decided_at,
                decision_note=o.decision_note,
                tid=tids.get(o.terminal_id) if o.terminal_id is not None else None,
            )
        )  # fmt: skip
    return views
