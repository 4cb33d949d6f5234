"""Chip cards end to end (spec 4.10), over real TCP to the host: the virtual terminal's
chip makes the ARQC, the simulated issuer verifies it and answers with its ARPC in tag
91, the terminal checks it; a forged ARQC gets 88 and charges nothing; an approval whose
ARPC the card refuses is reversed with reason 06 and undone at the issuer and on our
books."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from tests.chipcards import read_of
from tests.e2e.test_host import sale
from tests.hosting import stranded, terminal, unbacked

from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.host.server import TerminalHost
from tillpoint.iso8583 import icc, tlv
from tillpoint.iso8583.codec import Message
from tillpoint.networks.connector import CardRequest, NetworkAnswer
from tillpoint.networks.simulator import CardNetworkSimulator
from tillpoint.payments.acquirer import Acquirer, simulated
from tillpoint.terminal import chip
from tillpoint.terminal.device import Device, DeviceState

DEBIT, CREDIT = "6212340000000000012", "6250940000000000016"
START = Money.parse("100000.00")

Scenario = Callable[[int, Acquirer], Awaitable[None]]


def run(app: Tillpoint, scenario: Scenario) -> None:
    """A host on a free port with the in-process simulators, handed to the scenario with
    its acquirer (whose network the scenario may look into or put something in front of)."""

    async def main() -> None:
        acquirer = simulated(app)
        server = await TerminalHost(app, acquirer).start("127.0.0.1", 0)
        try:
            await scenario(server.sockets[0].getsockname()[1], acquirer)
        finally:
            server.close()
            await server.wait_closed()
            acquirer.close()

    asyncio.run(main())


def issuer(acquirer: Acquirer) -> CardNetworkSimulator:
    network = acquirer.network
    assert isinstance(network, CardNetworkSimulator)
    return network


def available(acquirer: Acquirer, pan: str) -> Money:
    card = issuer(acquirer).card(pan)
    assert card is not None
    return card.available


def device_at(port: int, path: Path | None = None) -> Device:
    state = DeviceState.demo()
    state.port = port
    return Device(state, path)


def payments(app: Tillpoint) -> list[tuple[int, str, str, str]]:
    with app.ctx.db.engine.connect() as c:
        rows = c.execute(
            text("SELECT amount_minor, status, response_code, entry_mode FROM payments ORDER BY id")
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def flipped(data: bytes, tag: str) -> bytes:
    """``data`` (TLV) with the last bit of ``tag``'s value flipped."""
    return tlv.encode([(t, v[:-1] + bytes([v[-1] ^ 1]) if t == tag else v)
                       for t, v in tlv.decode(data)])  # fmt: skip


def test_a_chip_sale_is_approved_and_its_arpc_checked(demo: Tillpoint, tmp_path: Path) -> None:
    async def scenario(port: int, acquirer: Acquirer) -> None:
        device = device_at(port, tmp_path / "t.json")
        result = await device.sale(Money(12_34), DEBIT, entry="insert", pin="123456")
        assert result.approved and result.auth_code
        assert device.state.journal[-1].entry == "insert"
        assert list(device.state.atc.values()) == [1]
        result = await device.sale(Money(1_00), DEBIT, entry="insert", pin="123456")
        assert result.approved and list(device.state.atc.values()) == [2]
        await device.close()
        assert available(acquirer, DEBIT) == START - Money(13_34)

        # The same over the wire by hand: the answer's 55 is tag 91, which the card takes;
        # the request sent again gets the same answer, 55 included (the duplicate rule).
        t = terminal(port, 2)
        await t.sign_on()
        request = sale(t, DEBIT, 5_00, entry="051", pin="123456")
        card = read_of(request)
        assert card is not None
        request = Message("0200", {**request.fields, 23: chip.FIELD_23, 55: card.icc})
        answer = await t.exchange(request, with_mac=True)
        assert answer.text(39) == "00" and card.accepts(answer.binary(55))
        issuer_data = icc.issuer_authentication(answer.binary(55))
        assert issuer_data is not None and issuer_data[4:] == bytes(4)  # CSU: approved
        again = await t.exchange(request, with_mac=True)
        # the same answer, at the host's time of this one (12, 13, and so its MAC)
        same = {k: v for k, v in answer.fields.items() if k not in (12, 13, 64)}
        assert {k: v for k, v in again.fields.items() if k not in (12, 13, 64)} == same
        assert available(acquirer, DEBIT) == START - Money(18_34)  # charged once
        # A swiped sale's answer carries no 55.
        swiped = await t.exchange(sale(t, DEBIT, 1_00, pin="123456"), with_mac=True)
        assert swiped.text(39) == "00" and swiped.binary(55) is None
        await t.close()

    run(demo, scenario)
    assert [(p[0], p[1], p[3]) for p in payments(demo)] == [
        (12_34, "approved", "05"), (1_00, "approved", "05"), (5_00, "approved", "05"),
        (1_00, "approved", "02"),
    ]  # fmt: skip
    state = (tmp_path / "t.json").read_text()
    assert DEBIT not in state  # the counters are named by a keyed hash


def test_a_forged_arqc_gets_88_and_nothing_is_charged(demo: Tillpoint) -> None:
    async def scenario(port: int, acquirer: Acquirer) -> None:
        t = terminal(port)
        await t.sign_on()
        request = sale(t, DEBIT, 100_00, entry="051", pin="123456")
        forged = Message("0200", {**request.fields, 55: flipped(request.binary(55) or b"", "9F26")})
        answer = await t.exchange(forged, with_mac=True)
        assert answer.text(39) == "88" and answer.text(38) is None
        issuer_data = icc.issuer_authentication(answer.binary(55))
        assert issuer_data is not None and issuer_data[4:] == bytes.fromhex("00800000")
        # A genuine cryptogram for 1.00 does not buy 100.00 either.
        card = read_of(sale(t, DEBIT, 1_00, entry="051", pin="123456"))
        assert card is not None
        more = Message("0200", {**sale(t, DEBIT, 100_00, pin="123456").fields,
                                22: "051", 23: "001", 55: card.icc})  # fmt: skip
        assert (await t.exchange(more, with_mac=True)).text(39) == "88"
        assert available(acquirer, DEBIT) == START
        await t.close()

    run(demo, scenario)
    assert payments(demo) == [(100_00, "declined", "88", "05")] * 2
    assert stranded(demo, demo.ctx.settings.network_directory()) == []


class BadArpc:
    """The issuer's answers reach the host with a bit of their ARPC flipped (a broken
    issuer, or someone between): the host passes them on as they are, MAC and all."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def authorise(self, request: CardRequest) -> NetworkAnswer:
        answer: NetworkAnswer = await self.inner.authorise(request)
        return answer if answer.icc is None else replace(answer, icc=_flip_arpc(answer.icc))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _flip_arpc(data: bytes) -> bytes:
    """Tag 91 with the first bit of its ARPC flipped (the CSU left as it is)."""
    ((tag, value),) = tlv.decode(data)
    return tlv.encode([(tag, bytes([value[0] ^ 0x80]) + value[1:])])


def test_an_arpc_the_card_refuses_reverses_the_sale_with_06(demo: Tillpoint) -> None:
    sent: list[Message] = []

    async def scenario(port: int, acquirer: Acquirer) -> None:
        simulator = issuer(acquirer)
        acquirer.network = BadArpc(simulator)  # type: ignore[assignment]
        device = device_at(port)
        exchange = device.client.exchange

        async def recorded(message: Message, *, with_mac: bool) -> Message:
            sent.append(message)
            return await exchange(message, with_mac=with_mac)

        device.client.exchange = recorded  # type: ignore[method-assign]
        result = await device.sale(Money(250_00), DEBIT, entry="insert", pin="123456")
        assert (result.response_code, result.approved, result.auth_code) == ("06", False, None)
        assert result.rrn  # the host's reference, which the reversal undid
        assert device.state.pending_reversal is None  # the reversal went through
        assert device.state.journal == [] and device.state.last_receipt is None
        for task in list(acquirer._background):
            await task
        assert simulator.card(DEBIT).available == START  # type: ignore[union-attr]
        # A balance inquiry's answer the card refuses shows no balance.
        balance = await device.balance(DEBIT, "123456", entry="insert")
        assert (balance.response_code, balance.balance_minor) == ("06", None)
        await device.close()

    run(demo, scenario)
    sale_sent, reversal_sent = sent[0], sent[1]  # (the sign-on is no exchange)
    assert reversal_sent.mti == "0400" and reversal_sent.text(39) == "06"
    assert reversal_sent.text(11) == sale_sent.text(11)
    assert reversal_sent.binary(55) == sale_sent.binary(55)  # 4.7: the chip's data too
    assert 52 not in reversal_sent.fields and 35 not in reversal_sent.fields
    assert payments(demo) == [(250_00, "reversed", "00", "05")]
    network = demo.ctx.settings.network_directory()
    assert stranded(demo, network) == [] and unbacked(demo, network) == []


def test_contactless_up_to_1000_needs_no_pin(demo: Tillpoint) -> None:
    async def scenario(port: int, acquirer: Acquirer) -> None:
        device = device_at(port)
        assert (await device.sale(Money.parse("1000.00"), DEBIT, entry="tap")).approved
        above = await device.sale(Money.parse("1000.01"), DEBIT, entry="tap")
        assert above.response_code == "55"  # the host's own refusal: no ARPC to check
        assert (
            await device.sale(Money.parse("1000.01"), DEBIT, entry="tap", pin="123456")
        ).approved
        await device.close()
        assert available(acquirer, DEBIT) == START - Money.parse("2000.01")

    run(demo, scenario)
    assert [(p[0], p[2], p[3]) for p in payments(demo)] == [
        (1000_00, "00", "07"), (1000_01, "55", "07"), (1000_01, "00", "07"),
    ]  # fmt: skip


def test_balance_preauth_and_completion_by_chip(demo: Tillpoint) -> None:
    async def scenario(port: int, acquirer: Acquirer) -> None:
        device = device_at(port)
        balance = await device.balance(DEBIT, "123456", entry="insert")
        assert balance.approved and balance.balance_minor == START.amount_minor
        hold = await device.preauth(Money.parse("500.00"), CREDIT, entry="insert", pin="123456")
        assert hold.approved and hold.auth_code
        done = await device.complete(hold.auth_code, Money.parse("550.00"), CREDIT, entry="tap",
                                     pin="123456")  # fmt: skip
        assert done.approved
        assert available(acquirer, CREDIT) == Money.parse("50000.00") - Money.parse("550.00")
        await device.close()

    run(demo, scenario)
    assert [(p[0], p[1]) for p in payments(demo)] == [(500_00, "completed"), (550_00, "approved")]


def test_malformed_chip_data_gets_30_and_changes_nothing(demo: Tillpoint) -> None:
    async def scenario(port: int, acquirer: Acquirer) -> None:
        t = terminal(port)
        await t.sign_on()

        async def rc(
            fields: dict[int, str | bytes], drop: tuple[int, ...] = (), mti: str = "0200"
        ) -> str | None:
            request = sale(t, DEBIT, 1_00, entry="051", pin="123456")
            kept = {n: v for n, v in request.fields.items() if n not in drop}
            return (await t.exchange(Message(mti, {**kept, **fields}), with_mac=True)).text(39)

        good = sale(t, DEBIT, 1_00, entry="051", pin="123456").binary(55) or b""
        items = tlv.decode(good)
        assert await rc({}, drop=(55,)) == "30"  # read from the chip, without its data
        assert await rc({22: "071"}, drop=(55,)) == "30"
        assert await rc({55: good[:-2]}) == "30"  # not TLV: cut short
        assert await rc({55: tlv.encode([i for i in items if i[0] != "9F36"])}) == "30"
        assert await rc({55: tlv.encode([(k, v + b"\x00" if k == "9F26" else v)
                                         for k, v in items])}) == "30"  # fmt: skip
        assert await rc({23: "101"}) == "30"
        # A balance inquiry, a pre-auth and a completion are read from the chip too.
        for mti, code, txn in (("0200", "310000", "01"), ("0100", "030000", "10")):
            fields = {3: code, 60: f"{txn}{t.batch}000", 55: good[:-2]}
            assert await rc(fields, mti=mti) == "30"
        # Swiped, 55 is not looked at.
        assert await rc({22: "021", 55: b"\x01"}) == "00"
        assert available(acquirer, DEBIT) == START - Money(1_00)
        await t.close()

    run(demo, scenario)
    assert payments(demo) == [(1_00, "approved", "00", "02")]


def test_log_lines_carry_no_card_or_chip_data(
    demo: Tillpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = []

    async def scenario(port: int, acquirer: Acquirer) -> None:
        t = terminal(port)
        await t.sign_on()
        good = sale(t, DEBIT, 1_00, entry="051", pin="123456")
        broken = Message("0200", {**good.fields, 55: (good.binary(55) or b"")[:-1]})
        for request in (good, broken):
            secrets.append((request.binary(55) or b"").hex())
            await t.exchange(request, with_mac=True)
        await t.close()

    run(demo, scenario)
    logged = caplog.text.lower()
    assert '"rc": "30"' in logged and '"rc": "00"' in logged
    for secret in (DEBIT, *secrets, *(s[:40] for s in secrets)):
        assert secret.lower() not in logged
