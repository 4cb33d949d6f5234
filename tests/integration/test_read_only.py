"""A service method that only reads takes no write lock and leaves the read caches be:
it neither queues behind the terminal host's group commit (SQLite's ``BEGIN
IMMEDIATE``) nor empties what the host keeps in memory (``Database.epoch``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text
from tests.conftest import approved, business_application

from tillpoint.app import Tillpoint
from tillpoint.core.db import is_sqlite
from tillpoint.core.money import Money
from tillpoint.merchants.models import PaymentMethod


def reads(tp: Tillpoint) -> list[tuple[str, Callable[[], Any]]]:
    mid = approved(tp, business_application())
    tid = tp.terminals.add("SN-RO-0001", "P300", "fleet").terminal.tid
    tp.terminals.bind(tid, mid, "fleet")
    return [
        ("fees.list_plans", tp.fees.list_plans),
        ("fees.get_plan", lambda: tp.fees.get_plan("BIZ-STD")),
        ("fees.current_plan", lambda: tp.fees.current_plan(mid)),
        ("fees.history", lambda: tp.fees.history(mid)),
        ("fees.quote", lambda: tp.fees.quote(mid, PaymentMethod.DEBIT, Money(100))),
        ("limits.list", tp.limits.list),
        ("merchants.get", lambda: tp.merchants.get(mid)),
        ("merchants.search", tp.merchants.search),
        ("merchants.history", lambda: tp.merchants.history(mid)),
        ("merchants.bank_account_number", lambda: tp.merchants.bank_account_number(mid)),
        ("merchants.list_shops", lambda: tp.merchants.list_shops(mid)),
        ("terminals.get", lambda: tp.terminals.get(tid)),
        ("terminals.history", lambda: tp.terminals.history(tid)),
        ("terminals.list_operators", lambda: tp.terminals.list_operators(tid)),
    ]


def test_a_read_leaves_the_caches_be(tp: Tillpoint) -> None:
    for name, read in reads(tp):
        epoch = tp.ctx.db.epoch
        read()
        assert tp.ctx.db.epoch == epoch, f"{name} opened a write transaction"


def test_a_read_does_not_wait_for_the_write_lock(tp: Tillpoint) -> None:
    if not is_sqlite(tp.ctx.db.url):
        pytest.skip("SQLite's write lock")
    calls = reads(tp)
    done: list[str] = []

    def run_all() -> None:
        for name, read in calls:
            read()
            done.append(name)

    with tp.ctx.db.engine.connect() as writer:
        writer.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: it holds the lock, as a commit does
        try:
            reader = threading.Thread(target=run_all)
            reader.start()
            reader.join(timeout=5)
            finished, so_far = not reader.is_alive(), list(done)
        finally:
            writer.rollback()
        reader.join()
    assert finished, f"waited for the write lock after {so_far}"
    assert len(done) == len(calls)
