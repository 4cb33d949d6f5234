"""Holds keep payouts back until released; the payout file pays each merchant's own
account."""

import csv
import io
from datetime import date, time, timedelta

import pytest
from sqlalchemy import text
from tests.conftest import Databases, approved, business_application

from tillpoint.app import Tillpoint, open_app
from tillpoint.clearing.models import SettlementStatus
from tillpoint.core.clock import FixedClock
from tillpoint.core.db import Database
from tillpoint.core.errors import Refused
from tillpoint.core.migrate import upgrade
from tillpoint.core.settings import Settings
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind

WEDNESDAY = date(2026, 11, 25)


def book(tp: Tillpoint, mid: str, amount_minor: int, fee_minor: int = 0) -> None:
    with tp.ctx.db.transaction() as s:
        ledger.post(s, EntryKind.CAPTURE,
                    ledger.capture_lines("CUP", mid, amount_minor, fee_minor),
                    business_date=tp.days.open_date(), at=tp.ctx.now(), memo="test")  # fmt: skip


def test_a_hold_keeps_the_payout_until_released(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    tp.settlement.hold(mid, "chargeback under review", "risk")
    with pytest.raises(Refused):
        tp.settlement.hold(mid, "again", "risk")
    book(tp, mid, 10_000, 50)
    day = tp.days.cut_off("ops")
    (held,) = tp.settlement.run(day)
    assert (held.status, held.payout_minor, held.payout_date) == (
        SettlementStatus.HELD,
        9_950,
        None,
    )
    balances = {b.code: b.balance.amount_minor for b in tp.ledger.balances()}
    assert balances[ledger.payable(mid)] == -9_950  # still owed, not paid out
    assert tp.settlement.payout_file(day).count("\n") == 1  # the header only
    (paid,) = tp.settlement.release(mid, "risk")
    assert paid.status is SettlementStatus.PAID
    assert paid.payout_date == date(2026, 11, 27)  # released on Thursday's business day
    balances = {b.code: b.balance.amount_minor for b in tp.ledger.balances()}
    assert balances[ledger.payable(mid)] == 0 and balances["payouts:in-transit"] == -9_950
    assert tp.ledger.check() == []
    with pytest.raises(Refused):
        tp.settlement.release(mid, "risk")
    # The bank hears of it in the payout file of the day it was released, once: not in
    # the file of the day it was settled, which was sent to the bank without it.
    release_day = tp.days.cut_off("ops")
    tp.settlement.run(release_day)
    assert tp.settlement.payout_file(day).count("\n") == 1
    [line] = csv.DictReader(io.StringIO(tp.settlement.payout_file(release_day)))
    assert (line["mid"], line["amount"], line["payout_date"]) == (mid, "99.50", "2026-11-27")
    assert line["reference"].startswith(f"TP{day:%Y%m%d}")  # the settlement it pays


def test_the_payout_file(tp: Tillpoint) -> None:
    first = approved(tp, business_application(1))
    second = approved(tp, business_application(2))
    book(tp, first, 123_456, 617)
    book(tp, second, 100)
    day = tp.days.cut_off("ops")
    tp.settlement.run(day)
    rows = list(csv.DictReader(io.StringIO(tp.settlement.payout_file(day))))
    assert [(r["mid"], r["amount"], r["payout_date"]) for r in rows] == [
        (first, "1228.39", (day + timedelta(days=1)).isoformat()),
        (second, "1.00", (day + timedelta(days=1)).isoformat()),
    ]
    assert rows[0]["account_number"] == tp.merchants.bank_account_number(first)
    assert rows[0]["reference"].startswith(f"TP{day:%Y%m%d}")


def test_a_run_killed_halfway_ends_like_an_uninterrupted_one(
    tp: Tillpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    mids = [approved(tp, business_application(n)) for n in (1, 2, 3)]
    for n, mid in enumerate(mids, 1):
        book(tp, mid, 10_000 * n, 5 * n)
    day = tp.days.cut_off("ops")
    real = type(tp.settlement)._settle
    calls = 0

    def dies_on_the_second(self: object, chunk: list[object], on: date, due: object) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt  # the process is killed mid-run
        real(tp.settlement, chunk, on, due)  # type: ignore[arg-type]

    tp.settlement.chunk = 1
    monkeypatch.setattr(type(tp.settlement), "_settle", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        tp.settlement.run(day)
    assert [r.mid for r in tp.settlement.show(day)] == [mids[0]]  # one settled, whole
    monkeypatch.setattr(type(tp.settlement), "_settle", real)
    rows = tp.settlement.run(day)
    assert [(r.mid, r.payout_minor) for r in rows] == [
        (mids[0], 9_995),
        (mids[1], 19_990),
        (mids[2], 29_985),
    ]
    assert tp.ledger.check() == []
    balances = {b.code: b.balance.amount_minor for b in tp.ledger.balances()}
    assert all(balances[ledger.payable(m)] == 0 for m in mids)
    assert balances["payouts:in-transit"] == -(9_995 + 19_990 + 29_985)


def test_terminal_data_fees_fall_due_after_the_free_days(tp: Tillpoint, clock: FixedClock) -> None:
    from tillpoint.clearing.datafees import due_dates

    mid = approved(tp, business_application())
    p = tp.terminals.add("SN0001", "P1", "w")
    tp.terminals.bind(p.terminal.tid, mid, "ops")
    tp.signon.sign_on(p.terminal.tid, mid, "001")  # activated Wednesday 25 November
    book(tp, mid, 10_000)
    first = tp.days.cut_off("ops")
    (day_one,) = tp.settlement.run(first)
    assert day_one.data_fees_minor == 0  # BIZ-STD: 36.00 a year, free for 30 days
    clock.advance(timedelta(days=30))  # 25 December: the fee falls due, no payments
    due_day = tp.days.cut_off("ops")  # and every day the clock ended before it
    assert due_day == date(2026, 12, 25)
    for day in tp.days.unsettled()[:-1]:  # 26 November to 24 December: nothing happened
        assert tp.settlement.run(day) == []
    (charged,) = tp.settlement.run(due_day)
    assert (charged.data_fees_minor, charged.net_minor, charged.payout_minor) == (3_600, -3_600, 0)
    assert charged.carried_out_minor == 3_600  # owed, taken from the next positive day
    assert tp.settlement.run(due_day) == [charged]  # charged once
    balances = {b.code: b.balance.amount_minor for b in tp.ledger.balances()}
    assert balances["income:data-fees"] == -3_600 and tp.ledger.check() == []
    assert due_dates(date(2028, 2, 29), date(2030, 3, 1)) == [
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
    ]


def test_a_terminals_data_fee_counts_from_its_business_day_at_the_configured_cut_off(
    tp: Tillpoint, clock: FixedClock
) -> None:
    """Activated at 22:30: with the cut-off at 23:00 that is the day's, with it at 22:00
    the next day's, and its free days (30) count from there."""
    from tillpoint.clearing.datafees import fees_due

    mid = approved(tp, business_application())
    p = tp.terminals.add("SN0002", "P1", "w")
    tp.terminals.bind(p.terminal.tid, mid, "ops")
    clock.advance(timedelta(hours=12, minutes=30))  # 22:30 in Shanghai, 25 November
    tp.signon.sign_on(p.terminal.tid, mid, "001")
    with tp.ctx.db.read() as s:
        for cutoff, first in ((time(23), date(2026, 12, 25)), (time(22), date(2026, 12, 26))):
            [dues] = fees_due(s, date(2027, 1, 31), cutoff).values()
            assert [d.due_date for d in dues] == [first], cutoff


@pytest.mark.postgres
def test_a_day_settles_on_a_database_with_an_icu_collation(
    databases: Databases, settings: Settings, clock: FixedClock
) -> None:
    """Under an ICU collation punctuation sorts apart from byte order (':' and ';' are
    ignored), so nothing may pick the merchants' accounts by a range of codes."""
    name = f"{databases.prefix}_icu"
    with databases.admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f"CREATE DATABASE \"{name}\" TEMPLATE template0 LOCALE_PROVIDER icu"
                       " ICU_LOCALE 'zh-Hans-CN' LOCALE 'C.UTF-8'"))  # fmt: skip
    url = databases.base_url.set(database=name).render_as_string(hide_password=False)
    try:
        db = Database(url)
        upgrade(db)
        db.dispose()
        tp = open_app(settings.model_copy(update={"database_url": url}), clock=clock)
        try:
            mids = [approved(tp, business_application(n)) for n in (1, 2, 3, 4, 5)]
            for n, mid in enumerate(mids, 1):
                book(tp, mid, 10_000 * n, 50 * n)
            rows = tp.settlement.run(tp.days.cut_off("ops"))
            got = sorted((r.mid, r.gross_minor, r.fees_minor, r.payout_minor) for r in rows)
            assert got == sorted(
                (mid, 10_000 * n, 50 * n, 9_950 * n) for n, mid in enumerate(mids, 1)
            )
            assert tp.ledger.check() == []
        finally:
            tp.close()
    finally:
        databases.drop(url)
