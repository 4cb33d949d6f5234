"""Tenders through the networks at the service layer: a card part by the shop's
terminal (the cashier link's checkout, paid by the terminal's sale), a wallet code
scanned, a QR code the customer scans, split with cash; the order is paid only when
its tenders add up; a return pays each part back the way it came (card and wallet by
refunds, cash from the current drawer); canceling gives taken money back. Property
tests: tenders always add up to the total, and repeated partial returns never give
back more than each tender paid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import select
from tests.selling import ALIPAY, Desk, World, cash, demo_world, open_desk, water_code

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.settings import Settings
from tillpoint.networks.wallets import WalletOrg
from tillpoint.payments.models import Payment, PaymentKind, PaymentStatus
from tillpoint.store.models import OrderStatus, OrderTender, TenderKind, TenderStatus
from tillpoint.store.orders import LineIn, NewReturn, OrderView, ReturnLineIn, TenderIn

CARD = TenderKind.CARD


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
    return demo_world(tp)


@pytest.fixture
def desk(tp: Tillpoint, w: World) -> Iterator[Desk]:
    d = open_desk(tp)
    yield d
    d.close()


def water(n: int = 1) -> LineIn:
    return LineIn(barcode=water_code(), quantity_milli=n * 1000)


def pay_card(desk: Desk, order: OrderView) -> OrderView:
    """The terminal pays the order's pending card tender."""
    (tender,) = [t for t in order.tenders if t.kind is CARD and t.status is TenderStatus.PENDING]
    checkout = desk.tp.checkouts.get(tender.tid or "", tender.checkout_id or 0)
    assert checkout.reference == f"O{order.id}T{tender.id}"
    assert desk.terminal_pays(checkout.checkout_ref, tender.amount_minor).response_code == "00"
    return desk.tp.orders.get(order.id, merchant_id=None)


def test_part_cash_part_card_at_the_terminal(w: World, desk: Desk) -> None:
    tp = w.tp
    shift = w.open_shift()
    new = w.order(shift, water(8), tenders=(cash(amount_minor=500), TenderIn(CARD)))
    order = desk.run(desk.tenders.create(new, merchant_id=w.merchant_id))
    assert (order.status, order.paid_minor, order.pending_minor, order.due_minor) == (
        OrderStatus.OPEN, 500, 1500, 0,
    )  # fmt: skip
    card = order.tenders[1]
    assert (card.kind, card.status, card.tid, card.amount_minor) == (
        CARD, TenderStatus.PENDING, "10000001", 1500,
    )  # fmt: skip
    assert w.level("water") == 0  # nothing moves before it is paid
    # Nothing more can be tendered while the card part waits; the shift cannot close.
    with pytest.raises(InvalidInput, match="at most what is left"):
        tp.orders.add_cash(order.id, merchant_id=None, received_minor=100)
    with pytest.raises(Refused, match="being paid"):
        tp.shifts.close(shift, 0, merchant_id=None)
    paid = pay_card(desk, order)
    assert (paid.status, paid.receipt_no, paid.paid_minor) == (OrderStatus.PAID, "1-T1-1", 2000)
    assert paid.tenders[1].payment_id is not None and w.level("water") == -8000
    # The waiting request answers at once when nothing is pending.
    assert desk.run(desk.tenders.wait(order.id, merchant_id=None, wait_s=5)).status == "paid"
    report = tp.shifts.get(shift, merchant_id=None).report
    assert report is not None
    assert [(t.kind, t.amount_minor) for t in report.takings] == [
        (TenderKind.CASH, 500), (CARD, 1500),
    ]  # fmt: skip
    assert report.expected_cash_minor == 10_000 + 500


def test_a_card_tender_canceled_or_declined_leaves_the_order_to_pay(w: World, desk: Desk) -> None:
    tp = w.tp
    shift = w.open_shift()
    order = desk.run(desk.tenders.create(w.order(shift, water(6), tenders=(TenderIn(CARD),)),
                                         merchant_id=None))  # fmt: skip
    card = order.tenders[0]
    canceled = desk.run(desk.tenders.cancel_tender(order.id, card.id, merchant_id=None))
    assert canceled.tenders[0].status is TenderStatus.CANCELED and canceled.due_minor == 1500
    # A wrong terminal is refused before anything is noted.
    with pytest.raises(NotFound, match="No terminal 19999999"):
        desk.run(desk.tenders.tender(order.id, TenderIn(CARD, tid="19999999"), merchant_id=None))
    assert len(tp.orders.get(order.id, merchant_id=None).tenders) == 1
    again = desk.run(desk.tenders.tender(order.id, TenderIn(CARD), merchant_id=None))
    pending = again.tenders[1]
    checkout = tp.checkouts.get("10000001", pending.checkout_id or 0)
    declined = desk.terminal_pays(checkout.checkout_ref, 1500, pan="6212340000000000020")
    assert declined.response_code == "51"  # over its balance: the checkout waits
    assert tp.orders.get(order.id, merchant_id=None).tenders[1].status is TenderStatus.PENDING
    paid = pay_card(desk, tp.orders.get(order.id, merchant_id=None))
    assert paid.status is OrderStatus.PAID


def test_a_shop_with_several_terminals_names_the_one_that_takes_the_card(
    w: World, desk: Desk
) -> None:
    tp = w.tp
    assert [x.tid for x in tp.orders.card_terminals(w.merchant_id, 1)] == ["10000001"]
    second = tp.terminals.add("SN-SHOP1-B", "Tillpoint Countertop", "test").terminal.tid
    tp.terminals.bind(second, w.mid, "test", shop=1)
    frozen = tp.terminals.add("SN-SHOP1-C", "Tillpoint Countertop", "test").terminal.tid
    tp.terminals.bind(frozen, w.mid, "test", shop=1)
    tp.terminals.freeze(frozen, "test", "lost")
    other_shop = tp.terminals.add("SN-SHOP2-A", "Tillpoint Countertop", "test").terminal.tid
    tp.terminals.bind(other_shop, w.mid, "test", shop=2)
    listed = tp.orders.card_terminals(w.merchant_id, 1)
    assert [(x.tid, x.serial_no) for x in listed] == sorted(
        [("10000001", listed[0].serial_no), (second, "SN-SHOP1-B")]
    )
    order = desk.run(desk.tenders.create(w.order(w.open_shift(), water(1)), merchant_id=None))
    with pytest.raises(InvalidInput, match="several terminals"):
        desk.run(desk.tenders.tender(order.id, TenderIn(CARD), merchant_id=None))
    for wrong in (frozen, other_shop):
        with pytest.raises(NotFound):
            desk.run(desk.tenders.tender(order.id, TenderIn(CARD, tid=wrong), merchant_id=None))
    named = desk.run(desk.tenders.tender(order.id, TenderIn(CARD, tid=second), merchant_id=None))
    assert [t.tid for t in named.tenders] == [second]


def test_a_wallet_code_pays_at_once_and_a_qr_code_when_scanned(w: World, desk: Desk) -> None:
    tp = w.tp
    shift = w.open_shift()
    wallet = TenderIn(TenderKind.WALLET, amount_minor=300, code=ALIPAY)
    order = desk.run(desk.tenders.create(w.order(shift, water(2), tenders=(wallet,)),
                                         merchant_id=None))  # fmt: skip
    assert order.tenders[0].status is TenderStatus.PAID and order.due_minor == 200
    # A code the wallet declines: a failed tender, the order still to pay.
    declined = TenderIn(TenderKind.WALLET, code="280000000000000002")
    order = desk.run(desk.tenders.tender(order.id, declined, merchant_id=None))
    assert (order.tenders[1].status, order.tenders[1].response_code) == (TenderStatus.FAILED, "51")
    with pytest.raises(InvalidInput, match="not an Alipay"):  # refused: nothing noted
        desk.run(desk.tenders.tender(order.id, TenderIn(TenderKind.WALLET, code="12345"),
                                     merchant_id=None))  # fmt: skip
    assert len(tp.orders.get(order.id, merchant_id=None).tenders) == 2
    order = desk.run(desk.tenders.tender(order.id, TenderIn(TenderKind.QR), merchant_id=None))
    qr = order.tenders[2]
    assert qr.status is TenderStatus.PENDING and qr.qr_code is not None
    token = urlparse(qr.qr_code).path.rsplit("/", 1)[-1]
    desk.run(desk.acquirer.wallets.answer_order(token, WalletOrg.WECHAT, True, tp.ctx.now()))
    paid = tp.orders.get(order.id, merchant_id=None)
    assert paid.status is OrderStatus.PAID and paid.tenders[2].status is TenderStatus.PAID
    assert paid.tenders[2].qr_code is None


def test_a_qr_code_paid_after_the_cut_off_is_the_next_days_money(w: World, desk: Desk) -> None:
    """The code is shown on day D; the day is cut off and settled; then the customer pays.
    The payment is day D+1's (its fee, its lines, the wallet's clearing file), so D+1's
    settlement pays the merchant for it: never a line left on a day already settled."""
    tp = w.tp
    shift = w.open_shift()
    order = desk.run(desk.tenders.create(w.order(shift, water(4), tenders=(TenderIn(TenderKind.QR),)),
                                         merchant_id=None))  # fmt: skip
    shown = order.tenders[0]
    day = tp.days.cut_off("test")
    assert tp.settlement.run(day) == []  # nothing was paid on day D
    token = urlparse(str(shown.qr_code)).path.rsplit("/", 1)[-1]
    desk.run(desk.acquirer.wallets.answer_order(token, WalletOrg.WECHAT, True, tp.ctx.now()))
    assert tp.orders.get(order.id, merchant_id=None).status is OrderStatus.PAID
    with tp.ctx.db.read() as s:
        paid = s.get_one(Payment, shown.payment_id)
        assert (paid.status, paid.business_date) == (PaymentStatus.APPROVED, tp.days.open_date())
    next_day = tp.days.cut_off("test")
    [settled] = tp.settlement.run(next_day)
    assert (settled.gross_minor, settled.payout_minor) == (1000, 1000 - paid.fee_minor)
    assert tp.ledger.check() == []


def test_a_return_pays_the_card_back_first_then_cash(w: World, desk: Desk) -> None:
    tp = w.tp
    shift = w.open_shift()
    new = w.order(shift, water(4), tenders=(cash(amount_minor=400), TenderIn(CARD)))
    sale = pay_card(desk, desk.run(desk.tenders.create(new, merchant_id=None)))
    line = sale.lines[0]
    card_payment = sale.tenders[1].payment_id

    def back(n: int, ref: str) -> OrderView:
        return desk.run(desk.tenders.create_return(
            sale.id, NewReturn(ref, shift, (ReturnLineIn(line.id, n * 1000),), w.approval),
            merchant_id=w.merchant_id))  # fmt: skip

    first = back(3, "r-1")  # 7.50: all 6.00 of the card, then 1.50 cash
    assert first.status is OrderStatus.PAID
    assert [(t.kind, t.status, t.amount_minor) for t in first.tenders] == [
        (CARD, TenderStatus.REFUNDED, 600), (TenderKind.CASH, TenderStatus.REFUNDED, 150),
    ]  # fmt: skip
    with tp.ctx.db.read() as s:
        refund = s.get_one(Payment, first.tenders[0].payment_id)
        assert (refund.kind, refund.original_id, refund.amount_minor) == (
            PaymentKind.REFUND, card_payment, 600,
        )  # fmt: skip
        assert s.get_one(Payment, card_payment).status is PaymentStatus.REFUNDED
    second = back(1, "r-2")
    assert [(t.kind, t.amount_minor) for t in second.tenders] == [(TenderKind.CASH, 250)]
    assert w.level("water") == 0
    report = tp.shifts.get(shift, merchant_id=None).report
    assert report is not None and report.cash_out_minor == 400
    assert report.expected_cash_minor == 10_000 + 400 - 400


def test_canceling_a_part_paid_order_refunds_its_card_part(w: World, desk: Desk) -> None:
    tp = w.tp
    shift = w.open_shift()
    new = w.order(shift, water(4), tenders=(TenderIn(CARD, amount_minor=600), cash(100)))
    order = desk.run(desk.tenders.create(new, merchant_id=None))
    with pytest.raises(Refused, match="under way"):
        tp.orders.cancel(order.id, merchant_id=None)
    order = pay_card(desk, order)
    assert order.status is OrderStatus.OPEN and order.due_minor == 300
    with pytest.raises(Refused, match="has moved money"):
        tp.orders.cancel(order.id, merchant_id=None)
    canceled = desk.run(desk.tenders.cancel(order.id, merchant_id=None))
    assert canceled.status is OrderStatus.CANCELED
    assert [(t.kind, t.status) for t in canceled.tenders] == [
        (TenderKind.CASH, TenderStatus.CANCELED), (CARD, TenderStatus.REFUNDED),
    ]  # fmt: skip
    with tp.ctx.db.read() as s:
        card = s.get_one(Payment, canceled.tenders[1].payment_id)
        assert card.status is PaymentStatus.REFUNDED


# --- property tests -----------------------------------------------------------------------------


@examples(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(
    quantities=st.lists(st.integers(1, 9), min_size=1, max_size=3),
    discount=st.integers(0, 99),
    split=st.lists(st.integers(1, 2_000), max_size=3),
    returns=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 9)), max_size=6),
)
def test_tenders_add_up_and_returns_never_give_back_more_than_was_paid(
    w: World, desk: Desk, quantities: list[int], discount: int, split: list[int],
    returns: list[tuple[int, int]],
) -> None:  # fmt: skip
    tp = w.tp
    shift = w.open_shift(f"P{len(tp.shifts.search(merchant_id=None, limit=100))}")
    lines = [LineIn(product_id=w.products["apple"], quantity_milli=q * 333) for q in quantities]
    total_before = sum((1280 * q * 333 * 2 + 1000) // 2000 for q in quantities)
    from tillpoint.store.orders import Discount

    wanted = min(discount, total_before // 20)  # within what needs no manager
    order = tp.orders.create(w.order(shift, *lines, discount=Discount(amount_minor=wanted)),
                             merchant_id=None).order  # fmt: skip
    for amount in split:
        if amount >= order.due_minor:
            break
        kind = TenderKind.WALLET if amount % 2 else TenderKind.CASH
        t = TenderIn(kind, amount_minor=amount, code=ALIPAY if kind is TenderKind.WALLET else None)
        order = desk.run(desk.tenders.tender(order.id, t, merchant_id=None))
    if order.due_minor:
        order = tp.orders.add_cash(order.id, merchant_id=None, received_minor=order.due_minor + 7)
    assert order.status is OrderStatus.PAID
    paid = [t for t in order.tenders if t.status is TenderStatus.PAID]
    assert sum(t.amount_minor for t in paid) == order.total_minor
    assert sum(x.order_discount_minor for x in order.lines) == order.discount_minor
    back_total = 0
    for n, (i, q) in enumerate(returns):
        line = order.lines[i % len(order.lines)]
        now = tp.orders.get(order.id, merchant_id=None).lines[i % len(order.lines)]
        take = min(q * 100, now.quantity_milli - now.returned_milli)
        if take <= 0:
            with pytest.raises(InvalidInput):
                tp.orders.create_return(
                    order.id,
                    NewReturn(f"x{order.id}-{n}", shift, (ReturnLineIn(line.id, 0),), w.approval),
                    merchant_id=None,
                )
            continue
        ret = desk.run(desk.tenders.create_return(
            order.id, NewReturn(f"r{order.id}-{n}", shift, (ReturnLineIn(line.id, take),),
                                w.approval), merchant_id=None))  # fmt: skip
        assert ret.status is OrderStatus.PAID
        assert sum(t.amount_minor for t in ret.tenders) == ret.total_minor
        back_total += ret.total_minor
    with tp.ctx.db.read() as s:
        given = {
            t.id: sum(
                r.amount_minor
                for r in s.scalars(
                    select(OrderTender).where(
                        OrderTender.original_tender_id == t.id,
                        OrderTender.status == TenderStatus.REFUNDED,
                    )
                )
            )
            for t in paid
        }
    assert all(given[t.id] <= t.amount_minor for t in paid)
    assert sum(given.values()) == back_total <= order.total_minor
    final = tp.orders.get(order.id, merchant_id=None)
    if all(x.returned_milli == x.quantity_milli for x in final.lines):
        assert back_total == order.total_minor  # all back: exactly what was paid
