"""Selling offline, the server's side (docs/offline.md).

A till page that loses the server keeps selling for cash; when the server is back it
sends what it sold in batches, and this module writes each order exactly once.

- **Receipt numbers**: a page makes itself known to the server while online
  (``register_page``) and gets its number within its till; offline it numbers its sales
  ``<shop>-<till>-P<page>.<n>`` (its page number, then its own count): a form no till's
  online numbering can make (a till's name has no ``.``), unique because each page of a
  till has its own number, and visibly an offline sale's. The till's online numbers
  stay contiguous. A client that wants offline sales in the online form takes **blocks**
  of the till's numbers instead (``reserve_block``), from the same sequence the till's
  online orders number from, so no other page and no online order ever prints one of
  them; past its blocks it numbers in the page's form.
- **The sync** (``sync``): a batch of one page's offline cash sales, each written as
  the till made it, in one unit of work for the batch: the price sold at stands (the
  shop's list price now is kept beside it), the stock moves out (it may go below zero:
  flagged), the rollups follow, and every order is answered: synced (its id and
  receipt number, and what was noted of it), already synced, or refused with its
  reason (the rest of the batch is written all the same).
- **Exactly once**: an order is its ``client_ref`` (the till's UUID of it), unique per
  merchant in the database. A batch reads which of its orders are stored already before
  it writes any, under a lock of its page (two tabs syncing the same queue take turns);
  a batch that meets an order written meanwhile by another path (the unique index) is
  rolled back whole and read again. So an order is stored once, whatever the batches'
  boundaries, repeats, order or concurrency.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.access.models import Account
from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound, Refused, TillpointError
from tillpoint.core.groupcommit import new_ids
from tillpoint.core.i18n import N_
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.store import loyalty
from tillpoint.store import loyalty_rules as lr
from tillpoint.store import order_rules as rules
from tillpoint.store.counters import shop_of
from tillpoint.store.member_models import Member, MemberScope, MemberStatus
from tillpoint.store.models import (
    MILLI,
    Counter,
    MovementKind,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    OrderTender,
    Product,
    ReceiptSequence,
    Shift,
    ShiftStatus,
    ShopPrice,
    TenderKind,
    TenderStatus,
)
from tillpoint.store.movements import Move, move
from tillpoint.store.offline_models import (
    LINE_FLAGS,
    LOOK,
    Flag,
    OfflineLineFlag,
    OfflineOrder,
    ReceiptBlock,
    TillPage,
    flag_names,
)
from tillpoint.store.orders import (
    MAX_BARCODE,
    MAX_CLIENT_REF,
    MAX_LINES,
    MAX_NOTE,
    MAX_ORDER_MINOR,
    MAX_PRICE_MINOR,
    MAX_QUANTITY_MILLI,
    MAX_TENDERS,
)
from tillpoint.store.rollups import record_paid_many
from tillpoint.store.shifts import check_till, trading_shop

BLOCK_SIZE = 1_000  # receipt numbers in a block, unless asked otherwise
MAX_BLOCK_SIZE = 10_000
MAX_PAGES = 999  # pages of one till that ever sold offline (their numbers, P1 to P999)
MAX_BATCH = 500  # orders in one sync
MAX_BATCH_LINES = 10_000  # lines in one sync, all its orders together
MAX_NAME = 120
MAX_UNIT = 10
PAGE_REF = re.compile(r"[0-9A-Za-z][0-9A-Za-z_-]{7,39}")
# A receipt number is at most 40 characters: a shop (4 digits), a till (20), then up
# to 12 digits, or a page (P and 3 digits), a dot and up to 9.
MAX_RECEIPT_NO = 40
DIGITS = re.compile(r"[1-9][0-9]{0,11}")
FALLBACK = re.compile(r"P([1-9][0-9]{0,2})\.([1-9][0-9]{0,8})")
# A till's clock may be this far from the server's, or from its shift's opening,
# before its orders are flagged; times before EARLIEST or this far ahead are refused.
CLOCK_SLACK = timedelta(minutes=5)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
AHEAD_AT_MOST = timedelta(days=1)
ATTEMPTS = 3  # a batch that met an order written meanwhile is read and written again
T = TypeVar("T")


# --- what the till sends --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineSold:
    """A line as the till sold it: the product (its server id from the till's copy of
    the catalogue), the name and unit printed, the quantity (thousandths), the price
    its copy listed, the price it charged (the same unless a price of its own), its
    discount in fen, and its amount: price x quantity rounded half up, less discount."""

    product_id: int
    name: str
    unit: str
    quantity_milli: int
    list_price_minor: int
    unit_price_minor: int
    amount_minor: int
    discount_minor: int = 0
    barcode: str | None = None


@dataclass(frozen=True, slots=True)
class CashPaid:
    """A cash tender: what it paid of the order, what was handed over, the change."""

    amount_minor: int
    received_minor: int
    change_minor: int = 0
    kind: TenderKind = TenderKind.CASH  # offline, nothing else is taken


@dataclass(frozen=True)
class OfflineSale:
    """A cash sale made offline, whole: its figures are the till's and are checked,
    never recomputed from today's catalogue."""

    client_ref: str
    receipt_no: str
    made_at: datetime  # the till's clock: the order's time
    shift_id: int  # the shift it was sold under (the server's id)
    lines: tuple[LineSold, ...]
    tenders: tuple[CashPaid, ...]
    subtotal_minor: int  # the lines' amounts
    total_minor: int  # subtotal - discount
    discount_minor: int = 0  # the order's own, spread over the lines here
    cashier_id: int | None = None  # the shift's opener when None
    counter_number: int | None = None
    note: str | None = None
    # A member's sale (from the till's snapshot of the members): it earns their points
    # once it is synced (``_member_points``), never twice. Offline a till may not redeem
    # points nor use coupons (the balance and the coupons' uses live on the server): an
    # order that does anyway is refused, ``sync.member_perks``.
    member_id: int | None = None
    redeem_points: int = 0
    coupon_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SyncBatch:
    """Offline orders made by one page of one till, in the order it made them."""

    shop_number: int
    till: str
    page_ref: str
    orders: tuple[OfflineSale, ...]


# --- what it gets back ---------------------------------------------------------------------


class SyncStatus(StrEnum):
    SYNCED = "synced"  # written now
    ALREADY_SYNCED = "already_synced"  # stored before (this order): nothing written
    REFUSED = "refused"  # not written: see its reason


@dataclass(frozen=True, slots=True)
class LineNote:
    line_no: int
    flags: int
    level_milli: int | None  # the shop's stock after it, when it went below zero


@dataclass(frozen=True)
class SyncOutcome:
    client_ref: str
    status: SyncStatus
    order_id: int | None = None
    receipt_no: str | None = None
    flags: int = 0
    lines: tuple[LineNote, ...] = ()
    refusal: TillpointError | None = None

    @property
    def needs_look(self) -> bool:
        return self.status is SyncStatus.REFUSED or bool(self.flags & LOOK)


class LineNoteView(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_no: int
    flags: list[str]
    level_milli: int | None = Field(description="The shop's stock after the line, when below 0")


class SyncResultView(BaseModel):
    model_config = ConfigDict(frozen=True)

    client_ref: str
    status: SyncStatus
    order_id: int | None = Field(description="The server's order (synced, already synced)")
    receipt_no: str | None
    needs_look: bool = Field(description="Refused, or synced with something to look at")
    flags: list[str] = Field(description="What was noted: stock_negative, shift_closed...")
    lines: list[LineNoteView] = Field(description="The lines with something noted")
    code: str | None = Field(description="A refusal's code")
    message: str | None = Field(description="A refusal's reason")


class SyncAnswerView(BaseModel):
    model_config = ConfigDict(frozen=True)

    object: Literal["sync"] = "sync"
    received_at: datetime
    synced: int
    already_synced: int
    refused: int
    needs_look: int
    results: list[SyncResultView] = Field(description="One per order sent, in its order")


@dataclass(frozen=True)
class SyncAnswer:
    received_at: datetime
    outcomes: tuple[SyncOutcome, ...]

    def count(self, status: SyncStatus) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    def view(self, localized: Callable[[TillpointError], str]) -> SyncAnswerView:
        """As the till reads it; refusals' reasons put in words by ``localized`` (the
        adapter's language)."""
        return SyncAnswerView(
            received_at=self.received_at,
            synced=self.count(SyncStatus.SYNCED),
            already_synced=self.count(SyncStatus.ALREADY_SYNCED),
            refused=self.count(SyncStatus.REFUSED),
            needs_look=sum(1 for o in self.outcomes if o.needs_look),
            results=[
                SyncResultView(
                    client_ref=o.client_ref, status=o.status, order_id=o.order_id,
                    receipt_no=o.receipt_no, needs_look=o.needs_look, flags=flag_names(o.flags),
                    lines=[LineNoteView(line_no=x.line_no, flags=flag_names(x.flags),
                                        level_milli=x.level_milli) for x in o.lines],
                    code=o.refusal.code if o.refusal else None,
                    message=localized(o.refusal) if o.refusal else None,
                )
                for o in self.outcomes
            ],
        )  # fmt: skip


class TillPageView(BaseModel):
    """A till page the server knows: its number within the till, and the form of the
    receipt numbers it prints offline (``<receipt_prefix><n>``, n from 1)."""

    model_config = ConfigDict(frozen=True)

    object: Literal["till_page"] = "till_page"
    shop_number: int
    till: str
    page_id: str = Field(description="The page's own id, as it sent it")
    page_number: int = Field(description="The page's number within the till (1 to 999)")
    receipt_prefix: str = Field(
        description="The page's offline receipts are numbered <receipt_prefix><n>, n from 1",
        examples=["1-T1-P2."],
    )
    created_at: datetime


class ReceiptBlockView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["receipt_block"] = "receipt_block"
    shop_number: int
    till: str
    page_id: str = Field(description="The page's own id, as it sent it")
    page_number: int = Field(description="The page's number within the till")
    first_number: int
    last_number: int
    size: int
    first_receipt_no: str = Field(examples=["1-T1-1001"])
    last_receipt_no: str = Field(examples=["1-T1-2000"])
    fallback_prefix: str = Field(
        description="Past its blocks, the page numbers <prefix><n>, n from 1",
        examples=["1-T1-P2."],
    )
    reserved_at: datetime


class OfflineOrderView(BaseModel):
    """An offline order as it arrived, for the list of what needs a look."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(description="The order's id")
    object: Literal["offline_order"] = "offline_order"
    mid: str
    shop_number: int
    till: str
    page_number: int
    receipt_no: str | None
    total_minor: int
    made_at: datetime
    received_at: datetime
    needs_look: bool
    flags: list[str]
    lines: list[LineNoteView]


# --- checks of what arrives ----------------------------------------------------------------


def check_page_ref(ref: str) -> str:
    if PAGE_REF.fullmatch(ref) is None:
        raise InvalidInput(
            "till_page.ref",
            N_("A page's id is 8 to 40 letters, digits, '-' or '_' (a UUID)"),
        )
    return ref


def _check_sale(o: OfflineSale) -> None:
    """The order's own shape and arithmetic (no database)."""
    if not 0 < len(o.client_ref) <= MAX_CLIENT_REF or not o.client_ref.isprintable() \
            or o.client_ref != o.client_ref.strip():  # fmt: skip
        raise InvalidInput(
            "order.client_ref",
            N_("client_ref is the till's own id of the order: 1 to {max} printable characters"),
            max=MAX_CLIENT_REF,
        )
    if o.made_at.tzinfo is None:
        raise InvalidInput("sync.made_at", N_("The time an order was made carries its offset"))
    try:
        o.made_at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 and an offset that takes it out of range
        raise InvalidInput(
            "sync.made_at_range", N_("Order made at {at}: the till's clock is far off"),
            at=o.made_at.isoformat(),
        ) from None  # fmt: skip
    if not 0 < len(o.receipt_no) <= MAX_RECEIPT_NO:
        raise InvalidInput(
            "sync.receipt_no_length", N_("A receipt number is 1 to {max} characters"),
            max=MAX_RECEIPT_NO,
        )  # fmt: skip
    if not 0 < len(o.lines) <= MAX_LINES:
        raise InvalidInput("order.lines", N_("An order has 1 to {max} lines"), max=MAX_LINES)
    if len(o.tenders) > MAX_TENDERS:
        raise InvalidInput(
            "order.tenders", N_("An order takes at most {max} tenders"), max=MAX_TENDERS
        )
    if o.note is not None and len(o.note) > MAX_NOTE:
        raise InvalidInput("order.note", N_("A note is at most {max} characters"), max=MAX_NOTE)
    subtotal = 0
    for n, line in enumerate(o.lines, 1):
        _check_line(n, line)
        subtotal += line.amount_minor
    if o.subtotal_minor != subtotal:
        raise InvalidInput(
            "sync.subtotal", N_("The lines' amounts add up to {sum}, not the subtotal sent"),
            sum=subtotal,
        )  # fmt: skip
    if not 0 <= o.discount_minor <= subtotal:
        raise InvalidInput(
            "order.discount_too_large",
            N_("The order's discount ({discount}) is more than its lines' amounts"),
            discount=o.discount_minor,
        )
    if o.total_minor != subtotal - o.discount_minor or o.total_minor > MAX_ORDER_MINOR:
        raise InvalidInput("sync.total", N_("The total is the subtotal less the order's discount"))
    _check_member(o)
    _check_cash(o)


def _check_member(o: OfflineSale) -> None:
    if o.member_id is not None and not 0 < o.member_id < 2**62:
        raise InvalidInput("sync.member", N_("A member is named by their id"))
    if o.redeem_points or o.coupon_codes:
        raise InvalidInput(
            "sync.member_perks",
            N_("Offline, points cannot be redeemed nor coupons used: they need the server"),
        )


def _check_cash(o: OfflineSale) -> None:
    """Paid in cash, in full: each tender's received is what it paid plus the change."""
    paid = 0
    for t in o.tenders:
        if t.kind is not TenderKind.CASH:
            raise InvalidInput(
                "sync.cash_only",
                N_("Offline, only cash is taken: card, wallet and QR need the server"),
            )
        if not (0 < t.amount_minor <= MAX_ORDER_MINOR and t.change_minor >= 0
                and t.received_minor == t.amount_minor + t.change_minor):  # fmt: skip
            raise InvalidInput(
                "sync.cash",
                N_("Cash received is what it paid plus the change, and it paid more than 0"),
            )
        paid += t.amount_minor
    if paid != o.total_minor:
        raise InvalidInput(
            "sync.unpaid", N_("An offline order is paid in cash in full: the tenders are its total")
        )


def _check_line(n: int, line: LineSold) -> None:
    if not 0 < line.product_id < 2**62:
        raise InvalidInput("sync.line_product", N_("Line {n}: name the product"), n=n)
    if not 0 < len(line.name) <= MAX_NAME or not 0 < len(line.unit) <= MAX_UNIT:
        raise InvalidInput(
            "sync.line_name", N_("Line {n}: the name and unit printed are needed"), n=n
        )
    if line.barcode is not None and not (
        0 < len(line.barcode) <= MAX_BARCODE and line.barcode.isascii() and line.barcode.isalnum()
    ):
        raise InvalidInput("order.barcode", N_("Line {n}: that is not a barcode"), n=n)
    if not 0 < line.quantity_milli <= MAX_QUANTITY_MILLI:
        raise InvalidInput(
            "order.quantity", N_("Line {n}: a quantity is more than 0 and at most {max}"),
            n=n, max=MAX_QUANTITY_MILLI // MILLI,
        )  # fmt: skip
    for price in (line.list_price_minor, line.unit_price_minor):
        if not 0 <= price <= MAX_PRICE_MINOR:
            raise InvalidInput(
                "order.price", N_("Line {n}: a price is 0 or more, within reason"), n=n
            )
    gross = rules.line_gross(line.unit_price_minor, line.quantity_milli)
    if not 0 <= line.discount_minor <= gross:
        raise InvalidInput(
            "order.line_discount", N_("Line {n}: the discount is more than the line"), n=n
        )
    if line.amount_minor != gross - line.discount_minor:
        raise InvalidInput(
            "sync.line_amount",
            N_("Line {n}: price x quantity less discount is {amount}, not the amount sent"),
            n=n,
            amount=gross - line.discount_minor,
        )


def sale_sha256(o: OfflineSale) -> str:
    """The order as sent, fingerprinted: the same order sent again is recognised."""
    body = [
        o.client_ref, o.receipt_no, o.made_at.astimezone(UTC).isoformat(), o.shift_id,
        o.cashier_id, o.counter_number, o.subtotal_minor, o.discount_minor, o.total_minor,
        o.note,
        [[x.product_id, x.barcode, x.name, x.unit, x.quantity_milli, x.list_price_minor,
          x.unit_price_minor, x.discount_minor, x.amount_minor] for x in o.lines],
        [[t.amount_minor, t.received_minor, t.change_minor] for t in o.tenders],
    ]  # fmt: skip
    if o.member_id is not None:  # only when named: the fingerprints of other sales stay
        body.append(["member", o.member_id])
    text = json.dumps(body, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(f"OfflineSale:{text}".encode()).hexdigest()


# --- the service ---------------------------------------------------------------------------


@dataclass
class _Todo:
    """An order of the batch being written: where it stands."""

    at: int  # its place in the batch
    sale: OfflineSale
    digest: str
    outcome: SyncOutcome | None = None
    flags: int = 0
    line_flags: dict[int, int] = field(default_factory=dict)
    levels: dict[int, int] = field(default_factory=dict)
    earns: list[tuple[int, int, int | None]] = field(default_factory=list)  # line id, net, cat.


class OfflineSync:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- till pages and receipt blocks ----------------------------------------------------

    def register_page(
        self, merchant_id: int, shop_number: int, till: str, page_ref: str
    ) -> TillPageView:
        """Make a till page known (or find it): its number within the till, and so the
        form of the receipt numbers it prints offline, ``<shop>-<till>-P<page>.<n>``.
        Takes no receipt numbers: the till's online numbers stay contiguous."""
        till, page_ref = check_till(till), check_page_ref(page_ref)
        now = self.ctx.now()

        def register(s: Session, shop: Shop) -> TillPageView:
            _lock_till(s, shop, till, 0)
            return _page_view(shop, _page(s, shop, till, page_ref, now))

        return self._at_till(merchant_id, shop_number, register)

    def reserve_block(
        self, merchant_id: int, shop_number: int, till: str, page_ref: str,
        size: int = BLOCK_SIZE,
    ) -> ReceiptBlockView:  # fmt: skip
        """Take the next ``size`` receipt numbers of a till for one of its pages (made
        known to the server by its first block), from the sequence its online orders
        number from: the page prints them offline, and nothing else ever does."""
        till, page_ref = check_till(till), check_page_ref(page_ref)
        if not 1 <= size <= MAX_BLOCK_SIZE:
            raise InvalidInput(
                "receipt_block.size", N_("A block is 1 to {max} numbers"), max=MAX_BLOCK_SIZE
            )
        now = self.ctx.now()
        return self._at_till(
            merchant_id, shop_number, lambda s, shop: _reserve(s, shop, till, page_ref, size, now)
        )

    def _at_till(self, merchant_id: int, shop_number: int, work: Callable[[Session, Shop], T]) -> T:
        """``work`` on the shop (which must be trading) in one transaction, again when
        it met the till's first use, or its first page, made meanwhile (a unique index)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.ctx.db.transaction() as s:
                    shop = shop_of(s, merchant_id, shop_number)
                    trading_shop(s, shop)
                    return work(s, shop)
            except IntegrityError:
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    # --- the sync ----------------------------------------------------------------------------

    def sync(self, batch: SyncBatch, *, merchant_id: int) -> SyncAnswer:
        """Write a page's offline orders, each exactly once; answer for each."""
        till, page_ref = check_till(batch.till), check_page_ref(batch.page_ref)
        if not 0 < len(batch.orders) <= MAX_BATCH:
            raise InvalidInput("sync.batch", N_("A sync takes 1 to {max} orders"), max=MAX_BATCH)
        if sum(len(o.lines) for o in batch.orders) > MAX_BATCH_LINES:
            raise InvalidInput(
                "sync.batch_lines", N_("A sync takes at most {max} lines in all"),
                max=MAX_BATCH_LINES,
            )  # fmt: skip
        outcomes: list[SyncOutcome | None] = [None] * len(batch.orders)
        todo: list[_Todo] = []
        first: dict[str, _Todo] = {}  # each client_ref's first place in the batch
        repeats: list[tuple[int, _Todo, str]] = []
        for i, sale in enumerate(batch.orders):
            try:
                _check_sale(sale)
            except TillpointError as e:
                outcomes[i] = SyncOutcome(sale.client_ref, SyncStatus.REFUSED, refusal=e)
                continue
            digest = sale_sha256(sale)
            seen = first.get(sale.client_ref)
            if seen is not None:
                repeats.append((i, seen, digest))
                continue
            first[sale.client_ref] = item = _Todo(i, sale, digest)
            todo.append(item)
        now = self.ctx.now()
        for attempt in range(1, ATTEMPTS + 1):
            for item in todo:
                item.outcome, item.flags, item.line_flags, item.levels = None, 0, {}, {}
            try:
                with self.ctx.db.transaction() as s:
                    _sync(s, merchant_id, batch.shop_number, till, page_ref, todo, now)
                break
            except IntegrityError:  # an order of the batch was written meanwhile
                if attempt == ATTEMPTS:
                    raise
        for item in todo:
            outcomes[item.at] = item.outcome
        for i, seen, digest in repeats:
            outcomes[i] = _repeat(batch.orders[i].client_ref, seen, digest)
        done = tuple(o for o in outcomes if o is not None)
        assert len(done) == len(outcomes)
        return SyncAnswer(now, done)

    # --- what needs a look ---------------------------------------------------------------------

    def offline_orders(
        self, *, merchant_id: int | None, needs_look: bool | None = None,
        shop_number: int | None = None, before_id: int | None = None, limit: int = 20,
    ) -> list[OfflineOrderView]:  # fmt: skip
        """Offline orders as they arrived, newest first: with ``needs_look``, those
        that need (or do not need) a look."""
        check_limit(limit)
        query = (
            select(
                OfflineOrder,
                Order.receipt_no,
                Order.total_minor,
                TillPage,
                Shop.number,
                Merchant.mid,
            )
            .join(Order, Order.id == OfflineOrder.order_id)
            .join(TillPage, TillPage.id == OfflineOrder.page_id)
            .join(Shop, Shop.id == TillPage.shop_id)
            .join(Merchant, Merchant.id == OfflineOrder.merchant_id)
            .order_by(OfflineOrder.order_id.desc())
            .limit(limit)
        )
        if merchant_id is not None:
            query = query.where(OfflineOrder.merchant_id == merchant_id)
        if needs_look is not None:
            query = query.where(OfflineOrder.look == needs_look)
        if shop_number is not None:
            query = query.where(Shop.number == shop_number)
        if before_id is not None:
            query = query.where(OfflineOrder.order_id < before_id)
        with self.ctx.db.read() as s:
            rows = s.execute(query).all()
            notes = _line_notes(s, [r[0].order_id for r in rows])
            return [
                OfflineOrderView(
                    id=o.order_id, mid=mid or "", shop_number=number, till=page.till,
                    page_number=page.number, receipt_no=receipt_no, total_minor=total,
                    made_at=o.made_at, received_at=o.received_at, needs_look=o.look,
                    flags=flag_names(o.flags),
                    lines=[LineNoteView(line_no=x.line_no, flags=flag_names(x.flags),
                                        level_milli=x.level_milli)
                           for x in notes.get(o.order_id, ())],
                )
                for o, receipt_no, total, page, number, mid in rows
            ]  # fmt: skip


# --- receipt blocks ------------------------------------------------------------------------------


_SEQUENCE_STARTS: dict[str, Any] = {}


def _start_sequence(dialect: str) -> Any:
    """``INSERT INTO till_receipt_sequences ... ON CONFLICT DO NOTHING``: a till's
    sequence made at its first use, built once per backend."""
    found = _SEQUENCE_STARTS.get(dialect)
    if found is None:
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ReceiptSequence)
        found = _SEQUENCE_STARTS[dialect] = stmt.on_conflict_do_nothing()
    return found


def _lock_till(s: Session, shop: Shop, till: str, size: int) -> int:
    """The till's receipt sequence (made at its first use), moved on by ``size`` and
    locked until the commit: its pages are numbered, and its blocks taken, in turn.
    Returns the sequence's next number after the move."""
    s.execute(
        _start_sequence(s.get_bind().dialect.name),
        {"shop_id": shop.id, "till": till, "merchant_id": shop.merchant_id, "next_number": 1},
    )
    top: int = s.execute(
        update(ReceiptSequence)
        .where(ReceiptSequence.shop_id == shop.id, ReceiptSequence.till == till)
        .values(next_number=ReceiptSequence.next_number + size)
        .returning(ReceiptSequence.next_number)
    ).scalar_one()
    return top


def _page(s: Session, shop: Shop, till: str, page_ref: str, now: datetime) -> TillPage:
    """The till's page ``page_ref``, numbered now if it is new (the till locked)."""
    page = s.scalars(
        select(TillPage).where(
            TillPage.shop_id == shop.id, TillPage.till == till, TillPage.page_ref == page_ref
        )
    ).one_or_none()
    if page is not None:
        return page
    last = s.scalar(
        select(func.max(TillPage.number)).where(TillPage.shop_id == shop.id, TillPage.till == till)
    )
    if (last or 0) >= MAX_PAGES:
        raise Refused(
            "till_page.too_many",
            N_("Till {till} has had {max} pages selling offline: use another till name"),
            till=till,
            max=MAX_PAGES,
        )
    page = TillPage(merchant_id=shop.merchant_id, shop_id=shop.id, till=till,
                    page_ref=page_ref, number=(last or 0) + 1, created_at=now)  # fmt: skip
    s.add(page)
    s.flush()
    return page


def _page_view(shop: Shop, page: TillPage) -> TillPageView:
    return TillPageView(
        shop_number=shop.number, till=page.till, page_id=page.page_ref,
        page_number=page.number, receipt_prefix=page_prefix(shop.number, page.till, page.number),
        created_at=page.created_at,
    )  # fmt: skip


def page_prefix(shop_number: int, till: str, page_number: int) -> str:
    """What a page's own receipt numbers start with: ``<shop>-<till>-P<page>.``."""
    return f"{shop_number}-{till}-P{page_number}."


def _reserve(
    s: Session, shop: Shop, till: str, page_ref: str, size: int, now: datetime
) -> ReceiptBlockView:
    top = _lock_till(s, shop, till, size)
    page = _page(s, shop, till, page_ref, now)
    block = ReceiptBlock(page_id=page.id, first_number=top - size, last_number=top - 1,
                         reserved_at=now)  # fmt: skip
    s.add(block)
    s.flush()
    prefix = f"{shop.number}-{till}-"
    return ReceiptBlockView(
        id=block.id, shop_number=shop.number, till=till, page_id=page_ref,
        page_number=page.number, first_number=block.first_number,
        last_number=block.last_number, size=size,
        first_receipt_no=f"{prefix}{block.first_number}",
        last_receipt_no=f"{prefix}{block.last_number}",
        fallback_prefix=page_prefix(shop.number, till, page.number), reserved_at=now,
    )  # fmt: skip


# --- the sync ------------------------------------------------------------------------------------


def _repeat(client_ref: str, seen: _Todo, digest: str) -> SyncOutcome:
    """An order sent twice in one batch: the second is the first (once)."""
    was = seen.outcome
    assert was is not None
    if digest != seen.digest:
        return SyncOutcome(
            client_ref, SyncStatus.REFUSED, was.order_id, was.receipt_no,
            refusal=_ref_used(client_ref),
        )  # fmt: skip
    if was.status is SyncStatus.SYNCED:
        return SyncOutcome(client_ref, SyncStatus.ALREADY_SYNCED, was.order_id, was.receipt_no,
                           was.flags, was.lines)  # fmt: skip
    return was


def _ref_used(client_ref: str) -> Refused:
    return Refused(
        "order.client_ref_used", N_("client_ref {ref} names another order already"), ref=client_ref
    )


def _refuse(item: _Todo, error: TillpointError) -> None:
    item.outcome = SyncOutcome(item.sale.client_ref, SyncStatus.REFUSED, refusal=error)


def _line_notes(s: Session, order_ids: Sequence[int]) -> dict[int, list[LineNote]]:
    notes: dict[int, list[LineNote]] = {}
    if order_ids:
        for order_id, line_no, flags, level in s.execute(
            select(OfflineLineFlag.order_id, OfflineLineFlag.line_no, OfflineLineFlag.flags,
                   OfflineLineFlag.level_milli)
            .where(OfflineLineFlag.order_id.in_(order_ids))
            .order_by(OfflineLineFlag.order_id, OfflineLineFlag.line_no)
        ):  # fmt: skip
            notes.setdefault(order_id, []).append(LineNote(line_no, flags, level))
    return notes


@dataclass(frozen=True)
class _Known:
    """What a batch's orders are checked against, read once for the batch."""

    shop: Shop
    till: str
    shifts: dict[int, Shift]
    accounts: dict[int, int | None]  # the cashiers named: their merchants
    counters: dict[int, Counter]  # the shop's, by number
    products: dict[int, Any]  # the products named, with the shop's price
    members: dict[int, _MemberKnown] = field(default_factory=dict)  # the members named
    member_prices: dict[int, int] = field(default_factory=dict)  # product: member price


@dataclass(frozen=True)
class _MemberKnown:
    member_id: int
    merchant_id: int
    shop_id: int | None
    active: bool
    percent: Decimal | None  # their level's, now


def _sync(
    s: Session, merchant_id: int, shop_number: int, till: str, page_ref: str,
    todo: list[_Todo], now: datetime,
) -> None:  # fmt: skip
    """One batch in one unit of work: every read first (a few statements for the whole
    batch), each order checked against them, then every write, one statement a table."""
    shop = shop_of(s, merchant_id, shop_number)
    # The page, locked: two syncs of its queue (two tabs) take turns.
    page = s.scalars(
        select(TillPage)
        .where(TillPage.shop_id == shop.id, TillPage.till == till, TillPage.page_ref == page_ref)
        .with_for_update()
    ).one_or_none()
    if page is None:
        raise NotFound(
            "till_page.not_found",
            N_("Till {till} has no page {ref}: the page must make itself known first"),
            till=till,
            ref=page_ref,
        )
    if not todo:
        return
    _already(s, merchant_id, todo)
    fresh = [t for t in todo if t.outcome is None]
    _check_receipts(s, merchant_id, shop, till, page, fresh)
    fresh = [t for t in fresh if t.outcome is None]
    known = _read(s, merchant_id, shop, till, fresh)
    _read_members(s, merchant_id, fresh, known, now)
    placed: dict[int, tuple[Shift, int, int | None]] = {}  # at: shift, cashier, counter id
    for t in fresh:
        where = _placed(t, known, merchant_id)
        if where is not None and _noted(t, known, where[0], now):
            placed[t.at] = where
    ready = [t for t in fresh if t.outcome is None]
    _write(s, merchant_id, shop, page, ready, placed, known, now)


def _read(s: Session, merchant_id: int, shop: Shop, till: str, fresh: list[_Todo]) -> _Known:
    shift_ids = sorted({t.sale.shift_id for t in fresh})
    shifts = {x.id: x for x in s.scalars(select(Shift).where(Shift.id.in_(shift_ids)))}
    others = sorted({t.sale.cashier_id for t in fresh if t.sale.cashier_id is not None})
    accounts: dict[int, int | None] = {}
    if others:
        accounts = dict(
            s.execute(select(Account.id, Account.merchant_id).where(Account.id.in_(others))).all()
        )
    counters = {c.number: c for c in s.scalars(select(Counter).where(Counter.shop_id == shop.id))}
    wanted = sorted({line.product_id for t in fresh for line in t.sale.lines})
    products = {
        row.id: row
        for row in s.execute(
            select(Product.id, Product.category_id, Product.price_minor, Product.cost_minor,
                   Product.active, ShopPrice.price_minor.label("shop_price"))
            .outerjoin(ShopPrice, (ShopPrice.product_id == Product.id)
                       & (ShopPrice.shop_id == shop.id))
            .where(Product.merchant_id == merchant_id, Product.id.in_(wanted))
        )
    } if wanted else {}  # fmt: skip
    return _Known(shop, till, shifts, accounts, counters, products)


def _read_members(
    s: Session, merchant_id: int, fresh: list[_Todo], known: _Known, now: datetime
) -> None:
    """The members the batch's sales name, with their level now, and the member prices
    of its products: three reads for the batch, none without a member."""
    named = sorted({t.sale.member_id for t in fresh if t.sale.member_id is not None})
    if not named:
        return
    scope = loyalty.settings_of(s, merchant_id).scope
    rows = s.execute(
        select(Member.id, Member.merchant_id, Member.shop_id, Member.status)
        .where(Member.id.in_(named))
    ).all()  # fmt: skip
    spent = loyalty.spends(s, [r.id for r in rows], now - timedelta(days=loyalty.SPEND_DAYS))
    levels = loyalty.levels_of(s, merchant_id)
    for r in rows:
        if r.merchant_id != merchant_id:
            continue  # another merchant's: as one that does not exist
        if scope is MemberScope.SHOP and r.shop_id != known.shop.id:
            continue
        level = lr.level_for(spent.get(r.id, 0), levels)
        known.members[r.id] = _MemberKnown(r.id, r.merchant_id, r.shop_id,
                                           r.status is MemberStatus.ACTIVE,
                                           level.discount_percent if level else None)  # fmt: skip
    wanted = sorted({x.product_id for t in fresh if t.sale.member_id for x in t.sale.lines})
    known.member_prices.update(loyalty.member_prices(s, merchant_id, set(wanted)))


def _placed(t: _Todo, known: _Known, merchant_id: int) -> tuple[Shift, int, int | None] | None:
    """The order's shift, cashier and counter, or None (refused: why)."""
    sale = t.sale
    shift = known.shifts.get(sale.shift_id)
    if shift is None or shift.merchant_id != merchant_id:
        _refuse(t, NotFound("shift.not_found", N_("No shift {id}"), id=sale.shift_id))
        return None
    if shift.shop_id != known.shop.id or shift.till != known.till:
        _refuse(t, Refused("sync.other_till", N_("Shift {id} is another till's"), id=shift.id))
        return None
    cashier = shift.account_id if sale.cashier_id is None else sale.cashier_id
    if sale.cashier_id is not None and known.accounts.get(sale.cashier_id) != merchant_id:
        _refuse(t, NotFound("account.not_found", N_("No account {ref}"), ref=sale.cashier_id))
        return None
    counter_id = None
    if sale.counter_number is not None:
        counter = known.counters.get(sale.counter_number)
        if counter is None:
            _refuse(t, NotFound("counter.not_found", N_("No counter {id}"),
                                id=sale.counter_number))  # fmt: skip
            return None
        counter_id = counter.id
    elif any(c.active for c in known.counters.values()):
        t.flags |= Flag.NO_COUNTER
    if sale.member_id is not None and sale.member_id not in known.members:
        _refuse(t, NotFound("member.not_found", N_("No member {id}"), id=sale.member_id))
        return None
    return shift, cashier, counter_id


def _noted(t: _Todo, known: _Known, shift: Shift, now: datetime) -> bool:
    """What is noted of the order (its flags and its lines'), or False (refused)."""
    sale = t.sale
    for n, x in enumerate(sale.lines, 1):
        if x.product_id not in known.products:
            _refuse(t, NotFound("product.not_found", N_("Line {n}: no product {ref}"), n=n,
                                ref=x.product_id))  # fmt: skip
            return False
    made = sale.made_at.astimezone(UTC)
    if not EARLIEST <= made <= now + AHEAD_AT_MOST:
        _refuse(t, InvalidInput(
            "sync.made_at_range", N_("Order made at {at}: the till's clock is far off"),
            at=made.isoformat(),
        ))  # fmt: skip
        return False
    if made > now + CLOCK_SLACK or made < shift.opened_at - CLOCK_SLACK:
        t.flags |= Flag.CLOCK
    if shift.status is ShiftStatus.CLOSED:
        t.flags |= Flag.SHIFT_CLOSED
    gross = 0
    for n, x in enumerate(sale.lines, 1):
        listed = _listed(known, sale, x.product_id)
        p = known.products[x.product_id]
        flags = Flag.PRICE_CHANGED if listed != x.list_price_minor else 0
        if not p.active:
            flags |= Flag.PRODUCT_INACTIVE
        if flags:
            t.line_flags[n] = flags
        if x.unit_price_minor != x.list_price_minor:  # a price of the till's own
            t.flags |= Flag.NOT_APPROVED
        gross += rules.line_gross(x.unit_price_minor, x.quantity_milli)
    if (gross - sale.total_minor) * rules.HUNDRED > gross * rules.DISCOUNT_FREE_PERCENT:
        t.flags |= Flag.NOT_APPROVED
    return True


def _listed(known: _Known, sale: OfflineSale, product_id: int) -> int:
    """The product's list price in the shop now: for a member's sale, the member's
    price (store/loyalty_rules.py, ``member_price``), as the till's copy listed it."""
    p = known.products[product_id]
    listed: int = p.price_minor if p.shop_price is None else p.shop_price
    member = known.members.get(sale.member_id) if sale.member_id is not None else None
    if member is not None:
        listed = lr.member_price(listed, known.member_prices.get(product_id), member.percent)
    return listed


def _already(s: Session, merchant_id: int, todo: list[_Todo]) -> None:
    """The orders stored already under their client_refs: answered, not written."""
    stored = s.execute(
        select(Order.id, Order.client_ref, Order.request_sha256, Order.receipt_no)
        .where(Order.merchant_id == merchant_id,
               Order.client_ref.in_([t.sale.client_ref for t in todo]))
    ).all()  # fmt: skip
    if not stored:
        return
    ids = [row.id for row in stored]
    offline = dict(
        s.execute(
            select(OfflineOrder.order_id, OfflineOrder.flags).where(OfflineOrder.order_id.in_(ids))
        ).all()
    )
    notes = _line_notes(s, ids)
    by_ref = {row.client_ref: row for row in stored}
    for t in todo:
        row = by_ref.get(t.sale.client_ref)
        if row is None:
            continue
        flags = offline.get(row.id)
        if flags is not None and row.request_sha256 != t.digest:
            t.outcome = SyncOutcome(t.sale.client_ref, SyncStatus.REFUSED, row.id, row.receipt_no,
                                    refusal=_ref_used(t.sale.client_ref))  # fmt: skip
            continue
        # This order (or, made online under the same client_ref, the same sale): kept as
        # it is, and answered as it stands.
        t.outcome = SyncOutcome(t.sale.client_ref, SyncStatus.ALREADY_SYNCED, row.id,
                                row.receipt_no, flags or 0,
                                tuple(notes.get(row.id, ())))  # fmt: skip


def _check_receipts(
    s: Session, merchant_id: int, shop: Shop, till: str, page: TillPage, fresh: list[_Todo]
) -> None:
    """Each receipt number is one of the page's: within a block it reserved, or of
    its fallback form; and no other order has it."""
    blocks = s.execute(
        select(ReceiptBlock.first_number, ReceiptBlock.last_number)
        .where(ReceiptBlock.page_id == page.id)
        .order_by(ReceiptBlock.first_number)
    ).all()
    starts = [b.first_number for b in blocks]
    prefix = f"{shop.number}-{till}-"
    numbers: dict[str, _Todo] = {}
    for t in fresh:
        no = t.sale.receipt_no
        rest = no[len(prefix) :] if no.startswith(prefix) else ""
        ok = False
        if DIGITS.fullmatch(rest):
            n = int(rest)
            i = bisect.bisect_right(starts, n) - 1
            ok = i >= 0 and blocks[i].first_number <= n <= blocks[i].last_number
        elif (m := FALLBACK.fullmatch(rest)) is not None and int(m.group(1)) == page.number:
            ok = True
            if blocks:  # a page that took blocks and ran past them
                t.flags |= Flag.FALLBACK_NUMBER
        if not ok:
            _refuse(t, Refused(
                "sync.receipt_no", N_("Receipt number {no} is not one of this till page's"),
                no=no,
            ))  # fmt: skip
        elif no in numbers:
            _refuse(t, _receipt_taken(no))
        else:
            numbers[no] = t
    if numbers:
        for taken in s.scalars(
            select(Order.receipt_no).where(Order.merchant_id == merchant_id,
                                           Order.receipt_no.in_(list(numbers)))
        ):  # fmt: skip
            if taken is not None:
                _refuse(numbers[taken], _receipt_taken(taken))


def _receipt_taken(no: str) -> Refused:
    return Refused(
        "sync.receipt_taken", N_("Receipt number {no} is another order's already"), no=no
    )


def _write(
    s: Session, merchant_id: int, shop: Shop, page: TillPage, ready: list[_Todo],
    placed: dict[int, tuple[Shift, int, int | None]], known: _Known, now: datetime,
) -> None:  # fmt: skip
    """The batch's new orders, their lines, tenders and stock, what was noted of them,
    and the rollups: one statement a table."""
    if not ready:
        return
    products = known.products
    conn = s.connection()
    order_ids = new_ids(conn, "orders", len(ready))
    line_ids = iter(new_ids(conn, "order_lines", sum(len(t.sale.lines) for t in ready)))
    tender_ids = iter(new_ids(conn, "order_tenders", sum(len(t.sale.tenders) for t in ready)))
    orders: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    tenders: list[dict[str, Any]] = []
    moves: list[Move] = []
    for t, order_id in zip(ready, order_ids, strict=True):
        sale = t.sale
        shift, cashier, counter_id = placed[t.at]
        made = sale.made_at.astimezone(UTC)
        orders.append(
            {"id": order_id, "merchant_id": merchant_id, "shop_id": shop.id,
             "counter_id": counter_id, "shift_id": shift.id, "account_id": cashier,
             "kind": OrderKind.SALE, "status": OrderStatus.PAID, "original_order_id": None,
             "client_ref": sale.client_ref, "request_sha256": t.digest,
             "receipt_no": sale.receipt_no, "currency": shift.currency,
             "subtotal_minor": sale.subtotal_minor, "discount_minor": sale.discount_minor,
             "total_minor": sale.total_minor, "note": sale.note, "approved_by": None,
             "member_id": sale.member_id,
             "created_at": made, "updated_at": now, "paid_at": made}
        )  # fmt: skip
        shares = rules.spread(sale.discount_minor, [x.amount_minor for x in sale.lines])
        by = f"account {cashier}"
        for n, (x, share) in enumerate(zip(sale.lines, shares, strict=True), 1):
            p = products[x.product_id]
            line_id = next(line_ids)
            if sale.member_id is not None:
                t.earns.append((line_id, x.amount_minor - share, p.category_id))
            lines.append(
                {"id": line_id, "order_id": order_id, "line_no": n,
                 "product_id": x.product_id, "category_id": p.category_id,
                 "barcode": x.barcode, "name": x.name, "unit": x.unit,
                 "quantity_milli": x.quantity_milli,
                 "list_price_minor": _listed(known, sale, x.product_id),
                 "unit_price_minor": x.unit_price_minor, "discount_minor": x.discount_minor,
                 "order_discount_minor": share, "amount_minor": x.amount_minor,
                 "cost_minor": p.cost_minor, "original_line_id": None, "returned_milli": 0}
            )  # fmt: skip
            moves.append(Move(x.product_id, -x.quantity_milli, order_id=order_id,
                              document=sale.receipt_no, by=by))  # fmt: skip
        for c in sale.tenders:
            tenders.append(
                {"id": next(tender_ids), "order_id": order_id, "kind": TenderKind.CASH,
                 "status": TenderStatus.PAID, "amount_minor": c.amount_minor,
                 "received_minor": c.received_minor, "change_minor": c.change_minor,
                 "payment_id": None, "checkout_id": None, "original_tender_id": None,
                 "response_code": None, "created_at": made, "updated_at": now}
            )  # fmt: skip
    s.execute(insert(Order), orders)
    s.execute(insert(OrderLine), lines)
    if tenders:
        s.execute(insert(OrderTender), tenders)
    after = move(s, merchant_id=merchant_id, shop_id=shop.id, kind=MovementKind.SALE,
                 moves=moves, by="offline sync", at=now)  # fmt: skip
    _stock_flags(ready, after)
    offline: list[dict[str, Any]] = []
    noted: list[dict[str, Any]] = []
    for t, order_id in zip(ready, order_ids, strict=True):
        for flags in t.line_flags.values():
            t.flags |= flags & LINE_FLAGS
        offline.append(
            {"order_id": order_id, "merchant_id": merchant_id, "page_id": page.id,
             "made_at": t.sale.made_at.astimezone(UTC), "received_at": now, "flags": int(t.flags),
             "look": bool(t.flags & LOOK)}
        )  # fmt: skip
        notes = []
        for n in sorted(t.line_flags):
            level = t.levels.get(n)
            noted.append({"order_id": order_id, "line_no": n, "flags": int(t.line_flags[n]),
                          "level_milli": level})  # fmt: skip
            notes.append(LineNote(n, t.line_flags[n], level))
        t.outcome = SyncOutcome(t.sale.client_ref, SyncStatus.SYNCED, order_id,
                                t.sale.receipt_no, t.flags, tuple(notes))  # fmt: skip
    s.execute(insert(OfflineOrder), offline)
    if noted:
        s.execute(insert(OfflineLineFlag), noted)
    record_paid_many(s, order_ids)
    _member_points(s, merchant_id, shop.id, ready, order_ids, now)


def _stock_flags(ready: list[_Todo], after: dict[int, int]) -> None:
    """Each line after which its product's stock in the shop was below zero, taken in
    the order the page sold them: the levels before the batch are the levels after it
    less what it moved (its rows stay locked until the commit)."""
    level = dict(after)
    for t in ready:
        for x in t.sale.lines:
            level[x.product_id] += x.quantity_milli
    for t in ready:
        for n, x in enumerate(t.sale.lines, 1):
            level[x.product_id] -= x.quantity_milli
            if level[x.product_id] < 0:
                t.line_flags[n] = t.line_flags.get(n, 0) | Flag.STOCK_NEGATIVE
                t.levels[n] = level[x.product_id]


def _member_points(
    s: Session, merchant_id: int, shop_id: int, ready: Sequence[_Todo],
    order_ids: Sequence[int], now: datetime,
) -> None:  # fmt: skip
    """The points of members' offline orders, in the sync's unit of work, once: only
    orders written now reach here, never one synced before (nor its repeat in the
    batch). Each earns as a paid sale online does (store/loyalty.py, ``earn``: each
    line's net x the shop's rate x its category's multiple, the order's sum rounded down),
    at the time of the sync. A member erased since earns nothing (the sale still names
    them, anonymous). The members' rows are locked in id order, as the ledger wants."""
    named = sorted({t.sale.member_id for t in ready if t.sale.member_id is not None})
    if not named:
        return
    members = {
        m.id: m
        for m in s.scalars(
            select(Member).where(Member.id.in_(named)).order_by(Member.id).with_for_update()
        )
    }
    for t, order_id in zip(ready, order_ids, strict=True):
        member = members.get(t.sale.member_id) if t.sale.member_id is not None else None
        if member is None or member.status is not MemberStatus.ACTIVE:
            continue
        loyalty.earn(s, merchant_id, shop_id, order_id, member, t.earns, now, "offline sync")
