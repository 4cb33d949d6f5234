"""A till page selling offline, for the tests: it makes itself known while online and
numbers its sales in its own form (``<shop>-<till>-P<page>.<n>``, as the browser does),
or, as an API client may, takes blocks of the till's numbers and uses them first; and it
makes cash sales as the browser would (the till's own figures: amounts, subtotal,
total, change)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tillpoint.app import Tillpoint
from tillpoint.store import order_rules as rules
from tillpoint.store.sync import (
    CashPaid,
    LineSold,
    OfflineSale,
    ReceiptBlockView,
    SyncAnswer,
    SyncBatch,
    TillPageView,
)


def line(
    product_id: int, price_minor: int, quantity_milli: int = 1000, *, name: str = "商品 Item",
    unit: str = "个", sold_at: int | None = None, discount_minor: int = 0,
    barcode: str | None = None,
) -> LineSold:  # fmt: skip
    """A line as the till sells it: its copy's price ``price_minor``, sold at
    ``sold_at`` (the same by default), the amount worked out as the till does."""
    unit_price = price_minor if sold_at is None else sold_at
    amount = rules.line_gross(unit_price, quantity_milli) - discount_minor
    return LineSold(product_id, name, unit, quantity_milli, price_minor, unit_price, amount,
                    discount_minor, barcode)  # fmt: skip


@dataclass
class Page:
    """One cashier page of a till."""

    tp: Tillpoint
    merchant_id: int
    shop_number: int = 1
    till: str = "T1"
    ref: str = field(default_factory=lambda: str(uuid.uuid4()))
    blocks: list[ReceiptBlockView] = field(default_factory=list)
    prefix: str = ""  # the page's own form, once known
    printed: int = 0  # numbers used from the blocks
    fallback: int = 0  # numbers of the page's own form used
    clock: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def register(self) -> TillPageView:
        page = self.tp.offline.register_page(
            self.merchant_id, self.shop_number, self.till, self.ref
        )
        self.prefix = page.receipt_prefix
        return page

    def reserve(self, size: int = 1000) -> ReceiptBlockView:
        block = self.tp.offline.reserve_block(
            self.merchant_id, self.shop_number, self.till, self.ref, size
        )
        self.blocks.append(block)
        self.prefix = block.fallback_prefix
        return block

    def next_receipt(self) -> str:
        n = self.printed
        for b in self.blocks:
            if n < b.size:
                self.printed += 1
                return f"{self.shop_number}-{self.till}-{b.first_number + n}"
            n -= b.size
        self.fallback += 1
        return f"{self.prefix}{self.fallback}"

    def sale(
        self, shift_id: int, *lines: LineSold, discount_minor: int = 0,
        change_minor: int = 0, made_at: datetime | None = None, **kw: Any,
    ) -> OfflineSale:  # fmt: skip
        subtotal = sum(x.amount_minor for x in lines)
        total = subtotal - discount_minor
        tenders = (CashPaid(total, total + change_minor, change_minor),) if total else ()
        if made_at is None:
            made_at = self.tp.ctx.now() + timedelta(seconds=next(self.clock))
        fields: dict[str, Any] = {
            "client_ref": str(uuid.uuid4()), "receipt_no": None, "made_at": made_at,
            "shift_id": shift_id, "lines": lines, "tenders": tenders,
            "subtotal_minor": subtotal, "total_minor": total, "discount_minor": discount_minor,
        } | kw  # fmt: skip
        if fields["receipt_no"] is None:
            fields["receipt_no"] = self.next_receipt()
        return OfflineSale(**fields)

    def batch(self, *orders: OfflineSale) -> SyncBatch:
        return SyncBatch(self.shop_number, self.till, self.ref, tuple(orders))

    def sync(self, *orders: OfflineSale) -> SyncAnswer:
        return self.tp.offline.sync(self.batch(*orders), merchant_id=self.merchant_id)
