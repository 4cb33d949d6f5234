"""Orders of a shop written straight into the database, as the order service will write
them (paid, with their lines and tenders), each added to the report rollups in its own
unit of work (``record_paid``): what the reports' tests and pages read.

``hand_made`` is the small set whose every figure tests/integration/test_store_reports.py
checks to the fen; its notes give the sums."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tillpoint.app import Tillpoint
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.payments.models import Channel, Payment, PaymentKind, PaymentStatus
from tillpoint.store.models import (
    Counter,
    MovementKind,
    Order,
    OrderKind,
    OrderLine,
    OrderStatus,
    OrderTender,
    Product,
    ProductCategory,
    SoldBy,
    TenderKind,
    TenderStatus,
)
from tillpoint.store.movements import Move, move
from tillpoint.store.rollups import record_paid

_refs = itertools.count(1)
_rrns = itertools.count(1)
SETUP_AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def shanghai(text: str) -> datetime:
    """``2026-12-01 09:15`` on Shanghai's clock."""
    return datetime.fromisoformat(text).replace(tzinfo=BUSINESS_TZ)


@dataclass
class Line:
    product: str | None  # a key of ``World.products``, or None (not in the catalogue)
    quantity_milli: int
    unit_price_minor: int
    discount_minor: int = 0
    order_discount_minor: int = 0
    cost_minor: int | None = None
    name: str = ""


@dataclass
class Tender:
    kind: TenderKind
    amount_minor: int
    fee_minor: int = 0  # card, wallet, QR: the fee on the payment behind it
    payment_id: int | None = None  # a payment made already (else one is written)


@dataclass
class World:
    merchant_id: int
    mid: str
    shops: dict[int, int] = field(default_factory=dict)  # number -> id
    counters: dict[str, int] = field(default_factory=dict)  # name -> id
    categories: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    cashiers: dict[str, int] = field(default_factory=dict)  # name -> account id
    orders: dict[str, int] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)


def world(tp: Tillpoint, mid: str, *, cashiers: tuple[str, ...] = ("Alice", "Bob")) -> World:
    """Shop 1 of ``mid`` with two counters (1 Tea stall, 2 Noodles), a second shop, two
    categories, three products, and cashiers."""
    if len(tp.merchants.list_shops(mid)) < 2:
        tp.merchants.add_shop(mid, "二店 Second shop", "上海市南京西路2号 2 West Nanjing Road", "t")
    with tp.ctx.db.transaction() as s:
        m = s.scalars(select(Merchant).where(Merchant.mid == mid)).one()
        w = World(m.id, mid)
        for shop in s.scalars(select(Shop).where(Shop.merchant_id == m.id)):
            w.shops[shop.number] = shop.id
        for number, name in ((1, "Tea stall 茶铺"), (2, "Noodles 面馆")):
            c = Counter(merchant_id=m.id, shop_id=w.shops[1], number=number, name=name,
                        active=True, created_at=SETUP_AT)  # fmt: skip
            s.add(c)
            s.flush()
            w.counters[name.split()[0]] = c.id
        for name in ("Drinks 饮料", "Food 食品"):
            cat = ProductCategory(merchant_id=m.id, name=name, created_at=SETUP_AT)
            s.add(cat)
            s.flush()
            w.categories[name.split()[0]] = cat.id
        for n, (key, name, category, sold_by, unit, price, cost) in enumerate((
            ("cola", "Cola 可乐", "Drinks", SoldBy.PIECE, "瓶", 300, 150),
            ("apples", "Apples 苹果", "Food", SoldBy.WEIGHT, "kg", 1200, 800),
            ("bread", "Bread 面包", "Food", SoldBy.PIECE, "个", 500, None),
        ), 1):  # fmt: skip
            p = Product(merchant_id=m.id, sku=f"SKU-{n}", name=name,
                        category_id=w.categories[category], unit=unit, sold_by=sold_by,
                        price_minor=price, cost_minor=cost, currency="CNY", active=True,
                        revision=n, created_at=SETUP_AT, updated_at=SETUP_AT)  # fmt: skip
            s.add(p)
            s.flush()
            w.products[key] = p.id
    for name in cashiers:
        made = tp.accounts.create(name=name, roles={_cashier()}, actor="test",
                                  email=f"{name.lower()}.{mid}@example.com",
                                  merchant_ref=mid, shop_number=1)  # fmt: skip
        w.cashiers[name] = made.account.id
    return w


def _cashier() -> Any:
    from tillpoint.access.models import AccountRole

    return AccountRole.CASHIER


def stock(tp: Tillpoint, w: World, shop: int, levels: dict[str, int]) -> None:
    """Receive stock into a shop (thousandths of each product's unit; negative: out)."""
    with tp.ctx.db.transaction() as s:
        for key, quantity in levels.items():
            move(s, merchant_id=w.merchant_id, shop_id=w.shops[shop],
                 kind=MovementKind.RECEIPT if quantity > 0 else MovementKind.ADJUSTMENT,
                 moves=[Move(w.products[key], quantity)], by="test", at=SETUP_AT)  # fmt: skip


def order(
    tp: Tillpoint,
    w: World,
    name: str,
    *,
    shop: int,
    paid_at: datetime,
    lines: list[Line],
    tenders: list[Tender],
    counter: str | None = None,
    cashier: str | None = None,
    returns: str | None = None,  # the sale (a name in ``w.orders``) a return takes back
    originals: list[int] | None = None,  # a return's lines: the sale's line numbers
    status: OrderStatus = OrderStatus.PAID,
    record: bool = True,
) -> int:
    """An order written as the order service would, and (paid) added to the rollups in
    the same unit of work."""
    kind = OrderKind.RETURN if returns else OrderKind.SALE
    amounts = [ln.quantity_milli * ln.unit_price_minor for ln in lines]
    gross = [(2 * a + 1000) // 2000 for a in amounts]
    subtotal = sum(g - ln.discount_minor for g, ln in zip(gross, lines, strict=True))
    discount = sum(ln.order_discount_minor for ln in lines)
    n = next(_refs)
    with tp.ctx.db.transaction() as s:
        o = Order(
            merchant_id=w.merchant_id, shop_id=w.shops[shop],
            counter_id=w.counters[counter] if counter else None,
            account_id=w.cashiers[cashier] if cashier else None, kind=kind, status=status,
            original_order_id=w.orders[returns] if returns else None,
            client_ref=f"ref-{n}", currency="CNY",
            receipt_no=f"{shop}-T1-{n}" if status is OrderStatus.PAID else None,
            subtotal_minor=subtotal, discount_minor=discount, total_minor=subtotal - discount,
            created_at=paid_at, updated_at=paid_at,
            paid_at=paid_at if status is OrderStatus.PAID else None,
        )  # fmt: skip
        s.add(o)
        s.flush()
        ids = []
        for i, (ln, g) in enumerate(zip(lines, gross, strict=True), 1):
            original = None
            if returns and originals:
                original = w.lines[returns][originals[i - 1] - 1]
            product = w.products[ln.product] if ln.product else None
            category = None
            if product is not None:
                category = s.get(Product, product).category_id  # type: ignore[union-attr]
            row = OrderLine(
                order_id=o.id, line_no=i, product_id=product, category_id=category,
                name=ln.name or (ln.product or "misc"), unit="个",
                quantity_milli=ln.quantity_milli, list_price_minor=ln.unit_price_minor,
                unit_price_minor=ln.unit_price_minor, discount_minor=ln.discount_minor,
                order_discount_minor=ln.order_discount_minor,
                amount_minor=g - ln.discount_minor, cost_minor=ln.cost_minor,
                original_line_id=original, returned_milli=0,
            )  # fmt: skip
            s.add(row)
            s.flush()
            ids.append(row.id)
        for t in tenders:
            payment_id = t.payment_id
            if t.kind is not TenderKind.CASH and payment_id is None:
                p = Payment(
                    kind=PaymentKind.REFUND if returns else PaymentKind.SALE,
                    status=PaymentStatus.APPROVED, response_code="00",
                    merchant_id=w.merchant_id, shop_id=w.shops[shop],
                    rrn=f"R{next(_rrns):011d}", amount_minor=t.amount_minor, currency="CNY",
                    entry_mode="071", business_date=paid_at.date(), fee_minor=t.fee_minor,
                    channel=Channel.TERMINAL, created_at=paid_at, updated_at=paid_at,
                )  # fmt: skip
                s.add(p)
                s.flush()
                payment_id = p.id
            paid = TenderStatus.REFUNDED if returns else TenderStatus.PAID
            s.add(OrderTender(order_id=o.id, kind=t.kind, status=paid,
                              amount_minor=t.amount_minor, change_minor=0,
                              payment_id=payment_id, created_at=paid_at,
                              updated_at=paid_at))  # fmt: skip
        s.flush()
        if record and status is OrderStatus.PAID:
            record_paid(s, o.id)
        w.orders[name] = o.id
        w.lines[name] = ids
        return o.id


def hand_made(tp: Tillpoint, mid: str) -> World:
    """The set the reports' tests check to the fen (every figure in minor units):

    - O1, shop 1, counter Tea, Alice, 2026-12-01 09:15: 2 cola at 3.00 (cost 1.50) and
      0.455 kg of apples at 12.00 (5.46, less 0.46; cost 8.00/kg: 3.64), an order
      discount of 1.00 shared 0.60 and 0.40: net 5.40 + 4.60 = 10.00, cash;
    - O2, shop 1, counter Noodles, Bob, 13:40: 3 bread at 5.00 (no cost) and 1 cola:
      18.00 by card (fee 0.11);
    - O3, shop 2, Alice, 2026-12-02 23:30 (Shanghai's day 12-02, past the acquirer's
      cut-off): 5 cola at 2.80 (cost 1.60): 14.00 by wallet (fee 0.08);
    - R1, shop 1, counter Tea, Bob, 2026-12-02 10:00: one cola of O1 back (3.00 less its
      0.30 share of the order discount): 2.70 paid back in cash;
    - an open order (not paid) that no report counts;
    - stock: shop 1 holds 10 cola, 2.5 kg apples, 4 bread; shop 2 1 kg apples and -1
      cola.
    """
    w = world(tp, mid)
    at = shanghai
    order(tp, w, "O1", shop=1, counter="Tea", cashier="Alice", paid_at=at("2026-12-01 09:15"),
          lines=[Line("cola", 2000, 300, order_discount_minor=60, cost_minor=150),
                 Line("apples", 455, 1200, discount_minor=46, order_discount_minor=40,
                      cost_minor=800)],
          tenders=[Tender(TenderKind.CASH, 1000)])  # fmt: skip
    order(tp, w, "O2", shop=1, counter="Noodles", cashier="Bob", paid_at=at("2026-12-01 13:40"),
          lines=[Line("bread", 3000, 500), Line("cola", 1000, 300, cost_minor=150)],
          tenders=[Tender(TenderKind.CARD, 1800, fee_minor=11)])  # fmt: skip
    order(tp, w, "O3", shop=2, cashier="Alice", paid_at=at("2026-12-02 23:30"),
          lines=[Line("cola", 5000, 280, cost_minor=160)],
          tenders=[Tender(TenderKind.WALLET, 1400, fee_minor=8)])  # fmt: skip
    order(tp, w, "R1", shop=1, counter="Tea", cashier="Bob", paid_at=at("2026-12-02 10:00"),
          returns="O1", originals=[1],
          lines=[Line("cola", 1000, 300, order_discount_minor=30, cost_minor=150)],
          tenders=[Tender(TenderKind.CASH, 270)])  # fmt: skip
    order(tp, w, "open", shop=1, paid_at=at("2026-12-02 11:00"), status=OrderStatus.OPEN,
          lines=[Line("cola", 9000, 300, cost_minor=150)], tenders=[])  # fmt: skip
    stock(tp, w, 1, {"cola": 10_000, "apples": 2_500, "bread": 4_000})
    stock(tp, w, 2, {"apples": 1_000, "cola": -1_000})
    return w
