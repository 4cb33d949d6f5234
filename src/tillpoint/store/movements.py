"""The one way stock changes: a movement, with the shop's level of the product kept in
the same unit of work. Sales, returns, receipts, transfers, counts and adjustments all
come through ``move``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from tillpoint.core.errors import invariant
from tillpoint.store.models import MovementKind, StockLevel, StockMovement


@dataclass(frozen=True, slots=True)
class Move:
    """One product's change in one shop: + in, - out, in thousandths of its unit. A
    move may name its own order, document and author (many orders' sales booked in one
    call: a sync of offline orders); otherwise the call's are its."""

    product_id: int
    quantity_milli: int
    unit_cost_minor: int | None = None
    order_id: int | None = None
    document: str | None = None
    by: str | None = None


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
    sale stands and the level shows it.

    Three statements whatever the number of lines: the movements in one insert, the
    levels added to in one upsert (a product's first movement makes its row: two first
    movements at the same moment both count, on PostgreSQL too, neither fails on the
    other's new row), then the new levels read."""
    totals: dict[int, int] = {}
    rows = []
    for m in moves:
        invariant(m.quantity_milli != 0, "a movement moves something")
        rows.append(
            {"merchant_id": merchant_id, "shop_id": shop_id, "product_id": m.product_id,
             "kind": kind, "quantity_milli": m.quantity_milli,
             "unit_cost_minor": m.unit_cost_minor, "reason": reason,
             "order_id": order_id if m.order_id is None else m.order_id,
             "transfer_id": transfer_id, "count_id": count_id,
             "document": document if m.document is None else m.document,
             "created_by": by if m.by is None else m.by, "created_at": at}
        )  # fmt: skip
        totals[m.product_id] = totals.get(m.product_id, 0) + m.quantity_milli
    if not rows:
        return {}
    s.execute(insert(StockMovement), rows)
    s.execute(
        _adding(s.get_bind().dialect.name),
        [
            {"shop_id": shop_id, "product_id": product_id, "merchant_id": merchant_id,
             "quantity_milli": totals[product_id], "reorder_milli": None, "updated_at": at}
            for product_id in sorted(totals)  # one order of row locks for every writer
        ],
    )  # fmt: skip
    found = s.execute(
        select(StockLevel.product_id, StockLevel.quantity_milli).where(
            StockLevel.shop_id == shop_id, StockLevel.product_id.in_(sorted(totals))
        )
    )
    return {int(product_id): int(quantity) for product_id, quantity in found}


_ADDING: dict[str, Any] = {}


def _adding(dialect: str) -> Any:
    """``INSERT INTO stock_levels ... ON CONFLICT (shop, product) DO UPDATE`` adding the
    movement's quantity (the reorder level stays), built once per backend."""
    found = _ADDING.get(dialect)
    if found is None:
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(StockLevel)
        found = _ADDING[dialect] = stmt.on_conflict_do_update(
            index_elements=[StockLevel.shop_id, StockLevel.product_id],
            set_={
                "quantity_milli": StockLevel.quantity_milli + stmt.excluded.quantity_milli,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    return found


def level(s: Session, shop_id: int, product_id: int) -> int:
    """A shop's stock of a product, in thousandths (0 when it never moved)."""
    found = s.scalar(
        select(StockLevel.quantity_milli).where(
            StockLevel.shop_id == shop_id, StockLevel.product_id == product_id
        )
    )
    return found or 0
