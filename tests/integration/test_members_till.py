"""Members at the till, at the service layer: the quote prices a cart exactly as the order
is then made (property test: total, lines, coupons, points redeemed and earned), and
writes nothing; a member's offline sale earns its points once however often it is
synced (the ledger sums to the balance); offline sales may not redeem points nor use
coupons; the till's snapshot of the members holds no mobile number."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from sqlalchemy import func, select
from tests.membership import MOBILE, join, programme, ten_off
from tests.offline import Page, line
from tests.selling import World, cash, demo_world, water_code

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.settings import Settings
from tillpoint.receipts.orders import OrderReceipts, member_rows, total_rows
from tillpoint.store.coupons import CouponValue
from tillpoint.store.loyalty import LoyaltyIn
from tillpoint.store.member_models import (
    Channel,
    Coupon,
    CouponKind,
    LinePoints,
    Member,
    PointsEntry,
    PointsKind,
)
from tillpoint.store.models import Order, OrderLine
from tillpoint.store.offline_models import Flag
from tillpoint.store.orders import Discount, LineIn, NewOrder, NewReturn, ReturnLineIn
from tillpoint.store.sync import SyncStatus
from tillpoint.store.till_members import TillMembers

NUMBERS = itertools.count(13500000000)


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
def w(tp: Tillpoint) -> World:
    world = demo_world(tp)
    programme(world)
    return world


def _shift(w: World) -> int:
    with w.tp.ctx.db.read() as s:
        shift = s.scalar(select(func.max(Order.shift_id)))
    if shift is None:
        found = w.tp.shifts.search(merchant_id=w.merchant_id, status=None, limit=1)
        shift = found[0].id if found and found[0].status.value == "open" else None
    if shift is None or w.tp.shifts.get(shift, merchant_id=w.merchant_id).status.value != "open":
        shift = w.open_shift()
    return shift


def _ledger_sums(w: World, member_id: int) -> int:
    with w.tp.ctx.db.read() as s:
        running = 0
        for e in s.scalars(
            select(PointsEntry).where(PointsEntry.member_id == member_id).order_by(PointsEntry.id)
        ):
            running += e.points
            assert e.balance == running
    assert w.tp.members.get(member_id, merchant_id=w.merchant_id).points == running
    return running


def _count(w: World, *models: type) -> tuple[int, ...]:
    with w.tp.ctx.db.read() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) or 0 for m in models)


# --- the quote ----------------------------------------------------------------------------------

Cart = st.fixed_dictionaries(
    {
        "water": st.integers(0, 6),
        "bread": st.integers(0, 4),
        "apple_milli": st.integers(0, 2500),
        "line_off": st.integers(0, 30),  # fen off the first line
        "order_off": st.sampled_from([None, "amount", "percent"]),
        "member": st.booleans(),
        "level": st.booleans(),  # the member reached gold (5% off)
        "member_price": st.booleans(),  # water at 2.20 for members
        "coupons": st.lists(st.sampled_from(["ten", "pct", "bearer", "min"]), max_size=3,
                            unique=True),
        "redeem": st.sampled_from([0, 100, 300, 700, "max"]),
        "points": st.integers(0, 2000),
    }
)  # fmt: skip


@hypothesis.settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cart=Cart)
def test_the_quote_is_the_order_the_server_makes(w: World, cart: dict[str, Any]) -> None:
    tp = w.tp
    shift = _shift(w)
    tp.loyalty.set_member_price(w.merchant_id, w.products["water"],
                                220 if cart["member_price"] else None)  # fmt: skip
    member_id = None
    codes: list[str] = []
    if cart["member"]:
        m = join(w, str(next(NUMBERS)))
        member_id = m.id
        if cart["points"]:
            tp.members.adjust(m.id, int(cart["points"]), "t", merchant_id=w.merchant_id, by="t")
        if cart["level"]:  # a paid sale of 1,000 yuan makes them gold
            big = w.order(shift, LineIn(product_id=w.products["bread"], quantity_milli=1_400_000),
                          member_id=m.id, tenders=(cash(10**9),))  # fmt: skip
            tp.orders.create(big, merchant_id=w.merchant_id)
    kinds = {
        "ten": ten_off(),
        "pct": CouponValue("九折 10%", CouponKind.PERCENT, None, Decimal("10"), 0, 30, 1),
        "bearer": ten_off(),
        "min": ten_off(min_spend_minor=2000),
    }
    for k in cart["coupons"]:
        owner = None if k == "bearer" else member_id
        codes.append(tp.coupons.issue(w.merchant_id, value=kinds[k], member_id=owner,
                                      by="t")[0].code)  # fmt: skip
    lines = []
    if cart["water"]:
        lines.append(LineIn(barcode=water_code(), quantity_milli=int(cart["water"]) * 1000))
    if cart["bread"]:
        lines.append(
            LineIn(product_id=w.products["bread"], quantity_milli=int(cart["bread"]) * 1000)
        )
    if cart["apple_milli"] or not lines:
        lines.append(LineIn(product_id=w.products["apple"],
                            quantity_milli=max(int(cart["apple_milli"]), 5)))  # fmt: skip
    lines[0] = LineIn(lines[0].product_id, lines[0].barcode, lines[0].quantity_milli,
                      discount_minor=min(int(cart["line_off"]), 100))  # fmt: skip
    discount = {None: None, "amount": Discount(amount_minor=50),
                "percent": Discount(percent=Decimal("5"))}[cart["order_off"]]  # fmt: skip
    redeem = cart["redeem"] if member_id else 0
    new = w.order(shift, *lines, discount=discount, member_id=member_id,
                  redeem_points=redeem, coupon_codes=tuple(codes))  # fmt: skip
    before = _count(w, Order, PointsEntry, Coupon, LinePoints)
    refused: Refused | InvalidInput | NotFound | None = None
    try:
        quote = tp.orders.quote(new, merchant_id=w.merchant_id)
    except (Refused, InvalidInput, NotFound) as e:
        refused = e
    if refused is not None:  # the order is refused alike, and nothing was written
        assert _count(w, Order, PointsEntry, Coupon, LinePoints) == before
        with pytest.raises(type(refused)) as also:
            tp.orders.create(_paid(new, 10**9), merchant_id=w.merchant_id)
        assert also.value.code == refused.code
        hypothesis.event(f"refused: {refused.code}")
        return
    assert _count(w, Order, PointsEntry, Coupon, LinePoints) == before  # nothing written
    paid = _paid(new, quote.total_minor, expected=quote.total_minor)
    if quote.approval is not None:  # a manager approves large discounts
        paid = replace(paid, approval=w.approval)
    order = tp.orders.create(paid, merchant_id=w.merchant_id).order
    assert order.status.value == "paid"
    hypothesis.event("made: a member's" if member_id else "made")
    assert order.total_minor == quote.total_minor
    assert order.subtotal_minor == quote.subtotal_minor
    assert [(x.list_price_minor, x.unit_price_minor, x.amount_minor, x.order_discount_minor)
            for x in order.lines] == [
        (x.list_price_minor, x.unit_price_minor, x.amount_minor, x.order_discount_minor)
        for x in quote.lines
    ]  # fmt: skip
    if member_id is None:
        assert order.loyalty is None and quote.points_earned == 0
        return
    assert order.loyalty is not None
    assert order.loyalty.points_redeemed == quote.points_redeemed
    assert order.loyalty.redeemed_minor == quote.redeemed_minor
    assert [c.model_dump() for c in order.loyalty.coupons] == [
        c.model_dump() for c in quote.coupons
    ]
    assert order.loyalty.points_earned == quote.points_earned
    assert order.discount_minor == quote.discount_minor + quote.redeemed_minor + sum(
        c.discount_minor for c in quote.coupons
    )
    _ledger_sums(w, member_id)


def _paid(new: NewOrder, total: int, expected: int | None = None) -> NewOrder:
    return replace(new, tenders=(cash(total),) if total else (),
                   expected_total_minor=expected)  # fmt: skip


def test_a_quote_writes_nothing_and_gives_no_birthday_coupon(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    template = tp.coupons.create_template(w.merchant_id, ten_off()).id
    tp.loyalty.update(w.merchant_id, LoyaltyIn(birthday_template_id=template), "t")
    today = tp.ctx.today()
    m = join(w, birthday=today.replace(year=1990))
    with tp.ctx.db.transaction() as s:  # as if the birthday coupon had not been given yet
        s.query(Coupon).filter(Coupon.member_id == m.id).delete()
    before = _count(w, Order, PointsEntry, Coupon, LinePoints, OrderLine)
    q = tp.orders.quote(
        w.order(shift, LineIn(barcode=water_code(), quantity_milli=2000), member_id=m.id),
        merchant_id=w.merchant_id,
    )
    assert (q.subtotal_minor, q.total_minor, q.points_earned, q.points_balance) == (500, 500, 5, 0)
    assert _count(w, Order, PointsEntry, Coupon, LinePoints, OrderLine) == before


def test_a_quote_refuses_as_the_order_would(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    m = join(w)
    tp.members.adjust(m.id, 250, "t", merchant_id=w.merchant_id, by="t")
    water = LineIn(barcode=water_code(), quantity_milli=1000)
    with pytest.raises(InvalidInput) as bad:
        tp.orders.quote(w.order(shift, water, member_id=m.id, redeem_points=150),
                        merchant_id=w.merchant_id)  # fmt: skip
    assert bad.value.code == "order.redeem_step"
    with pytest.raises(Refused) as short:
        tp.orders.quote(w.order(shift, water, member_id=m.id, redeem_points=300),
                        merchant_id=w.merchant_id)  # fmt: skip
    assert short.value.code == "order.points_short"
    q = tp.orders.quote(w.order(shift, water, member_id=m.id, redeem_points="max"),
                        merchant_id=w.merchant_id)  # fmt: skip
    assert (q.points_redeemed, q.redeemed_minor, q.total_minor) == (200, 200, 50)
    other = tp.coupons.issue(w.merchant_id, value=ten_off(), member_id=join(w, "13912340000").id,
                             by="t")[0].code  # fmt: skip
    with pytest.raises(Refused) as theirs:
        tp.orders.quote(w.order(shift, water, member_id=m.id, coupon_codes=(other,)),
                        merchant_id=w.merchant_id)  # fmt: skip
    assert theirs.value.code == "coupon.other_member"


# --- offline: a member's points, once ---------------------------------------------------------


def test_an_offline_member_sale_earns_its_points_once(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    page = Page(tp, w.merchant_id)
    page.reserve()
    m = join(w)
    tp.loyalty.set_member_price(w.merchant_id, w.products["water"], 220)
    # the till's copy: water at the member's price, bread (double points) at the shop's
    one = page.sale(shift, line(w.products["water"], 220, 3000),
                    line(w.products["bread"], 750, 1000), member_id=m.id)  # fmt: skip
    two = page.sale(shift, line(w.products["water"], 220, 1000), discount_minor=20,
                    member_id=m.id)  # fmt: skip
    plain = page.sale(shift, line(w.products["water"], 250, 1000))
    first = page.sync(one, two, plain)
    assert [o.status for o in first.outcomes] == [SyncStatus.SYNCED] * 3
    # the member's price is no price changed
    assert not any(x.flags & Flag.PRICE_CHANGED for x in first.outcomes[0].lines)
    # 6.60 + 7.50 x 2 = 21.6 -> 21 points; 2.20 - 0.20 = 2 points
    assert _ledger_sums(w, m.id) == 21 + 2
    again = page.sync(one, two, plain)
    assert [o.status for o in again.outcomes] == [SyncStatus.ALREADY_SYNCED] * 3
    assert page.sync(two, two).outcomes[0].status is SyncStatus.ALREADY_SYNCED
    assert _ledger_sums(w, m.id) == 23
    with tp.ctx.db.read() as s:
        earned = list(s.scalars(select(PointsEntry).where(PointsEntry.member_id == m.id)))
        assert sorted((e.kind, e.points) for e in earned) == [
            (PointsKind.EARNED, 2), (PointsKind.EARNED, 21)
        ]  # fmt: skip
        order = tp.orders.get(first.outcomes[0].order_id or 0, merchant_id=w.merchant_id)
    assert order.member_id == m.id and order.loyalty and order.loyalty.points_earned == 21
    # a return of the offline sale, online, takes its points back as any other's
    back = tp.orders.create_return(
        order.id,
        NewReturn(client_ref="R-offline", shift_id=shift,
                  lines=(ReturnLineIn(order.lines[1].id, 1000),), approval=w.approval),
        merchant_id=w.merchant_id,
    ).order  # fmt: skip
    assert back.loyalty and back.loyalty.points_taken_back == 15
    assert _ledger_sums(w, m.id) == 23 - 15


def test_offline_sales_may_not_redeem_nor_use_coupons_nor_name_a_stranger(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    page = Page(tp, w.merchant_id)
    page.reserve()
    m = join(w)
    water = line(w.products["water"], 250, 1000)
    answer = page.sync(
        page.sale(shift, water, member_id=m.id, redeem_points=100),
        page.sale(shift, water, member_id=m.id, coupon_codes=("7K3M9Q2XW4HD",)),
        page.sale(shift, water, member_id=m.id + 1000),
        page.sale(shift, water, member_id=m.id),
    )
    assert [o.status for o in answer.outcomes] == [SyncStatus.REFUSED] * 3 + [SyncStatus.SYNCED]
    codes = [o.refusal.code if o.refusal else None for o in answer.outcomes]
    assert codes == ["sync.member_perks", "sync.member_perks", "member.not_found", None]
    assert _ledger_sums(w, m.id) == 2
    # a member erased before the sync: the sale stands, nothing is earned
    gone = join(w, "13700001111")
    tp.members.erase(gone.id, merchant_id=w.merchant_id, channel=Channel.TILL, by="t")
    late = page.sync(page.sale(shift, water, member_id=gone.id))
    assert late.outcomes[0].status is SyncStatus.SYNCED
    with tp.ctx.db.read() as s:
        assert not s.scalar(select(func.count()).where(PointsEntry.member_id == gone.id,
                                                       PointsEntry.kind == PointsKind.EARNED))  # fmt: skip


# --- the snapshot -----------------------------------------------------------------------------


def test_the_snapshot_holds_masked_numbers_and_the_price_rules(w: World) -> None:
    tp = w.tp
    m = join(w, name="王五")
    other = join(w, "13912345678")
    tp.loyalty.set_member_price(w.merchant_id, w.products["water"], 220)
    snap = TillMembers(tp.ctx).snapshot(w.merchant_id, w.shop_id)
    text = snap.model_dump_json()
    assert MOBILE not in text and "13912345678" not in text
    assert [(x.id, x.mobile, x.name) for x in snap.members] == [
        (m.id, "138****5678", "王五"), (other.id, "139****5678", None)
    ]  # fmt: skip
    assert [(x.product_id, x.price_minor) for x in snap.member_prices] == [
        (w.products["water"], 220)
    ]
    assert snap.programme.redeem_points == 100 and snap.next_after_id is None
    paged = TillMembers(tp.ctx).snapshot(w.merchant_id, w.shop_id, limit=1)
    assert [x.id for x in paged.members] == [m.id] and paged.next_after_id == m.id
    # changes since: the erased member is in it, to be forgotten
    tp.members.erase(other.id, merchant_id=w.merchant_id, channel=Channel.TILL, by="t")
    since = TillMembers(tp.ctx).snapshot(w.merchant_id, w.shop_id,
                                         since=snap.as_of + timedelta(minutes=4))  # fmt: skip
    assert [(x.id, x.status.value, x.mobile) for x in since.members if x.id == other.id] == [
        (other.id, "erased", None)
    ]
    with tp.ctx.db.read() as s:
        assert s.get_one(Member, m.id).mobile_masked == "138****5678"


def test_the_printed_receipt_names_the_member_and_the_points(w: World) -> None:
    tp = w.tp
    shift = w.open_shift()
    m = join(w)
    tp.members.adjust(m.id, 200, "t", merchant_id=w.merchant_id, by="t")
    code = tp.coupons.issue(w.merchant_id, value=ten_off(), member_id=m.id, by="t")[0].code
    order = tp.orders.create(
        w.order(shift, LineIn(product_id=w.products["bread"], quantity_milli=2000),
                member_id=m.id, redeem_points=200, coupon_codes=(code,), tenders=(cash(300),)),
        merchant_id=w.merchant_id,
    ).order  # fmt: skip
    # 15.00 - 10.00 - 2.00; bread earns double: 3.00 x 2 = 6 points
    assert (order.status.value, order.total_minor) == ("paid", 300)
    printed = OrderReceipts(tp.ctx).printout(order.id, "https://till.example.com")
    for text in (b"MEMBER", b"138****5678", b"COUPON", b"-10.00", b"POINTS REDEEMED",
                 b"200 -2.00", b"POINTS EARNED", b"+6", b"POINTS BALANCE"):  # fmt: skip
        assert text in printed, text
    assert MOBILE.encode() not in printed
    r = OrderReceipts(tp.ctx).receipt(order.id)
    assert [(x.en, x.value) for x in member_rows(r)] == [
        ("MEMBER", "138****5678"), ("POINTS EARNED", "+6"), ("POINTS BALANCE", "6")
    ]  # fmt: skip
    assert [x.en for x in total_rows(r)] == ["SUBTOTAL", "COUPON", "POINTS REDEEMED"]
