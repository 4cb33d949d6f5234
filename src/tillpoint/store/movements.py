"""The one way stock changes: a movement, with the shop's level of the product kept in
the same unit of work. Sales, returns, receipts, transfers, counts and adjustments all
come through ``move``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from tillpoint.core.errors import invariant
from tillpoint.store.models import MovementKind, StockLevel, StockMovement


@dataclass(frozen=True, slots=True)
class Move:
    """One product's change in one shop: + in, - out, in thousandths of its unit."""

    product_id: int
    quantity_milli: int
    unit_cost_minor: int | None = None


def move(
    s: Session,
    *,
    merchant_id: int,
    shop_id: int,
    kind: MovementKind,
    moves: list[Move],
    by: str,
    at: datetime,
    reason: str | None = None,
    order_id: int | None = None,
    transfer_id: int | None = None,
    count_id: int | None = None,
    document: str | None = None,
) -> dict[int, int]:
    """Book ``moves`` (several of one product add up) and return each product's new
    level. Levels may go below zero (a sale of goods the books did not know of): the
    sale stands and the level shows it."""
    totals: dict[int, int] = {}
    for m in moves:
        invariant(m.quantity_milli != 0, "a movement moves something")
        s.add(
            StockMovement(
                merchant_id=merchant_id, shop_id=shop_id, product_id=m.product_id, kind=kind,
                quantity_milli=m.quantity_milli, unit_cost_minor=m.unit_cost_minor,
                reason=reason, order_id=order_id, transfer_id=transfer_id, count_id=count_id,
                document=document, created_by=by, created_at=at,
            )
        )  # fmt: skip
        totals[m.product_id] = totals.get(m.product_id, 0) + m.quantity_milli
    levels: dict[int, int] = {}
    for product_id in sorted(totals):  # one order of row locks for every writer
        delta = totals[product_id]
        row = s.execute(
            update(StockLevel)
            .where(StockLevel.shop_id == shop_id, StockLevel.product_id == product_id)
            .values(quantity_milli=StockLevel.quantity_milli + delta, updated_at=at)
            .returning(StockLevel.quantity_milli)
        ).first()
        if row is None:
            s.execute(
                insert(StockLevel).values(
                    shop_id=shop_id, product_id=product_id, merchant_id=merchant_id,
                    quantity_milli=delta, reorder_milli=None, updated_at=at,
                )
            )  # fmt: skip
            levels[product_id] = delta
        else:
            levels[product_id] = row[0]
    return levels


def level(s: Session, shop_id: int, product_id: int) -> int:
    """A shop's stock of a product, in thousandths (0 when it never moved)."""
    found = s.scalar(
        select(StockLevel.quantity_milli).where(
            StockLevel.shop_id == shop_id, StockLevel.product_id == product_id
        )
    )
    return found or 0
