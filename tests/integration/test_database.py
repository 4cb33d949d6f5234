"""The database itself enforces what matters, even when the services are bypassed;
and the migrations describe exactly the models."""

import os
import stat
from datetime import date
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from tests.conftest import approved, business_application

from tillpoint.access.models import Role
from tillpoint.app import Tillpoint
from tillpoint.core.db import Database
from tillpoint.core.migrate import current_revision, downgrade, head_revision, upgrade
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.networks.simulator import CardNetworkSimulator
from tillpoint.networks.wallets import WalletSimulator
from tillpoint.schema import metadata
from tillpoint.security import tdes


def test_migrations_match_the_models(tp: Tillpoint) -> None:
    assert current_revision(tp.ctx.db) == head_revision()
    with tp.ctx.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_lines_take_their_entrys_date_and_kind_when_the_schema_is_upgraded(
    tp: Tillpoint,
) -> None:
    mid = approved(tp, business_application())
    with tp.ctx.db.transaction() as s:
        ledger.post(s, EntryKind.CAPTURE, ledger.capture_lines("CUP", mid, 10_000, 50),
                    business_date=date(2026, 11, 24), at=tp.ctx.now(), memo="sale")  # fmt: skip
        ledger.post(s, EntryKind.REFUND, ledger.refund_lines("CUP", mid, 4_000),
                    business_date=date(2026, 11, 25), at=tp.ctx.now(), memo="refund")  # fmt: skip
    lines = "SELECT entry_id, account_code, amount_minor, business_date, kind FROM journal_lines"
    with tp.ctx.db.engine.connect() as c:
        before = c.execute(text(lines + " ORDER BY id")).all()
    assert {(str(r.business_date), r.kind) for r in before} == {
        ("2026-11-24", "capture"), ("2026-11-25", "refund")
    }  # fmt: skip
    downgrade(tp.ctx.db, "0009")  # back to the revision before the lines had them
    upgrade(tp.ctx.db)
    with tp.ctx.db.engine.connect() as c:
        assert c.execute(text(lines + " ORDER BY id")).all() == before
    assert tp.ledger.check() == []


def test_api_keys_take_the_risk_role_from_0026_and_lose_it_going_back(tp: Tillpoint) -> None:
    """0026 widens the CHECK of api_keys.role to the risk role (on SQLite by rebuilding
    the table, on PostgreSQL by replacing the constraint); going back turns a risk key
    into a revoked reviewer key, and the old constraint refuses the role again."""
    made = tp.access.create_key(Role.RISK, "analyst", "test")
    caller = tp.access.authenticate(made.secret)
    assert caller is not None and caller.role is Role.RISK and caller.operations
    insert = (
        "INSERT INTO api_keys (prefix, secret_hash, role, name, created_by, created_at)"
        " VALUES ('tp_x', :h, 'risk', 'sql', 'sql', CURRENT_TIMESTAMP)"
    )
    downgrade(tp.ctx.db, "0025")
    with tp.ctx.db.engine.connect() as c:
        role, revoked = c.execute(
            text("SELECT role, revoked_at FROM api_keys WHERE id = :i"), {"i": made.key.id}
        ).one()
    assert role == "reviewer" and revoked is not None
    with pytest.raises(IntegrityError), tp.ctx.db.engine.begin() as c:
        c.execute(text(insert), {"h": "a" * 64})
    upgrade(tp.ctx.db)
    with tp.ctx.db.engine.begin() as c:
        c.execute(text(insert), {"h": "b" * 64})
    assert tp.access.authenticate(made.secret) is None  # revoked on the way down
    assert [k.role for k in tp.access.list_keys()].count(Role.RISK) == 1


def _ids(tp: Tillpoint) -> tuple[int, int, int, int, int]:
    a = approved(tp, business_application(1))
    b = approved(tp, business_application(2))
    tid = tp.terminals.add("SN0001", "P1", "w").terminal.tid
    tp.terminals.bind(tid, a, "ops")
    with tp.ctx.db.engine.connect() as c:
        terminal_id = c.execute(text("SELECT id FROM terminals")).scalar_one()
        ma = c.execute(text("SELECT id FROM merchants WHERE mid = :m"), {"m": a}).scalar_one()
        mb = c.execute(text("SELECT id FROM merchants WHERE mid = :m"), {"m": b}).scalar_one()
        sa = c.execute(text("SELECT id FROM shops WHERE merchant_id = :m"), {"m": ma}).scalar_one()
        sb = c.execute(text("SELECT id FROM shops WHERE merchant_id = :m"), {"m": mb}).scalar_one()
    return terminal_id, ma, mb, sa, sb


def test_reconciliation_keeps_differences_of_whom_a_reference_is_for_from_0027(
    tp: Tillpoint,
) -> None:
    """0027 lets a reference have a difference of each kind, a MID, MCC or fee class
    one with both values; going back drops those (their alerts stay with risk) and the
    old constraints refuse them again."""
    row = (
        "INSERT INTO reconciliation_items (business_date, network_ref, org, merchant_id,"
        " host_minor, network_minor, status, host_value, network_value) VALUES"
        " ('2026-11-25', '000000000001', 'CUP', NULL, 100, {n}, '{status}', {values})"
    )
    with tp.ctx.db.engine.begin() as c:
        c.execute(text(row.format(n=99, status="amount_mismatch", values="NULL, NULL")))
        c.execute(text(row.format(n=100, status="mcc_mismatch", values="'5812', '5411'")))
    downgrade(tp.ctx.db, "0026")
    with tp.ctx.db.engine.connect() as c:
        kept = c.execute(text("SELECT status FROM reconciliation_items")).scalars().all()
    assert kept == ["amount_mismatch"]
    old = row.replace(", host_value, network_value", "").replace(", {values}", "")
    with pytest.raises(IntegrityError), tp.ctx.db.engine.begin() as c:
        c.execute(text(old.format(n=100, status="mid_mismatch")))
    upgrade(tp.ctx.db)
    with tp.ctx.db.engine.begin() as c:
        c.execute(text(row.format(n=100, status="fee_class_mismatch", values="'debit', 'credit'")))
        assert c.execute(text("SELECT count(*) FROM reconciliation_items")).scalar_one() == 2


def test_database_refuses_a_terminal_bound_to_two_merchants(tp: Tillpoint) -> None:
    terminal_id, _ma, mb, _sa, sb = _ids(tp)
    with pytest.raises(IntegrityError), tp.ctx.db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO terminal_bindings"
                " (terminal_id, merchant_id, shop_id, bound_at, bound_by)"
                " VALUES (:t, :m, :s, CURRENT_TIMESTAMP, 'sql')"
            ),
            {"t": terminal_id, "m": mb, "s": sb},
        )
    with tp.ctx.db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM terminal_bindings")).scalar_one() == 1


def test_database_refuses_a_terminal_in_another_merchants_shop(tp: Tillpoint) -> None:
    terminal_id, _ma, _mb, _sa, sb = _ids(tp)
    with pytest.raises(IntegrityError), tp.ctx.db.engine.begin() as c:
        c.execute(
            text("UPDATE terminals SET shop_id = :s WHERE id = :t"), {"s": sb, "t": terminal_id}
        )


def test_database_refuses_a_bound_status_without_a_merchant(tp: Tillpoint) -> None:
    terminal_id, *_ = _ids(tp)
    with pytest.raises(IntegrityError), tp.ctx.db.engine.begin() as c:
        c.execute(
            text("UPDATE terminals SET merchant_id = NULL, shop_id = NULL WHERE id = :t"),
            {"t": terminal_id},
        )


def test_a_failed_unit_of_work_leaves_nothing_behind(tp: Tillpoint) -> None:
    def fail() -> None:
        with tp.ctx.db.transaction() as s:
            s.execute(text("INSERT INTO counters (name, value) VALUES ('x', 1)"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail()
    with tp.ctx.db.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM counters WHERE name = 'x'")).scalar_one() == 0


def test_files_are_created_for_their_owner_alone(tmp_path: Path) -> None:
    """The database (and its write-ahead log), the networks' books and clearing files
    hold payments and keys: mode 0600, whatever the umask lets others read."""
    old = os.umask(0o022)
    try:
        db = Database(f"sqlite:///{tmp_path / 'private.db'}")
        with db.transaction() as s:
            s.execute(text("CREATE TABLE t (x INTEGER)"))
        journal = ClearingJournal(tmp_path / "network", lambda: date(2026, 12, 4))
        journal.record("CUP", "000000000001", 100, "CNY")
        CardNetworkSimulator(tdes.generate_key(), path=tmp_path / "network" / "cards.sqlite3")
        WalletSimulator(path=tmp_path / "network" / "wallets.sqlite3")
    finally:
        os.umask(old)
    files = [
        tmp_path / "private.db",
        tmp_path / "private.db-wal",
        *(tmp_path / "network").iterdir(),
    ]
    for path in files:
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    journal.close()
    db.dispose()


def test_a_new_counter_taken_by_two_units_of_work_at_once_counts_on(tp: Tillpoint) -> None:
    """Two units of work take the first value of a counter that does not exist yet: the
    second waits for the first, then counts on from it. (On PostgreSQL the second met
    the first's new row at its insert and failed: a sign-on answered 96.)"""
    import threading

    from tillpoint.core.models import next_counter

    taken: list[object] = []

    def second() -> None:
        try:
            with tp.ctx.db.transaction() as s:
                taken.append(next_counter(s, "race"))
        except Exception as e:
            taken.append(e)

    with tp.ctx.db.transaction() as s:
        taken.append(next_counter(s, "race"))
        other = threading.Thread(target=second)
        other.start()
        other.join(0.5)  # time to reach the insert: it cannot end while this is open
        assert other.is_alive()
    other.join(30)
    assert taken == [1, 2]
