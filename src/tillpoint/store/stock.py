"""Stock per shop (docs/store.md, "Stock"): goods received from suppliers, transfers
between a merchant's shops, stock counts (盘点), adjustments with a reason, reorder
levels and what is low, the value of a shop's stock at cost, and every movement's
history.

Every change goes through ``movements.move`` (a movement and the shop's level in one
unit of work); the only other write to ``stock_levels`` is a product's reorder level,
and the zero row a level starts from (``_ensure_levels``), which changes no quantity.

Quantities come in and go out as decimal text in the product's unit ("1.5" kg, "3"
pieces), at most three decimals, a piece product in whole numbers: exactly thousandths
inside (``parse_quantity``, ``format_quantity``); never a float.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import and_, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tillpoint.context import Context, check_actor
from tillpoint.core.errors import InvalidInput, NotFound, Refused, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Shop, ShopStatus
from tillpoint.store.models import (
    MILLI,
    CountScope,
    CountStatus,
    MovementKind,
    Product,
    ProductBarcode,
    ProductCategory,
    SoldBy,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    StockTransfer,
    StockTransferLine,
    TransferStatus,
)
from tillpoint.store.movements import Move, move

# --- limits --------------------------------------------------------------------------------

MAX_LINES = 200  # lines of one receipt, transfer, count entry or adjustment
MAX_UNITS = 10**9  # of a product in one line (a billion pieces or kilograms)
MAX_COST_MINOR = 10**11  # a unit's cost: 1,000,000,000.00
MAX_SUPPLIER = 100
MAX_DOCUMENT = 64
MAX_NOTE = 200
MAX_CODE = 40  # a SKU or a barcode, as typed or scanned

# --- quantities ----------------------------------------------------------------------------

_QUANTITY = re.compile(r"([+-]?)([0-9]{1,10})(?:\.([0-9]{1,3}))?")


def parse_quantity(text: str) -> int:
    """Decimal text in a product's unit as thousandths: "1.5" -> 1500, "-2" -> -2000.
    At most three decimals; digits only (no exponent, no float, no separators)."""
    found = _QUANTITY.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise InvalidInput(
            "stock.quantity_malformed",
            N_("{text!r} is not a quantity: write it like 3 or 1.5 (at most 3 decimals)"),
            text=str(text)[:30],
        )
    sign, whole, fraction = found.groups()
    milli = int(whole) * MILLI + int((fraction or "").ljust(3, "0"))
    if milli > MAX_UNITS * MILLI:
        raise InvalidInput(
            "stock.quantity_too_large",
            N_("A quantity is at most {max} units"),
            max=MAX_UNITS,
        )
    return -milli if sign == "-" else milli


def format_quantity(milli: int) -> str:
    """Thousandths as the shortest exact decimal text: 1500 -> "1.5", 3000 -> "3"."""
    whole, fraction = divmod(abs(milli), MILLI)
    text = str(whole) + (f".{fraction:03d}".rstrip("0") if fraction else "")
    return "-" + text if milli < 0 else text


def round_milli(exact: int) -> int:
    """Thousandths of a minor unit (a quantity in thousandths times a unit cost), rounded
    half up to the minor unit."""
    invariant(exact >= 0, "values are of quantities held")
    return (exact + MILLI // 2) // MILLI


def value_minor(quantity_milli: int, cost_minor: int) -> int:
    """A quantity's value at a unit cost, exact, rounded half up to the minor unit once."""
    return round_milli(quantity_milli * cost_minor)


# --- what comes in -------------------------------------------------------------------------


class AdjustReason(StrEnum):
    DAMAGED = "damaged"  # out
    EXPIRED = "expired"  # out
    THEFT = "theft"  # out
    FOUND = "found"  # in
    OTHER = "other"  # either way; its text is required


OUT_ONLY = (AdjustReason.DAMAGED, AdjustReason.EXPIRED, AdjustReason.THEFT)


class EntryMode(StrEnum):
    """How a count's entry for a product already counted is taken."""

    ADD = "add"  # counted again elsewhere (another shelf): added to what was counted
    SET = "set"  # a correction: replaces what was counted


@dataclass(frozen=True, slots=True)
class Line:
    """A product and a quantity as decimal text; a receipt's line also its unit cost
    (None: the product's cost in the catalogue)."""

    product_id: int
    quantity: str
    unit_cost_minor: int | None = None


# --- what goes out -------------------------------------------------------------------------


class View(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ProductRef(View):
    product_id: int
    sku: str
    name: str
    unit: str


class LevelView(ProductRef):
    """A shop's stock of a product. ``low``: at or below its reorder level;
    ``negative``: below zero (sales of goods the books did not know of)."""

    merchant_id: int
    shop_id: int
    shop_number: int
    quantity: str
    quantity_milli: int
    reorder: str | None
    reorder_milli: int | None
    low: bool
    negative: bool
    cost_minor: int | None
    value_minor: int | None  # at the product's cost; none without a cost or below zero
    currency: str
    active: bool
    updated_at: datetime


class MovementView(ProductRef):
    id: int
    merchant_id: int
    shop_number: int
    kind: MovementKind
    quantity: str
    quantity_milli: int
    unit_cost_minor: int | None
    adjustment: AdjustReason | None  # an adjustment's reason
    reason: str | None  # a receipt's supplier, an adjustment's or a cancel's words
    document: str | None
    order_id: int | None
    transfer_id: int | None
    count_id: int | None
    created_by: str
    created_at: datetime


class BookedLine(ProductRef):
    """One line of a receipt or an adjustment as booked, and the shop's level after it."""

    quantity: str
    quantity_milli: int
    unit_cost_minor: int | None
    cost_minor: int | None  # quantity x unit cost, rounded half up
    level: str
    level_milli: int


class ReceiptView(View):
    merchant_id: int
    shop_number: int
    supplier: str
    document: str | None
    lines: list[BookedLine]
    total_cost_minor: int
    currency: str
    created_by: str
    created_at: datetime


class AdjustmentView(View):
    merchant_id: int
    shop_number: int
    reason: AdjustReason
    text: str | None
    lines: list[BookedLine]
    created_by: str
    created_at: datetime


class TransferLineView(ProductRef):
    sent: str
    sent_milli: int
    received: str | None
    received_milli: int | None
    shortfall: str | None  # sent less received, once received
    shortfall_milli: int | None


class TransferView(View):
    id: int
    merchant_id: int
    from_shop: int
    to_shop: int
    status: TransferStatus
    note: str | None
    sent_by: str
    sent_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    short: bool  # received with less than was sent
    lines: list[TransferLineView]


class CountLineView(ProductRef):
    counted: str
    counted_milli: int
    book: str | None  # the level when it was booked
    book_milli: int | None
    difference: str | None  # counted less book: the count movement
    difference_milli: int | None


class CountView(View):
    id: int
    merchant_id: int
    shop_number: int
    status: CountStatus
    note: str | None
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    scope: CountScope | None  # what the booking declared it covers (None: not booked)
    scope_category_id: int | None
    scope_category: str | None  # that category's name
    lines: list[CountLineView]


class StockValueView(View):
    """A shop's stock at cost: the sum over its products of quantity x the product's
    cost, exact, rounded half up to the minor unit once. Levels below zero count as
    none; ``uncosted`` products hold stock but have no cost."""

    merchant_id: int
    shop_number: int
    currency: str
    value_minor: int
    products: int  # holding stock (above zero)
    uncosted: int
    low: int  # at or below their reorder level
    negative: int  # below zero


# --- lookups -------------------------------------------------------------------------------


def _no_product(product_id: object) -> NotFound:
    return NotFound("product.not_found", N_("No product {id}"), id=product_id)


def _shop(s: Session, merchant_id: int, number: int) -> Shop:
    shop = s.scalar(select(Shop).where(Shop.merchant_id == merchant_id, Shop.number == number))
    if shop is None:
        raise NotFound("shop.not_found", N_("There is no shop {number}"), number=number)
    return shop


def _products(s: Session, merchant_id: int, ids: Iterable[int]) -> dict[int, Product]:
    wanted = set(ids)
    found = {
        p.id: p
        for p in s.scalars(
            select(Product).where(Product.merchant_id == merchant_id, Product.id.in_(wanted))
        )
    }
    for product_id in sorted(wanted):
        if product_id not in found:
            raise _no_product(product_id)
    return found


def _ref(p: Product) -> dict[str, object]:
    return {"product_id": p.id, "sku": p.sku, "name": p.name, "unit": p.unit}


class Want(StrEnum):
    """What a quantity may be."""

    POSITIVE = "positive"  # received, sent: more than zero
    NONZERO = "nonzero"  # an adjustment: in or out
    NOT_NEGATIVE = "not_negative"  # counted, arrived, a reorder level: zero or more


def quantity_of(p: Product, text: str, want: Want = Want.POSITIVE) -> int:
    """``text`` as thousandths of ``p``'s unit; a piece product takes whole numbers."""
    milli = parse_quantity(text)
    if p.sold_by is SoldBy.PIECE and milli % MILLI:
        raise InvalidInput(
            "stock.whole_pieces",
            N_("{name} is counted in whole pieces, not {quantity}"),
            name=p.name,
            quantity=text.strip(),
        )
    if want is Want.POSITIVE and milli <= 0:
        raise InvalidInput(
            "stock.quantity_sign", N_("The quantity of {name} must be more than zero"), name=p.name
        )
    if want is Want.NONZERO and milli == 0:
        raise InvalidInput("stock.quantity_sign",
                           N_("The quantity of {name} must not be zero"), name=p.name)  # fmt: skip
    if want is Want.NOT_NEGATIVE and milli < 0:
        raise InvalidInput(
            "stock.quantity_sign", N_("The quantity of {name} cannot be below zero"), name=p.name
        )
    return milli


def _check_lines(lines: Sequence[Line]) -> None:
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidInput("stock.lines", N_("Give 1 to {max} lines"), max=MAX_LINES)
    for line in lines:
        if isinstance(line.product_id, bool) or not 1 <= line.product_id < 2**62:
            raise _no_product(line.product_id)


def _text(value: str | None, *, code: str, label: str, max_len: int, required: bool) -> str | None:
    cleaned = " ".join((value or "").split())
    if required and not cleaned:
        raise InvalidInput(code, label)
    if len(cleaned) > max_len:
        raise InvalidInput(code + "_too_long", N_("At most {max} characters here"), max=max_len)
    return cleaned or None


def _dialect_insert(s: Session):  # type: ignore[no-untyped-def]
    return pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert


def _ensure_levels(
    s: Session, merchant_id: int, shop_id: int, product_ids: Iterable[int], at: datetime
) -> None:
    """A zero level for each product that has none yet, so that ``move`` always finds
    a row to add to: two first movements of a product at the same moment (two receipts,
    on PostgreSQL) both count, neither fails on the other's new row."""
    insert = _dialect_insert(s)
    rows = [
        {"shop_id": shop_id, "product_id": p, "merchant_id": merchant_id, "quantity_milli": 0,
         "reorder_milli": None, "updated_at": at}
        for p in sorted(set(product_ids))
    ]  # fmt: skip
    if rows:
        s.execute(insert(StockLevel).values(rows).on_conflict_do_nothing())


def _locked_levels(s: Session, shop_id: int, product_ids: Iterable[int]) -> dict[int, int]:
    """The levels of these products, their rows locked (in one order) until the unit
    of work ends: what is read is what is moved from."""
    rows = s.execute(
        select(StockLevel.product_id, StockLevel.quantity_milli)
        .where(StockLevel.shop_id == shop_id, StockLevel.product_id.in_(set(product_ids)))
        .order_by(StockLevel.product_id)
        .with_for_update()
    )
    return dict(rows.all())


ADJUSTMENT_TEXT = ": "  # between an adjustment's reason and its words, in ``reason``


def _adjustment_reason(
    kind: MovementKind, reason: str | None
) -> tuple[AdjustReason | None, str | None]:
    if kind is not MovementKind.ADJUSTMENT or reason is None:
        return None, reason
    code, _sep, words = reason.partition(ADJUSTMENT_TEXT)
    if code in {r.value for r in AdjustReason}:
        return AdjustReason(code), words or None
    return None, reason


class StockService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- reads --------------------------------------------------------------------------

    def find_product(self, merchant_id: int, code: str) -> ProductRef:
        """A product of the merchant by its SKU, or by a barcode of it (as scanned)."""
        code = code.strip()[:MAX_CODE]
        if not code:
            raise InvalidInput("stock.product_code", N_("Name a product by its SKU or barcode"))
        with self.ctx.db.read() as s:
            p = s.scalar(select(Product).where(Product.merchant_id == merchant_id,
                                               Product.sku == code))  # fmt: skip
            if p is None:
                p = s.scalar(
                    select(Product).join(ProductBarcode, and_(
                        ProductBarcode.merchant_id == Product.merchant_id,
                        ProductBarcode.product_id == Product.id,
                    )).where(ProductBarcode.merchant_id == merchant_id, ProductBarcode.code == code)
                )  # fmt: skip
            if p is None:
                raise NotFound("product.not_found", N_("No product {id}"), id=code)
            return ProductRef.model_validate(_ref(p))

    def categories(self, merchant_id: int) -> list[tuple[int, str]]:
        """The merchant's product categories (id, name), by name: what a count may cover."""
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(ProductCategory.id, ProductCategory.name)
                .where(ProductCategory.merchant_id == merchant_id)
                .order_by(ProductCategory.name)
            )
            return [(category_id, name) for category_id, name in rows]

    def product(self, merchant_id: int, product_id: int) -> ProductRef:
        with self.ctx.db.read() as s:
            return ProductRef.model_validate(
                _ref(_products(s, merchant_id, [product_id])[product_id])
            )

    def levels(
        self,
        merchant_id: int | None,
        *,
        shop: int | None = None,
        product_id: int | None = None,
        low: bool = False,
        after: tuple[int, int] | None = None,
        limit: int = 50,
    ) -> list[LevelView]:
        """Levels in shop and product order (``after``: the (shop id, product id) of
        the last row of the page before). ``low``: only those at or below their reorder
        level, or below zero. ``merchant_id`` None: every merchant's (operations)."""
        check_limit(limit)
        q = (
            select(StockLevel, Product, Shop.number)
            .join(Product, Product.id == StockLevel.product_id)
            .join(Shop, Shop.id == StockLevel.shop_id)
            .order_by(StockLevel.shop_id, StockLevel.product_id)
            .limit(limit)
        )
        if merchant_id is not None:
            q = q.where(StockLevel.merchant_id == merchant_id)
        if shop is not None:
            q = q.where(Shop.number == shop)
        if product_id is not None:
            q = q.where(StockLevel.product_id == product_id)
        if low:
            q = q.where(or_(StockLevel.quantity_milli < 0, and_(
                StockLevel.reorder_milli.is_not(None),
                StockLevel.quantity_milli <= StockLevel.reorder_milli,
            )))  # fmt: skip
        if after is not None:
            q = q.where(or_(StockLevel.shop_id > after[0], and_(
                StockLevel.shop_id == after[0], StockLevel.product_id > after[1])))  # fmt: skip
        with self.ctx.db.read() as s:
            return [_level_view(level, p, number) for level, p, number in s.execute(q)]

    def level(self, merchant_id: int, shop: int, product_id: int) -> LevelView:
        """A shop's stock of one product (zero, with no reorder level, if it never moved)."""
        with self.ctx.db.read() as s:
            shop_row = _shop(s, merchant_id, shop)
            p = _products(s, merchant_id, [product_id])[product_id]
            row = s.get(StockLevel, (shop_row.id, product_id))
            if row is None:
                row = StockLevel(shop_id=shop_row.id, product_id=product_id,
                                 merchant_id=merchant_id, quantity_milli=0, reorder_milli=None,
                                 updated_at=p.created_at)  # fmt: skip
            return _level_view(row, p, shop)

    def values(self, merchant_id: int | None, *, shop: int | None = None) -> list[StockValueView]:
        """Each shop's stock at cost (one per shop and currency), in shop order."""
        q = (
            select(StockLevel.quantity_milli, StockLevel.reorder_milli, Product.cost_minor,
                   Product.currency, StockLevel.merchant_id, Shop.number, Shop.id)
            .join(Product, Product.id == StockLevel.product_id)
            .join(Shop, Shop.id == StockLevel.shop_id)
            .order_by(Shop.id)
        )  # fmt: skip
        if merchant_id is not None:
            q = q.where(StockLevel.merchant_id == merchant_id)
        if shop is not None:
            q = q.where(Shop.number == shop)
        sums: dict[tuple[int, str], dict[str, int]] = {}
        with self.ctx.db.read() as s:
            for quantity, reorder, cost, currency, m_id, number, shop_id in s.execute(q):
                got = sums.setdefault((shop_id, currency), {
                    "merchant_id": m_id, "shop_number": number, "exact": 0, "products": 0,
                    "uncosted": 0, "low": 0, "negative": 0,
                })  # fmt: skip
                if quantity > 0:
                    got["products"] += 1
                    if cost is None:
                        got["uncosted"] += 1
                    else:
                        got["exact"] += quantity * cost
                got["negative"] += quantity < 0
                got["low"] += quantity < 0 or (reorder is not None and quantity <= reorder)
        return [
            StockValueView(merchant_id=v["merchant_id"], shop_number=v["shop_number"],
                           currency=currency, value_minor=round_milli(v["exact"]),
                           products=v["products"], uncosted=v["uncosted"], low=v["low"],
                           negative=v["negative"])
            for (_shop_id, currency), v in sums.items()
        ]  # fmt: skip

    def movements(
        self,
        merchant_id: int | None,
        *,
        shop: int | None = None,
        product_id: int | None = None,
        kind: MovementKind | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[MovementView]:
        """The history, newest first (``before_id``: the last id of the page before)."""
        check_limit(limit)
        q = (
            select(StockMovement, Product, Shop.number)
            .join(Product, Product.id == StockMovement.product_id)
            .join(Shop, Shop.id == StockMovement.shop_id)
            .order_by(StockMovement.id.desc())
            .limit(limit)
        )
        if merchant_id is not None:
            q = q.where(StockMovement.merchant_id == merchant_id)
        if shop is not None:
            q = q.where(Shop.number == shop)
        if product_id is not None:
            q = q.where(StockMovement.product_id == product_id)
        if kind is not None:
            q = q.where(StockMovement.kind == kind)
        if before_id is not None:
            q = q.where(StockMovement.id < before_id)
        with self.ctx.db.read() as s:
            return [_movement_view(m, p, number) for m, p, number in s.execute(q)]

    # --- receipts, adjustments, reorder levels -----------------------------------------------

    def book_receipt(
        self,
        merchant_id: int,
        shop: int,
        supplier: str,
        lines: Sequence[Line],
        by: str,
        *,
        document: str | None = None,
    ) -> ReceiptView:
        """Goods in from a supplier: its delivery note's number (``document``) and a line
        for each product with its quantity and unit cost. A delivery note of the same
        supplier is booked once per shop."""
        by = check_actor(by)
        supplier_name = _text(supplier, code="stock.supplier", label=N_("Name the supplier"),
                              max_len=MAX_SUPPLIER, required=True)  # fmt: skip
        doc = _text(document, code="stock.document", label="", max_len=MAX_DOCUMENT,
                    required=False)  # fmt: skip
        _check_lines(lines)
        for line in lines:
            cost = line.unit_cost_minor
            if cost is not None and (isinstance(cost, bool) or not 0 <= cost <= MAX_COST_MINOR):
                raise InvalidInput(
                    "stock.unit_cost", N_("A unit cost is 0 to {max} minor units"),
                    max=MAX_COST_MINOR,
                )  # fmt: skip
        at = self.ctx.now()
        with self.ctx.db.transaction() as s:
            shop_row = _shop(s, merchant_id, shop)
            products = _products(s, merchant_id, (x.product_id for x in lines))
            if shop_row.status is not ShopStatus.OPEN:
                raise Refused("stock.shop_closed", N_("Shop {number} is closed"), number=shop)
            moves = []
            for line in lines:
                p = products[line.product_id]
                if not p.active:
                    raise Refused(
                        "stock.product_inactive",
                        N_("{name} is no longer sold: make it active again to receive it"),
                        name=p.name,
                    )
                cost = p.cost_minor if line.unit_cost_minor is None else line.unit_cost_minor
                if cost is None:
                    raise InvalidInput(
                        "stock.unit_cost_required",
                        N_("Give the unit cost of {name}: it has none in the catalogue"),
                        name=p.name,
                    )
                moves.append(Move(p.id, quantity_of(p, line.quantity), cost))
            if doc is not None and s.scalar(
                select(StockMovement.id)
                .where(
                    StockMovement.shop_id == shop_row.id,
                    StockMovement.product_id.in_(list(products)),
                    StockMovement.kind == MovementKind.RECEIPT,
                    StockMovement.document == doc,
                    StockMovement.reason == supplier_name,
                )
                .limit(1)
            ):
                raise Refused(
                    "stock.receipt_booked",
                    N_("Delivery note {document} of {supplier} is already booked at shop {number}"),
                    document=doc, supplier=supplier_name, number=shop,
                )  # fmt: skip
            booked = self._book(s, shop_row, MovementKind.RECEIPT, moves, products, by, at,
                                reason=supplier_name, document=doc)  # fmt: skip
            currency = next(iter(products.values())).currency
            return ReceiptView(merchant_id=merchant_id, shop_number=shop, supplier=supplier_name,
                               document=doc, lines=booked, currency=currency,
                               total_cost_minor=round_milli(
                                   sum(m.quantity_milli * (m.unit_cost_minor or 0) for m in moves)),
                               created_by=by, created_at=at)  # fmt: skip

    def adjust(
        self,
        merchant_id: int,
        shop: int,
        reason: AdjustReason,
        lines: Sequence[Line],
        by: str,
        *,
        text: str | None = None,
    ) -> AdjustmentView:
        """Stock put right by hand, with a reason: damaged, expired and theft take out
        (quantities below zero), found puts in, other either way and says why in
        ``text``. A level may go below zero, as after a sale."""
        by = check_actor(by)
        try:
            why = AdjustReason(reason)
        except ValueError:
            raise InvalidInput(
                "stock.adjust_reason", N_("Choose a reason for the adjustment")
            ) from None
        words = _text(text, code="stock.adjust_text",
                      label=N_("Say why (a reason of 'other' needs words)"), max_len=150,
                      required=why is AdjustReason.OTHER)  # fmt: skip
        _check_lines(lines)
        at = self.ctx.now()
        with self.ctx.db.transaction() as s:
            shop_row = _shop(s, merchant_id, shop)
            products = _products(s, merchant_id, (x.product_id for x in lines))
            moves = []
            for line in lines:
                p = products[line.product_id]
                milli = quantity_of(p, line.quantity, Want.NONZERO)
                if (why in OUT_ONLY and milli > 0) or (why is AdjustReason.FOUND and milli < 0):
                    raise InvalidInput(
                        "stock.adjust_direction",
                        N_("Goods {reason} only go out (a quantity below zero)")
                        if why in OUT_ONLY
                        else N_("Goods {reason} only come in (a quantity above zero)"),
                        reason=why,
                    )
                moves.append(Move(p.id, milli))
            stored = why.value + (ADJUSTMENT_TEXT + words if words else "")
            booked = self._book(s, shop_row, MovementKind.ADJUSTMENT, moves, products, by, at,
                                reason=stored)  # fmt: skip
            return AdjustmentView(
                merchant_id=merchant_id,
                shop_number=shop,
                reason=why,
                text=words,
                lines=booked,
                created_by=by,
                created_at=at,
            )

    def set_reorder(
        self, merchant_id: int, shop: int, product_id: int, reorder: str | None, by: str
    ) -> LevelView:
        """The level at or below which the product is low in the shop (None: never)."""
        check_actor(by)
        at = self.ctx.now()
        with self.ctx.db.transaction() as s:
            shop_row = _shop(s, merchant_id, shop)
            p = _products(s, merchant_id, [product_id])[product_id]
            milli = (
                None
                if reorder is None or not reorder.strip()
                else quantity_of(p, reorder, Want.NOT_NEGATIVE)
            )
            insert = _dialect_insert(s)
            s.execute(
                insert(StockLevel)
                .values(shop_id=shop_row.id, product_id=p.id, merchant_id=merchant_id,
                        quantity_milli=0, reorder_milli=milli, updated_at=at)
                .on_conflict_do_update(index_elements=["shop_id", "product_id"],
                                       set_={"reorder_milli": milli})
            )  # fmt: skip
            s.expire_all()
            level = s.get_one(StockLevel, (shop_row.id, p.id))
            return _level_view(level, p, shop)

    # --- transfers ----------------------------------------------------------------------

    def send(
        self,
        merchant_id: int,
        from_shop: int,
        to_shop: int,
        lines: Sequence[Line],
        by: str,
        *,
        note: str | None = None,
    ) -> TransferView:
        """Goods sent to another shop of the merchant: out of the sender's stock at once
        (never below zero: what the books do not hold cannot be sent), into the
        receiver's when received."""
        by = check_actor(by)
        note = _text(note, code="stock.note", label="", max_len=MAX_NOTE, required=False)
        _check_lines(lines)
        if len({x.product_id for x in lines}) != len(lines):
            raise InvalidInput("stock.transfer_repeats", N_("Name each product once in a transfer"))
        if from_shop == to_shop:
            raise InvalidInput("stock.transfer_same_shop", N_("A transfer goes to another shop"))
        at = self.ctx.now()
        with self.ctx.db.transaction() as s:
            sender, receiver = _shop(s, merchant_id, from_shop), _shop(s, merchant_id, to_shop)
            products = _products(s, merchant_id, (x.product_id for x in lines))
            if receiver.status is not ShopStatus.OPEN:
                raise Refused("stock.shop_closed", N_("Shop {number} is closed"), number=to_shop)
            moves = [Move(x.product_id, -quantity_of(products[x.product_id], x.quantity))
                     for x in lines]  # fmt: skip
            _ensure_levels(s, merchant_id, sender.id, products, at)
            held = _locked_levels(s, sender.id, products)
            for m in moves:
                if held[m.product_id] + m.quantity_milli < 0:
                    p = products[m.product_id]
                    raise Refused(
                        "stock.transfer_short",
                        N_("Shop {number} holds {held} {unit} of {name}: it cannot send {sent}"),
                        number=from_shop, held=format_quantity(held[p.id]), unit=p.unit,
                        name=p.name, sent=format_quantity(-m.quantity_milli),
                    )  # fmt: skip
            transfer = StockTransfer(merchant_id=merchant_id, from_shop_id=sender.id,
                                     to_shop_id=receiver.id, status=TransferStatus.SENT,
                                     note=note, sent_by=by, sent_at=at)  # fmt: skip
            s.add(transfer)
            s.flush()
            for m in moves:
                s.add(StockTransferLine(transfer_id=transfer.id, product_id=m.product_id,
                                        sent_milli=-m.quantity_milli))  # fmt: skip
            move(s, merchant_id=merchant_id, shop_id=sender.id, kind=MovementKind.TRANSFER_OUT,
                 moves=moves, by=by, at=at, transfer_id=transfer.id)  # fmt: skip
            s.flush()
            return _transfer_view(s, transfer)

    def receive_transfer(
        self,
        merchant_id: int,
        transfer_id: int,
        by: str,
        *,
        received: Sequence[Line] | None = None,
    ) -> TransferView:
        """The receiving shop's count of what arrived: ``received`` names every line
        with what came (none: all as sent). Never more than was sent (book more as an
        adjustment, found); less is a shortfall, kept on the line."""
        by = check_actor(by)
        if received is not None:
            _check_lines(received)
        at = self.ctx.now()
        with self.ctx.db.transaction() as s:
            transfer = _transfer(s, merchant_id, transfer_id, lock=True)
            _still_sent(transfer)
            receiver = s.get_one(Shop, transfer.to_shop_id)
            if receiver.status is not ShopStatus.OPEN:
                raise Refused("stock.shop_closed", N_("Shop {number} is closed"),
                              number=receiver.number)  # fmt: skip
            lines = _transfer_lines(s, transfer.id)
            products = _products(s, merchant_id, lines)
            if received is None:
                came = {p: line.sent_milli for p, line in lines.items()}
            else:
                named = [x.product_id for x in received]
                if sorted(named) != sorted(lines):
                    raise InvalidInput(
                        "stock.transfer_lines",
                        N_("Name each product of the transfer once, with what arrived"),
                    )
                came = {
                    x.product_id: quantity_of(products[x.product_id], x.quantity, Want.NOT_NEGATIVE)
                    for x in received
                }
            for product_id, quantity in came.items():
                line = lines[product_id]
                if quantity > line.sent_milli:
                    p = products[product_id]
                    raise InvalidInput(
                        "stock.transfer_over",
                        N_("{sent} {unit} of {name} were sent: receive at most that, and book "
                           "what is over as found"),
                        sent=format_quantity(line.sent_milli), unit=p.unit, name=p.name,
                    )  # fmt: skip
                line.received_milli = quantity
            transfer.status = TransferStatus.RECEIVED
            transfer.closed_by, transfer.closed_at = by, at
            moves = [Move(p, q) for p, q in sorted(came.items()) if q]
            if moves:
                _ensure_levels(s, merchant_id, receiver.id, (m.product_id for m in moves), at)
                move(s, merchant_id=merchant_id, shop_id=receiver.id,
                     kind=MovementKind.TRANSFER_IN, moves=moves, by=by, at=at,
                     transfer_id=transfer.id)  # fmt: skip
            s.flush()
            return _transfer_view(s, transfer)

    def cancel_transfer(
        self, merchant_id: int, transfer_id: int, by: str, reason: str
    ) -> TransferView:
        """A transfer that has not arrived, taken back: what was sent goes back into the
        sender's stock (a ``transfer_in`` of the sender, with the reason)."""
        by = check_actor(by)
        why = _text(reason, code="reason.required",
                    label=N_("A reason is required for this change"), max_len=MAX_NOTE,
                    required=True)  # fmt: skip
        at = self.ctx.now()
        with self.ctx.db.transaction() as s:
            transfer = _transfer(s, merchant_id, transfer_id, lock=True)
            _still_sent(transfer)
            lines = _transfer_lines(s, transfer.id)
            transfer.status = TransferStatus.CANCELED
            transfer.closed_by, transfer.closed_at = by, at
            move(s, merchant_id=merchant_id, shop_id=transfer.from_shop_id,
                 kind=MovementKind.TRANSFER_IN,
                 moves=[Move(p, line.sent_milli) for p, line in sorted(lines.items())],
                 by=by, at=at, transfer_id=transfer.id, reason=why)  # fmt: skip
            s.flush()
            return _transfer_view(s, transfer)

    def transfer(self, within: int | None, transfer_id: int) -> TransferView:
        with self.ctx.db.read() as s:
            return _transfer_view(s, _transfer(s, within, transfer_id))

    def transfers(
        self,
        merchant_id: int | None,
        *,
        shop: int | None = None,
        status: TransferStatus | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[TransferView]:
        """Transfers newest first; ``shop``: sent from it or to it."""
        check_limit(limit)
        q = select(StockTransfer).order_by(StockTransfer.id.desc()).limit(limit)
        if merchant_id is not None:
            q = q.where(StockTransfer.merchant_id == merchant_id)
        if shop is not None:
            ids = select(Shop.id).where(Shop.number == shop)
            if merchant_id is not None:
                ids = ids.where(Shop.merchant_id == merchant_id)
            q = q.where(or_(StockTransfer.from_shop_id.in_(ids), StockTransfer.to_shop_id.in_(ids)))
        if status is not None:
            q = q.where(StockTransfer.status == status)
        if before_id is not None:
            q = q.where(StockTransfer.id < before_id)
        with self.ctx.db.read() as s:
            return [_transfer_view(s, t) for t in s.scalars(q)]

    # --- counts -------------------------------------------------------------------------

    def open_count(
        self, merchant_id: int, shop: int, by: str, *, note: str | None = None
    ) -> CountView:
        """A stock count (盘点) of a shop, to enter counted quantities into."""
        by = check_actor(by)
        note = _text(note, code="stock.note", label="", max_len=MAX_NOTE, required=False)
        at = self.ctx.now()
        with self.ctx.db.transaction() as s:
            shop_row = _shop(s, merchant_id, shop)
            if shop_row.status is not ShopStatus.OPEN:
                raise Refused("stock.shop_closed", N_("Shop {number} is closed"), number=shop)
            count = StockCount(
                merchant_id=merchant_id,
                shop_id=shop_row.id,
                status=CountStatus.OPEN,
                note=note,
                opened_by=by,
                opened_at=at,
            )
            s.add(count)
            s.flush()
            return _count_view(s, count)

    def enter_count(
        self,
        merchant_id: int,
        count_id: int,
        lines: Sequence[Line],
        by: str,
        *,
        mode: EntryMode = EntryMode.ADD,
    ) -> CountView:
        """Counted quantities (zero or more): ``add`` adds to what was counted of a
        product already (another shelf, another person), ``set`` replaces it (a
        correction). Within one entry a product named twice adds up either way."""
        check_actor(by)
        try:
            mode = EntryMode(mode)
        except ValueError:
            raise InvalidInput("stock.count_mode", N_("An entry adds or sets")) from None
        _check_lines(lines)
        with self.ctx.db.transaction() as s:
            count = _count(s, merchant_id, count_id, lock=True)
            _still_open(count)
            products = _products(s, merchant_id, (x.product_id for x in lines))
            entered: dict[int, int] = {}
            for line in lines:
                p = products[line.product_id]
                entered[p.id] = entered.get(p.id, 0) + quantity_of(
                    p, line.quantity, Want.NOT_NEGATIVE
                )
            have = {
                x.product_id: x
                for x in s.scalars(select(StockCountLine).where(
                    StockCountLine.count_id == count.id,
                    StockCountLine.product_id.in_(entered)))
            }  # fmt: skip
            for product_id, milli in sorted(entered.items()):
                line_row = have.get(product_id)
                if line_row is None:
                    s.add(StockCountLine(count_id=count.id, product_id=product_id,
                                         counted_milli=milli))  # fmt: skip
                elif mode is EntryMode.ADD:
                    line_row.counted_milli += milli
                else:
                    line_row.counted_milli = milli
                if (line_row.counted_milli if line_row else milli) > MAX_UNITS * MILLI:
                    raise InvalidInput(
                        "stock.quantity_too_large",
                        N_("A quantity is at most {max} units"),
                        max=MAX_UNITS,
                    )
            s.flush()
            return _count_view(s, count)

    def book_count(
        self,
        merchant_id: int,
        count_id: int,
        by: str,
        *,
        scope: CountScope = CountScope.COUNTED,
        category_id: int | None = None,
    ) -> CountView:
        """Book a count: each product's difference between what was counted and its
        level now becomes a ``count`` movement, so the level is what was counted. What
        was not counted is left alone, unless ``scope`` declares the count complete for
        a category or the whole shop: then every product of it holding stock (above or
        below zero) that was not counted is booked as counted none, and its line kept."""
        by = check_actor(by)
        try:
            scope = CountScope(scope)
        except ValueError:
            raise InvalidInput("stock.count_scope", N_("Choose what the count covers")) from None
        if (scope is CountScope.CATEGORY) != (category_id is not None):
            raise InvalidInput(
                "stock.count_category",
                N_("Name a category exactly when the count covers a category"),
            )
        at = self.ctx.now()
        with self.ctx.db.transaction() as s:
            count = _count(s, merchant_id, count_id, lock=True)
            _still_open(count)
            lines = {
                x.product_id: x
                for x in s.scalars(
                    select(StockCountLine).where(StockCountLine.count_id == count.id)
                )
            }
            if scope is not CountScope.COUNTED:
                held = (
                    select(StockLevel.product_id)
                    .join(Product, Product.id == StockLevel.product_id)
                    .where(StockLevel.shop_id == count.shop_id, StockLevel.quantity_milli != 0)
                )
                if scope is CountScope.CATEGORY:
                    if s.scalar(select(ProductCategory.id).where(
                            ProductCategory.merchant_id == merchant_id,
                            ProductCategory.id == category_id)) is None:  # fmt: skip
                        raise NotFound("category.not_found", N_("No category {id}"), id=category_id)
                    held = held.where(Product.category_id == category_id)
                for product_id in s.scalars(held):
                    if product_id not in lines:
                        lines[product_id] = StockCountLine(count_id=count.id, product_id=product_id,
                                                           counted_milli=0)  # fmt: skip
                        s.add(lines[product_id])
            if not lines:
                raise Refused(
                    "stock.count_empty", N_("Nothing was counted: enter what you found first")
                )
            _ensure_levels(s, merchant_id, count.shop_id, lines, at)
            book = _locked_levels(s, count.shop_id, lines)
            moves = []
            for product_id, line in sorted(lines.items()):
                line.book_milli = book[product_id]
                if line.counted_milli != line.book_milli:
                    moves.append(Move(product_id, line.counted_milli - line.book_milli))
            count.status = CountStatus.BOOKED
            count.closed_by, count.closed_at = by, at
            count.scope, count.scope_category_id = scope, category_id
            if moves:
                move(s, merchant_id=merchant_id, shop_id=count.shop_id, kind=MovementKind.COUNT,
                     moves=moves, by=by, at=at, count_id=count.id)  # fmt: skip
            s.flush()
            return _count_view(s, count)

    def cancel_count(self, merchant_id: int, count_id: int, by: str) -> CountView:
        """Give a count up: nothing of it is booked."""
        by = check_actor(by)
        with self.ctx.db.transaction() as s:
            count = _count(s, merchant_id, count_id, lock=True)
            _still_open(count)
            count.status = CountStatus.CANCELED
            count.closed_by, count.closed_at = by, self.ctx.now()
            s.flush()
            return _count_view(s, count)

    def count(self, within: int | None, count_id: int) -> CountView:
        with self.ctx.db.read() as s:
            return _count_view(s, _count(s, within, count_id))

    def counts(
        self,
        merchant_id: int | None,
        *,
        shop: int | None = None,
        status: CountStatus | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[CountView]:
        """Counts newest first."""
        check_limit(limit)
        q = (select(StockCount).join(Shop, Shop.id == StockCount.shop_id)
             .order_by(StockCount.id.desc()).limit(limit))  # fmt: skip
        if merchant_id is not None:
            q = q.where(StockCount.merchant_id == merchant_id)
        if shop is not None:
            q = q.where(Shop.number == shop)
        if status is not None:
            q = q.where(StockCount.status == status)
        if before_id is not None:
            q = q.where(StockCount.id < before_id)
        with self.ctx.db.read() as s:
            return [_count_view(s, c) for c in s.scalars(q)]

    # --- internals ----------------------------------------------------------------------

    @staticmethod
    def _book(
        s: Session,
        shop: Shop,
        kind: MovementKind,
        moves: list[Move],
        products: dict[int, Product],
        by: str,
        at: datetime,
        *,
        reason: str | None = None,
        document: str | None = None,
    ) -> list[BookedLine]:
        _ensure_levels(s, shop.merchant_id, shop.id, (m.product_id for m in moves), at)
        levels = move(s, merchant_id=shop.merchant_id, shop_id=shop.id, kind=kind, moves=moves,
                      by=by, at=at, reason=reason, document=document)  # fmt: skip
        booked = []
        for m in moves:
            p = products[m.product_id]
            cost = m.unit_cost_minor
            booked.append(BookedLine(
                **_ref(p), quantity=format_quantity(m.quantity_milli),
                quantity_milli=m.quantity_milli, unit_cost_minor=cost,
                cost_minor=None if cost is None else value_minor(abs(m.quantity_milli), cost),
                level=format_quantity(levels[p.id]), level_milli=levels[p.id],
            ))  # fmt: skip
        return booked


# --- views and lookups of transfers and counts ----------------------------------------------


def _level_view(level: StockLevel, p: Product, shop_number: int) -> LevelView:
    q, reorder = level.quantity_milli, level.reorder_milli
    return LevelView(
        **_ref(p), merchant_id=level.merchant_id, shop_id=level.shop_id, shop_number=shop_number,
        quantity=format_quantity(q), quantity_milli=q,
        reorder=None if reorder is None else format_quantity(reorder), reorder_milli=reorder,
        low=q < 0 or (reorder is not None and q <= reorder), negative=q < 0,
        cost_minor=p.cost_minor,
        value_minor=None if p.cost_minor is None else value_minor(max(q, 0), p.cost_minor),
        currency=p.currency, active=p.active, updated_at=level.updated_at,
    )  # fmt: skip


def _movement_view(m: StockMovement, p: Product, shop_number: int) -> MovementView:
    adjustment, reason = _adjustment_reason(m.kind, m.reason)
    return MovementView(
        **_ref(p), id=m.id, merchant_id=m.merchant_id, shop_number=shop_number, kind=m.kind,
        quantity=format_quantity(m.quantity_milli), quantity_milli=m.quantity_milli,
        unit_cost_minor=m.unit_cost_minor, adjustment=adjustment, reason=reason,
        document=m.document, order_id=m.order_id, transfer_id=m.transfer_id,
        count_id=m.count_id, created_by=m.created_by, created_at=m.created_at,
    )  # fmt: skip


def _transfer(
    s: Session, within: int | None, transfer_id: int, *, lock: bool = False
) -> StockTransfer:
    q = select(StockTransfer).where(StockTransfer.id == transfer_id)
    if within is not None:
        q = q.where(StockTransfer.merchant_id == within)
    found = s.scalar(q.with_for_update() if lock else q)
    if found is None:
        raise NotFound("transfer.not_found", N_("No stock transfer {id}"), id=transfer_id)
    return found


def _still_sent(t: StockTransfer) -> None:
    if t.status is not TransferStatus.SENT:
        raise Refused("stock.transfer_closed", N_("Transfer {id} is {status} already"),
                      id=t.id, status=t.status)  # fmt: skip


def _transfer_lines(s: Session, transfer_id: int) -> dict[int, StockTransferLine]:
    rows = s.scalars(select(StockTransferLine).where(StockTransferLine.transfer_id == transfer_id))
    return {x.product_id: x for x in rows}


def _transfer_view(s: Session, t: StockTransfer) -> TransferView:
    numbers: dict[int, int] = dict(
        s.execute(
            select(Shop.id, Shop.number).where(Shop.id.in_((t.from_shop_id, t.to_shop_id)))
        ).all()
    )
    rows = s.execute(
        select(StockTransferLine, Product).join(Product, Product.id == StockTransferLine.product_id)
        .where(StockTransferLine.transfer_id == t.id).order_by(Product.sku)
    )  # fmt: skip
    lines = []
    for line, p in rows:
        got = line.received_milli
        short = None if got is None else line.sent_milli - got
        lines.append(TransferLineView(
            **_ref(p), sent=format_quantity(line.sent_milli), sent_milli=line.sent_milli,
            received=None if got is None else format_quantity(got), received_milli=got,
            shortfall=None if short is None else format_quantity(short), shortfall_milli=short,
        ))  # fmt: skip
    return TransferView(
        id=t.id, merchant_id=t.merchant_id, from_shop=numbers[t.from_shop_id],
        to_shop=numbers[t.to_shop_id], status=t.status, note=t.note, sent_by=t.sent_by,
        sent_at=t.sent_at, closed_by=t.closed_by, closed_at=t.closed_at,
        short=any(x.shortfall_milli for x in lines), lines=lines,
    )  # fmt: skip


def _count(s: Session, within: int | None, count_id: int, *, lock: bool = False) -> StockCount:
    q = select(StockCount).where(StockCount.id == count_id)
    if within is not None:
        q = q.where(StockCount.merchant_id == within)
    found = s.scalar(q.with_for_update() if lock else q)
    if found is None:
        raise NotFound("count.not_found", N_("No stock count {id}"), id=count_id)
    return found


def _still_open(c: StockCount) -> None:
    if c.status is not CountStatus.OPEN:
        raise Refused("stock.count_closed", N_("Count {id} is {status} already"),
                      id=c.id, status=c.status)  # fmt: skip


def _count_view(s: Session, c: StockCount) -> CountView:
    number = s.scalar(select(Shop.number).where(Shop.id == c.shop_id))
    invariant(number is not None, "a count's shop exists")
    rows = s.execute(
        select(StockCountLine, Product).join(Product, Product.id == StockCountLine.product_id)
        .where(StockCountLine.count_id == c.id).order_by(Product.sku)
    )  # fmt: skip
    lines = []
    for line, p in rows:
        book = line.book_milli
        diff = None if book is None else line.counted_milli - book
        lines.append(CountLineView(
            **_ref(p), counted=format_quantity(line.counted_milli),
            counted_milli=line.counted_milli,
            book=None if book is None else format_quantity(book), book_milli=book,
            difference=None if diff is None else format_quantity(diff), difference_milli=diff,
        ))  # fmt: skip
    category = c.scope_category_id
    return CountView(
        id=c.id, merchant_id=c.merchant_id, shop_number=number or 0, status=c.status,
        note=c.note, opened_by=c.opened_by, opened_at=c.opened_at, closed_by=c.closed_by,
        closed_at=c.closed_at, scope=c.scope, scope_category_id=category,
        scope_category=None if category is None else s.scalar(
            select(ProductCategory.name).where(ProductCategory.id == category)),
        lines=lines,
    )  # fmt: skip
