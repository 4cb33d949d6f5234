"""Requests for another terminal: the merchant's limit counts open requests as
terminals, a request is decided once (fulfilled by binding a terminal from stock to its
shop, or declined with a reason), and each merchant sees its own only."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from tests.conftest import approved, business_application, personal_application

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.terminals.models import TerminalOrderState, TerminalStatus

R = TerminalOrderState
SUPERVISOR = "135790"


def _stock(tp: Tillpoint, n: int) -> str:
    return tp.terminals.add(f"SN-REQ-{n:04d}", "P300", "fleet").terminal.tid


def test_a_personal_merchant_asks_for_one_terminal_at_most(tp: Tillpoint) -> None:
    mid = approved(tp, personal_application())
    m = tp.merchants.get(mid)
    asked = tp.terminal_orders.request(m.id, 1, "console:li@example.cn", "  by the till  ")
    assert (asked.state, asked.mid, asked.shop_number, asked.note) == (
        R.REQUESTED, mid, 1, "by the till",
    )  # fmt: skip
    # The open request counts as its one terminal.
    with pytest.raises(Refused, match=r"at most 1 terminal.*has 0 and 1 more requested"):
        tp.terminal_orders.request(m.id, 1, "console:li@example.cn")
    # Declined, it no longer counts; a terminal bound meanwhile does.
    tp.terminal_orders.decline(asked.id, "console:fleet@acquirer.cn", "out of stock")
    again = tp.terminal_orders.request(m.id, 1, "console:li@example.cn")
    tp.terminal_orders.fulfil(again.id, _stock(tp, 1), "console:fleet@acquirer.cn",
                              supervisor_password=SUPERVISOR)  # fmt: skip
    with pytest.raises(Refused, match="has 1 and 0 more requested"):
        tp.terminal_orders.request(m.id, 1, "console:li@example.cn")


def test_fulfilling_binds_a_terminal_from_stock_to_the_requested_shop(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    m = tp.merchants.get(mid)
    second = tp.merchants.add_shop(mid, "二号店 Shop 2", "上海市徐汇区漕溪路2号", "test")
    order = tp.terminal_orders.request(m.id, second.number, "console:owner@example.cn")
    assert [o.id for o in tp.terminal_orders.open()] == [order.id]
    tid = _stock(tp, 1)

    # A bad password, an unknown or bound terminal: refused, nothing changes.
    with pytest.raises(InvalidInput, match="exactly 6 digits"):
        tp.terminal_orders.fulfil(order.id, tid, "fleet", supervisor_password="12")
    with pytest.raises(NotFound):
        tp.terminal_orders.fulfil(order.id, "29999999", "fleet", supervisor_password=SUPERVISOR)
    other = approved(tp, business_application(2))
    elsewhere = _stock(tp, 2)
    tp.terminals.bind(elsewhere, other, "fleet", supervisor_password=SUPERVISOR)
    with pytest.raises(Refused, match="bound to merchant"):
        tp.terminal_orders.fulfil(order.id, elsewhere, "fleet", supervisor_password=SUPERVISOR)
    assert tp.terminal_orders.get(order.id).state is R.REQUESTED
    assert tp.terminals.get(tid).status is TerminalStatus.IN_STOCK

    done = tp.terminal_orders.fulfil(order.id, tid, "console:fleet@acquirer.cn",
                                     supervisor_password=SUPERVISOR, note="sent by SF")  # fmt: skip
    assert done.supervisor_password == SUPERVISOR
    o = done.order
    assert (o.state, o.tid, o.decided_by, o.decision_note) == (
        R.FULFILLED, tid, "console:fleet@acquirer.cn", "sent by SF",
    )  # fmt: skip
    assert o.decided_at is not None
    t = tp.terminals.get(tid)
    assert (t.status, t.mid, t.shop_number) == (TerminalStatus.BOUND, mid, second.number)
    assert tp.terminal_orders.open() == []
    # Decided once: neither decision again.
    with pytest.raises(Refused, match="fulfilled already"):
        tp.terminal_orders.decline(order.id, "fleet", "changed my mind")
    with pytest.raises(Refused, match="fulfilled already"):
        tp.terminal_orders.fulfil(order.id, _stock(tp, 3), "fleet", supervisor_password=SUPERVISOR)


def test_a_decline_needs_its_reason(tp: Tillpoint) -> None:
    m = tp.merchants.get(approved(tp, business_application()))
    order = tp.terminal_orders.request(m.id, 1, "owner")
    with pytest.raises(InvalidInput, match="reason is required"):
        tp.terminal_orders.decline(order.id, "fleet", "   ")
    declined = tp.terminal_orders.decline(order.id, "fleet", "the shop is not ready")
    assert (declined.state, declined.decision_note, declined.tid) == (
        R.DECLINED, "the shop is not ready", None,
    )  # fmt: skip
    with pytest.raises(Refused, match="declined already"):
        tp.terminal_orders.fulfil(order.id, _stock(tp, 1), "fleet", supervisor_password=SUPERVISOR)
    with pytest.raises(NotFound):
        tp.terminal_orders.decline(2**40, "fleet", "no such request")


def test_what_a_request_needs(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    m = tp.merchants.get(mid)
    with pytest.raises(NotFound, match="no shop 7"):
        tp.terminal_orders.request(m.id, 7, "owner")
    with pytest.raises(InvalidInput, match="at most 500"):
        tp.terminal_orders.request(m.id, 1, "owner", "x" * 501)
    second = tp.merchants.add_shop(mid, "二号店 Shop 2", "上海市徐汇区漕溪路2号", "test")
    tp.merchants.close_shop(mid, second.number, "test")
    with pytest.raises(Refused, match="closed"):
        tp.terminal_orders.request(m.id, second.number, "owner")
    tp.merchants.suspend(mid, "risk", "checking")
    with pytest.raises(Refused, match="suspended"):
        tp.terminal_orders.request(m.id, 1, "owner")
    pending = tp.merchants.apply(business_application(2), "test")
    with pytest.raises(Refused, match="only approved merchants"):
        tp.terminal_orders.request(pending.id, 1, "owner")
    assert tp.terminal_orders.for_merchant(m.id) == []


def test_each_merchant_sees_its_own_requests_newest_first(tp: Tillpoint) -> None:
    a = tp.merchants.get(approved(tp, business_application(1)))
    b = tp.merchants.get(approved(tp, business_application(2)))
    a1 = tp.terminal_orders.request(a.id, 1, "owner a", "first")
    b1 = tp.terminal_orders.request(b.id, 1, "owner b")
    a2 = tp.terminal_orders.request(a.id, 1, "owner a", "second")
    assert [o.id for o in tp.terminal_orders.for_merchant(a.id)] == [a2.id, a1.id]
    assert [o.id for o in tp.terminal_orders.for_merchant(b.id)] == [b1.id]
    assert [o.id for o in tp.terminal_orders.for_merchant(a.id, before_id=a2.id)] == [a1.id]
    assert [o.id for o in tp.terminal_orders.open()] == [a1.id, b1.id, a2.id]
    assert [o.id for o in tp.terminal_orders.open(after_id=a1.id, limit=1)] == [b1.id]


def test_the_database_keeps_a_request_in_its_merchants_shop(tp: Tillpoint) -> None:
    a = tp.merchants.get(approved(tp, business_application(1)))
    b = tp.merchants.get(approved(tp, business_application(2)))
    with pytest.raises(IntegrityError), tp.ctx.db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO terminal_orders (merchant_id, shop_id, state, created_by, "
                "created_at) VALUES (:m, :shop, 'requested', 'x', CURRENT_TIMESTAMP)"
            ),
            {"m": a.id, "shop": b.shops[0].id},
        )
    with pytest.raises(IntegrityError), tp.ctx.db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO terminal_orders (merchant_id, shop_id, state, created_by, "
                "created_at) VALUES (:m, :shop, 'fulfilled', 'x', CURRENT_TIMESTAMP)"
            ),
            {"m": a.id, "shop": a.shops[0].id},
        )
