"""What the REST API's orders and the till page's orders share: a sent cart's lines and
discount, as the order service takes them (both bodies name their fields alike)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from tillpoint.store.orders import Discount, LineIn


class LineFields(Protocol):
    @property
    def product_id(self) -> int | None: ...
    @property
    def barcode(self) -> str | None: ...
    @property
    def quantity_milli(self) -> int: ...
    @property
    def unit_price_minor(self) -> int | None: ...
    @property
    def discount_minor(self) -> int | None: ...
    @property
    def discount_percent(self) -> str | None: ...
    @property
    def expected_amount_minor(self) -> int | None: ...


class DiscountFields(Protocol):
    @property
    def amount_minor(self) -> int | None: ...
    @property
    def percent(self) -> str | None: ...


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def order_lines(lines: Iterable[LineFields]) -> tuple[LineIn, ...]:
    return tuple(
        LineIn(x.product_id, x.barcode, x.quantity_milli, x.unit_price_minor,
               x.discount_minor, _decimal(x.discount_percent), x.expected_amount_minor)
        for x in lines
    )  # fmt: skip


def order_discount(d: DiscountFields | None) -> Discount | None:
    return None if d is None else Discount(d.amount_minor, _decimal(d.percent))
