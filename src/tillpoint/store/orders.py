"""Orders: what a till sells (or takes back) and how it was paid.

The till builds the cart itself and sends it whole: the server prices every line from
the catalogue (the shop's price where it has one, else the product's), applies the
discounts, spreads the order's discount over the lines, checks the till's own figures
when it sends them, and records the order, its lines and its cash tenders in one unit
of work; when the tenders pay the total the stock moves out and the receipt number is
given in that same unit of work. ``client_ref`` (the till's UUID) makes it idempotent:
the same order sent again is the order already made; anything else under the same
``client_ref`` is refused.

States: open (rung up, being paid) -> paid; open -> held (parked) -> open (recalled);
open or held -> canceled. Tenders (``TenderKind``) pay an open order; an order is paid
when its paid tenders add up to its total exactly. Cash is settled here; card, wallet
and QR tenders go through the networks (store/tenders.py) and are recorded here.

A return is an order of kind return against a paid sale (``original_order_id``): its
lines name the sale's lines, never taking back more than was sold less what earlier
returns took (``order_lines.returned_milli``, with a CHECK), with a manager's approval;
its tenders are money paid back, each against the sale's tender it gives back
(``store/order_rules.py``, ``refund_plan``), and it is paid when they add up to its
total; then the stock comes back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.access.accounts import AccountService
from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound, Refused, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.payments.checkouts import PAYABLE
from tillpoint.payments.models import Checkout, CheckoutStatus, Payment, PaymentKind, PaymentStatus
from tillpoint.store import coupons, loyalty
from tillpoint.store import loyalty_rules as lr
from tillpoint.store import order_rules as rules
from tillpoint.store.loyalty import CouponApplied, OrderLoyalty
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
    ProductBarcode,
    ReceiptSequence,
    Shift,
    ShiftStatus,
    ShopPrice,
    SoldBy,
    TenderKind,
    TenderStatus,
)
from tillpoint.store.movements import Move, move
from tillpoint.store.rollups import record_paid
from tillpoint.store.shifts import check_seller, trading_shop, visible_shift
from tillpoint.terminals.models import Terminal

MAX_LINES = 200
MAX_QUANTITY_MILLI = 10**7  # 10,000 of a unit on one line
MAX_PRICE_MINOR = 10**9  # 10,000,000.00 a unit
MAX_ORDER_MINOR = 10**11  # as the payments' limit: far above any, well inside int64
MAX_CLIENT_REF = 40
MAX_NOTE = 200
MAX_TENDERS = 10  # on one order
MAX_BARCODE = 32
ELECTRONIC = (TenderKind.CARD, TenderKind.WALLET, TenderKind.QR)
LIVE = (TenderStatus.PENDING, TenderStatus.PAID, TenderStatus.REFUNDED)
# A pending tender with nothing to follow yet (the process stopped between noting it and
# asking the network) is looked for by its reference after this long, then failed.
STRANDED_AFTER = timedelta(minutes=2)


# --- what the till sends -----------------------------------------------------------------------


@dataclass(frozen=True)
class LineIn:
    """One line of the cart: a product by id or by the barcode scanned, how much
    (thousandths of its unit: 1,000 a piece, 455 for 0.455 kg), and optionally a price
    of its own (a manager's approval), a discount (amount or percent) and the till's
    own figure of its amount (checked)."""

    product_id: int | None = None
    barcode: str | None = None
    quantity_milli: int = MILLI
    unit_price_minor: int | None = None
    discount_minor: int | None = None
    discount_percent: Decimal | None = None
    expected_amount_minor: int | None = None


@dataclass(frozen=True)
class Discount:
    """An order's discount: an amount, or a percentage of the lines' amounts."""

    amount_minor: int | None = None
    percent: Decimal | None = None


@dataclass(frozen=True)
class TenderIn:
    """A way to pay (or pay back): cash (what the customer handed over), a card at the
    shop's terminal (``tid``, or the shop's only one), a wallet code scanned (``code``),
    or a QR code for the customer to scan. Without ``amount_minor`` it pays what is
    left (cash: what it covers of that)."""

    kind: TenderKind
    amount_minor: int | None = None
    received_minor: int | None = None
    code: str | None = None
    tid: str | None = None


@dataclass(frozen=True)
class Approval:
    """A manager's login and password, or a code of their second factor."""

    login: str
    password: str | None = field(default=None, repr=False)
    code: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CardTerminal:
    """A terminal of the shop that takes card tenders, as a till lists it."""

    tid: str
    model: str
    serial_no: str


@dataclass(frozen=True)
class NewOrder:
    client_ref: str
    shift_id: int
    lines: tuple[LineIn, ...]
    counter_number: int | None = None
    cashier_id: int | None = None  # the shift's opener when None
    discount: Discount | None = None
    expected_total_minor: int | None = None
    note: str | None = None
    hold: bool = False
    tenders: tuple[TenderIn, ...] = ()
    approval: Approval | None = field(default=None, repr=False)
    # A member's order (store/loyalty.py): member prices, points earned when paid; the
    # points it redeems (whole steps, or "max": the most it can take) and its coupons.
    member_id: int | None = None
    redeem_points: loyalty.Redeem = 0
    coupon_codes: tuple[str, ...] = ()


# A new order's fields that join its fingerprint only when used (older orders' stay).
MEMBER_FIELDS = ("member_id", "redeem_points", "coupon_codes")


@dataclass(frozen=True)
class ReturnLineIn:
    line_id: int  # the sale's line
    quantity_milli: int


@dataclass(frozen=True)
class NewReturn:
    client_ref: str
    shift_id: int  # the till taking it back: the sale's shop
    lines: tuple[ReturnLineIn, ...]
    approval: Approval | None = field(default=None, repr=False)
    cashier_id: int | None = None
    note: str | None = None


# --- what it gets back ---------------------------------------------------------------------------


class OrderLineView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    line_no: int
    product_id: int | None
    barcode: str | None
    name: str
    unit: str
    quantity_milli: int = Field(description="Thousandths of the unit: 1000 is one")
    list_price_minor: int = Field(description="The catalogue's price for the shop")
    unit_price_minor: int = Field(description="As charged")
    discount_minor: int = Field(description="The line's own discount")
    order_discount_minor: int = Field(description="Its share of the order's discount")
    amount_minor: int = Field(description="Price x quantity (rounded half up) - discount")
    net_minor: int = Field(description="What the customer paid for it: amount - order share")
    returned_milli: int = Field(description="A sale's line: taken back by returns so far")
    original_line_id: int | None = Field(description="A return's line: the sale's line")


class TenderView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    kind: TenderKind
    status: TenderStatus
    amount_minor: int = Field(description="What it pays of the order (a return: pays back)")
    received_minor: int | None = Field(description="Cash: what the customer handed over")
    change_minor: int = Field(description="Cash: what went back")
    payment_id: int | None
    checkout_id: int | None = Field(description="A card tender: the checkout at the terminal")
    tid: str | None = Field(description="A card tender: the terminal that takes it")
    qr_code: str | None = Field(description="A QR tender while pending: what the customer scans")
    response_code: str | None = Field(description="A failed one's answer")
    original_tender_id: int | None = Field(description="A return's: the sale's tender")
    created_at: datetime
    updated_at: datetime


class OrderView(BaseModel):
    """An order as the till sees it: what to show, and what is left to pay."""

    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["order"] = "order"
    kind: OrderKind
    status: OrderStatus
    mid: str
    shop_number: int
    till: str | None
    shift_id: int | None
    counter_number: int | None
    cashier_id: int | None
    client_ref: str
    receipt_no: str | None = Field(description="Given when paid: <shop>-<till>-<n>")
    currency: str
    subtotal_minor: int = Field(description="The lines' amounts")
    discount_minor: int = Field(description="The order's discount")
    total_minor: int = Field(description="What is paid (a return: paid back)")
    paid_minor: int = Field(description="Tenders done: paid (a return: paid back)")
    pending_minor: int = Field(description="Tenders under way")
    due_minor: int = Field(description="Left to tender: total - paid - pending")
    change_minor: int = Field(description="Change given back in cash")
    original_order_id: int | None
    member_id: int | None = Field(default=None, description="The member it was sold to")
    loyalty: OrderLoyalty | None = Field(
        default=None, description="A member's order: points and coupons"
    )
    approved_by: int | None = Field(description="The manager who approved it")
    note: str | None
    lines: list[OrderLineView]
    tenders: list[TenderView]
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None


@dataclass(frozen=True)
class Created:
    """A new order, and the tenders of the request that go through a network (the
    caller takes them next, with these amounts); none for an order made before."""

    order: OrderView
    to_tender: tuple[TenderIn, ...] = ()
    replayed: bool = False


class QuoteLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    line_no: int
    product_id: int
    name: str
    unit: str
    quantity_milli: int
    list_price_minor: int = Field(description="The price listed for this customer (a member's)")
    unit_price_minor: int = Field(description="The price it would sell at")
    discount_minor: int = Field(description="The line's own discount")
    amount_minor: int = Field(description="Price x quantity less the line's discount")
    order_discount_minor: int = Field(description="Its share of the order's discounts")


class OrderQuote(BaseModel):
    """What a cart would come to, as the order would be made of it now: nothing written."""

    model_config = ConfigDict(frozen=True)

    object: Literal["order_quote"] = "order_quote"
    currency: str
    member_id: int | None
    lines: list[QuoteLine]
    subtotal_minor: int = Field(description="The lines' amounts")
    discount_minor: int = Field(description="The cashier's order discount")
    coupons: list[CouponApplied] = Field(description="Each coupon and what it takes off")
    points_redeemed: int
    redeemed_minor: int = Field(description="What the redeemed points take off")
    total_minor: int = Field(description="What is left to pay: what the order would total")
    points_earned: int = Field(description="What the member would earn once it is paid")
    points_balance: int | None = Field(description="The member's points now")
    approval: str | None = Field(description="Why a manager would have to approve it, if so")


# --- checks of what arrives -------------------------------------------------------------------


def _by_the_piece(s: Session, line: OrderLine) -> bool:
    """Whether a sale's line was of whole pieces: so are its returns."""
    if line.quantity_milli % MILLI or line.product_id is None:
        return False
    product = s.get(Product, line.product_id)
    return product is not None and product.sold_by is SoldBy.PIECE


def _check_client_ref(ref: str) -> str:
    if not 0 < len(ref) <= MAX_CLIENT_REF or not ref.isprintable() or ref != ref.strip():
        raise InvalidInput(
            "order.client_ref",
            N_("client_ref is the till's own id of the order: 1 to {max} printable characters"),
            max=MAX_CLIENT_REF,
        )
    return ref


def _check_note(note: str | None) -> str | None:
    cleaned = " ".join((note or "").split())
    if len(cleaned) > MAX_NOTE:
        raise InvalidInput("order.note", N_("A note is at most {max} characters"), max=MAX_NOTE)
    return cleaned or None


def _check_percent(percent: Decimal) -> None:
    if not (Decimal(0) <= percent <= rules.HUNDRED) or percent != percent.quantize(Decimal("0.01")):
        raise InvalidInput(
            "order.percent", N_("A discount percentage is 0 to 100, to two decimal places")
        )


def _check_line(n: int, line: LineIn) -> None:
    if (line.product_id is None) == (line.barcode is None):
        raise InvalidInput(
            "order.line_product", N_("Line {n}: name the product or its barcode, one of them"), n=n
        )
    if line.barcode is not None and not (
        0 < len(line.barcode) <= MAX_BARCODE and line.barcode.isascii() and line.barcode.isalnum()
    ):
        raise InvalidInput("order.barcode", N_("Line {n}: that is not a barcode"), n=n)
    if not 0 < line.quantity_milli <= MAX_QUANTITY_MILLI:
        raise InvalidInput(
            "order.quantity",
            N_("Line {n}: a quantity is more than 0 and at most {max}"),
            n=n,
            max=MAX_QUANTITY_MILLI // MILLI,
        )
    if line.unit_price_minor is not None and not 0 <= line.unit_price_minor <= MAX_PRICE_MINOR:
        raise InvalidInput("order.price", N_("Line {n}: a price is 0 or more, within reason"), n=n)
    if line.discount_minor is not None and line.discount_percent is not None:
        raise InvalidInput(
            "order.discount_both", N_("A discount is an amount or a percentage, not both")
        )
    if line.discount_minor is not None and not 0 <= line.discount_minor <= MAX_ORDER_MINOR:
        raise InvalidInput("order.discount", N_("A discount is 0 or more fen"))
    if line.discount_percent is not None:
        _check_percent(line.discount_percent)


def _check_tenders(tenders: Sequence[TenderIn]) -> None:
    if len(tenders) > MAX_TENDERS:
        raise InvalidInput(
            "order.tenders", N_("An order takes at most {max} tenders"), max=MAX_TENDERS
        )
    for t in tenders:
        check_tender(t)


def check_tender(t: TenderIn) -> None:
    if t.amount_minor is not None and not 0 < t.amount_minor <= MAX_ORDER_MINOR:
        raise InvalidInput("tender.amount", N_("A tender's amount is more than 0 fen"))
    if t.kind is TenderKind.CASH:
        if t.received_minor is None and t.amount_minor is None:
            raise InvalidInput(
                "tender.cash_received", N_("Say how much cash was received, or the amount")
            )
        if t.received_minor is not None and not 0 < t.received_minor <= MAX_ORDER_MINOR:
            raise InvalidInput("tender.received", N_("The cash received is more than 0 fen"))
    elif t.received_minor is not None:
        raise InvalidInput("tender.received_cash_only", N_("Only cash is received (and changed)"))
    if (t.kind is TenderKind.WALLET) != (t.code is not None):
        raise InvalidInput(
            "tender.code", N_("A wallet tender takes the customer's payment code, and only it")
        )
    if t.tid is not None and t.kind is not TenderKind.CARD:
        raise InvalidInput("tender.tid", N_("Only a card tender names a terminal"))


def _request_sha256(new: NewOrder | NewReturn) -> str:
    """What the till sent under its client_ref, but the manager's secret."""

    def plain(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        return str(value) if not isinstance(value, int | str | bool | type(None)) else value

    body = {
        k: v
        for k, v in asdict(new).items()
        if k != "approval" and not (k in MEMBER_FIELDS and not v)
    }
    text = json.dumps(body, sort_keys=True, default=plain, ensure_ascii=True)
    return hashlib.sha256(f"{type(new).__name__}:{text}".encode()).hexdigest()


# --- the service ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Priced:
    """A line as priced: what it sells, for how much."""

    product_id: int
    barcode: str | None
    name: str
    unit: str
    category_id: int | None
    quantity_milli: int
    list_price_minor: int
    unit_price_minor: int
    discount_minor: int
    amount_minor: int
    cost_minor: int | None


class OrderService:
    def __init__(self, ctx: Context, accounts: AccountService) -> None:
        self.ctx = ctx
        self.accounts = accounts

    # --- approval -------------------------------------------------------------------------

    def approver(self, merchant_id: int, approval: Approval | None, what: str) -> int | None:
        """The manager's account id, checked in a unit of work of its own (a wrong
        secret counts towards their lock even though the order is refused)."""
        if approval is None:
            return None
        return self.accounts.approve(
            merchant_id, approval.login, password=approval.password, code=approval.code,
            what=f"store approval: {what}",
        ).id  # fmt: skip

    def _merchant_of_shift(self, shift_id: int, merchant_id: int | None) -> int:
        with self.ctx.db.read() as s:
            return visible_shift(s, shift_id, merchant_id).merchant_id

    # --- selling ----------------------------------------------------------------------------

    def create(self, new: NewOrder, *, merchant_id: int | None) -> Created:
        """Ring up an order at the till of an open shift (``merchant_id``: the caller's
        merchant; None for operations). Cash tenders in the request are taken in the
        same unit of work (paid in full: stock out, receipt number); the others are
        handed back, with their amounts, for the networks (``Created.to_tender``)."""
        client_ref = _check_client_ref(new.client_ref)
        _check_cart(new)
        _check_tenders(new.tenders)
        if new.hold and new.tenders:
            raise InvalidInput("order.hold_tenders", N_("A held order takes no tenders"))
        note = _check_note(new.note)
        digest = _request_sha256(new)
        approver = None
        if new.approval is not None:
            approver = self.approver(
                self._merchant_of_shift(new.shift_id, merchant_id), new.approval, "order"
            )
        now = self.ctx.now()
        try:
            with self.ctx.db.transaction() as s:
                return self._create(s, new, client_ref, note, digest, merchant_id, approver, now)
        except IntegrityError:  # the same client_ref raced itself in: that order
            with self.ctx.db.read() as s:
                shift = visible_shift(s, new.shift_id, merchant_id)
                found = _by_client_ref(s, shift.merchant_id, client_ref)
                if found is None:
                    raise
                return Created(_same(s, found, digest), replayed=True)

    def _create(
        self,
        s: Session,
        new: NewOrder,
        client_ref: str,
        note: str | None,
        digest: str,
        merchant_id: int | None,
        approver: int | None,
        now: datetime,
    ) -> Created:
        shift = visible_shift(s, new.shift_id, merchant_id, lock=True)
        found = _by_client_ref(s, shift.merchant_id, client_ref)
        if found is not None:
            return Created(_same(s, found, digest), replayed=True)
        if shift.status is not ShiftStatus.OPEN:
            raise _shift_closed(shift)
        shop = s.get_one(Shop, shift.shop_id)
        merchant = trading_shop(s, shop)
        cashier = shift.account_id if new.cashier_id is None else new.cashier_id
        if new.cashier_id is not None and new.cashier_id != shift.account_id:
            check_seller(s, new.cashier_id, shift.merchant_id, shop)
        counter = _counter_for(s, shop, new.counter_number)
        terms = _member_of(s, new, shift, cashier, now)
        r = _reckon(s, new, shift, terms, now)
        priced, perks, discount, subtotal, total = (
            r.priced,
            r.perks,
            r.discount,
            r.subtotal,
            r.total,
        )
        _check_figures(new, priced, total, shift.currency)
        needs = _needs_approval(priced, r.gross, discount + (r.gross - subtotal))
        if needs is not None and approver is None:
            raise needs
        shares = r.shares
        tenders, to_tender = _plan_tenders(total, new.tenders, shift.currency, now)
        # Paid in cash in full (or nothing to pay): paid as it is written, in one go.
        paid_now = not new.hold and not to_tender and sum(t.amount_minor for t in tenders) == total
        status = OrderStatus.HELD if new.hold else OrderStatus.OPEN
        order = Order(
            merchant_id=shift.merchant_id, shop_id=shift.shop_id,
            counter_id=counter.id if counter else None, shift_id=shift.id, account_id=cashier,
            member_id=new.member_id,
            kind=OrderKind.SALE, status=OrderStatus.PAID if paid_now else status,
            original_order_id=None, client_ref=client_ref, request_sha256=digest,
            receipt_no=_next_receipt(s, shop.id, shop.number, shift.till) if paid_now else None,
            currency=shift.currency, subtotal_minor=subtotal,
            discount_minor=discount + perks.minor, total_minor=total, note=note,
            approved_by=approver, created_at=now, updated_at=now,
            paid_at=now if paid_now else None,
        )  # fmt: skip
        s.add(order)
        s.flush()
        rows: list[dict[str, Any]] = [
            {"order_id": order.id, "line_no": n, "product_id": p.product_id,
             "category_id": p.category_id, "barcode": p.barcode, "name": p.name,
             "unit": p.unit, "quantity_milli": p.quantity_milli,
             "list_price_minor": p.list_price_minor, "unit_price_minor": p.unit_price_minor,
             "discount_minor": p.discount_minor, "order_discount_minor": share,
             "amount_minor": p.amount_minor, "cost_minor": p.cost_minor,
             "original_line_id": None, "returned_milli": 0}
            for n, (p, share) in enumerate(zip(priced, shares, strict=True), 1)
        ]  # fmt: skip
        # One executemany and one read of the ids, not an INSERT ... RETURNING a line.
        s.execute(insert(OrderLine), rows, execution_options={"render_nulls": True})
        written = s.execute(
            select(OrderLine.line_no, OrderLine.id).where(OrderLine.order_id == order.id)
        )
        ids: dict[int, int] = {int(n): int(i) for n, i in written}
        lines = [OrderLine(id=ids[row["line_no"]], **row) for row in rows]
        for t in tenders:
            t.order_id = order.id
        s.add_all(tenders)
        s.flush()
        loyalty.record_perks(s, order, terms, perks, now, f"account {cashier}")
        if paid_now:
            _paid(s, order, lines, now)
        elif order.status is OrderStatus.OPEN:
            _complete(s, order, lines, tenders, shift.till, now, shop.number)
        place = Place(merchant.mid or "", shop.number, shift.till, new.counter_number)
        return Created(_view(s, order, lines, tenders, place), tuple(to_tender))

    def quote(self, new: NewOrder, *, merchant_id: int | None) -> OrderQuote:
        """What the cart would come to, priced exactly as ``create`` prices it (the same
        ``_reckon``: the shop's and the member's prices, the discounts, the coupons and
        the points), and the points it would earn once paid; nothing is written, nothing
        locked, no birthday coupon given. Refused as ``create`` would refuse it (a coupon
        that cannot be used, too many points...). The till's own figures are not checked:
        the quote is what it compares them with."""
        _check_cart(new)
        now = self.ctx.now()
        with self.ctx.db.read() as s:
            shift = visible_shift(s, new.shift_id, merchant_id)
            if shift.status is not ShiftStatus.OPEN:
                raise _shift_closed(shift)
            terms = None
            if new.member_id is not None:
                terms = loyalty.member_terms(s, shift.merchant_id, shift.shop_id, new.member_id,
                                             now, "quote", lock=False)  # fmt: skip
            r = _reckon(s, new, shift, terms, now, lock=False)
            earned = 0
            if terms is not None:
                nets = [(p.amount_minor - share, p.category_id)
                        for p, share in zip(r.priced, r.shares, strict=True)]  # fmt: skip
                earned = lr.earned(loyalty.line_micros(s, shift.merchant_id, shift.shop_id, nets))
            needs = _needs_approval(r.priced, r.gross, r.discount + (r.gross - r.subtotal))
            return OrderQuote(
                currency=shift.currency,
                member_id=new.member_id,
                lines=[
                    QuoteLine(
                        line_no=n,
                        product_id=p.product_id,
                        name=p.name,
                        unit=p.unit,
                        quantity_milli=p.quantity_milli,
                        list_price_minor=p.list_price_minor,
                        unit_price_minor=p.unit_price_minor,
                        discount_minor=p.discount_minor,
                        amount_minor=p.amount_minor,
                        order_discount_minor=share,
                    )
                    for n, (p, share) in enumerate(zip(r.priced, r.shares, strict=True), 1)
                ],
                subtotal_minor=r.subtotal,
                discount_minor=r.discount,
                coupons=[
                    loyalty.CouponApplied(code=a.code, name=a.name, discount_minor=a.discount_minor)
                    for a in r.perks.coupons
                ],
                points_redeemed=r.perks.points,
                redeemed_minor=r.perks.points_minor,
                total_minor=r.total,
                points_earned=earned,
                points_balance=terms.member.points if terms else None,
                approval=needs.localized() if needs is not None else None,
            )

    def add_cash(
        self,
        order_id: int,
        *,
        merchant_id: int | None,
        received_minor: int | None = None,
        amount_minor: int | None = None,
    ) -> OrderView:
        """Cash for an open order (or paid back by a return, from the drawer of the
        return's shift). Paid in full, the order is paid (stock, receipt number)."""
        if amount_minor is not None or received_minor is not None:
            check_tender(TenderIn(TenderKind.CASH, amount_minor, received_minor))
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            order = _payable(s, order_id, merchant_id)
            lines, tenders = _lines(s, order.id), _tenders(s, order.id)
            due = _due(order, tenders)
            if order.kind is OrderKind.RETURN:
                if received_minor is not None:
                    raise InvalidInput(
                        "tender.received_return", N_("Cash paid back is an amount, not received")
                    )
                amount = due if amount_minor is None else amount_minor
                taken = rules.CashTender(amount, amount, 0)
            else:
                if received_minor is None and amount_minor is None:
                    raise InvalidInput(
                        "tender.cash_received", N_("Say how much cash was received, or the amount")
                    )
                taken = _take_cash(due, received_minor, amount_minor)
            if not 0 < taken.amount_minor <= due:
                raise _over_due(due, order.currency)
            tender = _cash_tender(order.id, taken, now)
            if order.kind is OrderKind.RETURN:
                tender.status, tender.received_minor = TenderStatus.REFUNDED, None
            s.add(tender)
            s.flush()
            tenders.append(tender)
            _complete(s, order, lines, tenders, _till(s, order), now)
            return _view(s, order, lines, tenders)

    # --- tenders through a network (store/tenders.py calls these) ------------------------

    def owner(self, order_id: int, *, merchant_id: int | None) -> int:
        """The merchant (its id) whose order it is."""
        with self.ctx.db.read() as s:
            return visible_order(s, order_id, merchant_id).merchant_id

    def reserve(self, order_id: int, kind: TenderKind, amount_minor: int | None,
                *, merchant_id: int | None) -> tuple[OrderView, int, int]:  # fmt: skip
        """Note a pending tender of ``kind`` for ``amount_minor`` (what is left, when
        None) of an open sale, before the network is asked: the order, the tender's id
        and the order's merchant."""
        invariant(kind in ELECTRONIC, "a network's tender")
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            order = _payable(s, order_id, merchant_id)
            if order.kind is not OrderKind.SALE:
                raise Refused(
                    "tender.return_cash_only",
                    N_("A return pays back to the sale's tenders, or in cash"),
                )
            tenders = _tenders(s, order.id)
            due = _due(order, tenders)
            amount = due if amount_minor is None else amount_minor
            if not 0 < amount <= due:
                raise _over_due(due, order.currency)
            tender = OrderTender(order_id=order.id, kind=kind, status=TenderStatus.PENDING,
                                 amount_minor=amount, received_minor=None, change_minor=0,
                                 created_at=now, updated_at=now)  # fmt: skip
            s.add(tender)
            s.flush()
            tenders.append(tender)
            return _view(s, order, _lines(s, order.id), tenders), tender.id, order.merchant_id

    def attach(self, tender_id: int, *, checkout_id: int | None = None,
               payment_id: int | None = None) -> None:  # fmt: skip
        """What follows a pending tender: its checkout, or its pending payment (QR)."""
        with self.ctx.db.transaction() as s:
            s.execute(
                update(OrderTender)
                .where(OrderTender.id == tender_id, OrderTender.status == TenderStatus.PENDING)
                .values(checkout_id=checkout_id, payment_id=payment_id,
                        updated_at=self.ctx.now())
            )  # fmt: skip

    def drop(self, tender_id: int) -> None:
        """A pending tender whose network refused it before anything moved: gone, as if
        never asked (bad input changes nothing)."""
        with self.ctx.db.transaction() as s:
            tender = s.get(OrderTender, tender_id, with_for_update=True)
            if tender is not None and tender.status is TenderStatus.PENDING:
                s.delete(tender)

    def settle(self, tender_id: int, status: TenderStatus, *, payment_id: int | None = None,
               response_code: str | None = None) -> OrderView:  # fmt: skip
        """A pending tender's outcome from its network; the order paid (or a return
        paid back) when its tenders cover its total."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            tender = s.get_one(OrderTender, tender_id, with_for_update=True)
            order = s.get_one(Order, tender.order_id, with_for_update=True)
            if tender.status is TenderStatus.PENDING:
                tender.status, tender.response_code, tender.updated_at = status, response_code, now
                if payment_id is not None:
                    tender.payment_id = payment_id
            lines, tenders = _lines(s, order.id), _tenders(s, order.id)
            _complete(s, order, lines, tenders, _till(s, order), now)
            return _view(s, order, lines, tenders)

    def tender_of(self, order_id: int, tender_id: int, *, merchant_id: int | None) -> TenderView:
        with self.ctx.db.read() as s:
            order = visible_order(s, order_id, merchant_id)
            for t in _tender_views(s, _tenders(s, order.id)):
                if t.id == tender_id:
                    return t
        raise NotFound("tender.not_found", N_("No tender {id}"), id=tender_id)

    def cancel_tender(self, order_id: int, tender_id: int, *, merchant_id: int | None) -> OrderView:
        """Take back a cash tender of a sale not yet paid: the cash goes back to the
        customer. (A pending tender is canceled at its network: store/tenders.py.)"""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            order = visible_order(s, order_id, merchant_id, lock=True)
            tender = s.get(OrderTender, tender_id, with_for_update=True) \
                if 0 < tender_id < 2**62 else None  # fmt: skip
            if tender is None or tender.order_id != order.id:
                raise NotFound("tender.not_found", N_("No tender {id}"), id=tender_id)
            if order.status is not OrderStatus.OPEN:
                raise _not_open(order)
            if not (tender.kind is TenderKind.CASH and tender.status is TenderStatus.PAID):
                raise Refused(
                    "tender.not_cancelable",
                    N_("Tender {id} is {status}: it cannot be canceled"),
                    id=tender_id,
                    status=tender.status,
                )
            tender.status, tender.updated_at = TenderStatus.CANCELED, now
            order.updated_at = now
            s.flush()
            return _view(s, order, _lines(s, order.id), _tenders(s, order.id))

    def card_terminals(self, merchant_id: int, shop_number: int) -> list[CardTerminal]:
        """The terminals of a shop that can take an order's card tender, by tid: a till
        of a shop with several names the one it hands the amount to."""
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(Terminal.tid, Terminal.model, Terminal.serial_no)
                .join(Shop, Shop.id == Terminal.shop_id)
                .where(Shop.merchant_id == merchant_id, Shop.number == shop_number,
                       Terminal.merchant_id == merchant_id, Terminal.status.in_(PAYABLE))
                .order_by(Terminal.tid)
            )  # fmt: skip
            return [CardTerminal(tid, model, serial) for tid, model, serial in rows]

    def card_terminal(self, order_id: int, tid: str | None, *, merchant_id: int | None) -> str:
        """The terminal that takes an order's card tender: the one named (of the order's
        shop), or the shop's only terminal that can take payments."""
        with self.ctx.db.read() as s:
            order = visible_order(s, order_id, merchant_id)
            query = select(Terminal.tid).where(
                Terminal.merchant_id == order.merchant_id,
                Terminal.shop_id == order.shop_id,
                Terminal.status.in_(PAYABLE),
            )
            if tid is not None:
                query = query.where(Terminal.tid == tid)
            found = list(s.scalars(query.limit(2)))
        if tid is not None and not found:
            raise NotFound("terminal.not_found", N_("No terminal {tid}"), tid=tid)
        if not found:
            raise Refused("tender.no_terminal", N_("This shop has no terminal to take cards"))
        if len(found) > 1:
            raise InvalidInput(
                "tender.which_terminal",
                N_("This shop has several terminals: name the one that takes the card (tid)"),
            )
        return found[0]

    # --- hold, recall, cancel ---------------------------------------------------------------

    def hold(self, order_id: int, *, merchant_id: int | None) -> OrderView:
        """Park an open sale with nothing tendered yet, to be recalled at a till."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            order = visible_order(s, order_id, merchant_id, lock=True)
            if order.kind is not OrderKind.SALE or order.status is not OrderStatus.OPEN:
                raise _not_open(order)
            tenders = _tenders(s, order.id)
            if any(t.status in LIVE for t in tenders):
                raise Refused(
                    "order.tendered", N_("Order {id} is being paid: it cannot be held"),
                    id=order.id,
                )  # fmt: skip
            order.status, order.updated_at = OrderStatus.HELD, now
            s.flush()
            return _view(s, order, _lines(s, order.id), tenders)

    def recall(self, order_id: int, shift_id: int, *, merchant_id: int | None) -> OrderView:
        """Reopen a held order at the till of an open shift of its shop."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            order = visible_order(s, order_id, merchant_id, lock=True)
            shift = visible_shift(s, shift_id, merchant_id)
            if shift.merchant_id != order.merchant_id:
                raise NotFound("shift.not_found", N_("No shift {id}"), id=shift_id)
            if order.status is not OrderStatus.HELD:
                raise Refused(
                    "order.not_held", N_("Order {id} is {status}: only a held order is recalled"),
                    id=order.id, status=order.status,
                )  # fmt: skip
            if shift.status is not ShiftStatus.OPEN:
                raise _shift_closed(shift)
            if shift.shop_id != order.shop_id:
                raise Refused(
                    "order.other_shop", N_("Order {id} was rung up in another shop"), id=order.id
                )
            order.status, order.shift_id, order.updated_at = OrderStatus.OPEN, shift.id, now
            s.flush()
            return _view(s, order, _lines(s, order.id), _tenders(s, order.id))

    def cancel(self, order_id: int, *, merchant_id: int | None) -> OrderView:
        """Give up an order not paid: its cash goes back to the customer. Card, wallet
        and QR money taken already is given back first (store/tenders.py); a tender
        still under way is canceled (or waited for) first. A return canceled gives its
        quantities back to the sale, if it paid nothing back yet."""
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            order = visible_order(s, order_id, merchant_id, lock=True)
            if order.status not in (OrderStatus.OPEN, OrderStatus.HELD):
                raise _not_open(order)
            tenders = _tenders(s, order.id)
            for t in tenders:
                if t.status is TenderStatus.PENDING:
                    raise Refused(
                        "order.tender_pending",
                        N_("Tender {id} is under way: cancel it, or wait for it, first"),
                        id=t.id,
                    )
                electronic_paid = t.kind in ELECTRONIC and t.status is TenderStatus.PAID
                paid_back = order.kind is OrderKind.RETURN and t.status is TenderStatus.REFUNDED
                if electronic_paid or paid_back:
                    raise Refused(
                        "order.money_taken",
                        N_("Tender {id} has moved money: give it back first"),
                        id=t.id,
                    )
            for t in tenders:
                if t.kind is TenderKind.CASH and t.status is TenderStatus.PAID:
                    t.status, t.updated_at = TenderStatus.CANCELED, now
            lines = _lines(s, order.id)
            if order.kind is OrderKind.RETURN:
                for line in lines:
                    s.execute(
                        update(OrderLine)
                        .where(OrderLine.id == line.original_line_id)
                        .values(returned_milli=OrderLine.returned_milli - line.quantity_milli)
                    )
            order.status, order.updated_at = OrderStatus.CANCELED, now
            s.flush()
            loyalty.on_canceled(s, order, now)
            return _view(s, order, lines, tenders)

    # --- reading -----------------------------------------------------------------------------

    def get(self, order_id: int, *, merchant_id: int | None) -> OrderView:
        """The order; tenders under way are brought up to date with their checkouts and
        payments first (a read, and a write only when one has moved on)."""
        with self.ctx.db.read() as s:
            order = visible_order(s, order_id, merchant_id)
            lines, tenders = _lines(s, order.id), _tenders(s, order.id)
            if not any(t.status is TenderStatus.PENDING for t in tenders):
                return _view(s, order, lines, tenders)
            news = _news(s, order, tenders, self.ctx.now())
            if not news:
                return _view(s, order, lines, tenders)
        return self._refresh(order_id, merchant_id)

    def _refresh(self, order_id: int, merchant_id: int | None) -> OrderView:
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            order = visible_order(s, order_id, merchant_id, lock=True)
            lines, tenders = _lines(s, order.id), _tenders(s, order.id)
            for tender_id, moved in _news(s, order, tenders, now).items():
                tender = next(t for t in tenders if t.id == tender_id)
                tender.status, tender.response_code = moved.status, moved.response_code
                tender.updated_at = now
                if moved.payment_id is not None:
                    tender.payment_id = moved.payment_id
                if moved.checkout_id is not None:
                    tender.checkout_id = moved.checkout_id
            s.flush()
            _complete(s, order, lines, tenders, _till(s, order), now)
            return _view(s, order, lines, tenders)

    def pending_tenders(self, order_id: int, *, merchant_id: int | None) -> list[TenderView]:
        with self.ctx.db.read() as s:
            order = visible_order(s, order_id, merchant_id)
            tenders = [t for t in _tenders(s, order.id) if t.status is TenderStatus.PENDING]
            return _tender_views(s, tenders)

    def search(
        self,
        *,
        merchant_id: int | None,
        shop_number: int | None = None,
        shift_id: int | None = None,
        till: str | None = None,
        status: OrderStatus | None = None,
        kind: OrderKind | None = None,
        receipt_no: str | None = None,
        client_ref: str | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[OrderView]:
        """Newest first: a shop's, a till's or a shift's orders; the held ones to
        recall; the sale a receipt number names."""
        check_limit(limit)
        query = select(Order).order_by(Order.id.desc()).limit(limit)
        if merchant_id is not None:
            query = query.where(Order.merchant_id == merchant_id)
        if shop_number is not None:
            query = query.join(Shop, Shop.id == Order.shop_id).where(Shop.number == shop_number)
        if till is not None:
            query = query.join(Shift, Shift.id == Order.shift_id).where(Shift.till == till)
        for column, value in ((Order.shift_id, shift_id), (Order.status, status),
                              (Order.kind, kind), (Order.receipt_no, receipt_no),
                              (Order.client_ref, client_ref)):  # fmt: skip
            if value is not None:
                query = query.where(column == value)
        if before_id is not None:
            query = query.where(Order.id < before_id)
        with self.ctx.db.read() as s:
            orders = list(s.scalars(query))
            ids = [o.id for o in orders]
            lines: dict[int, list[OrderLine]] = {i: [] for i in ids}
            tenders: dict[int, list[OrderTender]] = {i: [] for i in ids}
            if ids:
                for line in s.scalars(select(OrderLine).where(OrderLine.order_id.in_(ids))
                                      .order_by(OrderLine.line_no)):  # fmt: skip
                    lines[line.order_id].append(line)
                for t in s.scalars(select(OrderTender).where(OrderTender.order_id.in_(ids))
                                   .order_by(OrderTender.id)):  # fmt: skip
                    tenders[t.order_id].append(t)
            return [_view(s, o, lines[o.id], tenders[o.id]) for o in orders]

    # --- returns --------------------------------------------------------------------------------

    def create_return(self, original_id: int, new: NewReturn,
                      *, merchant_id: int | None) -> Created:  # fmt: skip
        """Take back lines of a paid sale at the till of an open shift of its shop, with
        a manager's approval: the quantities are held against the sale's lines at once,
        the money goes back to the sale's tenders (``order_rules.refund_plan``): cash
        from this shift's drawer here, the others through their networks
        (store/tenders.py: ``Created.to_tender`` is empty, the return's pending tenders
        say what to refund). Paid back in full: the stock comes back."""
        client_ref = _check_client_ref(new.client_ref)
        if not 0 < len(new.lines) <= MAX_LINES:
            raise InvalidInput("order.lines", N_("An order has 1 to {max} lines"), max=MAX_LINES)
        for n, line in enumerate(new.lines, 1):
            if not 0 < line.quantity_milli <= MAX_QUANTITY_MILLI:
                raise InvalidInput(
                    "order.quantity", N_("Line {n}: a quantity is more than 0 and at most {max}"),
                    n=n, max=MAX_QUANTITY_MILLI // MILLI,
                )  # fmt: skip
        if len({line.line_id for line in new.lines}) != len(new.lines):
            raise InvalidInput("return.line_twice", N_("Name each line of the sale once"))
        note = _check_note(new.note)
        digest = _request_sha256(new)
        with self.ctx.db.read() as s:
            original = visible_order(s, original_id, merchant_id)
            found = _by_client_ref(s, original.merchant_id, client_ref)
            if found is not None:
                return Created(_same(s, found, digest), replayed=True)
            visible_shift(s, new.shift_id, merchant_id)
        if new.approval is None:
            raise Refused(
                "order.approval_required", N_("A manager's approval is needed for a return")
            )
        approver = self.approver(original.merchant_id, new.approval, "return")
        now = self.ctx.now()
        try:
            with self.ctx.db.transaction() as s:
                return self._return(s, original_id, new, client_ref, note, digest, merchant_id,
                                    approver, now)  # fmt: skip
        except IntegrityError:
            with self.ctx.db.read() as s:
                found = _by_client_ref(s, original.merchant_id, client_ref)
                if found is None:
                    raise
                return Created(_same(s, found, digest), replayed=True)

    def _return(
        self,
        s: Session,
        original_id: int,
        new: NewReturn,
        client_ref: str,
        note: str | None,
        digest: str,
        merchant_id: int | None,
        approver: int | None,
        now: datetime,
    ) -> Created:
        original = visible_order(s, original_id, merchant_id, lock=True)
        if original.kind is not OrderKind.SALE or original.status is not OrderStatus.PAID:
            raise Refused(
                "return.not_paid_sale",
                N_("Order {id} is not a paid sale: nothing to take back"),
                id=original.id,
            )
        shift = visible_shift(s, new.shift_id, merchant_id, lock=True)
        if shift.merchant_id != original.merchant_id:
            raise NotFound("shift.not_found", N_("No shift {id}"), id=new.shift_id)
        if shift.status is not ShiftStatus.OPEN:
            raise _shift_closed(shift)
        if shift.shop_id != original.shop_id:
            raise Refused(
                "return.other_shop",
                N_("Order {id} was sold in another shop: take it back there"),
                id=original.id,
            )
        shop = s.get_one(Shop, shift.shop_id)
        cashier = shift.account_id if new.cashier_id is None else new.cashier_id
        if new.cashier_id is not None and new.cashier_id != shift.account_id:
            check_seller(s, new.cashier_id, shift.merchant_id, shop)
        sold = {
            line.id: line
            for line in s.scalars(
                select(OrderLine).where(OrderLine.order_id == original.id).with_for_update()
            )
        }
        back: list[tuple[OrderLine, int, int, int]] = []  # sale line, qty, refund, order share
        for n, want in enumerate(new.lines, 1):
            line = sold.get(want.line_id)
            if line is None:
                raise NotFound(
                    "return.line_not_found",
                    N_("Line {n}: the sale has no line {id}"),
                    n=n,
                    id=want.line_id,
                )
            if want.quantity_milli % MILLI and _by_the_piece(s, line):
                raise InvalidInput(
                    "order.whole_pieces", N_("Line {n}: {name} is sold in whole pieces"), n=n,
                    name=line.name,
                )  # fmt: skip
            left = line.quantity_milli - line.returned_milli
            if want.quantity_milli > left:
                raise Refused(
                    "return.too_much",
                    N_("Line {n}: only {left} of {name} can still be taken back"),
                    n=n,
                    left=_quantity(left),
                    name=line.name,
                )
            net = line.amount_minor - line.order_discount_minor
            refund = rules.taken_back(net, line.quantity_milli, line.returned_milli,
                                      want.quantity_milli)  # fmt: skip
            share = rules.taken_back(line.order_discount_minor, line.quantity_milli,
                                     line.returned_milli, want.quantity_milli)  # fmt: skip
            back.append((line, want.quantity_milli, refund, share))
        total = sum(refund for _l, _q, refund, _sh in back)
        discount = sum(share for _l, _q, _r, share in back)
        order = Order(
            merchant_id=original.merchant_id, shop_id=original.shop_id,
            counter_id=original.counter_id, shift_id=shift.id, account_id=cashier,
            member_id=original.member_id,
            kind=OrderKind.RETURN, status=OrderStatus.OPEN, original_order_id=original.id,
            client_ref=client_ref, request_sha256=digest, receipt_no=None,
            currency=original.currency, subtotal_minor=total + discount,
            discount_minor=discount, total_minor=total, note=note, approved_by=approver,
            created_at=now, updated_at=now, paid_at=None,
        )  # fmt: skip
        s.add(order)
        s.flush()
        lines = []
        for n, (line, quantity, refund, share) in enumerate(back, 1):
            taken_discount = rules.taken_back(line.discount_minor, line.quantity_milli,
                                              line.returned_milli, quantity)  # fmt: skip
            lines.append(
                OrderLine(
                    order_id=order.id, line_no=n, product_id=line.product_id,
                    category_id=line.category_id, barcode=line.barcode, name=line.name,
                    unit=line.unit, quantity_milli=quantity,
                    list_price_minor=line.list_price_minor,
                    unit_price_minor=line.unit_price_minor, discount_minor=taken_discount,
                    order_discount_minor=share, amount_minor=refund + share,
                    cost_minor=line.cost_minor, original_line_id=line.id, returned_milli=0,
                )
            )  # fmt: skip
            line.returned_milli += quantity
        s.add_all(lines)
        tenders = []
        for tender_id, amount in rules.refund_plan(total, _refundable(s, original.id)):
            paid = s.get_one(OrderTender, tender_id)
            cash = paid.kind is TenderKind.CASH
            tenders.append(
                OrderTender(
                    order_id=order.id, kind=paid.kind,
                    status=TenderStatus.REFUNDED if cash else TenderStatus.PENDING,
                    amount_minor=amount, received_minor=None, change_minor=0,
                    original_tender_id=paid.id, created_at=now, updated_at=now,
                )
            )  # fmt: skip
        s.add_all(tenders)
        s.flush()
        _complete(s, order, lines, tenders, shift.till, now)
        return Created(_view(s, order, lines, tenders))

    def refunds_due(self, order_id: int) -> list[tuple[int, int, int, str]]:
        """A return's pending refunds: (tender id, sale payment id, amount, reference)."""
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(OrderTender.id, OrderTender.amount_minor, OrderTender.original_tender_id)
                .where(OrderTender.order_id == order_id,
                       OrderTender.status == TenderStatus.PENDING,
                       OrderTender.original_tender_id.is_not(None))
                .order_by(OrderTender.id)
            ).all()  # fmt: skip
            found = []
            for tender_id, amount, original_tender_id in rows:
                paid = s.get_one(OrderTender, original_tender_id)
                invariant(paid.payment_id is not None, "a network's tender names its payment")
                found.append((tender_id, paid.payment_id or 0, amount,
                              tender_reference(order_id, tender_id)))  # fmt: skip
            return found

    def electronic_paid(
        self, order_id: int, *, merchant_id: int | None
    ) -> list[tuple[int, int, int]]:
        """An unpaid sale's card, wallet and QR tenders that took money: (tender id,
        payment id, amount), to give back before it is canceled."""
        with self.ctx.db.read() as s:
            order = visible_order(s, order_id, merchant_id)
            if order.status not in (OrderStatus.OPEN, OrderStatus.HELD):
                return []
            return [
                (t.id, t.payment_id or 0, t.amount_minor)
                for t in _tenders(s, order.id)
                if t.kind in ELECTRONIC and t.status is TenderStatus.PAID and t.payment_id
            ]

    def mark_refunded(self, tender_id: int) -> None:
        """A sale's tender whose money was given back (the order is being canceled)."""
        with self.ctx.db.transaction() as s:
            s.execute(
                update(OrderTender)
                .where(OrderTender.id == tender_id, OrderTender.status == TenderStatus.PAID)
                .values(status=TenderStatus.REFUNDED, updated_at=self.ctx.now())
            )


# --- helpers -------------------------------------------------------------------------------------


def tender_reference(order_id: int, tender_id: int) -> str:
    """The reference a tender's checkout, payment or refund carries (at most 64)."""
    return f"O{order_id}T{tender_id}"


def order_view(s: Session, order: Order) -> OrderView:
    """An order as it stands, with its lines and tenders (no refresh)."""
    return _view(s, order, _lines(s, order.id), _tenders(s, order.id))


def visible_order(
    s: Session, order_id: int, merchant_id: int | None, *, lock: bool = False
) -> Order:
    order = s.get(Order, order_id, with_for_update=lock) if 0 < order_id < 2**62 else None
    if order is None or (merchant_id is not None and order.merchant_id != merchant_id):
        raise NotFound("order.not_found", N_("No order {id}"), id=order_id)
    return order


def _by_client_ref(s: Session, merchant_id: int, client_ref: str) -> Order | None:
    return s.scalars(
        select(Order).where(Order.merchant_id == merchant_id, Order.client_ref == client_ref)
    ).one_or_none()


def _same(s: Session, order: Order, digest: str) -> OrderView:
    if order.request_sha256 != digest:
        raise Refused(
            "order.client_ref_used",
            N_("client_ref {ref} names another order already"),
            ref=order.client_ref,
        )
    return _view(s, order, _lines(s, order.id), _tenders(s, order.id))


def _lines(s: Session, order_id: int) -> list[OrderLine]:
    return list(
        s.scalars(
            select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no)
        )
    )


def _tenders(s: Session, order_id: int) -> list[OrderTender]:
    return list(
        s.scalars(
            select(OrderTender).where(OrderTender.order_id == order_id).order_by(OrderTender.id)
        )
    )


def _till(s: Session, order: Order) -> str:
    return s.scalar(select(Shift.till).where(Shift.id == order.shift_id)) or ""


def _quantity(milli: int) -> str:
    return str(Decimal(milli) / MILLI)


def _shift_closed(shift: Shift) -> Refused:
    return Refused(
        "shift.closed", N_("Shift {id} is closed: open a shift at the till"), id=shift.id
    )


def _not_open(order: Order) -> Refused:
    return Refused(
        "order.not_open",
        N_("Order {id} is {status}: that cannot be done now"),
        id=order.id,
        status=order.status,
    )


def _over_due(due: int, currency: str) -> InvalidInput:
    return InvalidInput(
        "tender.over_due",
        N_("A tender is more than 0 and at most what is left to pay ({due})"),
        due=Money(due, currency).format(),
    )


def _payable(s: Session, order_id: int, merchant_id: int | None) -> Order:
    """An open order, locked, whose shift is open."""
    order = visible_order(s, order_id, merchant_id, lock=True)
    if order.status is not OrderStatus.OPEN:
        raise _not_open(order)
    # The shift locked too: it does not close while this tender is being written.
    shift = s.get(Shift, order.shift_id, with_for_update=True) if order.shift_id else None
    if shift is None or shift.status is not ShiftStatus.OPEN:
        raise Refused(
            "order.shift_closed",
            N_("Order {id}'s shift is closed: hold it and recall it at an open till"),
            id=order.id,
        )
    return order


def _due(order: Order, tenders: Iterable[OrderTender]) -> int:
    return order.total_minor - sum(t.amount_minor for t in tenders if t.status in LIVE)


def _cash_tender(order_id: int, taken: rules.CashTender, now: datetime) -> OrderTender:
    return OrderTender(
        order_id=order_id, kind=TenderKind.CASH, status=TenderStatus.PAID,
        amount_minor=taken.amount_minor, received_minor=taken.received_minor,
        change_minor=taken.change_minor, created_at=now, updated_at=now,
    )  # fmt: skip


def _plan_tenders(
    total: int, wanted: Sequence[TenderIn], currency: str, now: datetime
) -> tuple[list[OrderTender], tuple[TenderIn, ...]]:
    """A new order's tenders in the order listed, each paying what it says or what the
    ones before it left: the cash ones as taken, the others with their amounts."""
    tenders: list[OrderTender] = []
    to_tender: list[TenderIn] = []
    left = total
    for t in wanted:
        if t.kind is TenderKind.CASH:
            taken = _take_cash(left, t.received_minor, t.amount_minor)
            amount = taken.amount_minor
        else:
            amount = left if t.amount_minor is None else t.amount_minor
        if not 0 < amount <= left:
            raise _over_due(left, currency)
        left -= amount
        if t.kind is TenderKind.CASH:
            tenders.append(_cash_tender(0, taken, now))  # its order's id once written
        else:
            to_tender.append(replace(t, amount_minor=amount))
    return tenders, tuple(to_tender)


def _take_cash(due: int, received_minor: int | None, amount_minor: int | None) -> rules.CashTender:
    taken = rules.cash(due, received_minor, amount_minor)
    if taken.change_minor < 0:
        raise InvalidInput(
            "tender.cash_short", N_("The cash received is less than what it is to pay")
        )
    return taken


def _counter_for(s: Session, shop: Shop, number: int | None) -> Counter | None:
    """The order's counter: required in a shop with active counters."""
    counters = {
        c.number: c
        for c in s.scalars(select(Counter).where(Counter.shop_id == shop.id, Counter.active))
    }
    if number is None:
        if counters:
            raise InvalidInput(
                "order.counter_required",
                N_("Shop {number} sells at counters: name the counter"),
                number=shop.number,
            )
        return None
    found = counters.get(number)
    if found is None:
        raise NotFound("counter.not_found", N_("No counter {id}"), id=number)
    return found


def _check_member(new: NewOrder) -> None:
    if new.member_id is not None and not 0 < new.member_id < 2**62:
        raise NotFound("member.not_found", N_("No member {id}"), id=new.member_id)
    r = new.redeem_points
    if r != "max" and (isinstance(r, bool) or not isinstance(r, int)
                       or not 0 <= r <= loyalty.MAX_REDEEM_POINTS):  # fmt: skip
        raise InvalidInput("order.redeem", N_("Points to redeem are a whole number, or max"))
    if r and new.member_id is None:
        raise InvalidInput("order.redeem_member", N_("Points are redeemed by a member: name one"))
    if len(new.coupon_codes) > coupons.MAX_COUPONS:
        raise InvalidInput("order.coupons", N_("An order takes at most {max} coupons"),
                           max=coupons.MAX_COUPONS)  # fmt: skip
    for code in new.coupon_codes:
        coupons.clean_code(code)


def _check_cart(new: NewOrder) -> None:
    """A cart's own shape (no database): its lines, its discount, its member's perks."""
    if not 0 < len(new.lines) <= MAX_LINES:
        raise InvalidInput("order.lines", N_("An order has 1 to {max} lines"), max=MAX_LINES)
    for n, line in enumerate(new.lines, 1):
        _check_line(n, line)
    if new.discount is not None:
        d = new.discount
        if (d.amount_minor is None) == (d.percent is None):
            raise InvalidInput(
                "order.discount_both", N_("A discount is an amount or a percentage, not both")
            )
        if d.amount_minor is not None and not 0 <= d.amount_minor <= MAX_ORDER_MINOR:
            raise InvalidInput("order.discount", N_("A discount is 0 or more fen"))
        if d.percent is not None:
            _check_percent(d.percent)
    _check_member(new)


@dataclass(frozen=True)
class Reckoned:
    """A cart's figures, as an order is made of them (and as a quote shows them)."""

    priced: list[Priced]
    gross: int  # the lines at their prices, before any discount
    subtotal: int  # the lines' amounts
    discount: int  # the cashier's order discount
    perks: loyalty.Perks  # the member's coupons and points
    total: int
    shares: list[int]  # the order's discounts (the cashier's and the perks) spread


def _reckon(
    s: Session,
    new: NewOrder,
    shift: Shift,
    terms: loyalty.MemberTerms | None,
    now: datetime,
    *,
    lock: bool = True,
) -> Reckoned:
    """The one arithmetic of a new order, for ``create`` and ``quote`` alike: each
    line priced (a member's at their price), the cashier's discount, then the member's
    coupons and points off what that left, spread over the lines. ``lock``: the coupons'
    rows are locked (an order being made; a quote reads)."""
    priced = _price(s, shift, new.lines, terms)
    gross = sum(rules.line_gross(p.unit_price_minor, p.quantity_milli) for p in priced)
    subtotal = sum(p.amount_minor for p in priced)
    discount = 0
    if new.discount is not None:
        d = new.discount
        discount = (
            d.amount_minor if d.amount_minor is not None
            else rules.percent_of(subtotal, d.percent or Decimal(0))
        )  # fmt: skip
        if discount > subtotal:
            raise InvalidInput(
                "order.discount_too_large",
                N_("The order's discount ({discount}) is more than its lines' amounts"),
                discount=Money(discount, shift.currency).format(),
            )
    if subtotal - discount > MAX_ORDER_MINOR:
        raise InvalidInput("order.too_large", N_("That order is too large for one receipt"))
    # The member's coupons and points come off what the cashier's discount left.
    perks = loyalty.perks(s, shift.merchant_id, terms, new.coupon_codes, new.redeem_points,
                          subtotal - discount, now, lock=lock)  # fmt: skip
    total = subtotal - discount - perks.minor
    shares = rules.spread(discount + perks.minor, [p.amount_minor for p in priced])
    return Reckoned(priced, gross, subtotal, discount, perks, total, shares)


def _price(
    s: Session, shift: Shift, wanted: Sequence[LineIn], member: loyalty.MemberTerms | None = None
) -> list[Priced]:
    """Each line priced from the catalogue for the shift's shop (two or three reads); a
    member's at their price (store/loyalty_rules.py, ``member_price``)."""
    codes = {line.barcode for line in wanted if line.barcode is not None}
    by_code: dict[str, int] = {}
    if codes:
        by_code = dict(
            s.execute(
                select(ProductBarcode.code, ProductBarcode.product_id).where(
                    ProductBarcode.merchant_id == shift.merchant_id,
                    ProductBarcode.code.in_(codes),
                )
            ).all()
        )
    ids = {line.product_id for line in wanted if line.product_id is not None} | set(
        by_code.values()
    )
    rows = s.execute(
        select(Product, ShopPrice.price_minor)
        .outerjoin(ShopPrice, (ShopPrice.product_id == Product.id)
                   & (ShopPrice.shop_id == shift.shop_id))
        .where(Product.merchant_id == shift.merchant_id, Product.id.in_(ids))
    ).all()  # fmt: skip
    products = {p.id: (p, shop_price) for p, shop_price in rows}
    own = loyalty.member_prices(s, shift.merchant_id, set(products)) if member else {}
    priced = []
    for n, line in enumerate(wanted, 1):
        product_id = line.product_id if line.barcode is None else by_code.get(line.barcode)
        found = products.get(product_id) if product_id is not None else None
        if found is None:
            raise NotFound(
                "product.not_found",
                N_("Line {n}: no product {ref}"),
                n=n,
                ref=line.barcode or line.product_id,
            )
        product, shop_price = found
        if not product.active or product.currency != shift.currency:
            raise Refused(
                "product.not_for_sale", N_("Line {n}: {name} is not for sale"), n=n,
                name=product.name,
            )  # fmt: skip
        if product.sold_by is SoldBy.PIECE and line.quantity_milli % MILLI:
            raise InvalidInput(
                "order.whole_pieces", N_("Line {n}: {name} is sold in whole pieces"), n=n,
                name=product.name,
            )  # fmt: skip
        listed = product.price_minor if shop_price is None else shop_price
        if member is not None:
            listed = lr.member_price(listed, own.get(product.id), member.percent)
        price = listed if line.unit_price_minor is None else line.unit_price_minor
        gross = rules.line_gross(price, line.quantity_milli)
        discount = line.discount_minor or 0
        if line.discount_percent is not None:
            discount = rules.percent_of(gross, line.discount_percent)
        if discount > gross:
            raise InvalidInput(
                "order.line_discount", N_("Line {n}: the discount is more than the line"), n=n
            )
        priced.append(
            Priced(
                product.id, line.barcode, product.name, product.unit, product.category_id,
                line.quantity_milli, listed, price, discount, gross - discount,
                product.cost_minor,
            )
        )  # fmt: skip
    return priced


def _check_figures(new: NewOrder, priced: Sequence[Priced], total: int, currency: str) -> None:
    """The till's own sums, when it sends them, must be the server's."""
    for n, (line, p) in enumerate(zip(new.lines, priced, strict=True), 1):
        if line.expected_amount_minor is not None and line.expected_amount_minor != p.amount_minor:
            raise Refused(
                "order.figures_differ",
                N_("Line {n} comes to {server} here, not {till}: the till's prices are old"),
                n=n,
                server=Money(p.amount_minor, currency).format(),
                till=Money(line.expected_amount_minor, currency).format(),
            )
    if new.expected_total_minor is not None and new.expected_total_minor != total:
        raise Refused(
            "order.total_differs",
            N_("The order comes to {server} here, not {till}: the till's prices are old"),
            server=Money(total, currency).format(),
            till=Money(new.expected_total_minor, currency).format(),
        )


def _needs_approval(priced: Sequence[Priced], gross: int, discounts: int) -> Refused | None:
    """Why a manager must approve the order, if one must."""
    if any(p.unit_price_minor != p.list_price_minor for p in priced):
        return Refused(
            "order.approval_required", N_("A manager's approval is needed: a price was changed")
        )
    if discounts * rules.HUNDRED > gross * rules.DISCOUNT_FREE_PERCENT:
        return Refused(
            "order.approval_required",
            N_("A manager's approval is needed: the discounts are more than {percent}%"),
            percent=rules.DISCOUNT_FREE_PERCENT,
        )
    return None


def _refundable(s: Session, original_id: int) -> list[rules.Paid]:
    """The sale's paid tenders, each with what returns have not taken back through it."""
    paid = [t for t in _tenders(s, original_id) if t.status is TenderStatus.PAID]
    if not paid:
        return []
    given = dict(
        s.execute(
            select(OrderTender.original_tender_id, func.sum(OrderTender.amount_minor))
            .where(OrderTender.original_tender_id.in_([t.id for t in paid]),
                   OrderTender.status.in_((TenderStatus.PENDING, TenderStatus.REFUNDED)))
            .group_by(OrderTender.original_tender_id)
        ).all()
    )  # fmt: skip
    return [rules.Paid(t.id, t.kind, t.amount_minor - int(given.get(t.id) or 0)) for t in paid]


def _complete(
    s: Session,
    order: Order,
    lines: Sequence[OrderLine],
    tenders: Sequence[OrderTender],
    till: str,
    now: datetime,
    shop_number: int | None = None,
) -> None:
    """An open order whose done tenders cover its total, and none under way, is paid:
    its receipt number, and its stock out (a sale) or back (a return)."""
    if order.status is not OrderStatus.OPEN:
        return
    done = TenderStatus.REFUNDED if order.kind is OrderKind.RETURN else TenderStatus.PAID
    if any(t.status is TenderStatus.PENDING for t in tenders):
        return
    covered = sum(t.amount_minor for t in tenders if t.status is done)
    invariant(covered <= order.total_minor, "tenders never pay more than the total")
    if covered != order.total_minor:
        return
    if shop_number is None:
        shop_number = s.scalar(select(Shop.number).where(Shop.id == order.shop_id))
    order.receipt_no = _next_receipt(s, order.shop_id, shop_number or 0, till)
    order.status, order.paid_at, order.updated_at = OrderStatus.PAID, now, now
    s.flush()
    _paid(s, order, lines, now)


def _next_receipt(s: Session, shop_id: int, shop_number: int, till: str) -> str:
    """The till's next receipt number, ``<shop>-<till>-<n>`` (the till's row locked)."""
    number = s.execute(
        update(ReceiptSequence)
        .where(ReceiptSequence.shop_id == shop_id, ReceiptSequence.till == till)
        .values(next_number=ReceiptSequence.next_number + 1)
        .returning(ReceiptSequence.next_number)
    ).scalar_one()
    return f"{shop_number}-{till}-{number - 1}"


def _paid(s: Session, order: Order, lines: Sequence[OrderLine], now: datetime) -> None:
    """What an order being paid does, in its unit of work: the stock moves, a member's
    points are earned (a sale) or taken back and given back (a return), the reports'
    sums add it."""
    _move_stock(s, order, lines, now)
    loyalty.on_paid(s, order, lines, now)
    s.flush()
    record_paid(s, order.id)  # the reports' sums, in the same unit of work


def _member_of(
    s: Session, new: NewOrder, shift: Shift, cashier: int | None, now: datetime
) -> loyalty.MemberTerms | None:
    """The member a new order names, locked, with their level (None: no member)."""
    if new.member_id is None:
        return None
    by = f"account {cashier}"
    return loyalty.member_terms(s, shift.merchant_id, shift.shop_id, new.member_id, now, by)


def _move_stock(s: Session, order: Order, lines: Sequence[OrderLine], now: datetime) -> None:
    """A paid sale's goods out of the shop's stock, a return's back in."""
    sign = -1 if order.kind is OrderKind.SALE else 1
    moves = [Move(line.product_id, sign * line.quantity_milli) for line in lines if line.product_id]
    if moves:
        move(
            s, merchant_id=order.merchant_id, shop_id=order.shop_id,
            kind=MovementKind.SALE if sign < 0 else MovementKind.RETURN, moves=moves,
            by=f"account {order.account_id}", at=now, order_id=order.id,
            document=order.receipt_no,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Moved:
    """What became of a pending tender."""

    status: TenderStatus
    payment_id: int | None
    response_code: str | None
    checkout_id: int | None = None


def _checkout_news(c: Checkout, now: datetime) -> Moved | None:
    if c.status is CheckoutStatus.PAID:
        return Moved(TenderStatus.PAID, c.payment_id, "00", c.id)
    if c.status is CheckoutStatus.CANCELED:
        return Moved(TenderStatus.CANCELED, None, c.last_response_code, c.id)
    expired = c.status is CheckoutStatus.PENDING and c.expires_at <= now
    if c.status in (CheckoutStatus.FAILED, CheckoutStatus.EXPIRED) or expired:
        return Moved(TenderStatus.FAILED, None, c.last_response_code, c.id)
    return None


def _news(
    s: Session, order: Order, tenders: Sequence[OrderTender], now: datetime
) -> dict[int, Moved]:
    """What has become of the order's pending tenders, from their checkouts and
    payments (one read of each); a tender left with neither (the process stopped
    before it noted them) is found by its reference, or failed."""
    pending = [t for t in tenders if t.status is TenderStatus.PENDING]
    news: dict[int, Moved] = {}
    checkouts = [t.checkout_id for t in pending if t.checkout_id is not None]
    if checkouts:
        found = {c.id: c for c in s.scalars(select(Checkout).where(Checkout.id.in_(checkouts)))}
        for t in pending:
            c = found.get(t.checkout_id or 0)
            if c is not None and (moved := _checkout_news(c, now)) is not None:
                news[t.id] = moved
    payments = [t.payment_id for t in pending if t.payment_id is not None]
    if payments:
        found_p = {p.id: p for p in s.scalars(select(Payment).where(Payment.id.in_(payments)))}
        for t in pending:
            p = found_p.get(t.payment_id or 0)
            if p is not None and (moved := _payment_news(p)) is not None:
                news[t.id] = moved
    stranded = [
        t for t in pending
        if t.checkout_id is None and t.payment_id is None and t.updated_at <= now - STRANDED_AFTER
    ]  # fmt: skip
    if stranded:
        refs = {tender_reference(order.id, t.id): t for t in stranded}
        kind = PaymentKind.REFUND if order.kind is OrderKind.RETURN else PaymentKind.SALE
        by_ref = {
            p.reference: p
            for p in s.scalars(
                select(Payment).where(Payment.merchant_id == order.merchant_id,
                                      Payment.kind == kind, Payment.reference.in_(refs))
            )
        }  # fmt: skip
        checked = {
            c.reference: c
            for c in s.scalars(
                select(Checkout).where(Checkout.merchant_id == order.merchant_id,
                                       Checkout.reference.in_(refs))
            )
        }  # fmt: skip
        for ref, t in refs.items():
            p, c = by_ref.get(ref), checked.get(ref)
            if p is not None:
                news[t.id] = _payment_news(p) or Moved(TenderStatus.PENDING, p.id, None)
            elif c is not None:
                news[t.id] = _checkout_news(c, now) or Moved(TenderStatus.PENDING, None, None, c.id)
            else:
                news[t.id] = Moved(TenderStatus.FAILED, None, None)
    return news


def _payment_news(p: Payment) -> Moved | None:
    if p.status in (PaymentStatus.APPROVED, PaymentStatus.PARTLY_REFUNDED,
                    PaymentStatus.REFUNDED):  # fmt: skip
        done = TenderStatus.REFUNDED if p.kind is PaymentKind.REFUND else TenderStatus.PAID
        return Moved(done, p.id, p.response_code)
    if p.status is PaymentStatus.PENDING:
        return None
    if p.status is PaymentStatus.CANCELED:
        return Moved(TenderStatus.CANCELED, p.id, p.response_code)
    return Moved(TenderStatus.FAILED, p.id, p.response_code)


def _tender_views(s: Session, tenders: Sequence[OrderTender]) -> list[TenderView]:
    tids: dict[int, str] = {}
    checkouts = {t.checkout_id for t in tenders if t.checkout_id is not None}
    if checkouts:
        tids = dict(
            s.execute(
                select(Checkout.id, Terminal.tid)
                .join(Terminal, Terminal.id == Checkout.terminal_id)
                .where(Checkout.id.in_(checkouts))
            ).all()
        )
    codes: dict[int, str | None] = {}
    qr = {t.payment_id for t in tenders if t.kind is TenderKind.QR and t.payment_id is not None
          and t.status is TenderStatus.PENDING}  # fmt: skip
    if qr:
        codes = dict(s.execute(select(Payment.id, Payment.qr_code).where(Payment.id.in_(qr))).all())
    return [
        TenderView(
            id=t.id,
            kind=t.kind,
            status=t.status,
            amount_minor=t.amount_minor,
            received_minor=t.received_minor,
            change_minor=t.change_minor,
            payment_id=t.payment_id,
            checkout_id=t.checkout_id,
            tid=tids.get(t.checkout_id) if t.checkout_id else None,
            qr_code=codes.get(t.payment_id) if t.payment_id else None,
            response_code=t.response_code,
            original_tender_id=t.original_tender_id,
            created_at=t.created_at,
            updated_at=t.updated_at,
        )
        for t in tenders
    ]


@dataclass(frozen=True, slots=True)
class Place:
    """Where an order is, as its view shows it (known already when it is made)."""

    mid: str
    shop_number: int
    till: str | None
    counter_number: int | None


def _place(s: Session, order: Order) -> Place:
    mid, shop_number = s.execute(
        select(Merchant.mid, Shop.number)
        .join(Shop, Shop.merchant_id == Merchant.id)
        .where(Shop.id == order.shop_id)
    ).one()
    till = _till(s, order) if order.shift_id else None
    counter = (
        s.scalar(select(Counter.number).where(Counter.id == order.counter_id))
        if order.counter_id
        else None
    )
    return Place(mid or "", shop_number, till, counter)


def _view(
    s: Session,
    order: Order,
    lines: Sequence[OrderLine],
    tenders: Sequence[OrderTender],
    place: Place | None = None,
) -> OrderView:
    where = place or _place(s, order)
    mid, shop_number, till, counter = where.mid, where.shop_number, where.till, where.counter_number
    done = TenderStatus.REFUNDED if order.kind is OrderKind.RETURN else TenderStatus.PAID
    paid = sum(t.amount_minor for t in tenders if t.status is done)
    pending = sum(t.amount_minor for t in tenders if t.status is TenderStatus.PENDING)
    open_ = order.status in (OrderStatus.OPEN, OrderStatus.HELD)
    return OrderView(
        id=order.id, kind=order.kind, status=order.status, mid=mid or "",
        shop_number=shop_number, till=till, shift_id=order.shift_id, counter_number=counter,
        cashier_id=order.account_id, client_ref=order.client_ref, receipt_no=order.receipt_no,
        currency=order.currency, subtotal_minor=order.subtotal_minor,
        discount_minor=order.discount_minor, total_minor=order.total_minor, paid_minor=paid,
        pending_minor=pending,
        due_minor=order.total_minor - paid - pending if open_ else 0,
        change_minor=sum(t.change_minor for t in tenders if t.kind is TenderKind.CASH
                         and t.status is TenderStatus.PAID),
        original_order_id=order.original_order_id, approved_by=order.approved_by,
        member_id=order.member_id, loyalty=loyalty.order_loyalty(s, order), note=order.note,
        lines=[
            OrderLineView(
                id=x.id, line_no=x.line_no, product_id=x.product_id, barcode=x.barcode,
                name=x.name, unit=x.unit, quantity_milli=x.quantity_milli,
                list_price_minor=x.list_price_minor, unit_price_minor=x.unit_price_minor,
                discount_minor=x.discount_minor, order_discount_minor=x.order_discount_minor,
                amount_minor=x.amount_minor, net_minor=x.amount_minor - x.order_discount_minor,
                returned_milli=x.returned_milli, original_line_id=x.original_line_id,
            )
            for x in lines
        ],
        tenders=_tender_views(s, tenders),
        created_at=order.created_at, updated_at=order.updated_at, paid_at=order.paid_at,
    )  # fmt: skip
