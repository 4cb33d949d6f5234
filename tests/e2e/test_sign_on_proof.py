"""Sign-on proves the TMK (spec 4.1): a missing or wrong MAC gets A0 and changes
nothing; failures are counted per terminal and throttled per source address; operator
passwords and locks hold at sign-on; MAC failures on financial messages are throttled
and shown to operations. The app's clock is fixed and moved by the tests."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from tests.conftest import START
from tests.e2e.conftest import demo_app
from tests.e2e.test_host import sale
from tests.e2e.test_host_port import run
from tests.hosting import terminal

from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.demo import DEMO_OPERATOR_PASSWORD, DEMO_TMK, demo_mid, demo_tid
from tillpoint.host.server import TerminalHost
from tillpoint.iso8583.codec import Message, encode
from tillpoint.terminal.client import TerminalClient, WorkingKeys
from tillpoint.terminals.views import TerminalSecurityView

ELSEWHERE = "127.0.0.2"  # another source address on the loopback


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def demo(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Tillpoint]:
    """The demo of tests/e2e/conftest.py on the fixed clock."""
    yield from demo_app(db_url, tmp_path, 2, clock)


def security(app: Tillpoint, n: int = 1) -> TerminalSecurityView:
    view = app.terminals.get(demo_tid(n)).security
    assert view is not None
    return view


def wrong_tmk(port: int, **kw: object) -> TerminalClient:
    return TerminalClient(demo_tid(1), demo_mid(1), secrets.token_bytes(16), port=port, **kw)  # type: ignore[arg-type]


async def unmaced_sign_on(t: TerminalClient) -> Message:
    fields = {**t._base("00", "004"), 63: t.operator}
    answer, _ = await t._send(encode(Message("0800", fields)))
    return answer


def test_a_sign_on_without_a_mac_gets_a0_and_changes_nothing(demo: Tillpoint) -> None:
    async def scenario(host: TerminalHost, port: int) -> None:
        t = terminal(port)
        assert (await t.sign_on()).text(39) == "00"
        answer = await unmaced_sign_on(t)
        assert (answer.mti, answer.text(39), answer.binary(64)) == ("0810", "A0", None)
        assert answer.binary(62) is None  # no keys
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"  # old keys work
        await t.close()

    run(demo, scenario)
    s = security(demo)
    assert (s.failed_sign_ons, s.last_failed_sign_on_address) == (1, "127.0.0.1")
    assert s.last_failed_sign_on_at is not None


def test_a_sign_on_under_another_tmk_gets_a0_and_changes_nothing(demo: Tillpoint) -> None:
    async def scenario(host: TerminalHost, port: int) -> None:
        t = terminal(port)
        assert (await t.sign_on()).text(39) == "00"
        impostor = wrong_tmk(port)
        answer = await impostor.sign_on()
        assert (answer.text(39), answer.binary(64), answer.binary(62)) == ("A0", None, None)
        assert impostor.keys is None
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"  # old keys work
        assert host.connection_counts()["proven"] == 1  # the impostor proved nothing
        await t.close()
        await impostor.close()

    run(demo, scenario)
    assert security(demo).failed_sign_ons == 1


def test_five_failures_hold_back_one_address_for_ten_minutes(
    demo: Tillpoint, clock: FixedClock
) -> None:
    async def scenario(host: TerminalHost, port: int) -> None:
        t = terminal(port)
        assert (await t.sign_on()).text(39) == "00"
        impostor = wrong_tmk(port, local_address=ELSEWHERE)
        for _ in range(5):
            assert (await impostor.sign_on()).text(39) == "A0"
            clock.advance(timedelta(seconds=30))
        # The sixth, with the right TMK, from that address: A0 unchecked.
        there = terminal(port, local_address=ELSEWHERE, stan=100)
        assert (await there.sign_on()).text(39) == "A0" and there.keys is None
        # Another address is not affected; the keys in use still work.
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        assert (await t.sign_on()).text(39) == "00"
        clock.advance(timedelta(seconds=569))  # 9:59 after the fifth failure
        assert (await there.sign_on()).text(39) == "A0"
        clock.advance(timedelta(seconds=2))  # 10:01 after it
        assert (await there.sign_on()).text(39) == "00" and there.keys is not None
        for c in (t, there, impostor):
            await c.close()

    run(demo, scenario)
    s = security(demo)
    assert (s.failed_sign_ons, s.sign_on_throttles) == (5, 1)  # held-back ones not written
    assert s.last_failed_sign_on_address == ELSEWHERE


def test_a_locked_operator_cannot_sign_on(demo: Tillpoint) -> None:
    tid = demo_tid(1)
    for _ in range(5):
        assert not demo.terminals.verify_operator(tid, "001", "0000")
    assert [o.locked for o in demo.terminals.list_operators(tid) if o.code == "001"] == [True]

    async def scenario(host: TerminalHost, port: int) -> None:
        supervisor = terminal(port, operator="00")
        assert (await supervisor.sign_on()).text(39) == "00"
        cashier = terminal(port, operator="001", stan=500)
        assert (await cashier.sign_on()).text(39) == "75"  # without a password
        cashier.keys = supervisor.keys
        assert (await cashier.sign_on(DEMO_OPERATOR_PASSWORD)).text(39) == "75"  # with it
        # Neither changed the keys in use.
        assert (await supervisor.exchange(sale(supervisor), with_mac=True)).text(39) == "00"
        await supervisor.close()
        await cashier.close()

    run(demo, scenario)


def test_a_terminal_requiring_passwords_refuses_to_sell_after_a_sign_on_without_one(
    demo: Tillpoint,
) -> None:
    tid = demo_tid(1)
    view = demo.terminals.require_operator_password(tid, True, "ops", "shop asked for it")
    assert view.require_operator_password

    async def scenario(host: TerminalHost, port: int) -> None:
        t = terminal(port)
        assert (await t.sign_on()).text(39) == "00"  # the device proves its TMK: keys
        refused = await t.exchange(sale(t), with_mac=True)
        assert refused.text(39) == "58" and refused.text(37) is None  # nothing charged
        assert (await t.sign_on("9999")).text(39) == "55"  # a wrong password
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "58"
        assert (await t.sign_on(DEMO_OPERATOR_PASSWORD)).text(39) == "00"
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        assert (await t.sign_on()).text(39) == "00"  # a new sign-on without one...
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "58"  # ...sells not
        await t.close()

    run(demo, scenario)


def test_repeated_mac_failures_are_throttled_and_shown(
    demo: Tillpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tillpoint.security")

    async def scenario(host: TerminalHost, port: int) -> None:
        t = terminal(port)
        assert (await t.sign_on()).text(39) == "00"
        assert t.keys is not None
        forger = terminal(port, local_address=ELSEWHERE, stan=700)
        forger.batch = t.batch
        forger.keys = WorkingKeys(*(secrets.token_bytes(16) for _ in range(3)))
        for _ in range(5):
            assert (await forger.exchange(sale(forger), with_mac=True)).text(39) == "A0"
        forger.keys = t.keys  # now with the right MAK, from the held-back address
        assert (await forger.exchange(sale(forger), with_mac=True)).text(39) == "A0"
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"  # elsewhere: fine
        # A sign-on proves the TMK again: new keys end the hold on that address.
        assert (await forger.sign_on()).text(39) == "00"
        assert (await forger.exchange(sale(forger), with_mac=True)).text(39) == "00"
        await t.close()
        await forger.close()

    run(demo, scenario)
    s = security(demo)
    assert (s.mac_failures, s.mac_throttles, s.last_mac_failure_address) == (5, 1, ELSEWHERE)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tillpoint.security"]
    assert [line["kind"] for line in lines] == ["mac_failed"] * 5 + ["mac_throttled"]
    assert {r.levelno for r in caplog.records if r.name == "tillpoint.security"} == {
        logging.WARNING
    }
    assert DEMO_TMK.hex() not in caplog.text.lower()


def test_terminals_show_counts_failures(demo: Tillpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    from tillpoint.cli.terminals import show_terminal

    async def scenario(host: TerminalHost, port: int) -> None:
        impostor = wrong_tmk(port)
        assert (await impostor.sign_on()).text(39) == "A0"
        await impostor.close()

    run(demo, scenario)
    printed: list[tuple[str, str | None]] = []
    monkeypatch.setattr("tillpoint.cli.terminals.fields", lambda _title, rows: printed.extend(rows))
    show_terminal(demo.terminals.get(demo_tid(1)), as_json=False)
    shown = dict(printed)
    assert (
        shown["Failed sign-ons"].startswith("1 (last ") and "127.0.0.1" in shown["Failed sign-ons"]
    )
    assert shown["Operator password to sell"] == "not required"
