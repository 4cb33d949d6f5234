"""The terminal host over real TCP with the section 6 demo data: sign-on, sign-off,
echo, MACs, refusals, and garbage that never stops it serving other terminals."""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.chipcards import with_chip
from tests.hosting import run_with_host, terminal

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import DEMO_SUPERVISOR_PASSWORD as SUPERVISOR
from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
from tillpoint.host.server import TerminalHost
from tillpoint.iso8583 import framing
from tillpoint.iso8583.codec import Message, encode
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.models import Payment
from tillpoint.security import tdes
from tillpoint.terminal.client import TerminalClient
from tillpoint.terminals.models import TerminalStatus


def sale(
    t: TerminalClient,
    pan: str = "6212340000000000012",
    amount_minor: int = 100,
    *,
    entry: str = "021",
    pin: str | None = None,
    expiry: str = "3012",
) -> Message:
    fields: dict[int, str | bytes] = {
        3: "000000", 4: f"{amount_minor:012d}", 11: t.next_stan(), 22: entry, 25: "00",
        35: f"{pan}D{expiry}2010000", 41: t.tid, 42: t.mid, 49: "156", 60: f"22{t.batch}000",
    }  # fmt: skip
    if pin is not None:
        assert t.keys is not None
        fields[52] = tdes.encrypt_pin_block(t.keys.pik, pin, pan)
        fields[53] = "2600000000000000"
        fields[26] = "12"
    return with_chip(Message("0200", fields))  # read from the chip (05x, 07x): 23 and 55


def test_sign_on_echo_sign_off(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        answer = await t.sign_on()
        assert (answer.mti, answer.text(39), answer.text(32)) == ("0810", "00", "48100000")
        assert t.keys is not None and t.batch == "000001"
        assert len(answer.text(37) or "") == 12
        assert answer.text(11) == "000001" and answer.text(41) == t.tid
        assert (await t.echo()).text(39) == "00"
        reply = await t.exchange(sale(t), with_mac=True)  # MAC checked by the client
        assert reply.mti == "0210" and reply.binary(64) is not None
        assert (await t.sign_off()).text(39) == "00"
        await t.close()

    run_with_host(demo, scenario)
    assert demo.terminals.get(demo_tid(1)).status is TerminalStatus.ACTIVE


def test_bad_mac_and_stale_keys_get_a0_and_must_sign_on(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        first, second = terminal(port), terminal(port)
        await first.sign_on()
        stale = first.keys
        await second.sign_on()  # a new sign-on retires the first one's keys
        first.keys = stale
        reply = await first.exchange(sale(first), with_mac=True)
        assert reply.text(39) == "A0" and reply.binary(64) is None
        assert framing.requirement(first.last_header) == framing.MUST_SIGN_ON
        assert (await second.exchange(sale(second), with_mac=True)).text(39) != "A0"
        await first.close()
        await second.close()

    run_with_host(demo, scenario)


def test_refusals(demo: Tillpoint) -> None:
    demo.terminals.freeze(demo_tid(3), "risk", "moved")
    spare = demo.terminals.add("SPARE0001", "P1", "ops").terminal.tid

    async def scenario(port: int) -> None:
        cases = [
            (TerminalClient("99999999", demo_mid(1), DEMO_TMK, port=port), "97"),
            (TerminalClient(spare, demo_mid(1), DEMO_TMK, port=port), "97"),
            (TerminalClient(demo_tid(1), demo_mid(2), DEMO_TMK, port=port), "03"),
            (terminal(port, 3), "58"),
        ]
        for client, code in cases:
            assert (await client.sign_on()).text(39) == code
            await client.close()

    run_with_host(demo, scenario)


def test_a_freeze_from_another_process_stops_a_signed_on_terminal(
    demo: Tillpoint, db_url: str
) -> None:
    """The host keeps admitted terminals in memory; a change made elsewhere (here a
    second app on the same database, as `tillpoint terminals freeze` would be) reaches it
    within the cache's time limit."""
    from tillpoint.core.cache import DEFAULT_TTL_S

    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        other = open_app(Settings(_env_file=None, database_url=db_url, demo=True, locale="en"))  # type: ignore[call-arg]
        other.terminals.freeze(demo_tid(1), "risk", "moved")
        other.close()
        await asyncio.sleep(DEFAULT_TTL_S + 0.1)
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "58"
        await t.close()

    run_with_host(demo, scenario)


def test_malformed_frames(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        # TID readable, field 63's length runs past the end: 30, connection stays usable.
        body = encode(
            Message("0800", {11: "000001", 41: t.tid, 42: t.mid, 60: "00000001004", 63: "001"})
        )
        reply = await t.send_raw(framing.request_tpdu() + framing.header() + body[:-2])
        assert framing.parse_frame(reply).body[:2] == bytes.fromhex("0810")
        assert (await t.echo()).text(39) == "00"
        await t.close()
        # Unreadable: the connection closes, nothing else happens.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(framing.frame_bytes(b"\x99" * 30))
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
        # An absurd length prefix closes too.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\xff\xff" + bytes(10))
        await writer.drain()
        assert await reader.read() == b""
        writer.close()

    run_with_host(demo, scenario)


def test_another_currency_or_a_short_card_number_is_refused_and_nothing_recorded(
    demo: Tillpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """Payments are taken in CNY (49 = 156): limits, fees and settlement are in it, so a
    sale in Hong Kong dollars is a format error (30) before any network is asked, never
    a payment booked as yuan. So is a card number of fewer than 12 digits: a mask of the
    first six and last four would show all of it."""
    caplog.set_level(logging.INFO, logger="tillpoint.host")

    async def scenario(port: int) -> None:
        t = terminal(port)
        assert (await t.sign_on()).text(39) == "00"
        hkd = sale(t)
        hkd.fields[49] = "344"
        assert (await t.exchange(hkd, with_mac=True)).text(39) == "30"
        assert (await t.exchange(sale(t, "6212340000"), with_mac=True)).text(39) == "30"
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.read() as s:
        assert s.scalars(select(Payment.currency)).all() == ["CNY"]
    assert '"rc": "30"' in caplog.text and "49 must be 156" in caplog.text
    assert "a card number is 12 to 19 digits" in caplog.text
    assert "6212340000" not in caplog.text


def test_many_terminals_at_once(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        clients = [terminal(port, 1 + i % 3) for i in range(24)]
        answers = await asyncio.gather(*(c.echo() for c in clients))
        assert {a.text(39) for a in answers} == {"00"}
        for c in clients:
            await c.close()

    run_with_host(demo, scenario)


# One demo database for all examples is intended: each example starts its own host.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.binary(max_size=120), min_size=1, max_size=8), st.randoms())
def test_garbage_never_stops_the_host(
    demo: Tillpoint, junk: list[bytes], rnd: random.Random
) -> None:
    async def scenario(port: int) -> None:
        good = terminal(port)
        await good.sign_on()
        for blob in junk:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            prefix = rnd.choice(
                [framing.frame_bytes(blob), blob, len(blob).to_bytes(2, "big") + blob[:-1]]
            )
            writer.write(prefix)
            await writer.drain()
            writer.close()
            assert (await good.echo()).text(39) == "00"  # served throughout
        await good.close()

    run_with_host(demo, scenario)


def test_sales_as_section_6_lists(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()

        async def rc(message: Message) -> str | None:
            return (await t.exchange(message, with_mac=True)).text(39)

        approved = await t.exchange(sale(t, amount_minor=12_345, pin="123456"), with_mac=True)
        assert approved.text(39) == "00" and approved.text(63) == "CUP"
        assert approved.text(38) and approved.text(37) and approved.text(15)
        assert (approved.text(44) or "").startswith("01020000")
        assert await rc(sale(t, "6250940000000000016", 500_00)) == "00"  # credit
        assert await rc(sale(t, "4761340000000019", 100_00)) == "00"  # Visa, foreign
        assert await rc(sale(t, "5222220000000005", 100_00)) == "00"  # Mastercard
        assert await rc(sale(t, "6212340000000000020", 10_01)) == "51"
        assert await rc(sale(t, "6212340000000000038", 100, expiry="2001")) == "54"
        assert await rc(sale(t, "6212340000000000046", 100)) == "41"
        assert await rc(sale(t, "6212340000000000012", 100, pin="654321")) == "55"
        assert await rc(sale(t, "6212340000000000013", 100)) == "14"  # fails Luhn
        assert await rc(sale(t, "6212340000000000061", 100)) == "05"  # beyond section 6
        assert await rc(sale(t, amount_minor=0)) == "13"
        # Contactless: no PIN up to 1,000.00, a PIN above it.
        assert await rc(sale(t, amount_minor=100_000, entry="072")) == "00"
        assert await rc(sale(t, amount_minor=100_001, entry="072")) == "55"
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        from sqlalchemy import text

        rows = c.execute(text("SELECT pan_masked, pan_token FROM payments")).all()
        dump = repr(c.execute(text("SELECT * FROM payments")).all()) + repr(
            c.execute(text("SELECT * FROM terminal_requests")).all()
        )
    assert rows and all(r[0].startswith("621234") or "*" in r[0] for r in rows)
    for pan in ("6212340000000000012", "4761340000000019", "6250940000000000016"):
        assert pan not in dump  # masked PAN and keyed token only


def test_silent_issuer_gets_98_and_nothing_is_charged(demo: Tillpoint, db_url: str) -> None:
    quick = open_app(
        Settings(
            _env_file=None, database_url=db_url, demo=True, locale="en", network_timeout_ms=200
        )  # type: ignore[call-arg]
    )

    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        assert (await t.exchange(sale(t, "6212340000000000053", 100), with_mac=True)).text(
            39
        ) == "98"
        await t.close()

    run_with_host(quick, scenario)
    quick.close()


def test_duplicate_rule(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        first = sale(t, amount_minor=777)
        a = await t.exchange(first, with_mac=True)
        b = await t.exchange(first, with_mac=True)  # the same request again
        assert a.text(39) == b.text(39) == "00"
        assert (a.text(37), a.text(38)) == (b.text(37), b.text(38))
        changed = Message(first.mti, {**first.fields, 4: "000000000778"})
        assert (await t.exchange(changed, with_mac=True)).text(39) == "94"
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        from sqlalchemy import text

        assert (
            c.execute(text("SELECT count(*) FROM payments WHERE amount_minor = 777")).scalar_one()
            == 1
        )


def test_balance_inquiry(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        assert t.keys is not None
        pan = "6212340000000000012"
        fields: dict[int, str | bytes] = {
            3: "310000", 11: t.next_stan(), 22: "051", 25: "00", 26: "12", 35: f"{pan}D30122010000",
            41: t.tid, 42: t.mid, 49: "156", 52: tdes.encrypt_pin_block(t.keys.pik, "123456", pan),
            53: "2600000000000000", 60: f"01{t.batch}000",
        }  # fmt: skip
        answer = await t.exchange(with_chip(Message("0200", fields)), with_mac=True)
        assert answer.text(39) == "00"
        assert answer.text(54) == "1002156C000010000000"  # 100,000.00
        await t.close()

    run_with_host(demo, scenario)


def void(t: TerminalClient, original: Message, approved: Message) -> Message:
    fields = {n: v for n, v in original.fields.items() if n in (2, 4, 14, 22, 25, 35, 41, 42, 49)}
    fields.update({3: "200000", 11: t.next_stan(), 37: approved.text(37) or "",
                   61: f"{t.batch}{original.text(11)}", 60: f"23{t.batch}000"})  # fmt: skip
    if approved.text(38):
        fields[38] = approved.text(38) or ""
    return Message("0200", fields)


def reversal(original: Message, reason: str = "98") -> Message:
    fields = {n: v for n, v in original.fields.items() if n not in (35, 36, 52, 53, 64)}
    fields[39] = reason
    return Message("0400", fields)


def test_void(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        original = sale(t, amount_minor=5_000)
        approved = await t.exchange(original, with_mac=True)
        wrong_amount = void(t, Message("0200", {**original.fields, 4: "000000004999"}), approved)
        assert (await t.exchange(wrong_amount, with_mac=True)).text(39) == "64"
        done = await t.exchange(void(t, original, approved), with_mac=True)
        assert done.text(39) == "00" and done.text(37) != approved.text(37)
        assert (await t.exchange(void(t, original, approved), with_mac=True)).text(39) == "22"
        unknown = void(t, original, Message("0210", {37: "999999999999"}))
        assert (await t.exchange(unknown, with_mac=True)).text(39) == "25"
        await t.close()

    run_with_host(demo, scenario)


def test_reversals(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        # An approved sale, then its reversal: undone; a repeat (other reason) same answer.
        original = sale(t, amount_minor=2_000)
        assert (await t.exchange(original, with_mac=True)).text(39) == "00"
        first = await t.exchange(reversal(original), with_mac=True)
        again = await t.exchange(reversal(original, "96"), with_mac=True)
        assert first.text(39) == again.text(39) == "00"
        assert (await t.exchange(void(t, original, first), with_mac=True)).text(39) in ("22", "25")
        # A reversal of a sale the host never saw: 00, and the late original is refused.
        unseen = sale(t, amount_minor=3_000)
        assert (await t.exchange(reversal(unseen), with_mac=True)).text(39) == "00"
        assert (await t.exchange(unseen, with_mac=True)).text(39) == "22"
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        from sqlalchemy import text

        statuses = dict(c.execute(text("SELECT amount_minor, status FROM payments")).all())
    assert statuses == {2000: "reversed"}


def test_batch_settlement(demo: Tillpoint) -> None:
    from tillpoint.iso8583.fields import SettlementTotals, Totals

    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        for pan, amount in [("6212340000000000012", 10_000), ("6250940000000000016", 5_000),
                            ("4761340000000019", 2_500)]:  # fmt: skip
            assert (await t.exchange(sale(t, pan, amount), with_mac=True)).text(39) == "00"
        voided = sale(t, amount_minor=999)
        approved = await t.exchange(voided, with_mac=True)
        assert (await t.exchange(void(t, voided, approved), with_mac=True)).text(39) == "00"
        assert (await t.exchange(sale(t, "6212340000000000020", 5_000), with_mac=True)).text(
            39
        ) == "51"

        def settle(domestic: Totals, foreign: Totals) -> Message:
            return Message("0500", {11: t.next_stan(), 41: t.tid, 42: t.mid, 49: "156", 63: "001",
                                    48: SettlementTotals(domestic, foreign).build(),
                                    60: f"00{t.batch}201"})  # fmt: skip

        # The terminal's own count: domestic debits 150.00 in 2, foreign 25.00 in 1.
        request = settle(Totals(15_000, 2), Totals(2_500, 1))
        answer = await t.exchange(request, with_mac=True)
        assert answer.text(39) == "00"
        flags = SettlementTotals.parse(answer.text(48) or "")
        assert (flags.domestic.flag, flags.foreign.flag) == ("1", "1")
        assert (await t.exchange(request, with_mac=True)).text(48) == answer.text(48)  # replay
        # The next batch: a sale there, then a terminal whose count is wrong.
        t.batch = "000002"
        assert (await t.exchange(sale(t, amount_minor=100), with_mac=True)).text(39) == "00"
        wrong = await t.exchange(settle(Totals(200, 1), Totals()), with_mac=True)
        wrong_flags = SettlementTotals.parse(wrong.text(48) or "")
        assert (wrong_flags.domestic.flag, wrong_flags.foreign.flag) == ("2", "1")
        await t.close()

    run_with_host(demo, scenario)
    # Both batches settled: the terminal may now leave its merchant.
    demo.terminals.unbind(demo_tid(1), "ops", "returned after settlement")


def refund(t: TerminalClient, original: Message, approved: Message, amount_minor: int) -> Message:
    fields = {n: v for n, v in original.fields.items() if n in (2, 14, 22, 25, 35, 41, 42, 49)}
    fields.update({3: "200000", 4: f"{amount_minor:012d}", 11: t.next_stan(),
                   37: approved.text(37) or "", 60: f"25{t.batch}000",
                   61: f"000000000000{approved.text(13) or '0000'}"})  # fmt: skip
    return Message("0220", fields)


def test_refunds(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        original = sale(t, "4761340000000019", 30_000)
        approved = await t.exchange(original, with_mac=True)
        assert (await t.exchange(refund(t, original, approved, 10_000), with_mac=True)).text(
            39
        ) == "00"
        assert (await t.exchange(refund(t, original, approved, 20_001), with_mac=True)).text(
            39
        ) == "13"
        assert (await t.exchange(refund(t, original, approved, 20_000), with_mac=True)).text(
            39
        ) == "00"
        assert (await t.exchange(refund(t, original, approved, 1), with_mac=True)).text(39) == "22"
        unionpay = sale(t, "6212340000000000012", 800)
        paid = await t.exchange(unionpay, with_mac=True)
        assert (await t.exchange(refund(t, unionpay, paid, 800), with_mac=True)).text(39) == "00"
        other_card = sale(t, "5222220000000005", 100)
        stranger = refund(t, other_card, approved, 100)
        assert (await t.exchange(stranger, with_mac=True)).text(39) == "25"  # not this card's
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        from sqlalchemy import text

        rows = c.execute(
            text("SELECT kind, status, amount_minor, refunded_minor FROM payments ORDER BY id")
        ).all()
    assert [tuple(r) for r in rows] == [
        ("sale", "refunded", 30_000, 30_000),
        ("refund", "approved", 10_000, 0),
        ("refund", "approved", 20_000, 0),
        ("sale", "refunded", 800, 800),
        ("refund", "approved", 800, 0),
    ]


def test_virtual_terminal_device(demo: Tillpoint, tmp_path: Path) -> None:
    from tillpoint.core.money import Money
    from tillpoint.terminal.device import Device, DeviceState

    state_file = tmp_path / "terminal.json"

    async def scenario(port: int) -> None:
        state = DeviceState.demo(2)
        state.port = port
        device = Device(state, state_file)
        sold = await device.sale(Money.parse("88.00"), "6212340000000000012", pin="123456")
        assert sold.approved and sold.rrn
        # The host approves a keyed-in sale but its answer is lost: the device keeps the
        # request for reversal (without the card's number or expiry, on disk or not) and
        # reverses it before the following transaction; the host finds it by batch and STAN.
        exchange = device.client.exchange

        async def answer_lost(message: Message, *, with_mac: bool = False) -> Message:
            await exchange(message, with_mac=with_mac)
            raise TimeoutError

        device.client.exchange = answer_lost  # type: ignore[method-assign]
        with pytest.raises(TimeoutError):
            await device.sale(Money.parse("7.00"), "6212340000000000012", entry="manual",
                              pin="123456")  # fmt: skip
        device.client.exchange = exchange  # type: ignore[method-assign]
        pending = device.state.pending_reversal or {}
        assert pending["22"].startswith("01") and not {"2", "14", "52"} & pending.keys()
        assert "6212340000000000012" not in state_file.read_text()
        assert (
            await device.void(sold.rrn or "", "6212340000000000012", supervisor_password=SUPERVISOR)
        ).approved
        assert device.state.pending_reversal is None
        refunded = await device.sale(Money.parse("30.00"), "4761340000000019", entry="swipe")
        assert (
            await device.refund(
                refunded.rrn or "",
                Money.parse("10.00"),
                "4761340000000019",
                supervisor_password=SUPERVISOR,
            )
        ).approved
        scanned = await device.sale(Money.parse("15.00"), "280000000000000001", entry="scan")
        assert (scanned.approved, scanned.card_org) == (True, "ALP")
        balance = await device.balance("6212340000000000012", "123456")
        assert balance.balance_minor == 10_000_000  # the void and the reversal gave it all back
        settled = await device.settle()
        assert settled.settlement == {"domestic": "1", "foreign": "1"}
        await device.close()

    run_with_host(demo, scenario)
    saved = DeviceState.load(state_file)
    assert saved.batch == "000002" and saved.journal == [] and saved.keys_hex
    assert "6212340000000000012" not in state_file.read_text()
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"


def test_preauthorisation_family(demo: Tillpoint) -> None:
    def preauth(t: TerminalClient, amount_minor: int, pan: str = "6250940000000000016") -> Message:
        return with_chip(Message("0100", {
            3: "030000", 4: f"{amount_minor:012d}", 11: t.next_stan(), 22: "051", 25: "06",
            35: f"{pan}D30122010000", 41: t.tid, 42: t.mid, 49: "156", 60: f"10{t.batch}000"}))  # fmt: skip

    def completion(t: TerminalClient, held: Message, answer: Message, amount_minor: int) -> Message:
        return with_chip(Message("0200", {
            3: "000000", 4: f"{amount_minor:012d}", 11: t.next_stan(), 22: "051", 25: "06",
            35: held.text(35) or "", 38: answer.text(38) or "", 41: t.tid, 42: t.mid, 49: "156",
            60: f"20{t.batch}000", 61: f"{t.batch}{held.text(11)}{answer.text(13)}"}))  # fmt: skip

    def void_of(t: TerminalClient, msg: Message, answer: Message, txn: str, mti: str) -> Message:
        return Message(mti, {3: "200000", 4: msg.text(4) or "", 11: t.next_stan(), 22: "051", 25: "06",
                             35: msg.text(35) or "", 37: answer.text(37) or "", 38: answer.text(38) or "",
                             41: t.tid, 42: t.mid, 49: "156", 60: f"{txn}{t.batch}000",
                             61: f"{t.batch}{msg.text(11)}"})  # fmt: skip

    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        held_msg = preauth(t, 100_000)  # a 1,000.00 hotel deposit
        held = await t.exchange(held_msg, with_mac=True)
        assert held.mti == "0110" and held.text(39) == "00" and held.text(38)
        too_much = completion(t, held_msg, held, 115_001)
        assert (await t.exchange(too_much, with_mac=True)).text(39) == "13"
        done_msg = completion(t, held_msg, held, 115_000)  # exactly 115%
        done = await t.exchange(done_msg, with_mac=True)
        assert done.text(39) == "00"
        assert (await t.exchange(completion(t, held_msg, held, 100), with_mac=True)).text(
            39
        ) == "22"
        undone = await t.exchange(void_of(t, done_msg, done, "21", "0200"), with_mac=True)
        assert undone.text(39) == "00"
        # A second hold, voided before it is used.
        other_msg = preauth(t, 20_000)
        other = await t.exchange(other_msg, with_mac=True)
        released = await t.exchange(void_of(t, other_msg, other, "11", "0100"), with_mac=True)
        assert released.mti == "0110" and released.text(39) == "00"
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        from sqlalchemy import text

        rows = c.execute(text("SELECT kind, status, amount_minor FROM payments ORDER BY id")).all()
    # The refused completion (13) is an answer, not a payment: nothing went to the network.
    assert [tuple(r) for r in rows] == [
        ("preauth", "approved", 100_000),  # the completion void put the hold back
        ("completion", "voided", 115_000),
        ("preauth", "voided", 20_000),
    ]


def test_wallet_codes(demo: Tillpoint) -> None:
    def scan(t: TerminalClient, code: str, amount_minor: int) -> Message:
        return Message("0200", {3: "000000", 4: f"{amount_minor:012d}", 11: t.next_stan(), 22: "032",
                                25: "00", 41: t.tid, 42: t.mid, 49: "156", 57: code,
                                60: f"22{t.batch}000"})  # fmt: skip

    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        alipay = await t.exchange(scan(t, "280000000000000001", 2_500), with_mac=True)
        assert (alipay.text(39), alipay.text(63)) == ("00", "ALP")
        wechat_msg = scan(t, "130000000000000001", 1_800)
        wechat = await t.exchange(wechat_msg, with_mac=True)
        assert (wechat.text(39), wechat.text(63)) == ("00", "WXP")
        assert (await t.exchange(scan(t, "280000000000000002", 100), with_mac=True)).text(
            39
        ) == "51"
        upq = await t.exchange(scan(t, "6200000000000000001", 100), with_mac=True)
        assert (upq.text(39), upq.text(63)) == ("00", "UPQ")
        assert (await t.exchange(scan(t, "990000000000000001", 100), with_mac=True)).text(
            39
        ) == "14"
        # Void and refund by RRN, as for cards.
        void_msg = Message("0200", {3: "200000", 4: "000000001800", 11: t.next_stan(), 22: "032", 25: "00",
                                    37: wechat.text(37) or "", 41: t.tid, 42: t.mid, 49: "156",
                                    57: "130000000000000001", 60: f"23{t.batch}000",
                                    61: f"{t.batch}{wechat_msg.text(11)}"})  # fmt: skip
        assert (await t.exchange(void_msg, with_mac=True)).text(39) == "00"
        back = Message("0220", {3: "200000", 4: "000000001000", 11: t.next_stan(), 22: "032", 25: "00",
                                37: alipay.text(37) or "", 41: t.tid, 42: t.mid, 49: "156",
                                57: "280000000000000001", 60: f"25{t.batch}000",
                                61: "0000000000000000"})  # fmt: skip
        assert (await t.exchange(back, with_mac=True)).text(39) == "00"
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        from sqlalchemy import text

        rows = c.execute(
            text("SELECT kind, status, method, card_org, pan_masked FROM payments ORDER BY id")
        ).all()
    assert [tuple(r[:4]) for r in rows] == [
        ("sale", "partly_refunded", "alipay", "ALP"),
        ("sale", "voided", "wechat", "WXP"),
        ("sale", "declined", "alipay", "ALP"),
        ("sale", "approved", "unionpay_qr", "UPQ"),
        ("sale", "declined", None, None),
        ("refund", "approved", "alipay", "ALP"),
    ]
    assert all("*" in r[4] for r in rows)  # codes are masked like card numbers


def test_card_testing_gets_59_without_asking_the_issuer(demo: Tillpoint) -> None:
    poor = "6212340000000000020"  # balance 10.00

    async def scenario(port: int) -> None:
        t, other = terminal(port), terminal(port, 2)
        await t.sign_on()
        await other.sign_on()

        async def rc(on: TerminalClient, message: Message) -> str | None:
            return (await on.exchange(message, with_mac=True)).text(39)

        # Someone probes the card with amounts it cannot pay, at two merchants...
        assert [await rc(t, sale(t, poor, 50_00)) for _ in range(2)] == ["51", "51"]
        assert await rc(other, sale(other, poor, 20_00)) == "51"
        # ...so even a sale it could pay is declined by the host, at any merchant.
        assert await rc(t, sale(t, poor, 5_00)) == "59"
        assert await rc(other, sale(other, poor, 1_00)) == "59"
        balance = Message("0200", {3: "310000", 11: t.next_stan(), 22: "051", 25: "00", 26: "12",
                                   35: f"{poor}D30122010000", 41: t.tid, 42: t.mid, 49: "156",
                                   52: tdes.encrypt_pin_block(t.keys.pik, "123456", poor),  # type: ignore[union-attr]
                                   53: "2600000000000000", 60: f"01{t.batch}000"})  # fmt: skip
        balance = with_chip(balance)
        assert (await t.exchange(balance, with_mac=True)).text(54) == "1002156C000000001000"
        # Other cards are not affected.
        assert await rc(t, sale(t, amount_minor=5_00)) == "00"
        await t.close()
        await other.close()

    run_with_host(demo, scenario)


def test_limits_pin_tries_and_malfunction(demo: Tillpoint) -> None:
    from tillpoint.core.money import Money
    from tillpoint.merchants.models import MerchantKind

    demo.limits.set(
        MerchantKind.BUSINESS, "risk", per_txn=Money.parse("500.00"), daily=Money.parse("800.00")
    )

    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()

        async def rc(message: Message) -> str | None:
            return (await t.exchange(message, with_mac=True)).text(39)

        assert await rc(sale(t, amount_minor=50_001)) == "61"  # over the per-transaction limit
        assert await rc(sale(t, amount_minor=50_000)) == "00"
        assert await rc(sale(t, amount_minor=30_000)) == "00"
        assert await rc(sale(t, amount_minor=1)) == "61"  # the day is full
        await t.close()
        # Another merchant's terminal (its own day): three wrong PINs give 55, 55, 75
        # (tries exceeded), and then even the right PIN gets 75.
        other = terminal(port, 2)
        await other.sign_on()
        card = "6250940000000000016"
        codes = [
            (await other.exchange(sale(other, card, 100, pin=p), with_mac=True)).text(39)
            for p in ("000000", "000000", "000000", "123456")
        ]
        assert codes == ["55", "55", "75", "75"]
        await other.close()

    run_with_host(demo, scenario)


def test_an_internal_failure_answers_96_and_the_host_goes_on(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        assert (await t.exchange(sale(t, amount_minor=100), with_mac=True)).text(39) == "00"

    async def broken_scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        assert (await t.exchange(sale(t, amount_minor=100), with_mac=True)).text(39) == "96"
        assert (await t.echo()).text(39) == "00"  # the same connection still works

    run_with_host(demo, scenario)

    async def main() -> None:
        acquirer = simulated(demo)

        async def fail(*args: object, **kwargs: object) -> object:
            raise RuntimeError("disk on fire")

        acquirer.sale = fail  # type: ignore[method-assign]
        server = await TerminalHost(demo, acquirer).start("127.0.0.1", 0)
        try:
            await broken_scenario(server.sockets[0].getsockname()[1])
        finally:
            server.close()
            await server.wait_closed()
            acquirer.close()

    asyncio.run(main())


def test_batch_upload_records_what_differs(demo: Tillpoint) -> None:
    from tillpoint.iso8583.fields import SettlementTotals, Totals

    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        answers = []
        for amount in (1_000, 2_000, 3_000):
            msg = sale(t, amount_minor=amount)
            answers.append((msg, await t.exchange(msg, with_mac=True)))
        batch = t.batch
        settle = Message("0500", {11: t.next_stan(), 41: t.tid, 42: t.mid, 49: "156", 63: "001",
                                  48: SettlementTotals(Totals(5_500, 3), Totals()).build(),
                                  60: f"00{batch}201"})  # fmt: skip
        flags = SettlementTotals.parse((await t.exchange(settle, with_mac=True)).text(48) or "")
        assert flags.domestic.flag == "2"

        def line(rrn: str, stan: str, amount_minor: int) -> Message:
            return Message("0320", {2: "6212340000000000012", 3: "000000", 4: f"{amount_minor:012d}",
                                    11: stan, 37: rrn, 41: t.tid, 42: t.mid, 49: "156",
                                    60: f"00{batch}201"})  # fmt: skip

        (m1, a1), (m2, a2), _ = answers
        uploads = [
            line(a1.text(37) or "", m1.text(11) or "", 1_000),  # agrees
            line(a2.text(37) or "", m2.text(11) or "", 2_500),  # the terminal has another amount
            line("999999999999", "000099", 500),  # the host never saw it
        ]
        for u in uploads:
            reply = await t.exchange(u, with_mac=True)
            assert (reply.mti, reply.text(39)) == ("0330", "00")
        end = Message("0320", {11: t.next_stan(), 41: t.tid, 42: t.mid, 48: "0003",
                               60: f"00{batch}202"})  # fmt: skip
        assert (await t.exchange(end, with_mac=True)).text(39) == "00"
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        from sqlalchemy import text

        rows = c.execute(
            text(
                "SELECT problem, terminal_amount_minor, host_amount_minor FROM batch_discrepancies ORDER BY problem"
            )
        ).all()
        uploads = c.execute(text("SELECT * FROM batch_uploads")).all()
    assert sorted(tuple(r) for r in rows) == [
        ("amount", 2_500, 2_000),
        ("missing_on_host", 500, None),
        ("missing_on_terminal", None, 3_000),
    ]
    assert "6212340000000000012" not in repr(uploads)


def test_reversing_a_void_restores_the_sale(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port, 2)
        await t.sign_on()
        original = sale(t, amount_minor=10_000)
        approved = await t.exchange(original, with_mac=True)
        the_void = void(t, original, approved)
        assert (await t.exchange(the_void, with_mac=True)).text(39) == "00"
        # The terminal got no answer to its void (say), so it reverses the void.
        assert (await t.exchange(reversal(the_void), with_mac=True)).text(39) == "00"
        assert t.keys is not None
        pan = "6212340000000000012"
        balance = Message("0200", {3: "310000", 11: t.next_stan(), 22: "051", 25: "00", 26: "12",
                                   35: f"{pan}D30122010000", 41: t.tid, 42: t.mid, 49: "156",
                                   52: tdes.encrypt_pin_block(t.keys.pik, "123456", pan),
                                   53: "2600000000000000", 60: f"01{t.batch}000"})  # fmt: skip
        balance = with_chip(balance)
        answer = await t.exchange(balance, with_mac=True)
        assert answer.text(54) == "1002156C000009990000"  # 100,000.00 - 100.00: charged again
        # And the sale can be voided again.
        assert (await t.exchange(void(t, original, approved), with_mac=True)).text(39) == "00"
        await t.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        from sqlalchemy import text

        events = [r[0] for r in c.execute(text("SELECT to_status FROM payment_events ORDER BY id"))]
    assert events == ["approved", "voided", "approved", "voided"]


def test_log_lines_carry_no_card_data(demo: Tillpoint, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.DEBUG)

    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        await t.exchange(sale(t, "6212340000000000012", 100, pin="123456"), with_mac=True)
        await t.exchange(sale(t, "6212340000000000013", 100), with_mac=True)  # bad Luhn
        body = encode(sale(t, "6212340000000000012", 100))
        await t.send_raw(framing.request_tpdu() + framing.header() + body[:-3])  # garbage
        await t.close()

    run_with_host(demo, scenario)
    logged = caplog.text
    assert '"mti": "0200"' in logged
    for secret in ("6212340000000000012", "6212340000000000013", "D3012", "123456"):
        assert secret not in logged
