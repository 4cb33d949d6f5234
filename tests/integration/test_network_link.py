"""The network link (networks/link.py) to the networks process's service
(networks/service.py), over real loopback TCP: many requests on one connection answered
out of order, a dropped connection, a silent issuer, the key exchange, malformed frames,
and a terminal's sale through the acquirer on the link."""

from __future__ import annotations

import asyncio
import random
import secrets
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import astuple
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from tests.hosting import stranded, terminal

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.money import Money
from tillpoint.core.settings import DEMO_MASTER_KEY, Settings
from tillpoint.demo import ensure_demo
from tillpoint.host.server import TerminalHost
from tillpoint.iso8583.codec import Message
from tillpoint.networks import wire
from tillpoint.networks.clearing import ClearingJournal
from tillpoint.networks.connector import AuthKind, CardRequest, NetworkAnswer, NetworkTimeout
from tillpoint.networks.link import NetworkLink
from tillpoint.networks.service import NetworksService
from tillpoint.networks.wallets import OrderState, WalletOrg, WalletRequest
from tillpoint.networks.wire import Op
from tillpoint.payments.linked import linked
from tillpoint.security import tdes
from tillpoint.security.keystore import Keystore

MASTER = secrets.token_bytes(32)
DAY = date(2026, 11, 25)
GOOD, SILENT = "6212340000000000012", "6212340000000000053"


def card(ref: str, pan: str = GOOD, minor: int = 100, **kw: object) -> CardRequest:
    fields: dict[str, object] = {"expiry": "3012", "entry_mode": "02", "mcc": "5812",
                                 "mid": "898310012345678", "kind": AuthKind.SALE, **kw}  # fmt: skip
    return CardRequest(ref, pan, amount=Money(minor, "CNY"), **fields)  # type: ignore[arg-type]


@asynccontextmanager
async def networks(
    tmp_path: Path, master: bytes = MASTER
) -> AsyncIterator[tuple[NetworksService, tuple[str, int]]]:
    service = NetworksService(Keystore(master), tmp_path / "network")
    server = await service.start("127.0.0.1", 0)
    try:
        yield service, server.sockets[0].getsockname()[:2]
    finally:
        await service.close()


@asynccontextmanager
async def link_to(
    address: tuple[str, int], *, timeout_s: float = 5.0, master: bytes = MASTER
) -> AsyncIterator[NetworkLink]:
    link = await NetworkLink(address, Keystore(master), lambda: DAY, timeout_s=timeout_s).open()
    try:
        yield link
    finally:
        link.close()


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def test_many_requests_at_once_are_answered_out_of_order_and_each_gets_its_own(
    tmp_path: Path,
) -> None:
    """Two hundred calls on one connection, each issuer taking a random while: the
    answers come back in another order than the requests went, and every caller gets
    the answer to its own request (the response code says which card it was)."""
    cards = {GOOD: "00", "6212340000000000046": "41", "6212340000000000038": "54",
             "6212340000000000013": "14", "6212340000000000061": "05"}  # fmt: skip

    async def scenario() -> None:
        async with networks(tmp_path) as (service, address), link_to(address) as link:
            answered: list[str] = []
            authorise = service.cards.authorise

            async def slow(request: CardRequest) -> NetworkAnswer:
                await asyncio.sleep(random.uniform(0, 0.05))
                answered.append(request.network_ref)
                return await authorise(request)

            service.cards.authorise = slow  # type: ignore[method-assign]
            plan = [(f"{n:012d}", random.choice(list(cards))) for n in range(1, 201)]
            expiry = {"6212340000000000038": "2001"}
            answers = await asyncio.gather(*(
                link.cards.authorise(card(ref, pan, expiry=expiry.get(pan, "3012")))
                for ref, pan in plan
            ))  # fmt: skip
            assert [a.response_code for a in answers] == [cards[pan] for _, pan in plan]
            assert answered != [ref for ref, _ in plan]  # they did cross
            codes = [a.auth_code for a in answers if a.approved]
            assert len(set(codes)) == len(codes)  # each approval its own
            assert link.connections == 1

    run(scenario)


def test_a_dropped_connection_fails_the_calls_on_their_way_and_the_link_comes_back(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with networks(tmp_path) as (service, address), link_to(address) as link:
            zpk = link.zpk
            waiting = asyncio.ensure_future(link.cards.authorise(card("000000000001", SILENT)))
            await asyncio.sleep(0.1)
            for open_link in list(service.links):
                open_link.abort()  # the connection drops with the call on its way
            with pytest.raises(NetworkTimeout):
                await asyncio.wait_for(waiting, 2)  # at once, not after the 5 s time-out
            answer = await link.cards.authorise(card("000000000002"))
            assert answer.approved and link.connections == 2
            assert link.zpk == zpk  # the same zone PIN key on the new connection
            # a reversal of the call cut off is taken, and so is its repetition
            assert (await link.cards.reverse("000000000001")).approved
            assert (await link.cards.reverse("000000000001")).approved

    run(scenario)


def test_the_link_waits_for_a_restarted_networks_process(tmp_path: Path) -> None:
    """The networks process stops and another starts on the same port: a call made in
    between waits for the link to be up again, and PINs still check (the link keeps its
    zone PIN key, which the new process takes back from it)."""

    async def scenario() -> None:
        first = NetworksService(Keystore(MASTER), tmp_path / "network")
        server = await first.start("127.0.0.1", 0)
        address = server.sockets[0].getsockname()[:2]
        async with link_to(address) as link:
            await first.close()
            while link.up:  # until the link has seen it go
                await asyncio.sleep(0.01)
            sale = asyncio.ensure_future(link.cards.authorise(pin_sale(link, "000000000003")))
            await asyncio.sleep(0.3)
            assert not sale.done()
            second = NetworksService(Keystore(MASTER), tmp_path / "network")
            await second.start(*address)
            try:
                assert (await asyncio.wait_for(sale, 5)).response_code == "00"
                assert link.connections == 2
            finally:
                await second.close()

    run(scenario)


def pin_sale(link: NetworkLink, ref: str, pin: str = "123456") -> CardRequest:
    return card(ref, pin_block=tdes.encrypt_pin_block(link.zpk, pin, GOOD), entry_mode="05")


def test_pins_cross_under_the_zone_pin_key(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with networks(tmp_path) as (_, address), link_to(address) as link:
            assert len(link.zpk) == 16
            assert (await link.cards.authorise(pin_sale(link, "000000000010"))).approved
            wrong = await link.cards.authorise(pin_sale(link, "000000000011", "654321"))
            assert wrong.response_code == "55"
            other_key = card("000000000012", pin_block=tdes.encrypt_pin_block(
                tdes.generate_key(), "123456", GOOD))  # fmt: skip
            assert (await link.cards.authorise(other_key)).response_code == "55"

    run(scenario)


def test_a_silent_issuer_times_out(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with networks(tmp_path) as (_, address), link_to(address, timeout_s=0.3) as link:
            with pytest.raises(NetworkTimeout):
                await link.cards.authorise(card("000000000020", SILENT))
            # the link goes on: the silent call did not hold the others up
            assert (await link.cards.authorise(card("000000000021"))).approved
            assert link.connections == 1

    run(scenario)


def test_another_master_key_opens_no_link(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with networks(tmp_path) as (service, address):
            with pytest.raises(NetworkTimeout):
                async with link_to(address, timeout_s=0.5, master=secrets.token_bytes(32)):
                    pass
            assert not any(link.proven for link in service.links)

    run(scenario)


def test_whom_each_payment_is_for_crosses_the_link_into_the_clearing_file(
    tmp_path: Path,
) -> None:
    """The MID, MCC and fee class the host names travel with each request, and each
    movement's clearing line names them; a completion, refund or void is cleared for the
    merchant of its original, a completion in the class the host names for it."""
    now = datetime(2026, 11, 25, 10, tzinfo=BUSINESS_TZ)
    mid = "898310012345678"

    async def scenario() -> None:
        async with networks(tmp_path) as (_, address), link_to(address) as link:
            assert (await link.cards.authorise(card("000000000041", fee_class="debit"))).approved
            hold = card("000000000042", kind=AuthKind.PREAUTH, minor=1_000, fee_class="debit")
            assert (await link.cards.authorise(hold)).approved
            done = await link.cards.capture("000000000042", "000000000043", Money(900, "CNY"),
                                            fee_class="credit")  # fmt: skip
            assert done.approved
            refund = await link.cards.refund("000000000041", "000000000044", Money(40, "CNY"))
            assert refund.approved
            paid = await link.wallets.pay(
                WalletRequest("000000000045", "284000000000000001", Money(500, "CNY"), mid, "5812")
            )
            assert paid.approved
            code = await link.wallets.precreate("000000000046", Money(250, "CNY"), "Li's",
                                                now + timedelta(minutes=5), mid, "5812")  # fmt: skip
            await link.wallets.answer_order(code.rsplit("/", 1)[1], WalletOrg.WECHAT, True, now)
            assert (await link.wallets.cancel("000000000045", "000000000047")).approved

    run(scenario)
    lines = list(ClearingJournal(tmp_path / "network", lambda: DAY).rows(DAY))
    assert [(org, ref, amount, a and astuple(a)) for org, ref, amount, a in lines] == [
        ("CUP", "000000000041", 100, (mid, "5812", "debit")),
        ("CUP", "000000000043", 900, (mid, "5812", "credit")),
        ("CUP", "000000000044", -40, (mid, "5812", "debit")),
        ("ALP", "000000000045", 500, (mid, "5812", "alipay")),
        ("WXP", "000000000046", 250, (mid, "5812", "wechat")),
        ("ALP", "000000000045", -500, (mid, "5812", "alipay")),
    ]


def test_wallets_and_their_customer_page_over_the_link(tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, 10, tzinfo=BUSINESS_TZ)

    async def scenario() -> None:
        async with networks(tmp_path) as (_, address), link_to(address) as link:
            told: list[tuple[str, WalletOrg, str]] = []

            async def notify(ref: str, org: WalletOrg, answer: NetworkAnswer) -> None:
                told.append((ref, org, answer.response_code))

            link.wallets.listen(notify)
            paid = await link.wallets.pay(
                WalletRequest("000000000030", "284000000000000001", Money(500, "CNY"), "m")
            )
            assert paid.approved and paid.issuer_id.startswith("25")
            code = await link.wallets.precreate(
                "000000000031", Money(250, "CNY"), "Li's \x1fNoodles", now + timedelta(minutes=5)
            )
            assert code.startswith("/simulator/qr/")
            token = code.rsplit("/", 1)[1]
            shown = await link.wallets.find_order(token, now)
            assert shown is not None and shown.state is OrderState.OPEN
            assert (shown.amount, shown.merchant_name) == (Money(250, "CNY"), "Li's  Noodles")
            order = await link.wallets.answer_order(token, WalletOrg.WECHAT, True, now)
            assert order is not None and order.state is OrderState.PAID
            assert told == [("000000000031", WalletOrg.WECHAT, "00")]
            assert await link.wallets.find_order("no-such-token", now) is None
            assert (await link.wallets.close("000000000031")).response_code == "94"
            refund = await link.wallets.refund("000000000030", "000000000032", Money(200, "CNY"))
            assert refund.approved

    run(scenario)


async def _raw(address: tuple[str, int]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(*address)


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, int, list[str]]:
    head = await asyncio.wait_for(reader.readexactly(wire.HEADER.size), 5)
    length, op, rid = wire.HEADER.unpack(head)
    payload = await reader.readexactly(length - wire.HEADER_AFTER_LENGTH)
    return op, rid, payload.decode().split(wire.SEP)


def test_malformed_frames_get_an_error_and_others_are_served(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with networks(tmp_path) as (_, address), link_to(address) as link:
            # garbage before the opening: an error, and the connection ends
            reader, writer = await _raw(address)
            writer.write(wire.frame(Op.AUTHORISE, 7, ["x"] * 14))
            op, rid, f = await _read_frame(reader)
            assert (op, rid) == (Op.ERROR, 0) and "HELLO" in f[0]
            assert await reader.read() == b""
            writer.close()
            # a length past the limit: an error, and the connection ends
            reader, writer = await _raw(address)
            writer.write(struct.pack(">I", 10**9) + b"\x01" * 20)
            op, rid, f = await _read_frame(reader)
            assert (op, rid) == (Op.ERROR, 0) and "bytes" in f[0]
            assert await reader.read() == b""
            writer.close()
            # bytes that are not a frame at all, then a hang-up half-way through one
            reader, writer = await _raw(address)
            writer.write(b"GET / HTTP/1.1\r\n\r\n")
            op, _, _ = await _read_frame(reader)
            assert op == Op.ERROR
            writer.close()
            reader, writer = await _raw(address)
            writer.write(wire.HEADER.pack(100, Op.HELLO, 0) + b"1")
            writer.close()
            # the link is still served
            assert (await link.cards.authorise(card("000000000040"))).approved

    run(scenario)


def test_malformed_requests_on_an_open_link_get_an_error_and_it_goes_on(tmp_path: Path) -> None:
    """A host that opened its link properly and then sends bad requests: each gets an
    error under its own request id, and the next good request is answered."""

    async def scenario() -> None:
        async with networks(tmp_path) as (_, address), link_to(address) as link:
            conn = link._conn
            assert conn is not None
            day = str(DAY.toordinal())
            not_a_number = [day, "000000000050", GOOD, "3012", "ten", "CNY", "sale", "02",
                            "5812", "m", "", "", ""]  # fmt: skip
            bad = [
                (Op.AUTHORISE, ["1"] * 3),  # too few fields
                (Op.AUTHORISE, not_a_number),
                (Op.CAPTURE, [day, "a", "b", "1", "ZZZ", "", ""]),  # no such currency
                (Op.AUTHORISE, ["not a day"] + ["0"] * 12),
                (Op.ANSWER, ["00", "", "", "", "", "", ""]),  # an answer is no request
                (77, ["x"]),  # no such op
            ]
            loop = asyncio.get_running_loop()
            futures = []
            for n, (op, f) in enumerate(bad, 1000):
                fut: asyncio.Future[list[str]] = loop.create_future()
                conn.pending[n] = (fut, loop.time() + 5)
                conn.send(op, n, f)
                futures.append(fut)
            not_utf8 = b"\xff\xfe\x1f1"  # a frame whose fields are not UTF-8
            fut = loop.create_future()
            conn.pending[2000] = (fut, loop.time() + 5)
            assert conn.transport is not None
            conn.transport.write(
                wire.HEADER.pack(len(not_utf8) + 5, Op.CARD_REVERSE, 2000) + not_utf8
            )
            futures.append(fut)
            results = await asyncio.gather(*futures, return_exceptions=True)
            assert all(isinstance(r, NetworkTimeout) for r in results), results
            assert (await link.cards.authorise(card("000000000051"))).approved
            assert link.connections == 1

    run(scenario)


# --- the acquirer on the link ----------------------------------------------------------


def test_a_terminal_sells_through_the_link_and_a_silent_issuer_gets_98(
    db_url: str, tmp_path: Path
) -> None:
    """The host as `serve` runs it: its acquirer on the networks process. A sale with a
    PIN is approved; the silent card gets 98 after the time-out and is reversed at the
    network, so nothing is left charged; the networks' books are in their directory."""
    settings = Settings(_env_file=None, database_url=db_url, demo=True, locale="en",  # type: ignore[call-arg]
                        network_dir=str(tmp_path / "network"), network_timeout_ms=300)  # fmt: skip
    app = open_app(settings)
    try:
        ensure_demo(app, 1)

        async def scenario() -> None:
            async with networks(tmp_path, DEMO_MASTER_KEY) as (_, address):
                acquirer = await linked(app, address)
                host = await TerminalHost(app, acquirer).start("127.0.0.1", 0)
                t = terminal(host.sockets[0].getsockname()[1])
                try:
                    await t.sign_on()
                    assert (await t.exchange(sale(t, GOOD, pin="123456"), with_mac=True)).text(
                        39
                    ) == "00"
                    assert (await t.exchange(sale(t, SILENT), with_mac=True)).text(39) == "98"
                    for _ in range(50):  # the reversal goes in the background
                        if not _open_calls(app):
                            break
                        await asyncio.sleep(0.1)
                    assert not _open_calls(app)
                finally:
                    await t.close()
                    host.close()
                    await host.wait_closed()
                    acquirer.close()

        run(scenario)
        assert stranded(app, tmp_path / "network") == []
        assert (tmp_path / "network" / "cards.sqlite3").exists()
        assert list((tmp_path / "network").glob("clearing-*.csv"))
    finally:
        app.close()


def _open_calls(app: Tillpoint) -> int:
    from sqlalchemy import func, select

    from tillpoint.payments.models import IntentState, NetworkIntent

    with app.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(NetworkIntent).where(
            NetworkIntent.state.in_((IntentState.OPEN, IntentState.REVERSING))
        )) or 0)  # fmt: skip


def sale(t: object, pan: str, *, pin: str | None = None) -> Message:
    from tests.e2e.test_host import sale as host_sale

    return host_sale(t, pan, 100, pin=pin, entry="051" if pin else "021")  # type: ignore[arg-type]


def test_the_networks_address_setting() -> None:
    from tillpoint.networks.link import parse_address

    assert parse_address("127.0.0.1:5801") == ("127.0.0.1", 5801)
    assert parse_address("[::1]:5801") == ("::1", 5801)
    assert parse_address("networks.internal:5801") == ("networks.internal", 5801)
    for bad in ("127.0.0.1", ":5801", "host:port", "host:70000"):
        with pytest.raises(ValueError, match="host:port"):
            parse_address(bad)
    ok = Settings(_env_file=None, networks_address=" [::1]:5801 ")  # type: ignore[call-arg]
    assert ok.networks_address == "[::1]:5801"
    for bad in ("127.0.0.1", "host:70000", "a b:1"):
        with pytest.raises(ValueError, match="host:port"):
            Settings(_env_file=None, networks_address=bad)  # type: ignore[call-arg]


def test_a_chip_cards_data_crosses_the_link_both_ways(tmp_path: Path) -> None:
    """The chip's 55 and PSN reach the issuer in the networks process, and its 55 (tag
    91, the ARPC) comes back: for a sale, a pre-auth's completion, and a forged ARQC."""
    from tillpoint.networks.connector import ChipData
    from tillpoint.terminal import chip

    def read(minor: int, kind: str) -> chip.ChipRead:
        return chip.read(GOOD, secrets.randbelow(60_000) + 1, kind=kind, amount_minor=minor,
                         pin=False, ifd_serial="10000001", today=DAY)  # fmt: skip

    async def scenario() -> None:
        async with networks(tmp_path) as (_, address), link_to(address) as link:
            sold = read(100, "sale")
            answer = await link.cards.authorise(
                card("000000000001", entry_mode="05", chip=ChipData("01", sold.icc))
            )
            assert answer.approved and sold.accepts(answer.icc)
            forged = ChipData("01", sold.icc.replace(sold.arqc, bytes(8)))
            refused = await link.cards.authorise(card("000000000002", chip=forged))
            assert refused.response_code == "88" and refused.icc is not None
            held = read(500, "preauth")
            hold = await link.cards.authorise(card("000000000003", minor=500,
                                                   kind=AuthKind.PREAUTH,
                                                   chip=ChipData("01", held.icc)))  # fmt: skip
            assert hold.approved and held.accepts(hold.icc)
            done = read(500, "completion")
            captured = await link.cards.capture(
                "000000000003", "000000000004", Money(500, "CNY"), ChipData("01", done.icc)
            )
            assert captured.approved and done.accepts(captured.icc)
            swiped = await link.cards.authorise(card("000000000005"))
            assert swiped.approved and swiped.icc is None

    run(scenario)
