"""The virtual terminal against a real host over TCP: operator sign-in, the pre-auth
family, slips and reprint, batch upload, and the Textual screen driven key by key."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from tests.hosting import run_with_host, terminal

from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.terminal.device import Device, DeviceState, JournalEntry
from tillpoint.terminal.receipt import render

CREDIT = "6250940000000000016"
DEBIT = "6212340000000000012"


def device_at(port: int, path: Path | None = None, n: int = 1) -> Device:
    state = DeviceState.demo(n)
    state.port = port
    return Device(state, path)


def test_operator_sign_in_is_checked_by_the_host(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        device = device_at(port)
        assert (await device.sign_in("001", "1234")).approved  # signs on first by itself
        assert device.state.operator == "001"
        assert (await device.sign_in("00", "123456")).approved  # the supervisor
        assert (await device.sign_in("001", "9999")).response_code == "55"
        assert (await device.sign_in("042", "1234")).response_code == "55"  # no such operator
        assert device.state.operator == "00"  # a refused sign-in changes nobody
        for _ in range(4):
            await device.sign_in("001", "0000")
        assert (await device.sign_in("001", "1234")).response_code == "75"  # locked
        # A terminal that never signed on cannot sign an operator in: it has no PIK.
        bare = terminal(port, 2)
        await bare.sign_on()
        bare.keys = type(bare.keys)(b"\x01" * 16, b"\x01" * 16, b"\x01" * 16)  # type: ignore[misc]
        assert (await bare.sign_on("1234")).text(39) == "55"  # garbage block: refused
        await bare.close()
        await device.close()

    run_with_host(demo, scenario)
    assert demo.terminals.list_operators("10000001")[1].locked


def test_preauth_family_slips_and_reprint(demo: Tillpoint, tmp_path: Path) -> None:
    state_file = tmp_path / "t.json"

    async def scenario(port: int) -> None:
        device = device_at(port, state_file)
        hold = await device.preauth(Money.parse("1000.00"), CREDIT, pin="123456")
        assert hold.approved and hold.auth_code and hold.stan
        too_much = await device.complete(hold.auth_code or "", Money.parse("1150.01"), CREDIT)
        assert too_much.response_code == "13"
        done = await device.complete(hold.auth_code or "", Money.parse("1150.00"), CREDIT)
        assert done.approved
        assert (await device.completion_void(done.rrn or "", CREDIT)).approved
        again = await device.complete(hold.auth_code or "", Money.parse("800.00"), CREDIT)
        assert again.approved
        other = await device.preauth(Money.parse("200.00"), CREDIT, pin="123456")
        assert (await device.preauth_void(other.rrn or "", CREDIT)).approved
        assert (await device.preauth_void(other.rrn or "", CREDIT)).response_code == "22"
        # Only the standing completion is a debit of the batch.
        assert device.totals().domestic.debit_minor == 80_000
        assert (await device.settle()).settlement == {"domestic": "1", "foreign": "1"}
        await device.close()

    run_with_host(demo, scenario)
    receipt = Device(DeviceState.load(state_file)).last_receipt()
    assert receipt is not None and receipt.kind == "preauth_void"
    lines = render(receipt, reprint=True)
    slip = "\n".join(lines)
    assert "预授权撤销 PRE-AUTH VOID" in slip and "RMB -200.00" in slip
    assert "重打印凭证 DUPLICATED" in slip and "持卡人签名 CARDHOLDER SIGNATURE" in slip
    assert "625094*********0016" in slip and CREDIT not in state_file.read_text()
    assert all(len(line) <= 40 for line in lines)


def test_unbalanced_settlement_uploads_the_batch(demo: Tillpoint) -> None:
    async def scenario(port: int) -> None:
        device = device_at(port)
        sold = await device.sale(Money.parse("12.00"), DEBIT, pin="123456")
        assert sold.approved
        # The terminal believes in a sale the host never saw.
        device.state.journal.append(
            JournalEntry("sale", "000099", "999999999999", 500, "621234*********0012", True)
        )
        settled = await device.settle()
        assert settled.settlement == {"domestic": "2", "foreign": "1"}
        await device.close()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        uploads = c.execute(text("SELECT rrn, amount_minor FROM batch_uploads ORDER BY id")).all()
        differences = c.execute(text("SELECT rrn FROM batch_discrepancies")).scalars().all()
    assert [tuple(u) for u in uploads][1] == ("999999999999", 500)
    assert differences == ["999999999999"]
