"""The shop's own point of sale: its catalogue, its stock, its tills' shifts, and the
orders sold there with their lines and tenders (docs/store.md).

Quantities are integers in thousandths of the product's unit (``*_milli``): a piece is
1,000, 0.455 kg is 455, so a weighed line is as exact as a counted one. Money is integer
minor units of the merchant's currency, as everywhere. A line's amount is its unit price
times its quantity, rounded half up to the fen, less its discount.

Stock changes only by a movement (``stock_movements``); ``stock_levels`` holds the sum of
a shop's movements of each product, written in the same unit of work as the movement.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, UTCDateTime, str_enum

MILLI = 1000  # thousandths of a unit in one unit


# --- the catalogue ---------------------------------------------------------------------


class ProductCategory(Base):
    """A group of a merchant's products (饮料, 生鲜…), for the cashier's search and the
    reports. Flat: one level."""

    __tablename__ = "product_categories"
    __table_args__ = (UniqueConstraint("merchant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SoldBy(StrEnum):
    """How a product is sold, and so what a scan of its barcode means."""

    PIECE = "piece"  # counted: a scan is one more
    WEIGHT = "weight"  # weighed: a scale's label carries the weight (or the price)


class Product(Base):
    """One thing a merchant sells. ``sku`` is the merchant's own code for it, unique
    within the merchant: the key an import matches rows by. ``plu`` is the number a
    scale prints into the in-store barcodes of weighed goods."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("merchant_id", "sku"),
        Index(
            "uq_products_merchant_plu",
            "merchant_id",
            "plu",
            unique=True,
            sqlite_where=text("plu IS NOT NULL"),
            postgresql_where=text("plu IS NOT NULL"),
        ),
        # The cashier's search by name, and the catalogue's pages, per merchant.
        Index("ix_products_merchant_name", "merchant_id", "name"),
        # The cashier's copy of the catalogue: what changed since its last read.
        Index("ix_products_merchant_revision", "merchant_id", "revision"),
        # Lets shop prices, stock and order lines name (merchant, product) so a
        # product is always its merchant's own.
        UniqueConstraint("merchant_id", "id"),
        CheckConstraint("price_minor >= 0", name="price"),
        CheckConstraint("cost_minor IS NULL OR cost_minor >= 0", name="cost"),
        CheckConstraint("plu IS NULL OR plu BETWEEN 1 AND 999999", name="plu_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    sku: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    category_id: Mapped[int | None] = mapped_column(ForeignKey("product_categories.id"))
    unit: Mapped[str] = mapped_column(String(10))  # 个, 瓶, kg… as printed on receipts
    sold_by: Mapped[SoldBy] = mapped_column(str_enum(SoldBy, length=10))
    plu: Mapped[int | None] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)  # per unit (per kg when weighed)
    cost_minor: Mapped[int | None] = mapped_column(BigInteger)  # per unit, for the margin
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised on every change of the product, its barcodes or its shop prices, from one
    # counter per merchant (store_revisions): a till asks for what is newer than it has.
    revision: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BarcodeKind(StrEnum):
    EAN13 = "ean13"
    EAN8 = "ean8"
    UPCA = "upca"
    OWN = "own"  # the merchant's own code: any letters and digits, no check digit


class ProductBarcode(Base):
    """A code that, scanned, names a product. One product may have several (a bottle
    and its case have their own products; the same bottle from two suppliers, two
    codes); a code names one product of the merchant."""

    __tablename__ = "product_barcodes"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_product_barcodes_merchant_product",
            ondelete="CASCADE",
        ),
        Index("ix_product_barcodes_product", "product_id"),
    )

    merchant_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    product_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[BarcodeKind] = mapped_column(str_enum(BarcodeKind, length=10))


class ShopPrice(Base):
    """A product's price in one shop, where it differs from the product's own."""

    __tablename__ = "product_shop_prices"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_product_shop_prices_merchant_product",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_product_shop_prices_merchant_shop",
        ),
        CheckConstraint("price_minor >= 0", name="price"),
    )

    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    price_minor: Mapped[int] = mapped_column(BigInteger)


class ProductImage(Base):
    """A product's picture, as uploaded (PNG, JPEG or WebP), kept apart from the
    product row so that reading the catalogue never reads images."""

    __tablename__ = "product_images"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StoreRevision(Base):
    """A merchant's catalogue counter: every change to its products takes the next
    number (``Product.revision``)."""

    __tablename__ = "store_revisions"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


# --- stock -------------------------------------------------------------------------------


class MovementKind(StrEnum):
    RECEIPT = "receipt"  # goods in from a supplier
    TRANSFER_OUT = "transfer_out"  # sent to another shop of the merchant
    TRANSFER_IN = "transfer_in"  # received from another shop
    COUNT = "count"  # a stock count's difference (盘点)
    ADJUSTMENT = "adjustment"  # by hand, with a reason (damaged, expired, found…)
    SALE = "sale"  # out, by an order
    RETURN = "return"  # back in, by a return


class StockMovement(Base):
    """One change to a shop's stock of one product: the only way stock changes."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_stock_movements_merchant_product",
        ),
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_movements_merchant_shop",
        ),
        # A product's history in a shop, newest first.
        Index("ix_stock_movements_shop_product", "shop_id", "product_id", "id"),
        CheckConstraint("quantity_milli <> 0", name="moves"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[MovementKind] = mapped_column(str_enum(MovementKind))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)  # + in, - out
    unit_cost_minor: Mapped[int | None] = mapped_column(BigInteger)  # of a receipt
    reason: Mapped[str | None] = mapped_column(String(200))
    # What caused it: an order, a transfer, a count, a supplier's delivery note.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("stock_transfers.id"))
    count_id: Mapped[int | None] = mapped_column(ForeignKey("stock_counts.id"))
    document: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StockLevel(Base):
    """What a shop holds of a product: the sum of its movements (kept with each
    movement), and the level under which it is low."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "product_id"],
            ["products.merchant_id", "products.id"],
            name="fk_stock_levels_merchant_product",
        ),
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_levels_merchant_shop",
        ),
        CheckConstraint("reorder_milli IS NULL OR reorder_milli >= 0", name="reorder"),
    )

    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    quantity_milli: Mapped[int] = mapped_column(BigInteger)  # may go below zero: flagged
    reorder_milli: Mapped[int | None] = mapped_column(BigInteger)  # low at or below this
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TransferStatus(StrEnum):
    SENT = "sent"  # out of the sending shop's stock, on the way
    RECEIVED = "received"  # into the receiving shop's, as counted on arrival
    CANCELED = "canceled"  # before arrival: back into the sender's


class StockTransfer(Base):
    __tablename__ = "stock_transfers"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "from_shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_transfers_merchant_from_shop",
        ),
        ForeignKeyConstraint(
            ["merchant_id", "to_shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_transfers_merchant_to_shop",
        ),
        CheckConstraint("from_shop_id <> to_shop_id", name="two_shops"),
        Index("ix_stock_transfers_merchant", "merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    from_shop_id: Mapped[int] = mapped_column(Integer)
    to_shop_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[TransferStatus] = mapped_column(str_enum(TransferStatus, length=10))
    note: Mapped[str | None] = mapped_column(String(200))
    sent_by: Mapped[str] = mapped_column(String(100))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(100))  # received or canceled
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StockTransferLine(Base):
    __tablename__ = "stock_transfer_lines"
    __table_args__ = (
        CheckConstraint("sent_milli > 0", name="sent"),
        CheckConstraint("received_milli IS NULL OR received_milli >= 0", name="received"),
    )

    transfer_id: Mapped[int] = mapped_column(ForeignKey("stock_transfers.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    sent_milli: Mapped[int] = mapped_column(BigInteger)
    received_milli: Mapped[int | None] = mapped_column(BigInteger)  # as counted on arrival


class CountStatus(StrEnum):
    OPEN = "open"  # being counted
    BOOKED = "booked"  # its differences booked as movements
    CANCELED = "canceled"


class CountScope(StrEnum):
    """What a booked count covers: what it did not count is left alone, or counted as
    none (the products holding stock in the category, or in the shop)."""

    COUNTED = "counted"
    CATEGORY = "category"
    SHOP = "shop"


class StockCount(Base):
    """A stock count (盘点) of a shop: what was found, against what the books said when
    it was booked; each difference becomes a ``count`` movement."""

    __tablename__ = "stock_counts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_stock_counts_merchant_shop",
        ),
        Index("ix_stock_counts_shop", "shop_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[CountStatus] = mapped_column(str_enum(CountStatus, length=10))
    note: Mapped[str | None] = mapped_column(String(200))
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What the booking declared the count covers (None until booked), and its category.
    scope: Mapped[CountScope | None] = mapped_column(str_enum(CountScope, length=10))
    scope_category_id: Mapped[int | None] = mapped_column(ForeignKey("product_categories.id"))


class StockCountLine(Base):
    __tablename__ = "stock_count_lines"
    __table_args__ = (CheckConstraint("counted_milli >= 0", name="counted"),)

    count_id: Mapped[int] = mapped_column(ForeignKey("stock_counts.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    counted_milli: Mapped[int] = mapped_column(BigInteger)
    book_milli: Mapped[int | None] = mapped_column(BigInteger)  # the level when booked


# --- counters, tills and shifts ---------------------------------------------------------


class Counter(Base):
    """A counter of a mall (商铺): one merchant and one terminal at the central till
    (一机一户), several tenants' counters. Each order names its counter, and the mall's
    statement splits takings, fees and net per counter."""

    __tablename__ = "store_counters"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_store_counters_merchant_shop",
        ),
        UniqueConstraint("shop_id", "number"),
        UniqueConstraint("merchant_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))  # the tenant's shop name
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ShiftStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Shift(Base):
    """A cashier's turn at a till: from the cash float counted in to the cash counted
    out. ``expected_cash_minor`` is the float plus cash taken less cash paid back;
    over (+) or short (-) is the count less that. The Z report is the closed shift."""

    __tablename__ = "till_shifts"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_till_shifts_merchant_shop",
        ),
        # One open shift per till.
        Index(
            "uq_till_shifts_open_till",
            "shop_id",
            "till",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        UniqueConstraint("shop_id", "number"),  # the Z number, per shop
        Index("ix_till_shifts_shop", "shop_id", "id"),
        CheckConstraint("float_minor >= 0", name="float"),
        CheckConstraint(
            "(status = 'closed') = (closed_at IS NOT NULL AND counted_cash_minor IS NOT NULL)",
            name="closed_with_count",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    till: Mapped[str] = mapped_column(String(20))  # the till's name within the shop
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))  # who opened it
    status: Mapped[ShiftStatus] = mapped_column(str_enum(ShiftStatus, length=10))
    currency: Mapped[str] = mapped_column(String(3))
    float_minor: Mapped[int] = mapped_column(BigInteger)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    counted_cash_minor: Mapped[int | None] = mapped_column(BigInteger)
    expected_cash_minor: Mapped[int | None] = mapped_column(BigInteger)  # when closed
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))


# --- orders --------------------------------------------------------------------------------


class OrderKind(StrEnum):
    SALE = "sale"
    RETURN = "return"  # against one sale: its lines name the sale's lines


class OrderStatus(StrEnum):
    OPEN = "open"  # being rung up, or paying (some tenders paid)
    HELD = "held"  # parked by the cashier, to be recalled
    PAID = "paid"  # tenders cover the total: stock moved, receipt issued
    CANCELED = "canceled"  # given up before it was paid (no tender stands)


class Order(Base):
    """A sale or a return at a shop's till. ``client_ref`` is the till's own identifier
    for it (a UUID made in the browser): the same order sent twice is stored once.
    ``receipt_no`` is printed on the receipt and unique within the merchant."""

    __tablename__ = "orders"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_orders_merchant_shop",
        ),
        ForeignKeyConstraint(
            ["merchant_id", "counter_id"],
            ["store_counters.merchant_id", "store_counters.id"],
            name="fk_orders_merchant_counter",
        ),
        # A member's order is its merchant's member's (store/member_models.py).
        ForeignKeyConstraint(
            ["merchant_id", "member_id"],
            ["members.merchant_id", "members.id"],
            name="fk_orders_merchant_member",
        ),
        Index("ix_orders_member", "member_id", "created_at"),
        UniqueConstraint("merchant_id", "client_ref"),
        UniqueConstraint("merchant_id", "receipt_no"),
        # The shop's orders by time: reports, the day's list, the held ones.
        Index("ix_orders_shop_created", "shop_id", "created_at"),
        Index("ix_orders_shift", "shift_id"),
        Index("ix_orders_original", "original_order_id"),
        CheckConstraint(
            "(kind = 'return') = (original_order_id IS NOT NULL)", name="return_of_sale"
        ),
        CheckConstraint("discount_minor >= 0", name="discount"),
        CheckConstraint("total_minor >= 0", name="total"),
        # The receipt number is given when the order is paid, and only then.
        CheckConstraint("(status = 'paid') = (receipt_no IS NOT NULL)", name="receipt_when_paid"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[int] = mapped_column(Integer)
    counter_id: Mapped[int | None] = mapped_column(Integer)
    member_id: Mapped[int | None] = mapped_column(BigInteger)  # the customer, a member
    shift_id: Mapped[int | None] = mapped_column(ForeignKey("till_shifts.id"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))  # the cashier
    kind: Mapped[OrderKind] = mapped_column(str_enum(OrderKind, length=10))
    status: Mapped[OrderStatus] = mapped_column(str_enum(OrderStatus, length=10))
    original_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    client_ref: Mapped[str] = mapped_column(String(40))
    # What the till sent under client_ref (its SHA-256): the same again is answered
    # with the order, anything else under that client_ref is refused.
    request_sha256: Mapped[str | None] = mapped_column(String(64))
    receipt_no: Mapped[str | None] = mapped_column(String(40))  # from till_receipt_sequences
    currency: Mapped[str] = mapped_column(String(3))
    # The lines' amounts before the order's discount; the order's discount; what is
    # paid (a return: what is paid back). Always positive: the kind says which way.
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    note: Mapped[str | None] = mapped_column(String(200))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))  # a manager's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OrderLine(Base):
    """One product of an order, as sold: its name, price and cost are copied so the
    receipt and the reports never change when the catalogue does."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        Index("ix_order_lines_product", "product_id"),
        Index("ix_order_lines_original", "original_line_id"),
        CheckConstraint("quantity_milli > 0", name="quantity"),
        CheckConstraint("unit_price_minor >= 0", name="price"),
        CheckConstraint("discount_minor >= 0", name="discount"),
        CheckConstraint("amount_minor >= 0", name="amount"),
        CheckConstraint(
            "returned_milli >= 0 AND returned_milli <= quantity_milli", name="returned"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    category_id: Mapped[int | None] = mapped_column(Integer)  # the product's, when sold
    barcode: Mapped[str | None] = mapped_column(String(32))  # as scanned
    name: Mapped[str] = mapped_column(String(120))
    unit: Mapped[str] = mapped_column(String(10))
    quantity_milli: Mapped[int] = mapped_column(BigInteger)
    list_price_minor: Mapped[int] = mapped_column(BigInteger)  # the catalogue's, for the shop
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)  # as charged (an override)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # the line's own
    # Its share of the order's discount, so that returns and reports see the net.
    order_discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # price x quantity - discount
    cost_minor: Mapped[int | None] = mapped_column(BigInteger)  # unit cost when sold
    # A return's line names the sale's line it takes back; a sale's line counts what
    # its returns took back, which never exceeds what was sold (the CHECK above).
    original_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"))
    returned_milli: Mapped[int] = mapped_column(BigInteger, default=0)


class TenderKind(StrEnum):
    CASH = "cash"
    CARD = "card"  # through the shop's terminal, by the cashier link (a checkout)
    WALLET = "wallet"  # the customer's wallet code, read by the scanner (付款码)
    QR = "qr"  # a code on the customer display, scanned by the customer (主扫)


class TenderStatus(StrEnum):
    PENDING = "pending"  # asked of the terminal or the wallet, not answered yet
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"  # a return's tender: paid back


class OrderTender(Base):
    """One way part of an order was paid (a return: paid back). Cash moves no money
    through the acquirer; card, wallet and QR tenders name their payment (and a card
    tender its checkout). ``amount_minor`` is what it pays of the order; for cash
    ``received_minor`` is what the customer handed over and ``change_minor`` what
    went back."""

    __tablename__ = "order_tenders"
    __table_args__ = (
        Index("ix_order_tenders_order", "order_id"),
        Index("ix_order_tenders_payment", "payment_id"),
        Index("ix_order_tenders_original", "original_tender_id"),
        CheckConstraint("amount_minor > 0", name="amount"),
        CheckConstraint("change_minor >= 0", name="change"),
        CheckConstraint(
            "received_minor IS NULL OR received_minor = amount_minor + change_minor",
            name="received",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    kind: Mapped[TenderKind] = mapped_column(str_enum(TenderKind, length=10))
    status: Mapped[TenderStatus] = mapped_column(str_enum(TenderStatus, length=10))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    received_minor: Mapped[int | None] = mapped_column(BigInteger)
    change_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"))
    original_tender_id: Mapped[int | None] = mapped_column(ForeignKey("order_tenders.id"))
    response_code: Mapped[str | None] = mapped_column(String(2))  # a failed one's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReceiptSequence(Base):
    """The next receipt number of a till: receipts are ``<shop>-<till>-<n>``, so two
    tills never make the same number, even offline."""

    __tablename__ = "till_receipt_sequences"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_till_receipt_sequences_merchant_shop",
        ),
    )

    shop_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    till: Mapped[str] = mapped_column(String(20), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    next_number: Mapped[int] = mapped_column(BigInteger)
