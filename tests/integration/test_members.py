"""Members at the service layer: sign-up with consent, the number sealed and found by
its hash, shops' own members, member prices and levels, points earned, redeemed,
taken back and given back, coupons and their every refusal, cancels, erasure, a
member's own data, birthday coupons, and every refusal changing nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from tests.membership import MOBILE, MOBILE_2, join, programme, ten_off
from tests.selling import World, cash, demo_world, water_code

from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.settings import Settings
from tillpoint.store.catalogue import KEEP
from tillpoint.store.coupons import CouponValue
from tillpoint.store.loyalty import LevelIn, LoyaltyIn
from tillpoint.store.member_models import (
    Channel,
    ConsentPurpose,
    Coupon,
    CouponKind,
    Member,
    MemberScope,
    MemberStatus,
    PointsEntry,
    PointsKind,
)
from tillpoint.store.members import MemberChanges, MemberIn
from tillpoint.store.models import Order
from tillpoint.store.orders import LineIn, NewReturn, OrderView, ReturnLineIn


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
    world = demo_world(tp)
    programme(world)
    return world


def water(n: int = 1) -> LineIn:
    return LineIn(barcode=water_code(), quantity_milli=n * 1000)


def bread(n: int = 1) -> LineIn:
    return LineIn(product_id=0, quantity_milli=n * 1000)


def sell(w: World, shift: int, *lines: LineIn, pay: bool = True, **kw: object) -> OrderView:
    fixed = tuple(
        LineIn(product_id=w.products["bread"], quantity_milli=x.quantity_milli)
        if x.product_id == 0
        else x
        for x in lines
    )
    tenders = (cash(10**8),) if pay else ()
    made = w.tp.orders.create(
        w.order(shift, *fixed, tenders=tenders, **kw),  # type: ignore[arg-type]
        merchant_id=w.merchant_id,
    )
    return made.order


def give_back(w: World, sale: OrderView, shift: int, *wanted: tuple[int, int]) -> OrderView:
    new = NewReturn(
        client_ref=f"R{sale.id}-{len(wanted)}-{wanted[0]}",
        shift_id=shift,
        lines=tuple(ReturnLineIn(sale.lines[i].id, q * 1000) for i, q in wanted),
        approval=w.approval,
    )
    return w.tp.orders.create_return(sale.id, new, merchant_id=w.merchant_id).order


def ledger(tp: Tillpoint, member_id: int) -> tuple[int, int, list[PointsEntry]]:
    with tp.ctx.db.read() as s:
        entries = list(
            s.scalars(
                select(PointsEntry)
                .where(PointsEntry.member_id == member_id)
                .order_by(PointsEntry.id)
            )
        )
        balance = s.get_one(Member, member_id).points
    return sum(e.points for e in entries), balance, entries


def counts(tp: Tillpoint) -> tuple[int, ...]:
    with tp.ctx.db.read() as s:
        return tuple(
            s.scalar(select(func.count()).select_from(t)) or 0
            for t in (Member, Order, PointsEntry, Coupon)
        )


# --- signing up --------------------------------------------------------------------------------


def test_sign_up_needs_consent_keeps_the_number_sealed_and_finds_it_by_hash(w: World) -> None:
    tp = w.tp
    before = counts(tp)
    with pytest.raises(InvalidInput) as refused:
        tp.members.sign_up(
            w.merchant_id, MemberIn(MOBILE, consent_membership=False), channel=Channel.TILL,
            by="test",
        )  # fmt: skip
    assert refused.value.code == "member.consent_required"
    for bad in ("1381234567", "23812345678", "1381234567x", ""):
        with pytest.raises(InvalidInput) as refused:
            join(w, bad)
        assert refused.value.code == "member.mobile"
        assert bad not in refused.value.localized() or not bad
    assert counts(tp) == before

    m = join(w, "+86 138-1234-5678", name=" 张三  Zhang ", birthday=date(1990, 3, 4),
             tags=("VIP", "vip ", "VIP"), consent_marketing=True)  # fmt: skip
    assert (m.mobile, m.name, m.tags, m.points, m.marketing) == (
        "138****5678", "张三 Zhang", ["VIP", "vip"], 0, True,
    )  # fmt: skip
    assert [(c.purpose, c.channel, c.notice_version) for c in m.consents] == [
        (ConsentPurpose.MEMBERSHIP, Channel.TILL, "1"),
        (ConsentPurpose.MARKETING, Channel.TILL, "1"),
    ]
    with tp.ctx.db.read() as s:
        row = s.get_one(Member, m.id)
        assert row.mobile_token and MOBILE not in row.mobile_token
        assert row.mobile_sealed and MOBILE.encode() not in row.mobile_sealed
    for typed in (MOBILE, "138 1234 5678", "008613812345678"):
        assert tp.members.lookup(w.merchant_id, typed, by="till").id == m.id
    assert tp.members.mobile_of(m.id, merchant_id=w.merchant_id) == MOBILE
    with pytest.raises(Refused) as refused:
        join(w, "13812345678")
    assert refused.value.code == "member.mobile_taken"
    with pytest.raises(NotFound) as missing:
        tp.members.lookup(w.merchant_id, MOBILE_2, by="till")
    assert MOBILE_2 not in missing.value.localized()
    assert [r.id for r in tp.members.search(w.merchant_id, mobile=MOBILE)] == [m.id]
    assert [r.id for r in tp.members.search(w.merchant_id, name="张")] == [m.id]
    assert [r.id for r in tp.members.search(w.merchant_id, tag="vip")] == [m.id]
    assert tp.members.search(w.merchant_id, tag="nobody") == []


def test_another_merchants_member_is_not_found(w: World) -> None:
    tp = w.tp
    m = join(w)
    other = 1 + w.merchant_id
    with tp.ctx.db.read() as s:
        from tillpoint.merchants.models import Merchant

        other = s.scalars(select(Merchant.id).where(Merchant.id != w.merchant_id)).first() or 0
    with pytest.raises(NotFound):
        tp.members.get(m.id, merchant_id=other)
    with pytest.raises(NotFound):
        tp.members.lookup(other, MOBILE, by="till")
    with pytest.raises(NotFound):
        tp.members.erase(m.id, merchant_id=other, channel=Channel.API, by="x")
    assert tp.members.get(m.id, merchant_id=w.merchant_id).status is MemberStatus.ACTIVE


def test_members_of_each_shop_are_found_only_there(w: World) -> None:
    tp = w.tp
    tp.loyalty.update(w.merchant_id, LoyaltyIn(scope=MemberScope.SHOP), "test")
    with pytest.raises(InvalidInput) as refused:
        join(w)
    assert refused.value.code == "member.shop_required"
    one = join(w, shop_number=1)
    two = join(w, shop_number=2)  # the same number: a member of each shop
    assert one.id != two.id and one.shop_number == 1
    assert tp.members.lookup(w.merchant_id, MOBILE, shop_number=2, by="t").id == two.id
    assert {r.id for r in tp.members.search(w.merchant_id, mobile=MOBILE)} == {one.id, two.id}
    with pytest.raises(Refused) as refused:
        tp.loyalty.update(w.merchant_id, LoyaltyIn(scope=MemberScope.MERCHANT), "test")
    assert refused.value.code == "loyalty.scope_fixed"
    shift = w.open_shift()  # shop 1
    with pytest.raises(NotFound):
        sell(w, shift, water(), member_id=two.id)
    assert sell(w, shift, water(), member_id=one.id).member_id == one.id


# --- earning, redeeming, returning ------------------------------------------------------------


def test_a_paid_sale_earns_whole_points_double_in_a_category(w: World) -> None:
    m = join(w)
    shift = w.open_shift()
    # 2 water 5.00 (5 points) + bread 7.50 at double (15 points)
    order = sell(w, shift, water(2), bread(), member_id=m.id)
    assert order.loyalty is not None
    assert (order.total_minor, order.loyalty.points_earned) == (1250, 20)
    # 1 water: 2.50 yuan at 1 point a yuan: 2.5 points, rounded down
    order = sell(w, shift, water(), member_id=m.id)
    assert order.loyalty is not None and order.loyalty.points_earned == 2
    total, balance, entries = ledger(w.tp, m.id)
    assert total == balance == 22 == entries[-1].balance
    # An order held earns nothing until it is paid.
    held = sell(w, shift, water(4), member_id=m.id, pay=False)
    assert held.loyalty is not None and held.loyalty.points_earned == 0
    paid = w.tp.orders.add_cash(held.id, merchant_id=w.merchant_id, received_minor=1000)
    assert paid.loyalty is not None and paid.loyalty.points_earned == 10


def test_a_shops_own_rate(w: World) -> None:
    bakery = w.products["bakery"]
    w.tp.loyalty.update(
        w.merchant_id,
        LoyaltyIn(shop_rates=((1, Decimal("0.5")),), category_multipliers=((bakery, Decimal(2)),)),
        "test",
    )
    m = join(w)
    order = sell(w, w.open_shift(), water(2), bread(), member_id=m.id)
    assert order.loyalty is not None and order.loyalty.points_earned == 10  # 2.5 + 7.5


def test_rates_and_percentages_are_kept_without_an_exponent(w: World) -> None:
    """10 written ``1E+1`` (or normalized to it) is kept and sent as ``10``: the tills
    read digits and a point, and read ``1E+1`` as 1 (points) or not at all (percent)."""
    ten = Decimal("1E+1")
    view = w.tp.loyalty.update(w.merchant_id, LoyaltyIn(
        points_per_yuan=Decimal(10), shop_rates=((1, Decimal("20.00")),),
        levels=(LevelIn("金卡 Gold", 100_000, ten),)), "test")  # fmt: skip
    assert str(view.points_per_yuan) == "10" and str(view.shop_rates[0].points_per_yuan) == "20"
    assert str(view.levels[0].discount_percent) == "10"
    assert '"points_per_yuan":"10"' in view.model_dump_json()
    off = CouponValue("九折 10% off", CouponKind.PERCENT, None, ten, 0, 30, 1)
    assert str(w.tp.coupons.create_template(w.merchant_id, off).percent) == "10"
    # A value kept as 1E+1 before (by an older version) is read as 10.
    with w.tp.ctx.db.transaction() as s:
        s.execute(text("UPDATE loyalty_settings SET points_per_yuan = '1E+1'"))
    assert str(w.tp.loyalty.get(w.merchant_id).points_per_yuan) == "10"


def test_redeemed_points_come_off_and_returns_take_back_and_give_back(w: World) -> None:
    tp = w.tp
    m = join(w)
    tp.members.adjust(m.id, 500, "welcome gift", merchant_id=w.merchant_id, by="test")
    shift = w.open_shift()
    with pytest.raises(InvalidInput):
        sell(w, shift, water(2), bread(), member_id=m.id, redeem_points=150)  # not a step
    with pytest.raises(Refused) as refused:
        sell(w, shift, water(2), bread(), member_id=m.id, redeem_points=600)
    assert refused.value.code == "order.points_short"
    with pytest.raises(Refused) as refused:
        sell(w, shift, water(), member_id=m.id, redeem_points=300)  # 3 yuan off 2.50
    assert refused.value.code == "order.redeem_too_many"
    sale = sell(w, shift, water(2), bread(), member_id=m.id, redeem_points=300)
    assert (sale.subtotal_minor, sale.discount_minor, sale.total_minor) == (1250, 300, 950)
    assert sale.loyalty is not None
    assert (sale.loyalty.points_redeemed, sale.loyalty.redeemed_minor) == (300, 300)
    # nets: water 500 - 120 = 380 (3.8 points), bread 750 - 180 = 570 (11.4): 15
    assert [x.order_discount_minor for x in sale.lines] == [120, 180]
    assert sale.loyalty.points_earned == 15
    assert ledger(tp, m.id)[1] == 500 - 300 + 15
    # One water of two back: half its 3.8 points (1.9, so 1), and 300 x 250/1250 = 60
    back = give_back(w, sale, shift, (0, 1))
    assert back.total_minor == 190 and back.loyalty is not None
    assert (back.loyalty.points_taken_back, back.loyalty.points_restored) == (1, 60)
    # The rest back: exactly what was earned and redeemed, in all.
    give_back(w, sale, shift, (0, 1), (1, 1))
    total, balance, entries = ledger(tp, m.id)
    assert total == balance == 500
    kinds: dict[PointsKind, int] = {}
    for e in entries:
        kinds[e.kind] = kinds.get(e.kind, 0) + e.points
    assert kinds[PointsKind.TAKEN_BACK] == -15 and kinds[PointsKind.RESTORED] == 300


def test_redeeming_the_most_an_order_takes(w: World) -> None:
    m = join(w)
    w.tp.members.adjust(m.id, 1234, "gift", merchant_id=w.merchant_id, by="test")
    order = sell(w, w.open_shift(), water(2), bread(), member_id=m.id, redeem_points="max")
    assert order.loyalty is not None
    assert (order.loyalty.points_redeemed, order.total_minor) == (1200, 50)
    with pytest.raises(InvalidInput):
        sell(w, w.open_shift("T2"), water(), redeem_points=100)  # no member named


def test_a_canceled_sale_gives_points_and_coupons_back(w: World) -> None:
    tp = w.tp
    m = join(w)
    tp.members.adjust(m.id, 300, "gift", merchant_id=w.merchant_id, by="test")
    code = tp.coupons.issue(w.merchant_id, value=ten_off(), member_id=m.id, by="t")[0].code
    held = sell(w, w.open_shift(), water(4), bread(2), member_id=m.id, redeem_points=200,
                coupon_codes=(code,), pay=False, hold=True)  # fmt: skip
    assert held.total_minor == 1000 + 1500 - 1000 - 200
    assert tp.coupons.get(w.merchant_id, code).uses_made == 1
    assert ledger(tp, m.id)[1] == 100
    canceled = tp.orders.cancel(held.id, merchant_id=w.merchant_id)
    assert canceled.loyalty is not None and canceled.loyalty.points_restored == 200
    assert tp.coupons.get(w.merchant_id, code).uses_made == 0
    total, balance, _entries = ledger(tp, m.id)
    assert total == balance == 300


def test_member_prices_and_levels(w: World) -> None:
    tp = w.tp
    m = join(w)
    shift = w.open_shift()
    tp.loyalty.set_member_price(w.merchant_id, w.products["bread"], 700)
    order = sell(w, shift, water(), bread(), member_id=m.id)
    # No level yet: water at its list price, bread at its member price (below 7.50).
    assert [x.list_price_minor for x in order.lines] == [250, 700]
    assert sell(w, shift, water(), bread()).lines[1].list_price_minor == 750  # not a member
    sell(w, shift, bread(150), member_id=m.id)  # 1,050.00 + 9.50 spent: gold
    view = tp.members.get(m.id, merchant_id=w.merchant_id)
    assert (view.level, view.level_percent, view.spend_365d_minor) == (
        "金卡 Gold", "5", 105_000 + 950,
    )  # fmt: skip
    order = sell(w, shift, water(), bread(), member_id=m.id)
    # 5% off 2.50 is 0.125, rounded half up to 0.13: 2.37; bread's 7.00 beats 7.50 - 0.38
    assert [x.list_price_minor for x in order.lines] == [237, 700]
    assert order.approved_by is None
    # A year later the spend has lapsed, and the level with it.
    clock = tp.ctx.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=366))
    assert tp.members.get(m.id, merchant_id=w.merchant_id).level is None


# --- coupons ------------------------------------------------------------------------------------


def test_coupons_their_windows_spends_uses_and_owners(w: World) -> None:
    tp = w.tp
    m, other = join(w), join(w, MOBILE_2)
    shift = w.open_shift()
    mine = tp.coupons.issue(w.merchant_id, value=ten_off(2000), member_id=m.id, by="t")[0]
    assert mine.usable and mine.valid_until - mine.valid_from == timedelta(days=29)
    before = counts(tp)
    cases = [
        ({"member_id": m.id}, (water(2), bread()), "coupon.min_spend"),  # 12.50 < 20
        ({"member_id": other.id}, (water(10),), "coupon.other_member"),
        ({}, (water(10),), "coupon.other_member"),
    ]
    for kw, lines, code in cases:
        with pytest.raises(Refused) as refused:
            sell(w, shift, *lines, coupon_codes=(mine.code,), **kw)
        assert refused.value.code == code
    with pytest.raises(InvalidInput):
        sell(w, shift, water(10), member_id=m.id, coupon_codes=(mine.code, mine.code))
    with pytest.raises(NotFound):
        sell(w, shift, water(10), member_id=m.id, coupon_codes=("ABCDEFGHJK12",))
    assert counts(tp) == before
    # Typed with dashes and lower case, as people do.
    typed = f"{mine.code[:4]}-{mine.code[4:8]}-{mine.code[8:]}".lower()
    order = sell(w, shift, water(10), member_id=m.id, coupon_codes=(typed,))
    assert (order.total_minor, order.discount_minor) == (1500, 1000)
    assert order.loyalty is not None and order.loyalty.coupons[0].discount_minor == 1000
    with pytest.raises(Refused) as refused:
        sell(w, shift, water(10), member_id=m.id, coupon_codes=(mine.code,))
    assert refused.value.code == "coupon.used_up"
    # A bearer coupon, 20% off, two uses, for anyone; used with the cashier's discount.
    pct = CouponValue("八折 20%", CouponKind.PERCENT, None, Decimal(20), 0, 7, 2)
    bearer = tp.coupons.issue(w.merchant_id, value=pct, by="t")[0]
    order = sell(w, shift, water(4), coupon_codes=(bearer.code,))
    assert order.total_minor == 800
    # Out of its window (7 days: the 8th day is past it); then void.
    clock = tp.ctx.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(days=7))
    with pytest.raises(Refused) as refused:
        sell(w, w.open_shift("T2"), water(4), coupon_codes=(bearer.code,))
    assert refused.value.code == "coupon.expired"
    later = tp.coupons.issue(w.merchant_id, value=ten_off(), by="t",
                             valid_from=tp.ctx.today() + timedelta(days=2))[0]  # fmt: skip
    with pytest.raises(Refused) as refused:
        sell(w, w.open_shift("T3"), water(8), coupon_codes=(later.code,))
    assert refused.value.code == "coupon.not_yet"
    tp.coupons.void(w.merchant_id, later.id)
    clock.advance(timedelta(days=2))
    with pytest.raises(Refused) as refused:
        sell(w, w.open_shift("T4"), water(8), coupon_codes=(later.code,))
    assert refused.value.code == "coupon.void"


def test_sign_up_and_birthday_coupons(w: World) -> None:
    tp = w.tp
    welcome = tp.coupons.create_template(w.merchant_id, ten_off())
    birthday = tp.coupons.create_template(
        w.merchant_id, CouponValue("生日 Birthday", CouponKind.AMOUNT, 2000, valid_days=31)
    )
    current = tp.loyalty.get(w.merchant_id)
    tp.loyalty.update(
        w.merchant_id,
        LoyaltyIn(
            category_multipliers=tuple(
                (c.category_id, c.multiplier) for c in current.category_multipliers
            ),
            levels=tuple(LevelIn(x.name, x.min_spend_minor, x.discount_percent)
                         for x in current.levels),
            signup_template_id=welcome.id, birthday_template_id=birthday.id,
        ),
        "test",
    )  # fmt: skip
    today = tp.ctx.today()  # November
    m = join(w, birthday=date(1990, today.month, 1))
    assert sorted(c.name for c in m.coupons) == ["满减 10 off", "生日 Birthday"]
    # Once a year, however often they come in that month.
    again = tp.members.lookup(w.merchant_id, MOBILE, by="till")
    assert len(again.coupons) == 2
    sell(w, w.open_shift(), water(), member_id=m.id)
    assert len(tp.coupons.search(w.merchant_id, member_id=m.id)) == 2
    other = join(w, MOBILE_2, birthday=date(1990, 1, 1) if today.month != 1 else date(1990, 2, 1))
    assert [c.name for c in other.coupons] == ["满减 10 off"]


# --- consent, erasure, a member's own data --------------------------------------------------------


def test_withdrawing_marketing_and_then_membership_erases(w: World) -> None:
    tp = w.tp
    m = join(w, name="李四", tags=("vip",), consent_marketing=True)
    code = tp.coupons.issue(w.merchant_id, value=ten_off(), member_id=m.id, by="t")[0].code
    tp.members.adjust(m.id, 80, "gift", merchant_id=w.merchant_id, by="test")
    sale = sell(w, w.open_shift(), water(4), member_id=m.id)
    view = tp.members.withdraw(m.id, ConsentPurpose.MARKETING, merchant_id=w.merchant_id,
                               channel=Channel.PORTAL, by="owner")  # fmt: skip
    assert not view.marketing and view.status is MemberStatus.ACTIVE
    with pytest.raises(Refused):
        tp.members.withdraw(m.id, ConsentPurpose.MARKETING, merchant_id=w.merchant_id,
                            channel=Channel.PORTAL, by="owner")  # fmt: skip
    view = tp.members.grant(m.id, ConsentPurpose.MARKETING, merchant_id=w.merchant_id,
                            channel=Channel.TILL, by="till")  # fmt: skip
    assert view.marketing
    gone = tp.members.withdraw(m.id, ConsentPurpose.MEMBERSHIP, merchant_id=w.merchant_id,
                               channel=Channel.TILL, by="till")  # fmt: skip
    assert gone.status is MemberStatus.ERASED
    assert (gone.mobile, gone.name, gone.birthday, gone.tags, gone.points) == (
        None, None, None, [], 0,
    )  # fmt: skip
    assert all(c.withdrawn_at is not None for c in gone.consents)
    assert tp.coupons.get(w.merchant_id, code).status.value == "void"
    with pytest.raises(NotFound):
        tp.members.lookup(w.merchant_id, MOBILE, by="till")
    with pytest.raises(Refused):
        tp.members.update(m.id, MemberChanges(name="x"), merchant_id=w.merchant_id, by="t")
    # The sale stands, anonymous; the number can join again as someone new.
    assert tp.orders.get(sale.id, merchant_id=w.merchant_id).total_minor == 1000
    assert join(w).id != m.id
    total, balance, _e = ledger(tp, m.id)
    assert total == balance == 0


def test_a_members_own_data(w: World) -> None:
    tp = w.tp
    m = join(w, name="王五", birthday=date(1985, 6, 7))
    sell(w, w.open_shift(), water(2), member_id=m.id)
    data = tp.members.export(m.id, merchant_id=w.merchant_id)
    assert data["member"]["mobile"] == MOBILE and data["member"]["name"] == "王五"
    assert data["consents"][0]["purpose"] == "membership"
    assert data["points"][0]["points"] == 5
    assert data["purchases"][0]["lines"][0]["name"] == "矿泉水 Water"


def test_updates_and_the_number_changed(w: World) -> None:
    tp = w.tp
    m = join(w)
    join(w, MOBILE_2)
    with pytest.raises(Refused):
        tp.members.update(m.id, MemberChanges(mobile=MOBILE_2), merchant_id=w.merchant_id, by="t")
    view = tp.members.update(
        m.id, MemberChanges(mobile="13700000001", name="新名", tags=("a", "b"), birthday=None),
        merchant_id=w.merchant_id, by="t",
    )  # fmt: skip
    assert (view.mobile, view.name, view.tags) == ("137****0001", "新名", ["a", "b"])
    assert tp.members.lookup(w.merchant_id, "13700000001", by="t").id == m.id
    with pytest.raises(NotFound):
        tp.members.lookup(w.merchant_id, MOBILE, by="t")
    same = tp.members.update(m.id, MemberChanges(name=KEEP), merchant_id=w.merchant_id, by="t")
    assert same.name == "新名"
