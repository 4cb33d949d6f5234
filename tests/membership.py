"""Members to sell to, for the members' tests: the selling tests' world (tests/selling.py)
with a loyalty programme, a product category sold at double points, a level, and a
coupon template."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import update

from tests.selling import World
from tillpoint.store.coupons import CouponValue
from tillpoint.store.loyalty import LevelIn, LoyaltyIn
from tillpoint.store.member_models import Channel, CouponKind
from tillpoint.store.members import MemberIn, MemberView
from tillpoint.store.models import Product

MOBILE = "13812345678"
MOBILE_2 = "13987654321"


def programme(w: World, **changes: object) -> None:
    """1 point a yuan, double for bread (its category), 100 points = 1 yuan; gold from
    1,000 yuan a year at 5% off."""
    tp = w.tp
    bakery = tp.catalogue.add_category(w.merchant_id, "面包房 Bakery").id
    with tp.ctx.db.transaction() as s:
        s.execute(
            update(Product).where(Product.id == w.products["bread"]).values(category_id=bakery)
        )
    w.products["bakery"] = bakery
    new = LoyaltyIn(
        category_multipliers=((bakery, Decimal(2)),),
        levels=(LevelIn("金卡 Gold", 100_000, Decimal(5)),),
    )
    for k, v in changes.items():
        object.__setattr__(new, k, v)
    tp.loyalty.update(w.merchant_id, new, "test")


def join(w: World, mobile: str = MOBILE, **kw: object) -> MemberView:
    args: dict[str, object] = {"consent_membership": True, **kw}
    return w.tp.members.sign_up(
        w.merchant_id,
        MemberIn(mobile=mobile, **args),  # type: ignore[arg-type]
        channel=Channel.TILL,
        by="test",
    )


def ten_off(min_spend_minor: int = 0, uses: int = 1, days: int = 30) -> CouponValue:
    return CouponValue("满减 10 off", CouponKind.AMOUNT, 1000, None, min_spend_minor, days, uses)
