"""A shop to sell in, for the selling tests: the demo merchant 1 (its shop 1 with its
terminal, a second shop), its people (the demo owner, a manager, a cashier of each
shop) and a few products put in place directly (the catalogue's own service is
another's), and the till's desk: an acquirer on an event loop of the test's own, the
tenders' service over it, and a terminal's sale naming a checkout."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select

from tillpoint.access.models import AccountRole
from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.demo import demo_mid, demo_owner, demo_tid, ensure_demo
from tillpoint.merchants.models import Merchant
from tillpoint.payments.acquirer import Acquirer, Card, Outcome, RequestKey, simulated
from tillpoint.payments.checkouts import claim, claim_lapse
from tillpoint.payments.online import OnlinePayments
from tillpoint.store.models import (
    BarcodeKind,
    Product,
    ProductBarcode,
    ShopPrice,
    SoldBy,
    StockLevel,
)
from tillpoint.store.orders import Approval, LineIn, NewOrder, TenderIn
from tillpoint.store.tenders import Tenders

R = TypeVar("R")
PASSWORD = "manager-secret-1"
DEBIT = "6212340000000000012"
ALIPAY = "284000000000000001"
WATER_CODES = {1: "6920000000012", 2: "6920000000029"}  # EAN-13, check digits right
AT_ONCE = itertools.count(1)


@dataclass
class World:
    tp: Tillpoint
    merchant_id: int
    mid: str
    shop_id: int
    products: dict[str, int] = field(default_factory=dict)
    owner_id: int = 0
    manager_id: int = 0
    manager_login: str = "manager@shop.example.com"
    cashier_id: int = 0  # of shop 1
    cashier_2_id: int = 0  # of shop 2

    @property
    def approval(self) -> Approval:
        return Approval(self.manager_login, password=PASSWORD)

    def open_shift(self, till: str = "T1", float_minor: int = 10_000, shop: int = 1) -> int:
        who = self.cashier_id if shop == 1 else self.cashier_2_id
        return self.tp.shifts.open(self.merchant_id, shop, till, float_minor, who).id

    def order(self, shift_id: int, *lines: LineIn, **kw: Any) -> NewOrder:
        return NewOrder(client_ref=str(uuid.uuid4()), shift_id=shift_id, lines=lines, **kw)

    def level(self, name: str, shop_id: int | None = None) -> int:
        with self.tp.ctx.db.read() as s:
            found = s.scalar(
                select(StockLevel.quantity_milli).where(
                    StockLevel.shop_id == (shop_id or self.shop_id),
                    StockLevel.product_id == self.products[name],
                )
            )
        return found or 0


def product(
    tp: Tillpoint, merchant_id: int, sku: str, name: str, price_minor: int, *,
    sold_by: SoldBy = SoldBy.PIECE, unit: str = "个", cost_minor: int | None = None,
    active: bool = True,
) -> int:  # fmt: skip
    now = tp.ctx.now()
    with tp.ctx.db.transaction() as s:
        p = Product(
            merchant_id=merchant_id, sku=sku, name=name, unit=unit, sold_by=sold_by,
            price_minor=price_minor, cost_minor=cost_minor, currency="CNY", active=active,
            revision=next(AT_ONCE), created_at=now, updated_at=now,
        )  # fmt: skip
        s.add(p)
        s.flush()
        return p.id


def shop_world(tp: Tillpoint, n: int = 1) -> World:
    """Demo merchant ``n`` (``ensure_demo`` made already), ready to sell."""
    mid = demo_mid(n)
    with tp.ctx.db.read() as s:
        merchant = s.scalars(select(Merchant).where(Merchant.mid == mid)).one()
        merchant_id = merchant.id
        shop_id = next(x.id for x in merchant.shops if x.number == 1)
    if len(tp.merchants.get(mid).shops) < 2:
        tp.merchants.add_shop(mid, f"二店{n} Second shop", "上海市南京西路2号 2 Road", "test")
    w = World(tp, merchant_id, mid, shop_id)
    w.products["water"] = product(tp, merchant_id, f"W{n}", "矿泉水 Water", 250, cost_minor=120)
    w.products["apple"] = product(tp, merchant_id, f"A{n}", "苹果 Apples", 1280,
                                  sold_by=SoldBy.WEIGHT, unit="kg", cost_minor=700)  # fmt: skip
    w.products["bread"] = product(tp, merchant_id, f"B{n}", "面包 Bread", 800)
    w.products["old"] = product(tp, merchant_id, f"O{n}", "旧货 Old", 100, active=False)
    with tp.ctx.db.transaction() as s:
        s.add(ProductBarcode(merchant_id=merchant_id, code=water_code(n),
                             product_id=w.products["water"], kind=BarcodeKind.EAN13))  # fmt: skip
        s.add(ShopPrice(product_id=w.products["bread"], shop_id=shop_id, merchant_id=merchant_id,
                        price_minor=750))  # fmt: skip
    w.owner_id = tp.accounts.get(demo_owner(n)).id
    w.manager_login = f"manager{n}@shop.example.com"
    w.manager_id = tp.accounts.create(
        name="经理 Manager", roles={AccountRole.MANAGER}, actor="test", email=w.manager_login,
        merchant_ref=mid, password=PASSWORD,
    ).account.id  # fmt: skip
    w.cashier_id = tp.accounts.create(
        name="收银员 Cashier", roles={AccountRole.CASHIER}, actor="test",
        email=f"cashier{n}@shop.example.com", merchant_ref=mid, shop_number=1,
        password="cashier-secret-1",
    ).account.id  # fmt: skip
    w.cashier_2_id = tp.accounts.create(
        name="二店收银员 Cashier 2", roles={AccountRole.CASHIER}, actor="test",
        email=f"cashier{n}b@shop.example.com", merchant_ref=mid, shop_number=2,
        password="cashier-secret-2",
    ).account.id  # fmt: skip
    return w


def water_code(n: int = 1) -> str:
    return WATER_CODES[n]


def demo_world(tp: Tillpoint) -> World:
    ensure_demo(tp, 2)
    for n in (1, 2):
        tp.terminals.activate(demo_tid(n))
    return shop_world(tp, 1)


@dataclass
class Desk:
    """The till's side of the networks: the tenders' service over a simulated acquirer
    on this test's own event loop, and the terminal that pays checkouts."""

    tp: Tillpoint
    loop: asyncio.AbstractEventLoop
    acquirer: Acquirer
    tenders: Tenders
    stans: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def run(self, coro: Awaitable[R]) -> R:
        return self.loop.run_until_complete(coro)

    @property
    def online(self) -> OnlinePayments:
        return self.tenders.online

    def terminal_pays(self, checkout_ref: str, amount_minor: int, pan: str = DEBIT) -> Outcome:
        """The shop's terminal takes the card for a checkout (claim, then sale)."""
        t = self.tp.signon.admit(demo_tid(1), demo_mid(1))
        key = RequestKey("0200", f"{next(self.stans):06d}", t.batch_no, uuid.uuid4().hex)
        now, lapse, amount = self.tp.ctx.now(), claim_lapse(self.tp.ctx), Money(amount_minor)
        claimed = self.run(
            self.acquirer.committer.submit(
                lambda s: claim(
                    s, t.terminal_id, key.batch_no, key.stan, checkout_ref, amount, now, lapse
                )
            )
        )
        assert not isinstance(claimed, str), claimed
        return self.run(
            self.acquirer.sale(t, key, amount, Card(pan, "3012", "05"), checkout=claimed)
        )

    def close(self) -> None:
        self.acquirer.close()
        self.loop.close()


def open_desk(tp: Tillpoint) -> Desk:
    tp.signon.sign_on(demo_tid(1), demo_mid(1), "001")
    loop = asyncio.new_event_loop()

    async def make() -> Acquirer:
        return simulated(tp)

    acquirer = loop.run_until_complete(make())
    tenders = Tenders(tp.orders, tp.checkouts, OnlinePayments(acquirer))
    return Desk(tp, loop, acquirer, tenders)


def cash(received_minor: int | None = None, amount_minor: int | None = None) -> TenderIn:
    from tillpoint.store.models import TenderKind

    return TenderIn(TenderKind.CASH, amount_minor=amount_minor, received_minor=received_minor)
