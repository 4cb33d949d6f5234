"""Nothing charged without a record: whatever happens between the network's answer and
the host's write (a failed write, a time-out, a reversal overtaking its original, a
host that dies), a call the network approved ends as a payment on our books or
reversed at the network. Each test ends with the networks' books held against ours."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.e2e.test_host import sale
from tests.hosting import stranded, terminal, unbacked

from tillpoint.app import Tillpoint
from tillpoint.cli import _common, main
from tillpoint.core.clock import FixedClock
from tillpoint.core.money import Money
from tillpoint.demo import demo_tid
from tillpoint.host.server import TerminalHost
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583.codec import Message
from tillpoint.networks.connector import AuthKind, CardRequest
from tillpoint.payments import writer as writer_module
from tillpoint.payments.acquirer import Acquirer, simulated
from tillpoint.payments.intents import CARD, Intent
from tillpoint.payments.models import IntentState, NetworkIntent, Payment, PaymentStatus
from tillpoint.terminal.client import TerminalClient

PAN = "6212340000000000012"


class Gate:
    """Stands between the acquirer and the card network: each authorisation waits at
    ``before`` (not yet at the network) or ``after`` (approved there, not yet back)."""

    def __init__(self, inner: Any, *, hold_before: bool = False) -> None:
        self.inner = inner
        self.hold_before = hold_before
        self.arrived = asyncio.Event()  # a request is held
        self.release = asyncio.Event()

    async def authorise(self, request: CardRequest) -> Any:
        if self.hold_before:
            self.arrived.set()
            await self.release.wait()
            return await self.inner.authorise(request)
        answer = await self.inner.authorise(request)
        self.arrived.set()
        await self.release.wait()
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def run(app: Tillpoint, scenario: Callable[[int, Acquirer], Awaitable[None]]) -> None:
    async def main() -> None:
        acquirer = simulated(app)
        server = await TerminalHost(app, acquirer).start("127.0.0.1", 0)
        try:
            await scenario(server.sockets[0].getsockname()[1], acquirer)
            await asyncio.gather(*acquirer._background)  # background reversals
        finally:
            server.close()
            await server.wait_closed()
            acquirer.close()

    asyncio.run(main())


def network_dir(app: Tillpoint) -> Path:
    return app.ctx.settings.network_directory()


def intents(app: Tillpoint) -> list[tuple[str | None, IntentState, str | None]]:
    with app.ctx.db.read() as s:
        rows = s.execute(select(NetworkIntent.rrn, NetworkIntent.state, NetworkIntent.cause))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def payment(app: Tillpoint, rrn: str) -> Payment | None:
    with app.ctx.db.read() as s:
        return s.execute(select(Payment).where(Payment.rrn == rrn)).scalar_one_or_none()


def reversal(t: TerminalClient, original: Message) -> Message:
    fields = {n: v for n, v in original.fields.items() if n not in (35, 52, 53, 26)}
    fields[2], fields[14], fields[39] = PAN, "3012", "98"
    return Message("0400", fields)


def settlement(t: TerminalClient) -> Message:
    zero = f.SettlementTotals(f.Totals(), f.Totals()).build()
    fields = {11: t.next_stan(), 41: t.tid, 42: t.mid, 48: zero, 49: "156",
              60: f"00{t.batch}201", 63: "001"}  # fmt: skip
    return Message("0500", fields)  # type: ignore[arg-type]


def check_books(app: Tillpoint) -> None:
    assert stranded(app, network_dir(app)) == []
    assert unbacked(app, network_dir(app)) == []
    assert app.ledger.check() == []


def test_a_write_that_fails_after_approval_is_reversed_at_the_network(demo: Tillpoint) -> None:
    """The batch is settled while its sale waits for the network: the sale cannot be
    written (it would change totals already agreed), is answered 96 and reversed."""
    seen: dict[str, Message] = {}

    async def scenario(port: int, acquirer: Acquirer) -> None:
        gate = acquirer.network = Gate(acquirer.network)
        t = terminal(port)
        await t.sign_on()
        pending = asyncio.ensure_future(t.exchange(sale(t, amount_minor=1234), with_mac=True))
        await gate.arrived.wait()
        other = terminal(port)  # the same terminal, settling from another connection
        await other.sign_on()
        assert (await other.exchange(settlement(other), with_mac=True)).text(39) == "00"
        gate.release.set()
        seen["sale"] = await pending

    run(demo, scenario)
    answer = seen["sale"]
    assert answer.text(39) == "96"
    [(rrn, state, cause)] = intents(demo)
    assert state is IntentState.REVERSED and cause == "the host could not record it"
    assert payment(demo, rrn or "") is None
    check_books(demo)


def test_a_reversal_that_overtakes_the_write_takes_the_call(demo: Tillpoint) -> None:
    """The network approved; before the host writes it, the terminal gives up and
    reverses: the reversal takes the call and reverses it at once; the late write then
    records the sale as not charged."""
    seen: dict[str, Message] = {}

    async def scenario(port: int, acquirer: Acquirer) -> None:
        gate = acquirer.network = Gate(acquirer.network)
        t = terminal(port)
        await t.sign_on()
        message = sale(t, amount_minor=500)
        pending = asyncio.ensure_future(t.exchange(message, with_mac=True))
        await gate.arrived.wait()
        again = terminal(port)
        again.keys, again.batch = t.keys, t.batch
        seen["reversal"] = await again.exchange(reversal(again, message), with_mac=True)
        gate.release.set()
        seen["sale"] = await pending
        # The same reversal again: the same answer, nothing more undone.
        repeat = await again.exchange(reversal(again, message), with_mac=True)
        assert repeat.text(39) == "00"

    run(demo, scenario)
    assert seen["reversal"].text(39) == "00"
    assert seen["sale"].text(39) == "98"
    rrn = seen["sale"].text(37) or ""
    sale_record = payment(demo, rrn)
    assert sale_record is not None and sale_record.status is PaymentStatus.TIMED_OUT
    assert intents(demo) == [(rrn, IntentState.REVERSED, "0400 stan 000002 rc 00")]
    check_books(demo)
    # At the network the sale came and went (+5.00, -5.00); here nothing was owed:
    # reconciliation matches it and holds nobody.
    day = demo.days.cut_off("test")
    result = demo.reconciliation.run(day)
    assert (result.matched, result.problems, result.held) == (1, [], [])


def test_a_reversal_that_reaches_the_network_first_refuses_the_original(
    demo: Tillpoint,
) -> None:
    """The reversal is at the network before the original: the network remembers it
    and refuses the late original, which the host records as declined."""
    seen: dict[str, Message] = {}

    async def scenario(port: int, acquirer: Acquirer) -> None:
        gate = acquirer.network = Gate(acquirer.network, hold_before=True)
        t = terminal(port)
        await t.sign_on()
        message = sale(t, amount_minor=700)
        pending = asyncio.ensure_future(t.exchange(message, with_mac=True))
        await gate.arrived.wait()
        again = terminal(port)
        again.keys, again.batch = t.keys, t.batch
        seen["reversal"] = await again.exchange(reversal(again, message), with_mac=True)
        gate.release.set()
        seen["sale"] = await pending

    run(demo, scenario)
    assert seen["reversal"].text(39) == "00"
    assert seen["sale"].text(39) == "22"
    check_books(demo)


def test_a_reversal_before_its_original_refuses_it_without_asking_the_network(
    demo: Tillpoint,
) -> None:
    async def scenario(port: int, acquirer: Acquirer) -> None:
        t = terminal(port)
        await t.sign_on()
        message = sale(t, amount_minor=800)
        assert (await t.exchange(reversal(t, message), with_mac=True)).text(39) == "00"
        assert (await t.exchange(message, with_mac=True)).text(39) == "22"

    run(demo, scenario)
    [(rrn, state, cause)] = intents(demo)
    assert (rrn, state, cause) == (None, IntentState.REVERSED, "reversed before its original")
    check_books(demo)


def test_recovery_reverses_a_call_whose_host_died(demo: Tillpoint) -> None:
    """A host that noted a call, got the network's approval and died: the next host's
    recovery pass leaves the call alone while it could still be live, then reverses it."""
    clock = FixedClock(demo.ctx.now())

    async def scenario(port: int, acquirer: Acquirer) -> None:
        acquirer.intents.now = clock.now
        rrn = await acquirer.rrns.next()
        amount = Money(4321)
        intent = Intent(rrn, CARD, "sale", amount, clock.now())
        assert await acquirer.intents.open(intent)
        request = CardRequest(rrn, PAN, "3012", amount, AuthKind.SALE, "02", "5411", "")
        assert (await acquirer.network.authorise(request)).approved
        assert stranded(demo, network_dir(demo)) == [rrn]  # the dead host's sale
        assert await acquirer.intents.recover() == 0  # could still be on its way
        clock.advance(acquirer.intents.stale_after + timedelta(seconds=1))
        assert await acquirer.intents.recover() == 1
        assert await acquirer.intents.recover() == 0

    run(demo, scenario)
    [(_, state, cause)] = intents(demo)
    assert state is IntentState.REVERSED and cause == "no answer on our books in time"
    check_books(demo)


def test_a_network_time_out_is_reversed(
    demo: Tillpoint,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The silent test card: the host answers 98 and reverses the call at the network,
    in the background; `tillpoint settle reversals` shows it, in both languages."""
    seen: dict[str, Message] = {}

    async def scenario(port: int, acquirer: Acquirer) -> None:
        acquirer.network_timeout_s = 0.2
        t = terminal(port)
        await t.sign_on()
        seen["sale"] = await t.exchange(sale(t, "6212340000000000053"), with_mac=True)

    run(demo, scenario)
    assert seen["sale"].text(39) == "98"
    rrn = seen["sale"].text(37)
    [(intent_rrn, state, cause)] = intents(demo)
    assert (intent_rrn, state, cause) == (
        rrn,
        IntentState.REVERSED,
        "no answer from the network in time",
    )
    check_books(demo)

    monkeypatch.setenv("TILLPOINT_DATABASE_URL", db_url)
    monkeypatch.setenv("TILLPOINT_DEMO", "1")
    monkeypatch.setattr(_common.out, "width", 200)
    for locale, state_word in (("en", "reversed"), ("zh_CN", "已冲正")):
        monkeypatch.setenv("TILLPOINT_LOCALE", locale)
        with pytest.raises(SystemExit) as done:
            main(["settle", "reversals", "--json"])
        assert done.value.code in (0, None)
        [row] = json.loads(capsys.readouterr().out)
        assert (row["rrn"], row["state"], row["tid"]) == (rrn, "reversed", demo_tid(1))
        with pytest.raises(SystemExit):
            main(["settle", "reversals"])
        assert state_word in capsys.readouterr().out


def test_a_refund_whose_write_fails_is_reversed_at_the_network(
    demo: Tillpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Message] = {}
    real = writer_module.write_payments

    def fails_for_refunds(s: Any, records: Any) -> Any:
        if any(r.row.kind.value == "refund" for r in records):
            raise RuntimeError("disk full")
        return real(s, records)

    async def scenario(port: int, acquirer: Acquirer) -> None:
        t = terminal(port)
        await t.sign_on()
        sold = await t.exchange(sale(t, amount_minor=10_000), with_mac=True)
        assert sold.text(39) == "00"
        monkeypatch.setattr(writer_module, "write_payments", fails_for_refunds)
        fields = {3: "200000", 4: "000000004000", 11: t.next_stan(), 22: "021", 25: "00",
                  35: f"{PAN}D30122010000", 37: sold.text(37), 41: t.tid, 42: t.mid,
                  49: "156", 60: f"25{t.batch}000", 61: "000000000000" + "1125"}  # fmt: skip
        seen["refund"] = await t.exchange(Message("0220", fields), with_mac=True)  # type: ignore[arg-type]

    run(demo, scenario)
    assert seen["refund"].text(39) == "96"
    states = [state for _, state, _ in intents(demo)]
    assert states == [IntentState.REVERSED]
    check_books(demo)
