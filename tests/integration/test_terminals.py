"""The terminal fleet: provisioning, binding (一机一户), lifecycle, operators."""

import pytest
from sqlalchemy import text
from tests.conftest import approved, business_application, personal_application

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.iso8583.mac import MacMethod
from tillpoint.security import tdes
from tillpoint.terminals.models import TerminalBatch, TerminalStatus
from tillpoint.terminals.services import find_terminal


def add(tp: Tillpoint, serial: str = "SN0001") -> str:
    return tp.terminals.add(serial, "Tillpoint P1", "warehouse").terminal.tid


def test_provisioning_shows_the_tmk_once_and_stores_it_encrypted(tp: Tillpoint) -> None:
    p = tp.terminals.add("SN0001", "Tillpoint P1", "warehouse", mac_method=MacMethod.X919)
    t = p.terminal
    assert (t.status, t.tid, t.mac_method) == (TerminalStatus.IN_STOCK, "20000001", MacMethod.X919)
    key = bytes.fromhex(p.tmk_hex)
    assert len(key) == 16
    assert p.tmk_kcv == t.tmk_kcv == tdes.kcv(key).hex().upper()
    with tp.ctx.db.transaction() as s:
        row = find_terminal(s, t.tid)
        assert tp.terminals.master_key(s, row) == key
        dump = repr(s.execute(text("SELECT * FROM terminals")).all())
    assert p.tmk_hex not in dump.upper() and repr(key)[2:-1] not in dump
    # Nothing shows the TMK again.
    assert "tmk_hex" not in tp.terminals.get(t.tid).model_dump()
    assert tp.terminals.add("SN0002", "Tillpoint P1", "warehouse").terminal.tid == "20000002"


def test_serial_and_tid_are_unique(tp: Tillpoint) -> None:
    add(tp, "SN0001")
    with pytest.raises(Refused, match="serial number SN0001 already exists"):
        add(tp, "SN0001")
    with pytest.raises(Refused, match="TID 20000001 is taken"):
        tp.terminals.add("SN0002", "P1", "w", tid="20000001")
    with pytest.raises(InvalidInput, match="serial number is"):
        add(tp, "x")


def test_bind_ship_activate_freeze(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    tid = add(tp)
    bound = tp.terminals.bind(tid, mid, "ops")
    assert (bound.terminal.status, bound.terminal.mid, bound.terminal.shop_number) == (
        TerminalStatus.BOUND,
        mid,
        1,
    )
    assert len(bound.supervisor_password) == 6
    assert tp.terminals.verify_operator(tid, "00", bound.supervisor_password)
    assert tp.terminals.ship(tid, "logistics", "SF123").status is TerminalStatus.SHIPPED
    assert tp.terminals.activate(tid).status is TerminalStatus.ACTIVE
    with pytest.raises(InvalidInput, match="reason"):
        tp.terminals.freeze(tid, "risk", "")
    assert tp.terminals.freeze(tid, "risk", "moved 300 km").status is TerminalStatus.FROZEN
    assert tp.terminals.unfreeze(tid, "risk", "checked").status is TerminalStatus.ACTIVE
    history = [(e.to_status, e.actor) for e in tp.terminals.history(tid)]
    assert history == [
        (TerminalStatus.IN_STOCK, "warehouse"),
        (TerminalStatus.BOUND, "ops"),
        (TerminalStatus.SHIPPED, "logistics"),
        (TerminalStatus.ACTIVE, "host"),
        (TerminalStatus.FROZEN, "risk"),
        (TerminalStatus.ACTIVE, "risk"),
    ]


def test_personal_merchant_gets_one_terminal(tp: Tillpoint) -> None:
    mid = approved(tp, personal_application())
    tp.merchants.add_shop(mid, "Stall 2", "2 Food Street", "ops")
    tp.terminals.bind(add(tp, "SN0001"), mid, "ops", shop=1)
    # The limit is the answer, whichever shop is (or is not) named.
    with pytest.raises(
        Refused, match=r"\(personal\) may have at most 1 terminal\(s\) and already has 1"
    ):
        tp.terminals.bind(add(tp, "SN0002"), mid, "ops")


def test_business_limit_is_configurable_per_merchant(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    tp.merchants.set_max_terminals(mid, 1, "ops")
    tp.terminals.bind(add(tp, "SN0001"), mid, "ops")
    with pytest.raises(Refused, match="at most 1"):
        tp.terminals.bind(add(tp, "SN0002"), mid, "ops")
    tp.merchants.set_max_terminals(mid, None, "ops")
    tp.terminals.bind("20000002", mid, "ops")
    with pytest.raises(Refused, match="personal merchant may have at most one"):
        tp.merchants.set_max_terminals(approved(tp, personal_application()), 2, "ops")


def test_one_terminal_one_merchant(tp: Tillpoint) -> None:
    a = approved(tp, business_application(1))
    b = approved(tp, business_application(2))
    tid = add(tp)
    tp.terminals.bind(tid, a, "ops")
    with pytest.raises(Refused, match=f"bound to merchant {a}: one terminal serves one merchant"):
        tp.terminals.bind(tid, b, "ops")
    with pytest.raises(Refused, match="already bound to merchant"):
        tp.terminals.bind(tid, a, "ops")
    with pytest.raises(InvalidInput, match="reason"):
        tp.terminals.unbind(tid, "ops", "")
    back = tp.terminals.unbind(tid, "ops", "merchant returned the device")
    assert (back.status, back.mid) == (TerminalStatus.IN_STOCK, None)
    assert tp.terminals.list_operators(tid) == []  # the old merchant's staff went with it
    moved = tp.terminals.bind(tid, b, "ops").terminal
    assert moved.mid == b


def test_unbind_refused_while_batch_unsettled(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    tid = add(tp)
    tp.terminals.bind(tid, mid, "ops")
    with tp.ctx.db.transaction() as s:
        s.add(
            TerminalBatch(
                terminal_id=find_terminal(s, tid).id,
                batch_no="000001",
                opened_at=tp.ctx.now(),
                txn_count=3,
            )
        )
    with pytest.raises(Refused, match="unsettled batch 000001"):
        tp.terminals.unbind(tid, "ops", "returned")
    assert tp.terminals.get(tid).mid == mid


def test_only_approved_merchants_and_open_shops(tp: Tillpoint) -> None:
    pending = tp.merchants.apply(business_application(1), "a")
    with pytest.raises(Refused, match="submitted: only approved merchants get terminals"):
        tp.terminals.bind(add(tp, "SN0001"), str(pending.id), "ops")
    mid = approved(tp, business_application(2))
    tp.merchants.add_shop(mid, "Second", "Some Road 2", "ops")
    with pytest.raises(InvalidInput, match="2 open shops"):
        tp.terminals.bind("20000001", mid, "ops")
    tp.merchants.close_shop(mid, 2, "ops")
    with pytest.raises(Refused, match="Shop 2 is closed"):
        tp.terminals.bind("20000001", mid, "ops", shop=2)
    assert tp.terminals.bind("20000001", mid, "ops").terminal.shop_number == 1


def test_closing_a_merchant_needs_its_terminals_back(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    tid = add(tp)
    tp.terminals.bind(tid, mid, "ops")
    with pytest.raises(Refused, match="still has 1 bound terminal"):
        tp.merchants.close(mid, "ops", "leaving")
    tp.terminals.unbind(tid, "ops", "leaving")
    assert tp.merchants.close(mid, "ops", "leaving").status.value == "closed"


def test_retire_and_rekey(tp: Tillpoint) -> None:
    tid = add(tp)
    before = tp.terminals.get(tid).tmk_kcv
    p = tp.terminals.rekey(tid, "security", "device repaired")
    assert p.tmk_kcv != before
    assert tp.terminals.retire(tid, "ops", "broken screen").status is TerminalStatus.RETIRED
    with pytest.raises(Refused, match="retired"):
        tp.terminals.rekey(tid, "security", "x")
    with pytest.raises(Refused, match="cannot become"):
        tp.terminals.ship(tid, "ops")


def test_operators(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    tid = add(tp)
    with pytest.raises(Refused, match="not bound"):
        tp.terminals.add_operator(tid, "001", "1234", "owner")
    tp.terminals.bind(tid, mid, "ops", supervisor_password="654321")
    tp.terminals.add_operator(tid, "001", "1234", "owner", "Xiao Ming")
    with pytest.raises(Refused, match="already has operator 001"):
        tp.terminals.add_operator(tid, "001", "4321", "owner")
    for code, pw, message in [
        ("002", "12345", "exactly 4 digits"),
        ("002", "abcd", "exactly 4 digits"),
        ("000", "1234", "operator code"),
        ("1", "1234", "operator code"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            tp.terminals.add_operator(tid, code, pw, "owner")
    with pytest.raises(InvalidInput, match="exactly 6 digits"):
        tp.terminals.set_operator_password(tid, "00", "1234", "owner")
    assert [o.code for o in tp.terminals.list_operators(tid)] == ["00", "001"]
    with pytest.raises(Refused, match="cannot be removed"):
        tp.terminals.remove_operator(tid, "00", "owner")
    tp.terminals.remove_operator(tid, "001", "owner")
    with pytest.raises(NotFound):
        tp.terminals.verify_operator(tid, "001", "1234")


def test_operator_locks_after_five_wrong_passwords(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    tid = add(tp)
    tp.terminals.bind(tid, mid, "ops")
    tp.terminals.add_operator(tid, "001", "1234", "owner")
    assert [tp.terminals.verify_operator(tid, "001", "0000") for _ in range(5)] == [False] * 5
    with pytest.raises(Refused, match="locked"):
        tp.terminals.verify_operator(tid, "001", "1234")
    tp.terminals.set_operator_password(tid, "001", "5678", "supervisor")
    assert tp.terminals.verify_operator(tid, "001", "5678")
