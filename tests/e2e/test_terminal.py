"""The virtual terminal against a real host over TCP: operator sign-in, the pre-auth
family, slips and reprint, batch upload, and the Textual screen driven key by key."""

from __future__ import annotations

from pathlib import Path

from rich.cells import cell_len
from sqlalchemy import text
from tests.hosting import run_with_host, terminal

from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.receipts.slip import WIDTH, render
from tillpoint.terminal.device import Device, DeviceState, JournalEntry

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
    assert all(cell_len(line) <= WIDTH for line in lines)


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


def test_pos_screen_sale_void_refund_reprint_settle(demo: Tillpoint, tmp_path: Path) -> None:
    """A cashier's session on the Textual screen, key by key, against a real host."""
    from textual.pilot import Pilot

    from tillpoint.terminal.tui import PosTerminal

    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario(port: int) -> None:
        app = PosTerminal(device_at(port, tmp_path / "t.json"))

        async def until(pilot: Pilot[None], text: str) -> None:
            for _ in range(400):
                if text in app.shown:
                    return
                await pilot.pause(0.025)
            raise AssertionError(f"the screen never said {text!r}; it says:\n{app.shown}")

        async def keys(pilot: Pilot[None], *typed: str) -> None:
            for k in typed:
                await pilot.press(*k) if k not in (
                    "enter",
                    "escape",
                    "backspace",
                ) else await pilot.press(k)

        async with app.run_test(size=(100, 48)) as pilot:
            await until(pilot, "Operator no.")  # signed on by itself at start
            await keys(pilot, "001", "enter", "9999", "enter")
            await until(pilot, "55 Incorrect PIN or password")
            await keys(pilot, "enter", "001", "enter", "1234", "enter")
            await until(pilot, "Balance inquiry")  # the menu
            # Sale of 12.34 by chip with PIN.
            await keys(pilot, "1", "12340", "backspace", "enter")
            await until(pilot, "Present the card")
            await keys(pilot, "1", "2", "123456", "enter")
            await until(pilot, "APPROVED")
            app.save_screenshot(str(shots / "approved.svg"))
            assert "RMB 12.34" in app.slips[-1] and "CARDHOLDER SIGNATURE" in app.slips[-1]
            # Void it by its voucher number (the default is the last sale).
            await keys(pilot, "enter", "2", "enter")
            await until(pilot, "RMB 12.34")
            await keys(pilot, "enter")
            await pilot.click("#key-1")  # the keypad works as well as the keyboard
            await keys(pilot, "2")
            await until(pilot, "APPROVED")
            assert "消费撤销 VOID" in app.slips[-1]
            # A tapped sale of 50.00 needs no PIN; refund 10.00 of it.
            await keys(pilot, "enter", "1", "5000", "enter", "1", "3")
            await until(pilot, "APPROVED")
            sale = app.device.state.journal[-1]
            await keys(pilot, "enter", "3", sale.rrn, "enter", "1000", "enter", "1", "3")
            await until(pilot, "APPROVED")
            # Cancel leaves a function without doing anything.
            await keys(pilot, "enter", "1", "99", "escape")
            await until(pilot, "Balance inquiry")
            await keys(pilot, "7")
            await until(pilot, "Slip printed again")
            assert "DUPLICATED" in app.slips[-1] and "退货 REFUND" in app.slips[-1]
            await keys(pilot, "enter", "6")
            await until(pilot, "Settle this batch?")
            await keys(pilot, "enter")
            await until(pilot, "Batch 000001 settled")
            assert "balanced" in app.shown
            # Sign out; the supervisor signs in.
            await keys(pilot, "enter", "8")
            await until(pilot, "Operator no.")
            await keys(pilot, "backspace", "00", "enter", "123456", "enter")
            await until(pilot, "Balance inquiry")
            assert app.device.client.operator == "00"
            app.save_screenshot(str(shots / "menu.svg"))
            await app.action_quit()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        rows = c.execute(text("SELECT kind, status, amount_minor FROM payments ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("sale", "voided", 1_234),
        ("sale", "partly_refunded", 5_000),
        ("refund", "approved", 1_000),
    ]


def test_pos_screen_without_a_host_and_in_a_small_window(tmp_path: Path) -> None:
    """No host: the screen says so and offers to try again. In 80 x 24 the keypad gives
    way to the screen and the printer."""
    import asyncio

    from tillpoint.terminal.tui import PosTerminal

    async def scenario() -> None:
        app = PosTerminal(device_at(1, tmp_path / "t.json"))  # nothing listens on port 1
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(200):
                if "No valid answer from the host" in app.shown:
                    break
                await pilot.pause(0.025)
            assert "No valid answer from the host" in app.shown
            assert not app.query_one("#keypad").display
            assert app.query_one("#lcd").display and app.query_one("#paper").display
            await app.action_quit()

    asyncio.run(scenario())
