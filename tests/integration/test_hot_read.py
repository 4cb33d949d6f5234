"""The host's hot reads, run on the driver directly, read exactly what SQLAlchemy
reads: parameters of every type (text, numbers, enums, dates and times) and results
(JSON answers, enums) converted the same way."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid, demo_tid, ensure_demo
from tillpoint.merchants.fees import PLAN_ID_IN_FORCE
from tillpoint.payments.acquirer import Card, RequestKey, simulated
from tillpoint.payments.reads import CARD_REFUSALS, REQUEST_AND_REVERSAL
from tillpoint.terminals.signon import _ADMISSION_STATE


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Demo mode: the demo merchant and terminal, with the test clock of ``tp``."""
    return Settings(_env_file=None, database_url=db_url,  # type: ignore[call-arg]
                    network_dir=str(tmp_path / "network"), demo=True, locale="en")  # fmt: skip


def test_hot_reads_agree_with_sqlalchemy(tp: Tillpoint) -> None:
    ensure_demo(tp, 1)
    tp.signon.sign_on(demo_tid(1), demo_mid(1), "001")
    t = tp.signon.admit(demo_tid(1), demo_mid(1))
    acquirer = simulated(tp)
    card = Card("6212340000000000020", "3012", "05")  # 10.00 available: 51 above it

    async def sell() -> None:
        for stan, minor in (("000001", 500), ("000002", 900_000), ("000003", 800_000)):
            key = RequestKey("0200", stan, t.batch_no, f"fp{stan}")
            await acquirer.sale(t, key, Money(minor), card)

    asyncio.run(sell())
    acquirer.close()
    token = tp.ctx.keystore.token(card.pan)
    now = tp.ctx.now()
    cases = [
        (REQUEST_AND_REVERSAL, {"terminal_id": t.terminal_id, "batch_no": t.batch_no,
                                 "stan": "000001", "mti": "0200"}),
        (CARD_REFUSALS, {"token": token, "since": now - timedelta(minutes=10)}),
        (CARD_REFUSALS, {"token": token, "since": now + timedelta(minutes=1)}),
        (_ADMISSION_STATE, {"tid": demo_tid(1)}),
        (PLAN_ID_IN_FORCE, {"merchant_id": t.merchant_id, "on": now.date()}),
    ]  # fmt: skip
    db = tp.ctx.db
    with db.engine.connect() as conn:
        for statement, params in cases:
            expected = [tuple(row) for row in conn.execute(statement, params)]
            assert db.hot(statement).rows(conn, params) == expected
            assert expected  # each case reads something
        assert db.hot(CARD_REFUSALS).scalar(conn, cases[1][1]) == 2  # the two 51s
