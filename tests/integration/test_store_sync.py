"""Selling offline at the service layer (docs/offline.md): receipt blocks that never
collide (two pages of a till, online orders, the fallback form past the blocks), the
sync writing each order once (repeats in a batch and across batches, a body changed
under a client_ref, an order made online under it, two threads syncing the same batch),
and each conflict rule: the price sold at stands, stock may go below zero (flagged),
a product switched off still sells, a shift closed meanwhile counts its late sales,
a bad order is refused alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.offline import Page, line
from tests.selling import World, cash, demo_world, product

from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_owner
from tillpoint.store.models import (
    MovementKind,
    Order,
    OrderLine,
    OrderStatus,
    OrderTender,
    Product,
    StockMovement,
)
from tillpoint.store.movements import Move, move
from tillpoint.store.offline_models import Flag
from tillpoint.store.orders import LineIn
from tillpoint.store.rollups import as_stored, naive, stored
from tillpoint.store.sync import CashPaid, LineSold, SyncStatus

WATER, APPLE, BREAD = 250, 1280, 750  # the till's prices (bread: shop 1's own price)


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
    return demo_world(tp)


@pytest.fixture
def page(w: World) -> Page:
    p = Page(w.tp, w.merchant_id)
    p.register()
    return p


def water(w: World, n: int = 1) -> LineSold:
    return line(w.products["water"], WATER, n * 1000, name="矿泉水 Water")


def count(tp: Tillpoint, model: type) -> int:
    with tp.ctx.db.read() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def in_stock(w: World, **milli: int) -> None:
    """Goods in (a receipt), so that the sales after do not take the stock below zero."""
    with w.tp.ctx.db.transaction() as s:
        move(s, merchant_id=w.merchant_id, shop_id=w.shop_id, kind=MovementKind.RECEIPT,
             moves=[Move(w.products[name], q) for name, q in milli.items()], by="test",
             at=w.tp.ctx.now())  # fmt: skip


def rollups_are_sums(w: World) -> None:
    with w.tp.ctx.db.read() as s:
        assert stored(s, [w.shop_id]) == as_stored(naive(s, [w.shop_id]))


# --- till pages and receipt blocks -------------------------------------------------------------


def test_pages_make_themselves_known_and_take_none_of_the_online_numbers(w: World) -> None:
    shift = w.open_shift()
    a, b = Page(w.tp, w.merchant_id), Page(w.tp, w.merchant_id)
    first = a.register()
    assert (first.page_number, first.receipt_prefix, first.till) == (1, "1-T1-P1.", "T1")
    assert b.register().receipt_prefix == "1-T1-P2."
    assert a.register() == first  # known: the same page, the same number
    assert Page(w.tp, w.merchant_id, till="T2").register().receipt_prefix == "1-T2-P1."
    online = [
        w.tp.orders.create(
            w.order(shift, LineIn(product_id=w.products["water"]), tenders=(cash(1_000),)),
            merchant_id=w.merchant_id,
        ).order.receipt_no
        for _ in range(2)
    ]
    assert online == ["1-T1-1", "1-T1-2"]  # contiguous, whatever pages came
    # A page that takes a block later keeps its number; the block follows the online ones.
    block = a.reserve(10)
    assert (block.page_number, block.first_receipt_no) == (1, "1-T1-3")
    # A page without blocks numbers in its own form, not flagged (past blocks it would be).
    synced = b.sync(b.sale(shift, water(w))).outcomes[0]
    assert synced.receipt_no == "1-T1-P2.1" and not synced.flags & Flag.FALLBACK_NUMBER
    with pytest.raises(NotFound, match="No shop 7"):
        w.tp.offline.register_page(w.merchant_id, 7, "T1", "page-0001")
    with pytest.raises(InvalidInput):
        w.tp.offline.register_page(w.merchant_id, 1, "T 1", "page-0001")


def test_blocks_of_two_pages_and_the_online_orders_never_share_a_number(w: World) -> None:
    shift = w.open_shift()
    first = w.tp.orders.create(
        w.order(shift, LineIn(product_id=w.products["water"]), tenders=(cash(1_000),)),
        merchant_id=w.merchant_id,
    ).order
    assert first.receipt_no == "1-T1-1"
    a, b = Page(w.tp, w.merchant_id), Page(w.tp, w.merchant_id)
    block_a = a.reserve()
    block_b = b.reserve(500)
    again = a.reserve(10)
    assert (block_a.first_number, block_a.last_number, block_a.page_number) == (2, 1001, 1)
    assert (block_b.first_number, block_b.last_number, block_b.page_number) == (1002, 1501, 2)
    assert (again.first_number, again.page_number) == (1502, 1)  # the same page, its number
    assert (block_a.first_receipt_no, block_a.fallback_prefix) == ("1-T1-2", "1-T1-P1.")
    assert block_b.fallback_prefix == "1-T1-P2."
    online = w.tp.orders.create(
        w.order(shift, LineIn(product_id=w.products["water"]), tenders=(cash(1_000),)),
        merchant_id=w.merchant_id,
    ).order
    assert online.receipt_no == "1-T1-1512"  # after every block
    # Another till of the shop has its own sequence; a till with no shift yet starts one.
    other = Page(w.tp, w.merchant_id, till="T2").reserve(5)
    assert (other.first_receipt_no, other.page_number) == ("1-T2-1", 1)
    assert w.open_shift("T2") > 0
    paid = w.tp.orders.create(
        w.order(w.open_shift("T3"), LineIn(product_id=w.products["water"]),
                tenders=(cash(1_000),)), merchant_id=w.merchant_id,
    ).order  # fmt: skip
    assert paid.receipt_no == "1-T3-1"


def test_a_block_is_asked_for_properly(w: World) -> None:
    tp, m = w.tp, w.merchant_id
    for till, ref, size in (("T 1", "page-0001", 10), ("T1", "short", 10),
                            ("T1", "page-0001", 0), ("T1", "page-0001", 10_001)):  # fmt: skip
        with pytest.raises(InvalidInput):
            tp.offline.reserve_block(m, 1, till, ref, size)
    with pytest.raises(NotFound, match="No shop 7"):
        tp.offline.reserve_block(m, 7, "T1", "page-0001")
    other = tp.merchants.get("898310054110002").id  # demo merchant 2 has one shop
    with pytest.raises(NotFound, match="No shop 2"):
        tp.offline.reserve_block(other, 2, "T1", "page-0001")


# --- the sync ------------------------------------------------------------------------------------


def test_offline_sales_are_written_as_the_till_made_them(w: World, page: Page) -> None:
    tp = w.tp
    shift = w.open_shift()
    in_stock(w, water=10_000, apple=5_000, bread=1_000)
    before = (w.level("water"), w.level("apple"))
    one = page.sale(shift, water(w, 3), line(w.products["apple"], APPLE, 455, name="苹果",
                                                unit="kg"), change_minor=1_318)  # fmt: skip
    two = page.sale(shift, line(w.products["bread"], BREAD, discount_minor=50), water(w),
                    discount_minor=45, note="offline")  # fmt: skip
    tp.ctx.clock.advance(timedelta(minutes=3))  # type: ignore[attr-defined]
    answer = page.sync(one, two)
    assert [o.status for o in answer.outcomes] == [SyncStatus.SYNCED, SyncStatus.SYNCED]
    assert [o.receipt_no for o in answer.outcomes] == ["1-T1-P1.1", "1-T1-P1.2"]
    assert not any(o.needs_look for o in answer.outcomes)
    made = tp.orders.get(answer.outcomes[0].order_id or 0, merchant_id=w.merchant_id)
    assert (made.status, made.receipt_no, made.shift_id, made.cashier_id) == (
        OrderStatus.PAID,
        "1-T1-P1.1",
        shift,
        w.cashier_id,
    )
    assert made.total_minor == 3 * WATER + 582 and made.created_at == one.made_at
    assert made.paid_at == one.made_at and made.updated_at == tp.ctx.now()
    assert [t.received_minor for t in made.tenders] == [made.total_minor + 1_318]
    assert made.change_minor == 1_318
    second = tp.orders.get(answer.outcomes[1].order_id or 0, merchant_id=w.merchant_id)
    assert second.discount_minor == 45 and second.note == "offline"
    assert sum(x.order_discount_minor for x in second.lines) == 45
    assert (second.lines[0].discount_minor, second.lines[0].amount_minor) == (50, 700)
    assert (w.level("water"), w.level("apple")) == (before[0] - 4000, before[1] - 455)
    with tp.ctx.db.read() as s:
        docs = set(s.scalars(select(StockMovement.document)
                             .where(StockMovement.kind == MovementKind.SALE)))  # fmt: skip
    assert docs == {"1-T1-P1.1", "1-T1-P1.2"}
    report = tp.shifts.get(shift, merchant_id=w.merchant_id).report
    assert report is not None and report.sales == 2
    assert report.cash_in_minor == made.total_minor + second.total_minor
    rollups_are_sums(w)


def test_an_order_synced_again_is_stored_once(w: World, page: Page) -> None:
    tp = w.tp
    shift = w.open_shift()
    sales = [page.sale(shift, water(w, n)) for n in (1, 2, 3)]
    first = page.sync(sales[0], sales[1])
    orders = count(tp, Order)
    # Again, reordered, with the third, and the first twice in the same batch.
    again = page.sync(sales[1], sales[2], sales[0], sales[0])
    assert [o.status for o in again.outcomes] == [
        SyncStatus.ALREADY_SYNCED, SyncStatus.SYNCED, SyncStatus.ALREADY_SYNCED,
        SyncStatus.ALREADY_SYNCED,
    ]  # fmt: skip
    assert again.outcomes[0].order_id == first.outcomes[1].order_id
    assert again.outcomes[3].receipt_no == sales[0].receipt_no
    assert count(tp, Order) == orders + 1
    # A repeat within one batch is the first: once.
    fourth = page.sale(shift, water(w))
    twice = page.sync(fourth, fourth)
    assert [o.status for o in twice.outcomes] == [SyncStatus.SYNCED, SyncStatus.ALREADY_SYNCED]
    assert count(tp, Order) == orders + 2
    # Another body under a client_ref used: refused, the stored order named.
    changed = page.sale(shift, water(w, 5), client_ref=sales[2].client_ref,
                        receipt_no=sales[2].receipt_no)  # fmt: skip
    (refused,) = page.sync(changed).outcomes
    assert (refused.status, refused.refusal and refused.refusal.code) == (
        SyncStatus.REFUSED,
        "order.client_ref_used",
    )
    assert refused.order_id == again.outcomes[1].order_id and refused.needs_look
    assert count(tp, Order) == orders + 2 and w.level("water") == -7000
    rollups_are_sums(w)


def test_a_sale_made_online_under_the_client_ref_is_that_sale(w: World, page: Page) -> None:
    """The till sent the order online, lost the answer, and queued it offline: one sale."""
    shift = w.open_shift()
    online = w.tp.orders.create(
        w.order(shift, LineIn(product_id=w.products["water"]), tenders=(cash(1_000),)),
        merchant_id=w.merchant_id,
    ).order
    (outcome,) = page.sync(page.sale(shift, water(w), client_ref=online.client_ref)).outcomes
    assert (outcome.status, outcome.order_id, outcome.receipt_no) == (
        SyncStatus.ALREADY_SYNCED,
        online.id,
        online.receipt_no,
    )
    assert count(w.tp, Order) == 1


def test_two_threads_syncing_the_same_batch_write_it_once(w: World, page: Page) -> None:
    shift = w.open_shift()
    sales = [page.sale(shift, water(w), line(w.products["bread"], BREAD)) for _ in range(40)]
    answers = []
    start = threading.Barrier(2)

    def sync() -> None:
        start.wait()
        answers.append(page.sync(*sales))

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 2
    for i in range(len(sales)):
        statuses = sorted(a.outcomes[i].status for a in answers)
        assert statuses == [SyncStatus.ALREADY_SYNCED, SyncStatus.SYNCED]
        assert len({a.outcomes[i].order_id for a in answers}) == 1
    assert count(w.tp, Order) == 40 and w.level("water") == -40_000
    rollups_are_sums(w)


# --- receipt numbers ----------------------------------------------------------------------------


def test_receipt_numbers_must_be_the_pages_own(w: World, page: Page) -> None:
    shift = w.open_shift()
    page.reserve()  # 1 to 1000
    other = Page(w.tp, w.merchant_id)
    other.reserve(5)  # 1001 to 1005: another page's
    cases = {
        "1-T1-1001": "sync.receipt_no",  # the other page's block
        "1-T1-2000": "sync.receipt_no",  # nobody's yet
        "1-T1-P2.1": "sync.receipt_no",  # the other page's fallback form
        "1-T2-5": "sync.receipt_no",  # another till's
        "2-T1-5": "sync.receipt_no",  # another shop's
        "1-T1-05": "sync.receipt_no",  # not a number it prints
    }
    sales = [page.sale(shift, water(w), receipt_no=no) for no in cases]
    answer = page.sync(*sales)
    assert [(o.status, o.refusal and o.refusal.code) for o in answer.outcomes] == [
        (SyncStatus.REFUSED, code) for code in cases.values()
    ]
    assert count(w.tp, Order) == 0
    # Its own numbers: in its block, and past it in its fallback form.
    ok = [page.sale(shift, water(w), receipt_no=no) for no in ("1-T1-1", "1-T1-1000",
                                                                 "1-T1-P1.1")]  # fmt: skip
    answer = page.sync(*ok)
    assert [o.status for o in answer.outcomes] == [SyncStatus.SYNCED] * 3
    assert [o.flags for o in answer.outcomes][2] & 128  # fallback_number noted
    # A number twice: the second sale is refused (whichever batch it comes in).
    dup = page.sale(shift, water(w), receipt_no="1-T1-2")
    dup2 = page.sale(shift, water(w), receipt_no="1-T1-2")
    taken = page.sale(shift, water(w), receipt_no="1-T1-1")
    answer = page.sync(dup, dup2, taken)
    assert [(o.status, o.refusal and o.refusal.code) for o in answer.outcomes] == [
        (SyncStatus.SYNCED, None), (SyncStatus.REFUSED, "sync.receipt_taken"),
        (SyncStatus.REFUSED, "sync.receipt_taken"),
    ]  # fmt: skip


def test_a_page_past_its_blocks_numbers_in_its_fallback_form(w: World) -> None:
    shift = w.open_shift()
    page = Page(w.tp, w.merchant_id)
    page.reserve(2)
    sales = [page.sale(shift, water(w)) for _ in range(4)]
    assert [x.receipt_no for x in sales] == ["1-T1-1", "1-T1-2", "1-T1-P1.1", "1-T1-P1.2"]
    answer = page.sync(*sales)
    assert [o.status for o in answer.outcomes] == [SyncStatus.SYNCED] * 4
    assert [o.flags & 128 for o in answer.outcomes] == [0, 0, 128, 128]
    # A second page of the till falls back to its own form: never the first page's.
    second = Page(w.tp, w.merchant_id)
    second.reserve(1)
    more = [second.sale(shift, water(w)) for _ in range(2)]
    assert [x.receipt_no for x in more] == ["1-T1-3", "1-T1-P2.1"]
    assert [o.status for o in second.sync(*more).outcomes] == [SyncStatus.SYNCED] * 2
    assert count(w.tp, Order) == 6


def test_a_page_unknown_to_the_server_syncs_nothing(w: World) -> None:
    shift = w.open_shift()
    page = Page(w.tp, w.merchant_id)
    sale = page.sale(shift, water(w), receipt_no="1-T1-1")
    with pytest.raises(NotFound, match="the page must make itself known first"):
        page.sync(sale)
    other = w.tp.merchants.get("898310054110002").id
    page.register()
    with pytest.raises(NotFound, match="No shop 2"):  # B's key naming A's second shop
        w.tp.offline.sync(replace(page.batch(sale), shop_number=2), merchant_id=other)
    theirs = Page(w.tp, other, ref=page.ref)  # B's shop 1 has no page of that id
    with pytest.raises(NotFound, match="has no page"):
        w.tp.offline.sync(theirs.batch(sale), merchant_id=other)


# --- conflicts -------------------------------------------------------------------------------------


def test_the_price_sold_at_stands_and_the_list_price_now_is_beside_it(w: World, page: Page) -> None:
    shift = w.open_shift()
    in_stock(w, water=100_000, old=10_000)
    sale = page.sale(shift, water(w, 2))
    with w.tp.ctx.db.transaction() as s:  # the catalogue's price went up meanwhile
        s.get_one(Product, w.products["water"]).price_minor = 300
    (outcome,) = page.sync(sale).outcomes
    assert outcome.status is SyncStatus.SYNCED and not outcome.needs_look
    assert [(x.line_no, x.flags) for x in outcome.lines] == [(1, 32)]  # price_changed
    order = w.tp.orders.get(outcome.order_id or 0, merchant_id=w.merchant_id)
    (x,) = order.lines
    assert (x.unit_price_minor, x.list_price_minor, x.amount_minor) == (250, 300, 500)
    assert order.total_minor == 500


def test_a_price_of_its_own_or_a_large_discount_needs_a_look(w: World, page: Page) -> None:
    shift = w.open_shift()
    in_stock(w, water=100_000, old=10_000)
    own = page.sale(shift, line(w.products["water"], WATER, sold_at=200))
    large = page.sale(shift, water(w, 10), discount_minor=300)  # 12% off
    small = page.sale(shift, water(w, 10), discount_minor=250)  # 10%: free
    answer = page.sync(own, large, small)
    assert [(o.status, o.flags) for o in answer.outcomes] == [
        (SyncStatus.SYNCED, 4), (SyncStatus.SYNCED, 4), (SyncStatus.SYNCED, 0),
    ]  # fmt: skip
    assert [o.needs_look for o in answer.outcomes] == [True, True, False]


def test_stock_may_go_below_zero_and_the_lines_that_took_it_there_are_noted(
    w: World, page: Page
) -> None:
    shift = w.open_shift()
    in_stock(w, water=3000)
    sales = [page.sale(shift, water(w, 2)), page.sale(shift, water(w, 2)),
             page.sale(shift, line(w.products["bread"], BREAD), water(w))]  # fmt: skip
    answer = page.sync(*sales)
    assert [o.status for o in answer.outcomes] == [SyncStatus.SYNCED] * 3
    assert [o.needs_look for o in answer.outcomes] == [False, True, True]
    assert [(x.line_no, x.flags, x.level_milli) for x in answer.outcomes[1].lines] == [
        (1, 1, -1000)
    ]
    assert [(x.line_no, x.flags, x.level_milli) for x in answer.outcomes[2].lines] == [
        (1, 1, -1000), (2, 1, -2000),
    ]  # fmt: skip
    assert w.level("water") == -2000 and w.level("bread") == -1000
    looks = w.tp.offline.offline_orders(merchant_id=w.merchant_id, needs_look=True)
    assert [x.id for x in looks] == [answer.outcomes[2].order_id,
                                           answer.outcomes[1].order_id]  # fmt: skip
    assert looks[0].flags == ["stock_negative"] and looks[0].lines[1].level_milli == -2000
    # Sent again, the answer says the same.
    again = page.sync(sales[1])
    assert again.outcomes[0].status is SyncStatus.ALREADY_SYNCED
    assert again.outcomes[0].needs_look and again.outcomes[0].lines[0].level_milli == -1000


def test_a_product_switched_off_meanwhile_still_sells_under_its_name(w: World, page: Page) -> None:
    shift = w.open_shift()
    in_stock(w, water=100_000, old=10_000)
    sale = page.sale(shift, line(w.products["old"], 100, name="旧货 as the till printed"))
    (outcome,) = page.sync(sale).outcomes
    assert outcome.status is SyncStatus.SYNCED
    assert [(x.line_no, x.flags) for x in outcome.lines] == [(1, 64)]  # product_inactive
    (x,) = w.tp.orders.get(outcome.order_id or 0, merchant_id=w.merchant_id).lines
    assert (x.name, x.product_id) == ("旧货 as the till printed", w.products["old"])


def test_a_shift_closed_meanwhile_counts_its_late_sales(
    w: World, page: Page, clock: FixedClock
) -> None:
    tp = w.tp
    shift = w.open_shift(float_minor=10_000)
    in_stock(w, water=100_000, old=10_000)
    sale = page.sale(shift, water(w, 4), change_minor=0)  # 10.00 in cash, in the drawer
    clock.advance(timedelta(hours=1))
    # The manager closes the shift and counts the drawer: the offline cash is in it.
    z = tp.shifts.close(shift, 11_000, merchant_id=w.merchant_id, closed_by=w.manager_id)
    assert z.report is not None and z.report.over_short_minor == 1_000
    (outcome,) = page.sync(sale).outcomes
    assert outcome.status is SyncStatus.SYNCED and outcome.flags == 2 and outcome.needs_look
    order = tp.orders.get(outcome.order_id or 0, merchant_id=w.merchant_id)
    assert order.shift_id == shift
    report = tp.shifts.get(shift, merchant_id=w.merchant_id).report
    assert report is not None and report.kind == "Z"
    assert (report.sales, report.sales_minor, report.cash_in_minor) == (1, 1_000, 1_000)
    assert (report.late_orders, report.late_sales_minor, report.late_cash_minor) == (
        1,
        1_000,
        1_000,
    )
    assert report.expected_cash_minor == 10_000  # as when counted
    assert (report.over_short_minor, report.over_short_with_late_minor) == (1_000, 0)
    rollups_are_sums(w)


def test_a_bad_order_is_refused_alone_and_the_rest_written(w: World, page: Page) -> None:
    tp = w.tp
    shift = w.open_shift()
    good = page.sale(shift, water(w))
    wrong_line = page.sale(shift, water(w))
    bad_amount = replace(wrong_line, lines=(replace(water(w), amount_minor=260),),
                         subtotal_minor=260, total_minor=260,
                         tenders=(CashPaid(260, 260),))  # fmt: skip
    bad_total = page.sale(shift, water(w), total_minor=1)
    short = page.sale(shift, water(w), tenders=(CashPaid(200, 200),))
    card = page.sale(shift, water(w), tenders=(CashPaid(250, 250, 0, "card"),))  # type: ignore[arg-type]
    unknown = page.sale(shift, line(10**9, 100))
    other_merchant = w.tp.merchants.get("898310054110002").id
    theirs = _product_of(tp, other_merchant)
    not_ours = page.sale(shift, line(theirs, 100))
    other_shift = page.sale(tp.shifts.open(other_merchant, 1, "T1", 0,
                                           _owner(tp, other_merchant)).id, water(w))  # fmt: skip
    t2 = page.sale(w.open_shift("T2"), water(w))
    far = page.sale(shift, water(w), made_at=tp.ctx.now() + timedelta(days=3))
    stranger = page.sale(shift, water(w), cashier_id=_owner(tp, other_merchant))
    no_counter = page.sale(shift, water(w), counter_number=4)
    last = page.sale(shift, water(w, 2))
    answer = page.sync(good, bad_amount, bad_total, short, card, unknown, not_ours,
                       other_shift, t2, far, stranger, no_counter, last)  # fmt: skip
    codes = [(o.status.value, o.refusal.code if o.refusal else None) for o in answer.outcomes]
    assert codes == [
        ("synced", None), ("refused", "sync.line_amount"), ("refused", "sync.total"),
        ("refused", "sync.unpaid"), ("refused", "sync.cash_only"),
        ("refused", "product.not_found"), ("refused", "product.not_found"),
        ("refused", "shift.not_found"), ("refused", "sync.other_till"),
        ("refused", "sync.made_at_range"), ("refused", "account.not_found"),
        ("refused", "counter.not_found"), ("synced", None),
    ]  # fmt: skip
    assert count(tp, Order) == 2 and count(tp, OrderLine) == 2 and count(tp, OrderTender) == 2
    assert w.level("water") == -3000
    rollups_are_sums(w)


def test_a_batch_is_bounded(w: World, page: Page) -> None:
    shift = w.open_shift()
    sale = page.sale(shift, water(w))
    with pytest.raises(InvalidInput, match="1 to 500 orders"):
        page.sync(*[sale] * 501)
    with pytest.raises(InvalidInput, match="1 to 500 orders"):
        page.sync()
    with pytest.raises(InvalidInput, match="at most 10000 lines"):
        page.sync(*[page.sale(shift, *[water(w)] * 200) for _ in range(51)])


def test_a_closed_shop_takes_no_block_but_its_sales_made_offline_arrive(
    w: World, page: Page
) -> None:
    shift = w.open_shift("T9", shop=2)
    second = Page(w.tp, w.merchant_id, shop_number=2, till="T9")
    second.reserve(10)
    sale = second.sale(shift, water(w))
    w.tp.merchants.close_shop(w.mid, 2, "test")
    with pytest.raises(Refused, match="Shop 2 is closed"):
        second.reserve(10)
    assert second.sync(sale).outcomes[0].status is SyncStatus.SYNCED


def test_a_clock_far_from_the_shifts_and_a_missing_counter_are_noted(w: World, page: Page) -> None:
    shift = w.open_shift()
    in_stock(w, water=100_000, old=10_000)
    early = page.sale(shift, water(w), made_at=w.tp.ctx.now() - timedelta(hours=2))
    w.tp.counters.create(w.merchant_id, 1, 3, "柜台 Counter")
    no_counter = page.sale(shift, water(w))
    at_counter = page.sale(shift, water(w), counter_number=3)
    answer = page.sync(early, no_counter, at_counter)
    assert [o.flags for o in answer.outcomes] == [16 | 8, 8, 0]
    order = w.tp.orders.get(answer.outcomes[2].order_id or 0, merchant_id=w.merchant_id)
    assert order.counter_number == 3


# --- helpers ------------------------------------------------------------------------------------


def _product_of(tp: Tillpoint, merchant_id: int) -> int:
    return product(tp, merchant_id, "THEIRS", "Theirs", 100)


def _owner(tp: Tillpoint, merchant_id: int) -> int:
    """Demo merchant 2's owner (``merchant_id``'s)."""
    owner = tp.accounts.get(demo_owner(2))
    assert owner.merchant_id == merchant_id
    return owner.id
