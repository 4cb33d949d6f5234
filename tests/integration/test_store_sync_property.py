"""Properties of the sync of offline orders (docs/offline.md):

- an order synced twice is stored once: a page's sales sent in random batches, with
  repeats, in any order, split anywhere, leave the server with the same orders, lines,
  tenders, stock and rollups as one clean sync of the same sales (made at another shop
  of the merchant, compared shop for shop);
- ``record_paid_many`` adds the same sums as ``record_paid``: after any mix of the two
  (repeats included) the rollups are ``naive``'s.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import delete, select
from tests.offline import Page, line
from tests.selling import World, demo_world, product

from tillpoint.app import Tillpoint
from tillpoint.core.settings import Settings
from tillpoint.merchants.models import Shop
from tillpoint.store.models import Order, OrderLine, OrderTender, StockLevel, TenderKind
from tillpoint.store.rollups import (
    TABLES,
    RolledOrder,
    as_stored,
    naive,
    record_paid,
    record_paid_many,
    stored,
)
from tillpoint.store.sync import OfflineSale, SyncStatus

from ..conftest import approved, business_application
from ..shopdata import Line, Tender, order, shanghai, world
from .test_store_reports import order_st

PRICES = {"water": 250, "apple": 1280, "cola": 350}  # no shop has a price of its own


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        demo=True,
        locale="en",
    )


@pytest.fixture
def w(tp: Tillpoint) -> Iterator[World]:
    w = demo_world(tp)
    w.products["cola"] = product(tp, w.merchant_id, "C1", "可乐 Cola", 350, cost_minor=200)
    return w


@pytest.fixture
def tills(w: World) -> tuple[int, int]:
    """An open shift at till T1 of each shop, both the owner's (the same cashier, so
    the two shops' rollups have the same keys)."""
    return (w.tp.shifts.open(w.merchant_id, 1, "T1", 0, w.owner_id).id,
            w.tp.shifts.open(w.merchant_id, 2, "T1", 0, w.owner_id).id)  # fmt: skip


line_st = st.tuples(
    st.sampled_from(sorted(PRICES)),
    st.integers(1, 5),  # pieces, or (apples) tenths of a kilo
    st.integers(0, 30),  # line discount
)
sale_st = st.tuples(
    st.lists(line_st, min_size=1, max_size=3),
    st.integers(0, 50),  # order discount (kept within the lines below)
    st.integers(0, 500),  # change
    st.integers(0, 600),  # seconds after the first
)


def sales_of(page: Page, w: World, shift: int, specs: list[Any]) -> list[OfflineSale]:
    start = w.tp.ctx.now() + timedelta(minutes=1)
    made = []
    for lines, discount, change, seconds in specs:
        sold = []
        for name, n, off in lines:
            q = n * 100 if name == "apple" else n * 1000
            x = line(w.products[name], PRICES[name], q, name=name)
            sold.append(line(w.products[name], PRICES[name], q, name=name,
                             discount_minor=min(off, x.amount_minor)))  # fmt: skip
        off_order = min(discount, sum(x.amount_minor for x in sold))
        made.append(page.sale(shift, *sold, discount_minor=off_order, change_minor=change,
                              made_at=start + timedelta(seconds=seconds)))  # fmt: skip
    return made


def shop_state(s: Any, shop_id: int, refs: set[str]) -> dict[str, Any]:
    """What a shop holds: the orders of ``refs`` as sold (without ids and numbers), its
    stock and its rollups (keyed without the shop)."""
    orders = []
    for o in s.scalars(select(Order).where(Order.shop_id == shop_id,
                                           Order.client_ref.in_(sorted(refs)))):  # fmt: skip
        lines = tuple(
            (x.line_no, x.product_id, x.category_id, x.name, x.quantity_milli,
             x.list_price_minor, x.unit_price_minor, x.discount_minor, x.order_discount_minor,
             x.amount_minor, x.cost_minor)
            for x in s.scalars(select(OrderLine).where(OrderLine.order_id == o.id)
                               .order_by(OrderLine.line_no))
        )  # fmt: skip
        tenders = tuple(
            (t.kind, t.status, t.amount_minor, t.received_minor, t.change_minor)
            for t in s.scalars(select(OrderTender).where(OrderTender.order_id == o.id))
        )
        orders.append((o.paid_at, o.status, o.subtotal_minor, o.discount_minor, o.total_minor,
                       o.account_id, lines, tenders))  # fmt: skip
    stock = dict(
        s.execute(
            select(StockLevel.product_id, StockLevel.quantity_milli).where(
                StockLevel.shop_id == shop_id
            )
        ).all()
    )
    rollups = {
        (table, key[1:]): sums
        for table, rows in stored(s, [shop_id]).items()
        for key, sums in rows.items()
    }
    return {"orders": Counter(orders), "stock": stock, "rollups": rollups}


def change(before: dict[Any, Any], after: dict[Any, Any]) -> dict[Any, Any]:
    """What was added to each figure (a number, or a list of numbers)."""
    out = {}
    for key, now in after.items():
        was = before.get(key)
        if isinstance(now, list):
            was = was or [0] * len(now)
            diff: Any = [a - b for a, b in zip(now, was, strict=True)]
            if any(diff):
                out[key] = diff
        elif now != (was or 0):
            out[key] = now - (was or 0)
    return out


@examples(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(specs=st.lists(sale_st, min_size=1, max_size=10), data=st.data())
def test_an_order_synced_twice_is_stored_once(
    w: World, tills: tuple[int, int], specs: list[Any], data: st.DataObject
) -> None:
    tp = w.tp
    messy, clean = Page(tp, w.merchant_id, 1), Page(tp, w.merchant_id, 2)
    messy.reserve(len(specs) // 2 + 1)  # the rest in its fallback form
    clean.reserve(len(specs))
    a, b = sales_of(messy, w, tills[0], specs), sales_of(clean, w, tills[1], specs)
    one, two = w.shop_id, _shop_2(w)
    refs_a, refs_b = {x.client_ref for x in a}, {x.client_ref for x in b}
    with tp.ctx.db.read() as s:
        before = shop_state(s, one, refs_a), shop_state(s, two, refs_b)
    # The clean one: everything once, in one batch.
    answer = clean.sync(*b)
    assert [o.status for o in answer.outcomes] == [SyncStatus.SYNCED] * len(b)
    # The messy one: batches of any of them, repeated, in any order; then, as the till
    # does until each is answered, all of them again.
    n = len(a)
    batches = data.draw(st.lists(st.lists(st.integers(0, n - 1), min_size=1, max_size=2 * n),
                                 max_size=5))  # fmt: skip
    batches.append(data.draw(st.permutations(range(n))))
    synced: Counter[str] = Counter()
    for batch in batches:
        for i, outcome in zip(batch, messy.sync(*(a[i] for i in batch)).outcomes, strict=True):
            assert outcome.status is not SyncStatus.REFUSED, outcome.refusal
            synced[a[i].client_ref] += outcome.status is SyncStatus.SYNCED
    assert synced == Counter({x.client_ref: 1 for x in a})
    with tp.ctx.db.read() as s:
        after = shop_state(s, one, refs_a), shop_state(s, two, refs_b)
        assert after[0]["orders"] == after[1]["orders"]
        assert sum(after[0]["orders"].values()) == len(specs)
        for what in ("stock", "rollups"):
            assert change(before[0][what], after[0][what]) == change(
                before[1][what], after[1][what]
            ), what
        assert stored(s, [one, two]) == as_stored(naive(s, [one, two]))


def _shop_2(w: World) -> int:
    with w.tp.ctx.db.read() as s:
        return s.scalars(
            select(Shop.id).where(Shop.merchant_id == w.merchant_id, Shop.number == 2)
        ).one()


# --- record_paid_many ---------------------------------------------------------------------------


@pytest.fixture
def bare(tp: Tillpoint) -> Any:
    return world(tp, approved(tp, business_application()))


@examples(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(orders=st.lists(order_st, max_size=12), seed=st.integers(0, 2**32))
def test_record_paid_many_adds_what_record_paid_adds(
    tp: Tillpoint, bare: Any, orders: list[Any], seed: int
) -> None:
    w = bare
    with tp.ctx.db.transaction() as s:  # each example starts from nothing
        for model in (*TABLES, RolledOrder):
            s.execute(delete(model))
        s.execute(delete(OrderTender))
        s.execute(delete(OrderLine))
        s.execute(delete(Order))
    last_sale, ids = None, []
    for n, (day, hour, shop_n, counter, cashier, lines, tenders, is_return) in enumerate(orders):
        made = [Line(p, q, price, min(d, (q * price + 500) // 1000), 0, cost)
                for p, q, price, d, _share, cost in lines]  # fmt: skip
        paid = [Tender(kind, amount, 0 if kind is TenderKind.CASH else fee)
                for kind, amount, fee in tenders]  # fmt: skip
        back = last_sale if is_return and last_sale else None
        ids.append(order(tp, w, f"o{n}", shop=shop_n, counter=counter if shop_n == 1 else None,
                         cashier=cashier, paid_at=shanghai(f"{day} {hour:02d}:30"), lines=made,
                         tenders=paid, returns=back, record=False))  # fmt: skip
        if back is None:
            last_sale = f"o{n}"
    rng = random.Random(seed)
    rng.shuffle(ids)
    done: list[int] = []
    while ids:
        take = rng.randint(1, len(ids))
        chunk, ids = ids[:take], ids[take:]
        with tp.ctx.db.transaction() as s:
            if rng.random() < 0.3:
                for order_id in chunk:
                    record_paid(s, order_id)
            else:  # with some added already among them: left alone
                again = rng.sample(done, min(len(done), rng.randint(0, 2)))
                assert record_paid_many(s, chunk + again) == len(chunk)
        done += chunk
    shops = list(w.shops.values())
    with tp.ctx.db.read() as s:
        assert stored(s, shops) == as_stored(naive(s, shops))
