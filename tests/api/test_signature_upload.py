"""E-signature upload (4.11) end to end: a terminal uploads the cardholder's signature
over a real TCP connection to the host, in several packets, and it shows on the
payment's API resource and on its e-receipt page; a bad image gets 30, another
terminal's RRN 25, another amount 64, and a packet sent again the same answer. Slips
that need no signature say so on the e-receipt too."""

from __future__ import annotations

import io
import re

from PIL import Image

from tests.api.conftest import ApiEnv
from tests.api.test_receipts import DEBIT, path_of, wallet_sale
from tests.chipcards import with_chip
from tests.hosting import run_with_host, terminal
from tillpoint.core.money import Money
from tillpoint.iso8583.codec import Message
from tillpoint.iso8583.signature import cut
from tillpoint.receipts.escpos import CHINESE_MODE
from tillpoint.terminal.client import TerminalClient
from tillpoint.terminal.device import Device, DeviceState
from tillpoint.terminal.signature import from_name, from_strokes


def card_sales(api: ApiEnv, *sales: tuple[str, str]) -> list[int]:
    """Sales (amount, entry) on demo terminal 1 through a real host over TCP, no
    signature; their ids."""
    rrns: list[str] = []

    async def scenario(port: int) -> None:
        state = DeviceState.demo(1)
        state.port = port
        device = Device(state)
        for amount, entry in sales:
            pin = None if entry == "tap" else "123456"
            result = await device.sale(Money.parse(amount), DEBIT, entry=entry, pin=pin)
            assert result.approved and result.rrn, result
            rrns.append(result.rrn)
        await device.close()

    run_with_host(api.tp, scenario)
    return [_payment_id(api, rrn) for rrn in rrns]


def _payment_id(api: ApiEnv, rrn: str) -> int:
    page = api.get("ops", "/v1/payments?limit=100").json()["data"]
    return next(p["id"] for p in page if p["rrn"] == rrn)


def test_a_signature_uploaded_in_packets_shows_on_the_payment_and_its_receipt(
    api: ApiEnv,
) -> None:
    png = from_name("Zhang San")
    assert len(cut(png)) == 3
    seen: dict[str, object] = {}

    async def scenario(port: int) -> None:
        state = DeviceState.demo(1)
        state.port = port
        device = Device(state)
        sale = await device.sale(Money.parse("88.88"), DEBIT, pin="123456")
        assert sale.approved and sale.rrn
        entry = device.query(rrn=sale.rrn)
        assert device.receipt(entry).needs_signature and not entry.signed
        stan_before = device.client.stan
        uploaded = await device.upload_signature(entry, png)
        seen.update(rrn=sale.rrn, uploaded=uploaded, stans=device.client.stan - stan_before)
        assert device.query(rrn=sale.rrn).signed and device.last_receipt().signed  # type: ignore[union-attr]
        await device.close()

    run_with_host(api.tp, scenario)
    uploaded = seen["uploaded"]
    assert uploaded.approved and uploaded.response_code == "00"  # type: ignore[attr-defined]
    assert seen["stans"] == 3  # one 0820 per packet, each with a new STAN
    pid = _payment_id(api, str(seen["rrn"]))

    # The payment's resource links the image, which reads back as sent.
    resource = api.get("staff_a", f"/v1/payments/{pid}").json()
    assert resource["signature"]["url"] == f"/v1/payments/{pid}/signature"
    assert resource["signature"]["captured_at"]
    image = api.get("staff_a", resource["signature"]["url"])
    assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
    assert image.content == png
    assert api.get("owner_b", resource["signature"]["url"]).status_code == 404  # scoped
    listed = api.get("owner_a", "/v1/payments").json()["data"]
    assert next(p for p in listed if p["id"] == pid)["signature"] == resource["signature"]

    # The e-receipt page shows it, loaded from beside the page (nothing from elsewhere).
    body = api.get("owner_a", f"/v1/payments/{pid}/receipt").json()
    assert body["receipt"]["signed"] and body["signature_url"] == body["url"] + "/signature.png"
    page = api.client.get(path_of(body["url"]))
    assert page.status_code == 200
    src = re.search(r'<img src="([^"]+)"', page.text)
    assert src is not None and src[1] == body["url"].rsplit("/", 1)[-1] + "/signature.png"
    assert "持卡人签名" in page.text and "CARDHOLDER SIGNATURE" in page.text
    assert "免密免签" not in page.text
    shown = api.client.get(path_of(body["signature_url"]))
    assert (shown.status_code, shown.content) == (200, png)
    printed = api.get("staff_a", f"/v1/payments/{pid}/receipt.escpos").content
    assert printed.startswith(b"\x1b@" + CHINESE_MODE) and b"\x1dv0" in printed  # its raster


def _signature_packet(t: TerminalClient, rrn: str, amount_minor: int, field62: bytes) -> Message:
    return Message(
        "0820",
        {4: f"{amount_minor:012d}", 11: t.next_stan(), 37: rrn, 41: t.tid, 42: t.mid,
         60: f"07{t.batch}800", 62: field62},
    )  # fmt: skip


def _sale(t: TerminalClient, amount_minor: int) -> Message:
    return with_chip(Message(
        "0200",
        {3: "000000", 4: f"{amount_minor:012d}", 11: t.next_stan(), 22: "051", 25: "00",
         35: f"{DEBIT}D30122010000", 41: t.tid, 42: t.mid, 49: "156", 60: f"22{t.batch}000"},
    ))  # fmt: skip


def test_refusals_and_repeats_over_tcp(api: ApiEnv) -> None:
    good = from_name("Li Si")
    assert len(cut(good)) == 2
    grey = io.BytesIO()
    Image.new("L", (300, 120), 255).save(grey, "PNG")  # 8 bits a pixel
    codes: dict[str, object] = {}

    async def scenario(port: int) -> None:
        one, two = terminal(port, 1), terminal(port, 2)
        for t in (one, two):
            await t.sign_on()
        sale1 = await one.exchange(_sale(one, 5_000), with_mac=True)
        sale2 = await two.exchange(_sale(two, 7_000), with_mac=True)
        rrn1, rrn2 = sale1.text(37) or "", sale2.text(37) or ""
        assert sale1.text(39) == sale2.text(39) == "00"

        async def send(t: TerminalClient, message: Message) -> str:
            answer = await t.exchange(message, with_mac=True)  # the client checks its MAC
            assert answer.mti == "0830" and answer.binary(64) is not None
            assert answer.text(11) == message.text(11)
            if answer.text(39) != "94":  # the duplicate rule's 94 names no reference
                assert answer.text(37) == message.text(37)
            return answer.text(39) or ""

        packets = [p.build() for p in cut(good)]
        # Terminal 2 cannot sign terminal 1's sale; another amount is refused.
        codes["other_terminal"] = await send(two, _signature_packet(two, rrn1, 5_000, packets[0]))
        codes["amount"] = await send(one, _signature_packet(one, rrn1, 5_001, packets[0]))
        # A bad image: its packets are kept until the last, which gets 30.
        bad = [
            await send(two, _signature_packet(two, rrn2, 7_000, p.build()))
            for p in cut(grey.getvalue())
        ]
        codes["bad"] = bad
        # Terminal 1's own upload, each packet sent twice under its STAN.
        answers = []
        messages = [_signature_packet(one, rrn1, 5_000, p) for p in packets]
        for m in messages:
            answers += [await send(one, m), await send(one, m)]
        codes["upload"] = answers
        # The last packet again, after the signature was kept: under its STAN, and under
        # a new one, the same answer; the same STAN with other content gets 94.
        codes["last_again"] = await send(one, messages[-1])
        codes["last_new_stan"] = await send(one, _signature_packet(one, rrn1, 5_000, packets[-1]))
        changed = Message("0820", {**messages[0].fields, 62: packets[1]})
        codes["changed"] = await send(one, changed)
        # A stroke-drawn one for terminal 2's sale now goes through.
        drawn = from_strokes([[(10.0, 10.0), (300.0, 120.0), (40.0, 140.0)]])
        codes["two"] = [
            await send(two, _signature_packet(two, rrn2, 7_000, p.build())) for p in cut(drawn)
        ]
        # The host still serves: an echo.
        codes["echo"] = (await one.echo()).text(39)
        for t in (one, two):
            await t.close()

    run_with_host(api.tp, scenario)
    assert codes["other_terminal"] == "25"
    assert codes["amount"] == "64"
    bad = codes["bad"]
    assert isinstance(bad, list) and bad[-1] == "30" and set(bad[:-1]) <= {"00"}
    assert codes["upload"] == ["00"] * 4
    assert codes["last_again"] == codes["last_new_stan"] == "00"
    assert codes["changed"] == "94"
    assert codes["two"] == ["00"] * len(codes["two"])  # type: ignore[arg-type]
    assert codes["echo"] == "00"
    signed = [p for p in api.get("ops", "/v1/payments").json()["data"] if p["signature"]]
    assert len(signed) == 2


def test_receipts_that_need_no_signature_say_so(api: ApiEnv) -> None:
    tapped, inserted = card_sales(api, ("1000.00", "tap"), ("1000.00", "insert"))  # 小额免密免签
    wallet = wallet_sale(api)
    for pid, needs in ((tapped, False), (inserted, True), (wallet, False)):
        body = api.get("owner_a", f"/v1/payments/{pid}/receipt").json()
        assert body["receipt"]["needs_signature"] is needs
        page = api.client.get(path_of(body["url"])).text
        assert ("免密免签" in page and "No signature required" in page) is not needs
        printed = api.get("owner_a", f"/v1/payments/{pid}/receipt.escpos").content
        assert ("免密免签".encode("gb18030") in printed) is not needs
        assert ("持卡人签名".encode("gb18030") in printed) is needs
