"""Screening reads the payments table only when another process recorded a payment
(docs/risk.md, "What screening costs"): its own payments are folded in as they are
committed, and a machine-wide counter of payment commits (core/signal.py) tells it of
the others'."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import demo_app
from tests.e2e.test_host import sale
from tests.e2e.test_host_processes import _client, two_hosts

from tillpoint.app import Tillpoint
from tillpoint.core.db import Database, note_written
from tillpoint.core.settings import Settings
from tillpoint.core.signal import WriteSignal, signal_path
from tillpoint.risk import engine as risk_engine


def test_a_counter_is_seen_by_every_holder_of_its_file(tmp_path: Path) -> None:
    path = signal_path(f"sqlite:///{tmp_path / 'a.db'}", "payments")
    assert path == tmp_path / "a.db-payments.signal"
    one, two = WriteSignal(path), WriteSignal(path)
    try:
        assert one.value() == two.value() == 0
        assert one.bump() == 0
        assert two.bump() == 1
        assert one.value() == two.value() == 2
    finally:
        one.close()
        two.close()
    assert WriteSignal(path).value() == 2  # it outlives its holders


def test_where_counters_live() -> None:
    assert signal_path("sqlite://", "payments") is None  # in memory: this process alone
    assert signal_path("sqlite:///:memory:", "payments") is None
    alone = WriteSignal(None)
    assert (alone.bump(), alone.value()) == (0, 1)
    with_password = signal_path("postgresql+psycopg://u:secret@db:5432/tp", "payments")
    assert with_password is not None and "secret" not in str(with_password)
    # the password is no part of the name: every process finds the same file
    assert with_password == signal_path("postgresql+psycopg://u:other@db:5432/tp", "payments")
    assert with_password != signal_path("postgresql+psycopg://u@db:5432/tp2", "payments")


def _tail_reads(app: Tillpoint, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the engine's reads of the payments' tail."""
    reads: list[int] = []
    hot = Database.hot

    def counted(db: Database, statement: Any) -> Any:
        if db is app.ctx.db and statement is risk_engine._HOT_TAIL:
            reads.append(1)
        return hot(db, statement)

    monkeypatch.setattr(Database, "hot", counted)
    return reads


@pytest.fixture
def demo(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tillpoint]:
    """Every writer on this machine: the default on SQLite, declared on PostgreSQL."""
    monkeypatch.setenv("TILLPOINT_LOCAL_WRITERS", "true")
    yield from demo_app(db_url, tmp_path, 3)


def test_the_counter_is_trusted_by_default_on_sqlite_only() -> None:
    def given(url: str, **kw: object) -> bool:
        return Settings(_env_file=None, database_url=url, **kw).writers_all_local()  # type: ignore[call-arg, arg-type]

    assert given("sqlite:///t.db") and not given("postgresql+psycopg://u@h/d")
    assert given("postgresql+psycopg://u@h/d", local_writers=True)
    assert not given("sqlite:///t.db", local_writers=False)


def test_own_payments_are_not_read_back_and_others_are(
    demo: Tillpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A alone sells: its sales are counted without a read of the table. B records a
    sale: A's next decision reads the table once, and counts it."""
    reads = _tail_reads(demo, monkeypatch)
    store = demo.risk_engine.store

    def card_count() -> int:
        token = next(iter(store._cards))
        return len(store._cards[token])

    async def scenario(a: Any, b: Any) -> None:
        t = _client(a, 2)
        assert (await t.sign_on()).text(39) == "00"
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"  # warms up
        reads.clear()
        for _ in range(3):
            assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        assert reads == []  # A's own, folded in as committed
        assert card_count() == 4
        t.send_raw = b.answer  # type: ignore[method-assign]
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        t.send_raw = a.answer  # type: ignore[method-assign]
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        assert reads == [1]  # B's, read once
        assert card_count() == 6  # B's sale counted, and this one
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        assert reads == [1]

    with two_hosts(demo) as (a, b):
        asyncio.run(scenario(a, b))


def test_unsignalled_reads_before_every_decision(
    demo: Tillpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With writers on other machines (no shared counter), every decision reads the
    table, as before."""
    engine = demo.risk_engine
    engine._signal = None
    reads = _tail_reads(demo, monkeypatch)

    async def scenario(a: Any, _b: Any) -> None:
        t = _client(a, 2)
        assert (await t.sign_on()).text(39) == "00"
        for _ in range(3):
            assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"

    with two_hosts(demo) as (a, b):
        asyncio.run(scenario(a, b))
    assert len(reads) == 3
    cards = engine.store._cards
    assert [len(log) for log in cards.values()] == [3]  # each sale once, read or not
    assert not engine._own  # the ids read past are forgotten


def test_a_failing_listener_does_not_fail_the_commit(tmp_path: Path) -> None:
    """What a unit of work wrote is committed whatever its listeners do afterwards; the
    counter is raised and the other listeners are told."""
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    told: list[tuple[list[Any], int]] = []

    def broken(_items: list[Any], _before: int) -> None:
        raise RuntimeError("a listener's bug")

    db.listen("things", broken)
    db.listen("things", lambda items, before: told.append((items, before)))
    try:
        with db.transaction() as s:
            note_written(s, "things", [1, 2])
        with pytest.raises(ValueError, match="rolled back"):
            _written_then_failed(db)
        assert db.signal("things").value() == 1
        assert told == [([1, 2], 0)]
    finally:
        db.dispose()


def _written_then_failed(db: Database) -> None:
    with db.transaction() as s:
        note_written(s, "things", [3])
        raise ValueError("rolled back: nobody is told")
