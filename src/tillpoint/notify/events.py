"""Events: what happened to a merchant's payments, as webhooks and live streams tell it.

There is no table of its own. Every transition of a payment is written to
``payment_events`` in the payment's own unit of work, so that table is the outbox: an
event is one of its rows, named by its id, with a type derived from the payment's kind
and the status it reached (``EVENT_TYPES``, docs/webhooks.md).

An event's ``data`` is the payment as it is when the event is read, not a snapshot: the
row records only the transition, and a payment rebuilt "as it was" would be partly
invented (amount refunded, fee, the wallet of a QR payment). The event itself says what
happened (``type``, ``from_status``, ``to_status``, ``created_at``). Webhooks read each
event within about a second and then fix its body, so what they send is, in practice,
the payment as of the event; the API's event list shows the payment as it is now.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound
from tillpoint.core.i18n import N_
from tillpoint.core.outbox import GapTracker
from tillpoint.core.paging import check_limit
from tillpoint.payments.checkouts import CHECKOUT_EVENT_TYPES
from tillpoint.payments.models import Payment, PaymentEvent, PaymentKind, PaymentStatus
from tillpoint.payments.views import PaymentView, payment_views

S = PaymentStatus
# What reaching a status means, for a payment (sale, pre-authorisation, completion).
_PAYMENT_TYPES = {
    S.PENDING: "payment.pending",  # a merchant-presented QR code waits for the customer
    S.APPROVED: "payment.succeeded",  # also a void undone by a reversal: the sale stands
    S.DECLINED: "payment.failed",
    S.TIMED_OUT: "payment.failed",
    S.EXPIRED: "payment.expired",
    S.CANCELED: "payment.canceled",
    S.VOIDED: "payment.voided",
    S.REVERSED: "payment.reversed",
    S.PARTLY_REFUNDED: "payment.refunded",
    S.REFUNDED: "payment.refunded",
    S.COMPLETED: "payment.captured",  # a pre-authorisation was completed
}
# A refund is a payment of its own (kind refund): its outcome, or its undoing.
_REFUND_TYPES = {
    S.APPROVED: "refund.succeeded",
    S.DECLINED: "refund.failed",
    S.TIMED_OUT: "refund.failed",
    S.VOIDED: "refund.reversed",
    S.REVERSED: "refund.reversed",
}
REFUND_OTHER = "refund.updated"  # any other change of a refund (none happens today)
AUTHORIZED = "payment.authorized"  # a pre-authorisation's hold is in place (again)


def event_type(kind: PaymentKind, to: PaymentStatus) -> str:
    """The type of the event that a payment of ``kind`` reaching ``to`` is."""
    if kind is PaymentKind.REFUND:
        return _REFUND_TYPES.get(to, REFUND_OTHER)
    if kind is PaymentKind.PREAUTH and to is S.APPROVED:
        return AUTHORIZED
    return _PAYMENT_TYPES[to]


# Every type there is, and which (kind, status) pairs make each (for filtering in SQL).
_PAIRS: dict[str, list[tuple[PaymentKind, PaymentStatus]]] = {}
for _kind in PaymentKind:
    for _status in PaymentStatus:
        _PAIRS.setdefault(event_type(_kind, _status), []).append((_kind, _status))
PAYMENT_EVENT_TYPES: tuple[str, ...] = tuple(sorted(_PAIRS))
#: Every type a webhook endpoint can ask for: the payments' and the checkouts' (the
#: cashier link's, payments/checkouts.py, listed by /v1/checkout_events).
EVENT_TYPES: tuple[str, ...] = tuple(sorted((*_PAIRS, *CHECKOUT_EVENT_TYPES)))


def check_event_type(name: str) -> str:
    if name not in EVENT_TYPES:
        raise InvalidInput(
            "event.type_unknown",
            N_("Unknown event type {type}: see docs/webhooks.md for the list"),
            type=name,
        )
    return name


class EventView(BaseModel):
    """Something that happened to one of a merchant's payments."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(description="Ascending: a later event has a larger id")
    object: Literal["event"] = "event"
    type: str = Field(examples=["payment.succeeded"])
    created_at: datetime = Field(description="When it happened")
    mid: str
    from_status: PaymentStatus | None = Field(
        description="The payment's host status before (none: the payment is new)"
    )
    to_status: PaymentStatus = Field(description="The host status it reached")
    data: PaymentView = Field(
        description="The payment as it was when the event was read (a webhook's body is "
        "fixed about a second after the event), so data.host_status may be later still"
    )


def _views(s: Session, rows: Sequence[tuple[PaymentEvent, Payment]]) -> list[EventView]:
    payments = {p.id: p for _e, p in rows}
    views = {v.id: v for v in payment_views(s, payments.values())} if payments else {}
    return [
        EventView(
            id=e.id,
            type=event_type(p.kind, e.to_status),
            created_at=e.at,
            mid=views[p.id].mid,
            from_status=e.from_status,
            to_status=e.to_status,
            data=views[p.id],
        )
        for e, p in rows
    ]


_EVENTS = select(PaymentEvent, Payment).join(Payment, Payment.id == PaymentEvent.payment_id)


def load_events(s: Session, ids: Iterable[int]) -> list[EventView]:
    """The events with these ids, oldest first."""
    wanted = list(ids)
    if not wanted:
        return []
    query = _EVENTS.where(PaymentEvent.id.in_(wanted)).order_by(PaymentEvent.id)
    return _views(s, s.execute(query).all())


def heads_after(s: Session, position: int, limit: int) -> list[tuple[int, int]]:
    """(event id, merchant id) of the events after ``position``, oldest first: every
    merchant's, so that a reader can see holes in the ids (``GapTracker``)."""
    query = (
        select(PaymentEvent.id, Payment.merchant_id)
        .join(Payment, Payment.id == PaymentEvent.payment_id)
        .where(PaymentEvent.id > position)
        .order_by(PaymentEvent.id)
        .limit(limit)
    )
    return [(int(i), int(m)) for i, m in s.execute(query)]


class EventFeed:
    """Each new event exactly once, for one reader (a live stream): those of one
    merchant, or of all for ``merchant_id=None``."""

    def __init__(
        self,
        ctx: Context,
        position: int,
        merchant_id: int | None = None,
        gaps: GapTracker | None = None,
    ) -> None:
        self.ctx = ctx
        self.position = position
        self.merchant_id = merchant_id
        self.gaps = gaps or GapTracker()
        self._sent: set[int] = set()  # ids after ``position`` already handed out

    def poll(self, limit: int = 100) -> list[EventView]:
        with self.ctx.db.read() as s:
            heads = heads_after(s, self.position, limit)
            wanted = [i for i, m in heads if i not in self._sent and self.merchant_id in (None, m)]
            events = load_events(s, wanted)
        self._sent.update(wanted)
        self.position = self.gaps.advance(self.position, [i for i, _m in heads])
        self._sent = {i for i in self._sent if i > self.position}
        return events


class EventService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list_events(
        self,
        *,
        merchant_id: int | None = None,
        type: str | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[EventView]:
        """Newest first; ``merchant_id`` keeps one merchant's, ``type`` one type."""
        check_limit(limit)
        query = _EVENTS.order_by(PaymentEvent.id.desc()).limit(limit)
        if merchant_id is not None:
            query = query.where(Payment.merchant_id == merchant_id)
        if type is not None:
            if check_event_type(type) in CHECKOUT_EVENT_TYPES:
                raise InvalidInput(
                    "event.checkout_type",
                    N_("Checkout events are listed apart: /v1/checkout_events"),
                )
            pairs = _PAIRS[type]
            query = query.where(
                or_(*(and_(Payment.kind == k, PaymentEvent.to_status == st) for k, st in pairs))
            )
        if before_id is not None:
            query = query.where(PaymentEvent.id < before_id)
        with self.ctx.db.read() as s:
            return _views(s, s.execute(query).all())

    def get(self, event_id: int, *, merchant_id: int | None = None) -> EventView:
        """One event; another merchant's is not found."""
        query = _EVENTS.where(PaymentEvent.id == event_id)
        if merchant_id is not None:
            query = query.where(Payment.merchant_id == merchant_id)
        with self.ctx.db.read() as s:
            found = _views(s, s.execute(query).all())
        if not found:
            raise NotFound("event.not_found", N_("No event {id}"), id=event_id)
        return found[0]

    def latest_id(self) -> int:
        """The newest event's id (0: none yet): where a live stream starts."""
        with self.ctx.db.read() as s:
            return int(s.scalar(select(func.max(PaymentEvent.id))) or 0)

    def feed(self, position: int, merchant_id: int | None = None) -> EventFeed:
        """The events after ``position``, each once, as they are committed."""
        return EventFeed(self.ctx, position, merchant_id)
