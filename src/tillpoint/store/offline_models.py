"""The tables of selling offline (docs/offline.md): the till pages that sell offline,
the blocks of receipt numbers each took while online, and what the server noted of
each offline order when it arrived (the till's time, when it came, what needs a look).

An offline order itself is an ordinary paid order (``orders``, ``order_lines``,
``order_tenders``): its ``offline_orders`` row says it was made offline.
"""

from __future__ import annotations

from datetime import datetime
from enum import IntFlag

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, UTCDateTime


class TillPage(Base):
    """A cashier page of one till (a browser, a tab) that may sell offline: its own id
    (``page_ref``, a UUID the page makes and keeps) and its number within the till,
    which its fallback receipt numbers carry (``<shop>-<till>-P<number>.<n>``)."""

    __tablename__ = "till_pages"
    __table_args__ = (
        ForeignKeyConstraint(
            ["merchant_id", "shop_id"],
            ["shops.merchant_id", "shops.id"],
            name="fk_till_pages_merchant_shop",
        ),
        UniqueConstraint("shop_id", "till", "page_ref"),
        UniqueConstraint("shop_id", "till", "number"),
        CheckConstraint("number >= 1", name="number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[int] = mapped_column(Integer)
    till: Mapped[str] = mapped_column(String(20))
    page_ref: Mapped[str] = mapped_column(String(40))
    number: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReceiptBlock(Base):
    """Receipt numbers ``first_number`` to ``last_number`` of a till, taken from its
    sequence (``till_receipt_sequences``) for one page's offline sales: no other
    page and no online order of the till ever gets one of them."""

    __tablename__ = "till_receipt_blocks"
    __table_args__ = (
        Index("ix_till_receipt_blocks_page", "page_id", "first_number"),
        CheckConstraint("first_number >= 1 AND last_number >= first_number", name="range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("till_pages.id"))
    first_number: Mapped[int] = mapped_column(BigInteger)
    last_number: Mapped[int] = mapped_column(BigInteger)
    reserved_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Flag(IntFlag):
    """What the server noted of an offline order when it arrived. Those in ``LOOK``
    need a person's look; the others are kept for the reports."""

    STOCK_NEGATIVE = 1  # a line took the shop's stock of its product below zero
    SHIFT_CLOSED = 2  # its shift was closed (by a manager) before it arrived
    NOT_APPROVED = 4  # a price of the till's own, or discounts over the free limit
    NO_COUNTER = 8  # the shop sells at counters now, the order named none
    CLOCK = 16  # the till's time is before its shift opened, or after it arrived
    PRICE_CHANGED = 32  # the shop's list price now differs from the till's
    PRODUCT_INACTIVE = 64  # a product switched off meanwhile (it still sold)
    FALLBACK_NUMBER = 128  # numbered past its blocks: <shop>-<till>-P<page>.<n>


LOOK = Flag.STOCK_NEGATIVE | Flag.SHIFT_CLOSED | Flag.NOT_APPROVED | Flag.NO_COUNTER | Flag.CLOCK
LINE_FLAGS = Flag.STOCK_NEGATIVE | Flag.PRICE_CHANGED | Flag.PRODUCT_INACTIVE


def flag_names(flags: int) -> list[str]:
    """The flags set, by name (``stock_negative``...), in the order of ``Flag``."""
    return [f.name.lower() for f in Flag if flags & f and f.name]


class OfflineOrder(Base):
    """An order made at a till page while it was offline, as it arrived. The order's
    own ``created_at`` and ``paid_at`` are the till's time (``made_at``); ``received_at``
    is the server's, when the sync wrote it."""

    __tablename__ = "offline_orders"
    __table_args__ = (
        # The merchant's list of what needs a look.
        Index(
            "ix_offline_orders_look",
            "merchant_id",
            "order_id",
            sqlite_where=text("look"),
            postgresql_where=text("look"),
        ),
        Index("ix_offline_orders_page", "page_id"),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(Integer)
    page_id: Mapped[int] = mapped_column(ForeignKey("till_pages.id"))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    flags: Mapped[int] = mapped_column(Integer)  # Flag, the order's and its lines'
    look: Mapped[bool] = mapped_column(Boolean)  # flags & LOOK: it needs a look


class OfflineLineFlag(Base):
    """A line of an offline order with something noted (only those have a row): its
    flags and, when it took the stock below zero, the shop's level after it."""

    __tablename__ = "offline_line_flags"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    flags: Mapped[int] = mapped_column(Integer)
    level_milli: Mapped[int | None] = mapped_column(BigInteger)
