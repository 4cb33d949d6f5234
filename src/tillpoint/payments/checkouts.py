"""The cashier link (收银联动, protocol section 4.13): a shop's till hands an amount to one
of the shop's terminals, the terminal pays it with a sale, and the till is told.

A checkout is made by the REST API for one terminal, with the till's own reference
(unique per merchant: the same reference again gives the same checkout back) and a
deadline. The terminal, idle and signed on, asks the host whether a checkout waits for
it (0820, 60.3 = ``360``: ``waiting``, one indexed read), takes the card and sends a
sale naming the checkout in field 62. States:

    pending -> processing -> paid
                          -> pending again (the sale failed; ``attempts`` counts it)
                          -> failed (the MAX_ATTEMPTS-th sale failed)
    pending -> canceled (by the till) | expired (its deadline passed: ``expire_due``)

Only the database decides who pays a checkout, whichever host process a sale reaches:

- ``claim``: before the sale goes to the network, one conditional UPDATE moves the
  checkout from pending to processing and writes the sale's batch and STAN on it. Of
  two sales naming it at once, one updates it; the other finds it processing (or paid)
  and gets 94.
- ``write_checkout_payments``: the sale's own unit of work (the payment, its event,
  entry and answer, through the group commit) locks the checkout and settles it, only
  while the claim still stands: paid by that payment, or pending again (failed after
  MAX_ATTEMPTS) with the response code. An approved sale whose claim lapsed meanwhile
  is recorded as not charged (98) and reversed at the network, as a call taken for
  reversal is.
- A claim whose sale never reached our books (the host stopped in between) lapses once
  the network's time-out and ``CLAIM_GRACE`` have passed: the checkout is offered, and
  can be claimed, again.
- A terminal's reversal of the sale that paid a checkout (the terminal never saw the
  answer) puts the checkout back to pending, as a failed sale (``reopen_reversed``).

Each outcome the till hears of (paid, a sale failed, canceled, expired) is a row of
``checkout_events``, written in the same unit of work: the outbox webhooks read.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Select, bindparam, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.core.paging import check_limit
from tillpoint.merchants.limits import limits_for
from tillpoint.merchants.models import Merchant, MerchantStatus, Shop, ShopStatus
from tillpoint.payments import rules
from tillpoint.payments.models import (
    Checkout,
    CheckoutEvent,
    CheckoutStatus,
    PaymentStatus,
)
from tillpoint.payments.rules import Refusal
from tillpoint.payments.writer import Book, NewPayment, Recorded
from tillpoint.terminals.models import Terminal, TerminalStatus

S = CheckoutStatus
DEFAULT_EXPIRY = timedelta(minutes=10)
EXPIRY_RANGE = (timedelta(minutes=1), timedelta(hours=2))
MAX_ATTEMPTS = 3  # failed sales before a checkout fails for good
CLAIM_GRACE = timedelta(seconds=30)  # beyond the network's time-out, before a claim lapses
REF_BYTES = 32  # field 62 of 4.13: ASCII, at most 32 bytes
MAX_REFERENCE_CHARS = 64
PAYABLE = (TerminalStatus.BOUND, TerminalStatus.SHIPPED, TerminalStatus.ACTIVE)

PAID, FAILED, CANCELED, EXPIRED = (
    "checkout.paid", "checkout.failed", "checkout.canceled", "checkout.expired"
)  # fmt: skip
#: Every checkout event type: what each says is in docs/webhooks.md.
CHECKOUT_EVENT_TYPES = (CANCELED, EXPIRED, FAILED, PAID)
OPEN_SQL = "status IN ('pending', 'processing')"  # as the poll's partial index says it


# --- what the service hands back ---------------------------------------------------------


class CheckoutView(BaseModel):
    """A checkout as the till sees it."""

    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["checkout"] = "checkout"
    status: CheckoutStatus = Field(
        description="pending (waits for the terminal), processing (a sale naming it is under "
        "way), paid, failed (its sales were declined too often), canceled, expired"
    )
    amount_minor: int = Field(description="In fen")
    currency: str
    reference: str = Field(description="The till's own (order number); one checkout each")
    checkout_ref: str = Field(description="What the terminal sees and sends back (field 62)")
    mid: str
    tid: str
    shop_number: int
    expires_at: datetime = Field(description="Not paid by then: expired")
    attempts: int = Field(description="Sales naming it that failed so far")
    last_response_code: str | None = Field(description="The last sale's answer (field 39)")
    payment_id: int | None = Field(description="The sale that paid it")
    created_at: datetime
    updated_at: datetime


class CheckoutEventView(BaseModel):
    """Something the till hears of a checkout: paid, a sale failed, canceled, expired."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(description="Ascending, numbered apart from payment events")
    object: Literal["checkout_event"] = "checkout_event"
    type: str = Field(examples=[PAID])
    created_at: datetime
    mid: str
    status: CheckoutStatus = Field(description="The status the checkout reached")
    response_code: str | None = Field(description="The sale's answer, for a sale's outcome")
    payment_id: int | None = Field(description="The sale this event is about, if any")
    data: CheckoutView = Field(description="The checkout as it was when the event was read")


@dataclass(frozen=True, slots=True)
class Offer:
    """What the poll answers: the oldest checkout waiting for the terminal."""

    checkout_id: int
    checkout_ref: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Claim:
    """A sale's hold on a checkout: the terminal's own request (batch, STAN) names it."""

    checkout_id: int
    batch_no: str
    stan: str


def check_checkout_ref(raw: bytes) -> str | None:
    """Field 62 of a sale naming a checkout, as text; None when it is not printable
    ASCII of 1 to 32 bytes."""
    if not 0 < len(raw) <= REF_BYTES or not all(0x21 <= b <= 0x7E for b in raw):
        return None
    return raw.decode("ascii")


def claim_lapse(ctx: Context) -> timedelta:
    """How long a claim stands without its sale on our books: the network's time-out
    and ``CLAIM_GRACE`` (by then the call's note is reversed by the recovery pass)."""
    return timedelta(milliseconds=ctx.settings.network_timeout_ms) + CLAIM_GRACE


# --- the host's statements ---------------------------------------------------------------

_WAITING = (
    select(
        Checkout.id, Checkout.checkout_ref, Checkout.amount_minor, Checkout.currency,
        Checkout.status, Checkout.expires_at, Checkout.claimed_at,
    )
    .where(Checkout.terminal_id == bindparam("terminal_id"), text(OPEN_SQL))
    .order_by(Checkout.id)
    .limit(8)
)  # fmt: skip
_CLAIM = (
    update(Checkout)
    .where(
        Checkout.terminal_id == bindparam("of_terminal"),
        Checkout.checkout_ref == bindparam("ref"),
        Checkout.amount_minor == bindparam("amount"),
        Checkout.currency == bindparam("in_currency"),
        Checkout.expires_at > bindparam("now"),
        (Checkout.status == S.PENDING)
        | ((Checkout.status == S.PROCESSING) & (Checkout.claimed_at < bindparam("lapsed")))
        # the same request again (a retransmission racing itself): its claim stands
        | (
            (Checkout.status == S.PROCESSING)
            & (Checkout.claim_batch_no == bindparam("batch_no"))
            & (Checkout.claim_stan == bindparam("stan"))
        ),
    )
    .values(
        status=S.PROCESSING,
        claim_batch_no=bindparam("batch_no"),
        claim_stan=bindparam("stan"),
        claimed_at=bindparam("now"),
        updated_at=bindparam("now"),
    )
    .returning(Checkout.id)
)
_NAMED = select(
    Checkout.terminal_id, Checkout.status, Checkout.amount_minor, Checkout.currency,
    Checkout.expires_at, Checkout.claimed_at,
).where(Checkout.checkout_ref == bindparam("ref"))  # fmt: skip
_EVENT = insert(CheckoutEvent)


def first_offered(rows: Iterable[tuple[Any, ...]], now: datetime, lapsed: datetime) -> Offer | None:
    """The oldest of a terminal's open checkouts (``_WAITING``'s rows) that may be
    offered: pending and not past its deadline, or processing under a lapsed claim."""
    for checkout_id, ref, amount, currency, status, expires_at, claimed_at in rows:
        if expires_at <= now:
            continue  # the sweep expires it
        if status == S.PENDING or (claimed_at is not None and claimed_at < lapsed):
            return Offer(checkout_id, ref, amount, currency)
    return None


def claim(
    s: Session,
    terminal_id: int,
    batch_no: str,
    stan: str,
    checkout_ref: str,
    amount: Money,
    now: datetime,
    lapse: timedelta,
) -> Claim | str:
    """Claim the checkout for the terminal's sale (batch, STAN): the claim, or the
    answer to refuse the sale with. 25: no such checkout of this terminal, or no longer
    payable (canceled, expired, failed); 64: not its amount; 94: paid, or another sale
    naming it is under way."""
    conn = s.connection()
    params = {
        "of_terminal": terminal_id, "ref": checkout_ref, "amount": amount.amount_minor,
        "in_currency": amount.currency, "now": now, "lapsed": now - lapse, "batch_no": batch_no,
        "stan": stan,
    }  # fmt: skip
    claimed = conn.execute(_CLAIM, params).scalar()
    if claimed is not None:
        return Claim(int(claimed), batch_no, stan)
    row = conn.execute(_NAMED, {"ref": checkout_ref}).first()
    if row is None or row.terminal_id != terminal_id:
        return Refusal.NO_ORIGINAL.value  # another terminal's is as good as none
    if row.status in (S.PAID, S.PROCESSING):
        return Refusal.CHANGED_REQUEST.value  # 94: paid at most once
    if row.status is not S.PENDING or row.expires_at <= now:
        return Refusal.NO_ORIGINAL.value  # canceled, expired or failed: none waits
    return Refusal.AMOUNT_MISMATCH.value  # pending, so the amount is what differs


def write_checkout_payments(
    s: Session, items: Sequence[tuple[NewPayment, Claim]]
) -> list[Recorded]:
    """The group committer's bulk writer for sales that name a checkout: the payments as
    ``writer.write_payments`` writes them and, in the same unit of work, each checkout
    settled by its sale, while the sale's claim stands."""
    book = Book.of(s)
    conn = book.conn
    held = _held(conn, [c for _p, c in items])
    payments = [
        p if c.checkout_id in held or p.row.response_code != "00" else _lost(p) for p, c in items
    ]
    recorded = book.record(payments)
    book.flush()
    for (_p, c), r in zip(items, recorded, strict=True):
        if c.checkout_id in held:
            _settle(conn, c.checkout_id, r.row.id, r.row.response_code, r.row.created_at)
    return recorded


def _lost(p: NewPayment) -> NewPayment:
    """An approved sale whose claim lapsed (the checkout may be another sale's now): not
    charged. Its call's note is left open, and the 98 has it reversed at the network."""
    answer = p.answer
    if answer is not None:
        answer = replace(answer, outcome=rules.not_charged(answer.outcome))
    row = p.row._replace(status=PaymentStatus.TIMED_OUT, response_code="98", auth_code=None,
                         fee_minor=0)  # fmt: skip
    return replace(p, row=row, asked=False, answer=answer)


def _held(conn: Connection, claims: Sequence[Claim]) -> set[int]:
    """The checkouts whose claim still stands, locked (on PostgreSQL) until the unit of
    work ends, so that no other process takes them meanwhile."""
    rows = conn.execute(
        select(Checkout.id, Checkout.status, Checkout.claim_batch_no, Checkout.claim_stan)
        .where(Checkout.id.in_([c.checkout_id for c in claims]))
        .with_for_update()
    ).all()
    standing = {(r.id, r.claim_batch_no, r.claim_stan) for r in rows if r.status == S.PROCESSING}
    return {c.checkout_id for c in claims if (c.checkout_id, c.batch_no, c.stan) in standing}


def _settle(conn: Connection, checkout_id: int, payment_id: int, code: str,
            at: datetime) -> None:  # fmt: skip
    """A held checkout's outcome: paid by the payment, or its sale failed."""
    if code == "00":
        conn.execute(
            update(Checkout)
            .where(Checkout.id == checkout_id)
            .values(status=S.PAID, payment_id=payment_id, last_response_code=code,
                    claim_batch_no=None, claim_stan=None, claimed_at=None, updated_at=at)
        )  # fmt: skip
        _event(conn, checkout_id, PAID, S.PAID, code, payment_id, at)
        return
    _failed(conn, checkout_id, payment_id, code, at)


def _failed(conn: Connection, checkout_id: int, payment_id: int | None, code: str,
            at: datetime) -> None:  # fmt: skip
    """A sale naming the checkout failed (or was reversed): pending again, or failed for
    good at the MAX_ATTEMPTS-th."""
    attempts = conn.execute(
        select(Checkout.attempts).where(Checkout.id == checkout_id)
    ).scalar_one()
    to = S.FAILED if attempts + 1 >= MAX_ATTEMPTS else S.PENDING
    conn.execute(
        update(Checkout)
        .where(Checkout.id == checkout_id)
        .values(status=to, attempts=attempts + 1, last_response_code=code, payment_id=None,
                claim_batch_no=None, claim_stan=None, claimed_at=None, updated_at=at)
    )  # fmt: skip
    _event(conn, checkout_id, FAILED, to, code, payment_id, at)


def _event(conn: Connection, checkout_id: int, kind: str, status: CheckoutStatus,
           code: str | None, payment_id: int | None, at: datetime) -> None:  # fmt: skip
    conn.execute(
        _EVENT,
        {"checkout_id": checkout_id, "type": kind, "status": status, "response_code": code,
         "payment_id": payment_id, "at": at},
    )  # fmt: skip


def reopen_reversed(conn: Connection, payment_id: int, at: datetime) -> None:
    """In a reversal's unit of work: the checkout the reversed sale paid, if any, is
    pending again (or failed), as after a failed sale: the terminal never saw it paid."""
    found = conn.execute(
        select(Checkout.id).where(Checkout.payment_id == payment_id).with_for_update()
    ).scalar()
    if found is not None:
        _failed(conn, int(found), payment_id, Refusal.NO_ANSWER.value, at)


# --- the till's side -------------------------------------------------------------------------


class CheckoutService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- the host's reads and writes ---------------------------------------------------

    def waiting(self, terminal_id: int) -> Offer | None:
        """The poll's answer: one read of the terminal's open checkouts (a partial index
        holds only those)."""
        now = self.ctx.now()
        db = self.ctx.db
        with db.quick_read() as conn:
            rows = db.hot(_WAITING).rows(conn, {"terminal_id": terminal_id})
        return first_offered(rows, now, now - claim_lapse(self.ctx)) if rows else None

    # --- the till's ------------------------------------------------------------------

    def create(
        self,
        tid: str,
        amount: Money,
        reference: str,
        *,
        merchant_id: int | None = None,
        shop_number: int | None = None,
        expires_in: timedelta = DEFAULT_EXPIRY,
    ) -> CheckoutView:
        """A checkout for the terminal (of ``merchant_id``'s, when given). The same
        reference again, for the same terminal and amount, gives the same checkout back;
        for anything else it is refused."""
        reference = _reference(reference)
        low, high = EXPIRY_RANGE
        if not low <= expires_in <= high:
            raise InvalidInput(
                "checkout.expires_in",
                N_("A checkout waits from {low} to {high} seconds"),
                low=int(low.total_seconds()),
                high=int(high.total_seconds()),
            )
        rules.check_amount(amount, self.ctx.settings.currency)
        now = self.ctx.now()
        try:
            with self.ctx.db.transaction(invalidate=False) as s:
                terminal = _terminal(s, tid, merchant_id)
                same = _by_reference(s, terminal.merchant_id, reference)
                if same is not None:
                    return _same(s, same, terminal, amount, reference, now)
                shop = self._place(s, terminal, amount, shop_number)
                checkout = Checkout(
                    merchant_id=terminal.merchant_id, shop_id=shop.id, terminal_id=terminal.id,
                    reference=reference, checkout_ref="CK" + secrets.token_hex(7).upper(),
                    amount_minor=amount.amount_minor, currency=amount.currency,
                    status=S.PENDING, expires_at=now + expires_in, attempts=0,
                    created_at=now, updated_at=now,
                )  # fmt: skip
                s.add(checkout)
                s.flush()
                return _views(s, [checkout], now)[0]
        except IntegrityError:  # the same reference made at the same moment: that one
            with self.ctx.db.read() as s:
                terminal = _terminal(s, tid, merchant_id)
                same = _by_reference(s, terminal.merchant_id, reference)
                if same is None:
                    raise
                return _same(s, same, terminal, amount, reference, now)

    @staticmethod
    def _place(s: Session, terminal: Terminal, amount: Money, shop_number: int | None) -> Shop:
        """The terminal's shop, open, of a trading merchant whose per-payment limit the
        amount is within."""
        if terminal.status not in PAYABLE:
            raise Refused(
                "terminal.not_active",
                N_("Terminal {tid} is {status}"),
                tid=terminal.tid,
                status=terminal.status,
            )
        merchant = s.get_one(Merchant, terminal.merchant_id)
        if merchant.status is not MerchantStatus.APPROVED:
            raise Refused(
                "merchant.not_trading",
                N_("Merchant {ref} is {status}: it cannot take payments"),
                ref=merchant.mid,
                status=merchant.status,
            )
        shop = s.get_one(Shop, terminal.shop_id)
        if shop_number is not None and shop.number != shop_number:
            raise InvalidInput(
                "payment.shop_terminal",
                N_("Terminal {tid} is not in shop {number}"),
                tid=terminal.tid,
                number=shop_number,
            )
        if shop.status is not ShopStatus.OPEN:
            raise Refused("shop.closed", N_("Shop {number} is closed"), number=shop.number)
        limit = limits_for(s, merchant.kind).per_txn_limit_minor
        if amount.amount_minor > limit:
            raise Refused(
                "checkout.over_limit",
                N_("The amount is over the merchant's limit per payment ({limit})"),
                limit=Money(limit, amount.currency).format(),
            )
        return shop

    def get(self, tid: str, checkout_id: int, *, merchant_id: int | None = None) -> CheckoutView:
        with self.ctx.db.read() as s:
            return _views(s, [_checkout(s, tid, checkout_id, merchant_id)], self.ctx.now())[0]

    def search(
        self,
        tid: str,
        *,
        merchant_id: int | None = None,
        status: CheckoutStatus | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[CheckoutView]:
        """A terminal's checkouts, newest first."""
        check_limit(limit)
        with self.ctx.db.read() as s:
            terminal = _terminal(s, tid, merchant_id)
            query = (
                select(Checkout)
                .where(Checkout.merchant_id == terminal.merchant_id,
                       Checkout.terminal_id == terminal.id)
                .order_by(Checkout.id.desc())
                .limit(limit)
            )  # fmt: skip
            if status is not None:
                query = query.where(Checkout.status == status)
            if before_id is not None:
                query = query.where(Checkout.id < before_id)
            return _views(s, s.scalars(query), self.ctx.now())

    def cancel(self, tid: str, checkout_id: int, *, merchant_id: int | None = None) -> CheckoutView:
        """Take back a checkout that still waits (a sale under way cannot be stopped:
        the checkout is then paid or pending again, and can be canceled then)."""
        now = self.ctx.now()
        with self.ctx.db.transaction(invalidate=False) as s:
            checkout = _checkout(s, tid, checkout_id, merchant_id)
            done = s.connection().execute(
                update(Checkout)
                .where(Checkout.id == checkout.id, Checkout.status == S.PENDING,
                       Checkout.expires_at > now)
                .values(status=S.CANCELED, updated_at=now)
            )  # fmt: skip
            if done.rowcount != 1:
                s.refresh(checkout)
                status = _shown_status(checkout, now)
                raise Refused(
                    "checkout.not_pending",
                    N_("Checkout {id} is {status}: only a pending checkout can be canceled"),
                    id=checkout_id,
                    status=status,
                )
            _event(s.connection(), checkout.id, CANCELED, S.CANCELED, None, None, now)
            s.refresh(checkout)
            return _views(s, [checkout], now)[0]

    def expire_due(self, limit: int = 500) -> int:
        """The pending checkouts past their deadline (and processing ones whose claim
        lapsed past it) become expired, each with its event; how many."""
        now = self.ctx.now()
        lapsed = now - claim_lapse(self.ctx)
        due = (
            text(OPEN_SQL)  # as the partial index ix_checkouts_due says it
            & (Checkout.expires_at <= now)
            & ((Checkout.status == S.PENDING)
               | ((Checkout.status == S.PROCESSING) & (Checkout.claimed_at < lapsed)))
        )  # fmt: skip
        with self.ctx.db.read() as s:
            if s.scalar(select(Checkout.id).where(due).limit(1)) is None:
                return 0  # the usual round: one read, no write lock
        with self.ctx.db.transaction(invalidate=False) as s:
            ids = list(
                s.scalars(select(Checkout.id).where(due).order_by(Checkout.id).limit(limit)
                          .with_for_update(skip_locked=True))
            )  # fmt: skip
            expired = 0
            conn = s.connection()
            for checkout_id in ids:
                changed = conn.execute(
                    update(Checkout)
                    .where(Checkout.id == checkout_id, due)
                    .values(status=S.EXPIRED, claim_batch_no=None, claim_stan=None,
                            claimed_at=None, updated_at=now)
                ).rowcount  # fmt: skip
                if changed:
                    _event(conn, checkout_id, EXPIRED, S.EXPIRED, None, None, now)
                    expired += 1
            return expired

    # --- events ------------------------------------------------------------------------

    def list_events(
        self,
        *,
        merchant_id: int | None = None,
        type: str | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[CheckoutEventView]:
        """Newest first; ``merchant_id`` keeps one merchant's, ``type`` one type."""
        check_limit(limit)
        query = _EVENTS.order_by(CheckoutEvent.id.desc()).limit(limit)
        if merchant_id is not None:
            query = query.where(Checkout.merchant_id == merchant_id)
        if type is not None:
            query = query.where(CheckoutEvent.type == check_checkout_event_type(type))
        if before_id is not None:
            query = query.where(CheckoutEvent.id < before_id)
        with self.ctx.db.read() as s:
            return event_views(s, _pairs(s, query), self.ctx.now())

    def get_event(self, event_id: int, *, merchant_id: int | None = None) -> CheckoutEventView:
        query = _EVENTS.where(CheckoutEvent.id == event_id)
        if merchant_id is not None:
            query = query.where(Checkout.merchant_id == merchant_id)
        with self.ctx.db.read() as s:
            found = event_views(s, _pairs(s, query), self.ctx.now())
        if not found:
            raise NotFound("event.not_found", N_("No event {id}"), id=event_id)
        return found[0]


def check_checkout_event_type(name: str) -> str:
    if name not in CHECKOUT_EVENT_TYPES:
        raise InvalidInput(
            "event.type_unknown",
            N_("Unknown event type {type}: see docs/webhooks.md for the list"),
            type=name,
        )
    return name


_EVENTS = select(CheckoutEvent, Checkout).join(Checkout, Checkout.id == CheckoutEvent.checkout_id)


def _pairs(
    s: Session, query: Select[CheckoutEvent, Checkout]
) -> list[tuple[CheckoutEvent, Checkout]]:
    return [(e, c) for e, c in s.execute(query)]


def event_views(
    s: Session, rows: Sequence[tuple[CheckoutEvent, Checkout]], now: datetime
) -> list[CheckoutEventView]:
    checkouts = {c.id: c for _e, c in rows}
    views = {v.id: v for v in _views(s, checkouts.values(), now)}
    return [
        CheckoutEventView(
            id=e.id,
            type=e.type,
            created_at=e.at,
            mid=views[c.id].mid,
            status=e.status,
            response_code=e.response_code,
            payment_id=e.payment_id,
            data=views[c.id],
        )
        for e, c in rows
    ]


def load_checkout_events(s: Session, ids: Iterable[int], now: datetime) -> list[CheckoutEventView]:
    """The checkout events with these ids, oldest first (for webhooks)."""
    wanted = list(ids)
    if not wanted:
        return []
    query = _EVENTS.where(CheckoutEvent.id.in_(wanted)).order_by(CheckoutEvent.id)
    return event_views(s, _pairs(s, query), now)


def checkout_heads_after(s: Session, position: int, limit: int) -> list[tuple[int, int]]:
    """(event id, merchant id) of the checkout events after ``position``, oldest first."""
    query = (
        select(CheckoutEvent.id, Checkout.merchant_id)
        .join(Checkout, Checkout.id == CheckoutEvent.checkout_id)
        .where(CheckoutEvent.id > position)
        .order_by(CheckoutEvent.id)
        .limit(limit)
    )
    return [(int(i), int(m)) for i, m in s.execute(query)]


# --- helpers -----------------------------------------------------------------------------


def _reference(reference: str) -> str:
    cleaned = reference.strip()
    if not 0 < len(cleaned) <= MAX_REFERENCE_CHARS or not cleaned.isprintable():
        raise InvalidInput(
            "checkout.reference",
            N_("The reference is 1 to {max} printable characters"),
            max=MAX_REFERENCE_CHARS,
        )
    return cleaned


def _terminal(s: Session, tid: str, merchant_id: int | None) -> Terminal:
    """The terminal, if it is bound to ``merchant_id``'s merchant (any merchant's, for
    None): another merchant's is not found, as one that does not exist."""
    terminal = s.scalars(select(Terminal).where(Terminal.tid == tid)).one_or_none()
    if (
        terminal is None
        or terminal.merchant_id is None
        or (merchant_id is not None and terminal.merchant_id != merchant_id)
    ):
        raise NotFound("terminal.not_found", N_("No terminal {tid}"), tid=tid)
    return terminal


def _checkout(s: Session, tid: str, checkout_id: int, merchant_id: int | None) -> Checkout:
    terminal = _terminal(s, tid, merchant_id)
    checkout = s.get(Checkout, checkout_id)
    if checkout is None or checkout.terminal_id != terminal.id:
        raise NotFound("checkout.not_found", N_("No checkout {id}"), id=checkout_id)
    return checkout


def _by_reference(s: Session, merchant_id: int | None, reference: str) -> Checkout | None:
    return s.scalars(
        select(Checkout).where(Checkout.merchant_id == merchant_id, Checkout.reference == reference)
    ).one_or_none()


def _same(
    s: Session,
    found: Checkout,
    terminal: Terminal,
    amount: Money,
    reference: str,
    now: datetime,
) -> CheckoutView:
    """The checkout already made with this reference, if it is the one asked for."""
    if (found.terminal_id, found.amount_minor, found.currency) != (
        terminal.id, amount.amount_minor, amount.currency
    ):  # fmt: skip
        raise Refused(
            "checkout.reference_used",
            N_("The reference {reference} names another checkout already"),
            reference=reference,
        )
    return _views(s, [found], now)[0]


def _shown_status(c: Checkout, now: datetime) -> CheckoutStatus:
    """A pending checkout past its deadline is expired, whether or not the sweep has
    written it yet."""
    return S.EXPIRED if c.status is S.PENDING and c.expires_at <= now else c.status


def _views(s: Session, checkouts: Iterable[Checkout], now: datetime) -> list[CheckoutView]:
    rows = list(checkouts)
    if not rows:
        return []
    mids = dict(
        s.execute(
            select(Merchant.id, Merchant.mid).where(Merchant.id.in_({c.merchant_id for c in rows}))
        ).all()
    )
    shops = dict(
        s.execute(select(Shop.id, Shop.number).where(Shop.id.in_({c.shop_id for c in rows}))).all()
    )
    tids = dict(
        s.execute(
            select(Terminal.id, Terminal.tid).where(Terminal.id.in_({c.terminal_id for c in rows}))
        ).all()
    )
    return [
        CheckoutView(
            id=c.id,
            status=_shown_status(c, now),
            amount_minor=c.amount_minor,
            currency=c.currency,
            reference=c.reference,
            checkout_ref=c.checkout_ref,
            mid=mids.get(c.merchant_id) or "",
            tid=tids[c.terminal_id],
            shop_number=shops[c.shop_id],
            expires_at=c.expires_at,
            attempts=c.attempts,
            last_response_code=c.last_response_code,
            payment_id=c.payment_id,
            created_at=c.created_at,
            updated_at=c.updated_at,
        )
        for c in rows
    ]
