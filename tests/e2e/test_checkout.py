"""The cashier link (4.13) end to end: a till makes checkouts through the real API, the
terminal polls the host over TCP (0820/360, MACed both ways), pays with a sale naming
the checkout in 62, and the till hears of it (checkout events, webhook deliveries); a
second sale naming it gets 94, a canceled one cannot be paid, the poll answers 25 when
nothing waits; and with two host processes on one database, of two sales naming one
checkout at the same moment one pays it and the other gets 94."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.chipcards import with_chip
from tests.hosting import run_with_host, terminal

from tillpoint.access.models import Role
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint, open_app
from tillpoint.cli import _common, main
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
from tillpoint.host.server import TerminalHost
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583.codec import Message
from tillpoint.notify.webhooks import WebhookService
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.models import Payment, PaymentStatus
from tillpoint.terminal.client import TerminalClient
from tillpoint.terminal.device import Device, DeviceState
from tillpoint.terminals.models import TerminalStatus

DEBIT = "6212340000000000012"
TID = demo_tid(1)
CHECKOUTS = f"/v1/terminals/{TID}/checkouts"


class Till:
    """The shop's till: the REST API with a staff key (an owner key for webhooks)."""

    def __init__(self, app: Tillpoint) -> None:
        self.acquirer = simulated(app)
        self.client = TestClient(create_api(app, self.acquirer), raise_server_exceptions=False)
        self.staff = app.access.create_key(Role.MERCHANT_STAFF, "till", "test",
                                           merchant_ref=demo_mid(1)).secret  # fmt: skip
        self.owner = app.access.create_key(Role.MERCHANT_OWNER, "owner", "test",
                                           merchant_ref=demo_mid(1)).secret  # fmt: skip
        self.n = 0

    def call(self, method: str, path: str, body: Any = None, *, owner: bool = False) -> Any:
        self.n += 1
        headers = {"Authorization": f"Bearer {self.owner if owner else self.staff}",
                   "Idempotency-Key": f"till-{self.n}"}  # fmt: skip
        r = self.client.request(method, path, json=body, headers=headers)
        assert r.status_code < 300, r.text
        return r.json()

    def close(self) -> None:
        self.client.close()
        self.acquirer.close()


def device_at(port: int) -> Device:
    state = DeviceState.demo(1)
    state.port = port
    return Device(state)


def poll(t: TerminalClient) -> Message:
    fields: dict[int, str | bytes] = {11: t.next_stan(), 41: t.tid, 42: t.mid,
                                      60: f.Field60("00", t.batch, f.CHECKOUT_POLL).build()}  # fmt: skip
    return Message("0820", fields)


def test_a_checkout_from_the_api_is_paid_by_the_terminal_and_announced(demo: Tillpoint) -> None:
    till = Till(demo)
    hook = till.call("POST", "/v1/webhook_endpoints",
                     {"url": "https://till.example.com/hooks",
                      "events": ["checkout.paid", "checkout.canceled"]}, owner=True)  # fmt: skip
    seen: dict[str, Any] = {}

    async def scenario(port: int) -> None:
        raw = terminal(port)
        await raw.sign_on()
        # Nothing waits: 25, and the answer carries a MAC (the client checks it).
        answer = await raw.exchange(poll(raw), with_mac=True)
        assert (answer.mti, answer.text(39)) == ("0830", "25")
        assert answer.binary(64) is not None and answer.text(4) is None
        made = await asyncio.to_thread(
            till.call, "POST", CHECKOUTS, {"amount_minor": 8_888, "reference": "T1-0001"}
        )
        seen["made"] = made
        answer = await raw.exchange(poll(raw), with_mac=True)
        assert (answer.text(39), answer.text(4), answer.text(49)) == ("00", "000000008888", "156")
        assert answer.binary(62) == made["checkout_ref"].encode("ascii")
        assert answer.text(60) == f"00{raw.batch}360"  # 60 echoed
        await raw.close()

        device = device_at(port)
        offer = await device.poll_checkout()
        assert offer is not None and offer.amount == Money(8_888)
        paid = await device.sale(offer.amount, DEBIT, pin="123456", checkout=offer.reference)
        assert paid.approved, paid
        seen["rrn"] = paid.rrn
        again = await device.sale(offer.amount, DEBIT, pin="123456", checkout=offer.reference)
        assert again.response_code == "94"  # paid at most once
        assert await device.poll_checkout() is None

        # A checkout the till canceled is no longer offered, and cannot be paid.
        other = await asyncio.to_thread(
            till.call, "POST", CHECKOUTS, {"amount_minor": 500, "reference": "T1-0002"}
        )
        await asyncio.to_thread(till.call, "POST", f"{CHECKOUTS}/{other['id']}/cancel")
        assert await device.poll_checkout() is None
        late = await device.sale(Money(500), DEBIT, pin="123456", checkout=other["checkout_ref"])
        assert late.response_code == "25"
        await device.close()

    try:
        run_with_host(demo, scenario)
        made = seen["made"]
        view = till.call("GET", f"{CHECKOUTS}/{made['id']}")
        assert (view["status"], view["attempts"], view["last_response_code"]) == ("paid", 0, "00")
        payment = till.call("GET", f"/v1/payments/{view['payment_id']}")
        assert (payment["rrn"], payment["amount_minor"], payment["tid"]) == (
            seen["rrn"], 8_888, TID,
        )  # fmt: skip
        events = till.call("GET", "/v1/checkout_events")["data"]
        assert [(e["type"], e["data"]["reference"]) for e in events] == [
            ("checkout.canceled", "T1-0002"), ("checkout.paid", "T1-0001"),
        ]  # fmt: skip
        assert WebhookService(demo.ctx).fan_out() == 2
        deliveries = till.call("GET", f"/v1/webhook_endpoints/{hook['id']}/deliveries",
                               owner=True)["data"]  # fmt: skip
        assert [(d["source"], d["event_type"]) for d in deliveries] == [
            ("checkout", "checkout.canceled"), ("checkout", "checkout.paid"),
        ]  # fmt: skip
        detail = till.call(
            "GET", f"/v1/webhook_endpoints/{hook['id']}/deliveries/{deliveries[1]['id']}",
            owner=True,
        )  # fmt: skip
        body = json.loads(detail["body"])
        assert (body["object"], body["type"], body["data"]["status"]) == (
            "checkout_event", "checkout.paid", "paid",
        )  # fmt: skip
        assert body["payment_id"] == view["payment_id"]
    finally:
        till.close()


def test_a_malformed_checkout_reference_is_a_format_error(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        t = terminal(port)
        await t.sign_on()
        for bad in (b"", b"CK\x00", "收银".encode(), b"X" * 33):
            fields: dict[int, str | bytes] = {
                3: "000000", 4: "000000000100", 11: t.next_stan(), 22: "021", 25: "00",
                35: f"{DEBIT}D30122010000", 41: t.tid, 42: t.mid, 49: "156",
                60: f"22{t.batch}000", 62: bad,
            }  # fmt: skip
            answer = await t.exchange(Message("0200", fields), with_mac=True)
            assert answer.text(39) == "30", bad
        assert (await t.exchange(poll(t), with_mac=True)).text(39) == "25"  # still serving
        await t.close()

    run_with_host(demo, scenario)


def test_two_host_processes_let_one_sale_pay_a_checkout(
    demo: Tillpoint, db_url: str, tmp_path: Path
) -> None:
    """Two applications on one database (as two host processes are), each with its own
    acquirer and group commit; the same terminal sends two sales naming one checkout at
    once, one through each: one pays it, the other gets 94, and one payment stands."""
    made = demo.checkouts.create(TID, Money(4_321), "T1-RACE")
    other = open_app(Settings(_env_file=None, database_url=db_url, demo=True, locale="en",  # type: ignore[call-arg]
                              network_dir=str(tmp_path / "network2")))  # fmt: skip

    async def main() -> list[str]:
        acquirers = [simulated(demo), simulated(other)]
        servers = [
            await TerminalHost(app, a).start("127.0.0.1", 0)
            for app, a in zip((demo, other), acquirers, strict=True)
        ]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        try:
            first, second = terminal(ports[0]), terminal(ports[1], stan=500)
            await first.sign_on()
            second.keys, second.batch = first.keys, first.batch  # the same terminal
            sales = []
            for t in (first, second):
                fields: dict[int, str | bytes] = {
                    3: "000000", 4: "000000004321", 11: t.next_stan(), 22: "051", 25: "00",
                    35: f"{DEBIT}D30122010000", 41: t.tid, 42: t.mid, 49: "156",
                    60: f"22{t.batch}000", 62: made.checkout_ref.encode(),
                }  # fmt: skip
                sales.append(t.exchange(with_chip(Message("0200", fields)), with_mac=True))
            answers = await asyncio.gather(*sales)
            for t in (first, second):
                await t.close()
            return sorted(a.text(39) or "" for a in answers)
        finally:
            for server in servers:
                server.close()
                await server.wait_closed()
            for a in acquirers:
                a.close()

    try:
        assert asyncio.run(main()) == ["00", "94"]
        view = demo.checkouts.get(TID, made.id)
        assert view.status == "paid" and view.payment_id is not None
        with demo.ctx.db.read() as s:
            approved = s.scalar(
                select(func.count())
                .select_from(Payment)
                .where(Payment.amount_minor == 4_321, Payment.status == PaymentStatus.APPROVED)
            )
        assert approved == 1
        assert demo.terminals.get(TID).status is TerminalStatus.ACTIVE
    finally:
        other.close()


@contextlib.contextmanager
def host_in_a_thread(app: Tillpoint) -> Iterator[int]:
    """A host on a loop of its own thread (the CLI runs its own event loop); its port."""
    loop = asyncio.new_event_loop()
    acquirer = simulated(app)
    ready = threading.Event()
    server: list[Any] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server.append(loop.run_until_complete(TerminalHost(app, acquirer).start("127.0.0.1", 0)))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield server[0].sockets[0].getsockname()[1]
    finally:

        async def stop() -> None:
            server[0].close()
            await server[0].wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        acquirer.close()
        loop.close()


def test_terminal_checkout_command_pays_what_the_till_handed_over(
    demo: Tillpoint,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TILLPOINT_LOCALE", "en")
    for console in (_common.out, _common.err):
        monkeypatch.setattr(console, "width", 200)
    state = str(tmp_path / "terminal.json")

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as e:
            main(["terminal", *args, "--state", state])
        out = capsys.readouterr()
        return int(e.value.code or 0), out.out, out.err

    card = ("--card", DEBIT, "--pin", "123456")
    with host_in_a_thread(demo) as port:
        code, _out, err = run("setup", "--tid", TID, "--mid", demo_mid(1),
                              "--tmk", DEMO_TMK.hex(), "--port", str(port))  # fmt: skip
        assert code == 0, err
        code, out, _err = run("checkout", *card)
        assert (code, out.strip()) == (1, "No checkout waits for this terminal.")
        code, out, _err = run("checkout", *card, "--json")
        assert (code, json.loads(out)) == (1, {"checkout": None})

        made = demo.checkouts.create(TID, Money.parse("66.60"), "T1-CLI")
        code, out, err = run("checkout", *card, "--json")
        assert code == 0, err
        paid = json.loads(out)
        assert paid["checkout"] == {"amount_minor": 6_660, "reference": made.checkout_ref}
        assert paid["approved"] and paid["amount_minor"] == 6_660
        assert demo.checkouts.get(TID, made.id).status == "paid"

        # --wait: none waits yet; the till hands one over a moment later.
        later = threading.Timer(
            0.5, lambda: demo.checkouts.create(TID, Money.parse("7.00"), "T1-CLI-2")
        )
        later.start()
        code, out, err = run("checkout", *card, "--entry", "tap", "--wait", "20")
        later.join()
        assert code == 0, err
        assert "Amount from the till" in out and "CNY 7.00" in out and "APPROVED" in out
        # A declined card: the checkout waits for another try.
        demo.checkouts.create(TID, Money.parse("20.00"), "T1-CLI-3")
        code, out, _err = run("checkout", "--card", "6212340000000000020", "--pin", "123456")
        assert code == 1 and "DECLINED (51)" in out
    assert [c.status.value for c in demo.checkouts.search(TID)] == ["pending", "paid", "paid"]
