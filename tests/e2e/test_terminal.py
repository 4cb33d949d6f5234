"""The virtual terminal against a real host over TCP: operator sign-in, the pre-auth
family, slips and reprint, batch upload, and the Textual screen driven key by key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.cells import cell_len
from sqlalchemy import text
from tests.hosting import run_with_host, terminal
from textual.pilot import Pilot

from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_SUPERVISOR_PASSWORD as SUPERVISOR
from tillpoint.receipts.slip import WIDTH, render
from tillpoint.terminal.device import Device, DeviceState, JournalEntry, Result
from tillpoint.terminal.tui import PosTerminal

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
        assert (
            await device.completion_void(done.rrn or "", CREDIT, supervisor_password=SUPERVISOR)
        ).approved
        again = await device.complete(hold.auth_code or "", Money.parse("800.00"), CREDIT)
        assert again.approved
        other = await device.preauth(Money.parse("200.00"), CREDIT, pin="123456")
        assert (
            await device.preauth_void(other.rrn or "", CREDIT, supervisor_password=SUPERVISOR)
        ).approved
        assert (
            await device.preauth_void(other.rrn or "", CREDIT, supervisor_password=SUPERVISOR)
        ).response_code == "22"
        # Only the standing completion is a debit of the batch.
        assert device.totals().domestic.debit_minor == 80_000
        assert (await device.settle()).settlement == {"domestic": "1", "foreign": "1"}
        await device.close()

    run_with_host(demo, scenario)
    receipt = Device(DeviceState.load(state_file)).last_receipt()
    assert receipt is not None and receipt.kind == "preauth_void"
    lines = render(receipt, reprint=True)
    slip = "\n".join(lines)
    assert "预授权撤销 PRE-AUTH VOID" in slip and "CNY -200.00" in slip
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


async def until(app: PosTerminal, pilot: Pilot[None], text: str) -> None:
    for _ in range(400):
        if text in app.shown:
            return
        await pilot.pause(0.025)
    raise AssertionError(f"the screen never said {text!r}; it says:\n{app.shown}")


async def skip_the_pad(app: PosTerminal, pilot: Pilot[None]) -> None:
    """Skip the signature pad once it is on the screen and laid out: the LCD asks for
    the signature a moment before the pad's screen is up, and a click before that
    lands on nothing."""
    for _ in range(400):
        shown = app.screen.query("#sign-skip")
        if shown and shown.first().region.area:
            break
        await pilot.pause(0.025)
    await pilot.click("#sign-skip")


async def keys(pilot: Pilot[None], *typed: str) -> None:
    for k in typed:
        if k in ("enter", "escape", "backspace"):
            await pilot.press(k)
        else:
            await pilot.press(*k)


def fits(app: PosTerminal, size: tuple[int, int]) -> None:
    """Everything of the device and the printer is inside the window."""
    for selector in ("#device", "#lcd", "#paper"):
        region = app.query_one(selector).region
        assert region.right <= size[0] and region.bottom <= size[1], (selector, region, size)


def test_a_fault_of_the_terminal_shows_its_kind_and_no_card_data(tmp_path: Path) -> None:
    """An unexpected error in a transaction is said by its kind and the terminal goes on;
    the app does not end with a traceback that shows the frames' locals (a card number
    and PIN among them)."""

    async def scenario() -> None:
        app = PosTerminal(device_at(1, tmp_path / "t.json"))  # no host: nothing is sent

        async def faulty() -> Result:
            pan, pin = DEBIT, "123456"  # what a traceback with locals would show
            raise RuntimeError(f"{pan} {pin}")

        async with app.run_test(size=(120, 40)) as pilot:
            talked = asyncio.ensure_future(app.talk("Sale", faulty()))
            await until(app, pilot, "The terminal met a fault of its own")
            assert "RuntimeError" in app.shown
            assert DEBIT not in app.shown and "123456" not in app.shown
            assert app.is_running and not talked.done()  # the notice waits for Enter
            talked.cancel()

    asyncio.run(scenario())


@pytest.mark.screen
def test_pos_screen_at_120_by_40(demo: Tillpoint, tmp_path: Path) -> None:
    """A cashier's session on the full layout, key by key, against a real host: the
    keypad is there, voids and refunds ask the supervisor password, slips come in two
    copies, and the batch can be queried, reprinted and printed before settlement."""
    shots = tmp_path / "screens"
    shots.mkdir()

    async def scenario(port: int) -> None:
        app = PosTerminal(device_at(port, tmp_path / "t.json"))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(app, pilot, "Operator no.")  # signed on by itself at start
            assert not app.compact and app.query_one("#keypad").display
            assert app.query_one("#brand").display
            assert app.query_one("#key-1").region.height == 3  # full-size keys
            fits(app, (120, 40))
            await keys(pilot, "001", "enter", "9999", "enter")
            await until(app, pilot, "55 Incorrect PIN or password")
            await keys(pilot, "enter", "001", "enter", "1234", "enter")
            await until(app, pilot, "Management")  # the menu
            # Sale of 12.34 by chip with PIN: the merchant's copy, then the cardholder's.
            await keys(pilot, "1", "12340", "backspace", "enter")
            await until(app, pilot, "Present the card")
            assert "CNY 12.34" in app.shown
            await keys(pilot, "1", "2", "123456", "enter")
            await until(app, pilot, "please sign on the pad")  # tests/e2e/test_signature_pad.py
            await pilot.press("escape")  # skipped: the paper slip is signed
            await until(app, pilot, "Enter prints the cardholder copy")
            app.save_screenshot(str(shots / "approved.svg"))
            merchant = app.slips[-1]
            assert "商户存根 MERCHANT COPY" in merchant and "CNY 12.34" in merchant
            assert "CARDHOLDER SIGNATURE" in merchant and "插卡 CHIP" in merchant
            assert "演示超市1 Demo Mart 1" in merchant and "工商银行 ICBC" in merchant
            await keys(pilot, "enter")
            await until(app, pilot, "Management")
            cardholder = app.slips[-1]
            assert "持卡人存根 CARDHOLDER COPY" in cardholder
            assert "CARDHOLDER SIGNATURE" not in cardholder
            sale = app.device.state.journal[-1]
            # A void asks the supervisor password first; a wrong one sends nothing.
            stan = app.device.client.stan
            await keys(pilot, "2")
            await until(app, pilot, "Supervisor password")
            await keys(pilot, "654321", "enter")
            await until(app, pilot, "Wrong supervisor password: nothing was sent")
            assert app.device.client.stan == stan
            await keys(pilot, "enter", "2", "123456", "enter")
            await until(app, pilot, "Original voucher no.")  # the default: the last sale
            await keys(pilot, "enter")
            await until(app, pilot, "CNY 12.34")
            await keys(pilot, "enter")
            await pilot.click("#key-1")  # the keypad works as well as the keyboard
            await keys(pilot, "2")
            await until(app, pilot, "cardholder copy")
            assert "消费撤销 VOID" in app.slips[-1]
            assert "工商银行 ICBC" in app.slips[-1]  # the sale's issuer: a void's 0210 has no 44
            assert f"原凭证号 ORIG. VOUCHER {sale.stan}" in app.slips[-1]
            await keys(pilot, "enter")
            # A tapped sale of 50.00: no PIN, and no signature either (免密免签).
            await keys(pilot, "1", "5000", "enter", "1", "3")
            await until(app, pilot, "No signature required")
            assert "免密免签 No signature required" in app.slips[-1]
            assert "挥卡 CONTACTLESS" in app.slips[-1]
            await keys(pilot, "enter")
            tapped = app.device.state.journal[-1]
            # Refund 10.00 of it, the supervisor's password given.
            await keys(pilot, "3", "123456", "enter", tapped.rrn, "enter", "1000", "enter")
            await keys(pilot, "1", "3")
            await until(app, pilot, "cardholder copy")
            await keys(pilot, "enter")
            # Cancel leaves a function without doing anything.
            await keys(pilot, "1", "99", "escape")
            await until(app, pilot, "Management")
            # Query the tapped sale by its voucher number, then by its RRN.
            await keys(pilot, "8", "1", tapped.stan.lstrip("0"), "enter")
            await until(app, pilot, "Sale  CNY 50.00")
            assert "挥卡 CONTACTLESS" in app.shown and tapped.rrn in app.shown
            await keys(pilot, "enter", "8", "2", sale.rrn, "enter")
            await until(app, pilot, "Voided")
            await keys(pilot, "enter", "8", "1", "999", "enter")
            await until(app, pilot, "No transaction 000999 in the open batch")
            # Reprint the first sale's slip (not the last), both copies.
            await keys(pilot, "enter", "7", "2", "backspace" * 6, sale.stan, "enter")
            await until(app, pilot, "cardholder copy")
            assert "DUPLICATED" in app.slips[-1] and f"VOUCHER NO. {sale.stan}" in app.slips[-1]
            await keys(pilot, "enter")
            await until(app, pilot, "Slip printed again")
            # The detail and the summary, as before settlement.
            await keys(pilot, "enter", "7", "3")
            await until(app, pilot, "Detail printed")
            assert "交易明细 TRANSACTION DETAIL" in app.slips[-1]
            assert "共 4 笔 4 TRANSACTION(S)" in app.slips[-1]
            await keys(pilot, "enter", "7", "4")
            await until(app, pilot, "Summary printed")
            summary = app.slips[-1]
            assert "交易汇总 TRANSACTION SUMMARY" in summary and "银联 UnionPay" in summary
            app.save_screenshot(str(shots / "summary.svg"))
            await keys(pilot, "enter", "6")
            await until(app, pilot, "Settle this batch?")
            await keys(pilot, "enter")
            await until(app, pilot, "Batch 000001 settled")
            assert "balanced" in app.shown
            # Sign out; the supervisor signs in.
            await keys(pilot, "enter", "9", "1")
            await until(app, pilot, "Operator no.")
            await keys(pilot, "backspace", "00", "enter", "123456", "enter")
            await until(app, pilot, "Management")
            assert app.device.client.operator == "00"
            await app.action_quit()

    run_with_host(demo, scenario)
    with demo.ctx.db.engine.connect() as c:
        rows = c.execute(text("SELECT kind, status, amount_minor FROM payments ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("sale", "voided", 1_234),
        ("sale", "partly_refunded", 5_000),
        ("refund", "approved", 1_000),
    ]


@pytest.mark.screen
def test_pos_screen_at_80_by_24(demo: Tillpoint, tmp_path: Path) -> None:
    """The compact layout: the screen, a keypad of one-line keys and the printer fit an
    80 x 24 window, and a sale and a supervisor's change of password work by mouse."""

    async def scenario(port: int) -> None:
        app = PosTerminal(device_at(port, tmp_path / "t.json"))
        async with app.run_test(size=(80, 24)) as pilot:
            await until(app, pilot, "Operator no.")
            assert app.compact and not app.query_one("#brand").display
            assert app.query_one("#keypad").display
            assert app.query_one("#key-1").region.height == 1
            assert app.query_one("#key-enter").region.height == 2  # still two rows tall
            fits(app, (80, 24))
            assert app.query_one("#roll").content_region.width >= WIDTH  # a slip's width

            async def click(*labels: str) -> None:
                for label in labels:
                    for key in [label] if label in ("enter", "clear", "00") else label:
                        await pilot.click(f"#key-{key}")

            await click("enter", "1234", "enter")  # operator 001, the default
            await until(app, pilot, "Management")
            await click("1", "12", "00", "enter")  # Sale, 12.00 (00 is one key)
            await until(app, pilot, "Present the card")
            await click("1", "2", "123456", "enter")
            await until(app, pilot, "please sign on the pad")
            await skip_the_pad(app, pilot)  # the pad's own test: tests/e2e/test_signature_pad.py
            await until(app, pilot, "cardholder copy")
            assert "CNY 12.00" in app.slips[-1]
            await click("enter", "9", "3", "123456", "enter", "246802", "enter")
            await click("246802", "enter")
            await until(app, pilot, "The supervisor password is changed")
            await click("enter", "2", "123456", "enter")  # the old one no longer does
            await until(app, pilot, "Wrong supervisor password: nothing was sent")
            await click("enter", "9", "3", "123456", "enter")
            await until(app, pilot, "Wrong supervisor password: nothing changed")
            await click("enter", "9", "2")  # sign on again
            await until(app, pilot, "00 Approved")
            await app.action_quit()
        kept = DeviceState.load(tmp_path / "t.json")
        assert kept.supervisor_hash.startswith("$argon2id$")
        assert "246802" not in (tmp_path / "t.json").read_text()  # a hash only

    run_with_host(demo, scenario)


def test_pos_screen_without_a_host(tmp_path: Path) -> None:
    """No host: the screen says so and offers to try again."""
    import asyncio

    async def scenario() -> None:
        app = PosTerminal(device_at(1, tmp_path / "t.json"))  # nothing listens on port 1
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(200):
                if "No valid answer from the host" in app.shown:
                    break
                await pilot.pause(0.025)
            assert "No valid answer from the host" in app.shown
            await app.action_quit()

    asyncio.run(scenario())


def test_scripted_sale_supervised_void_and_detail_against_tillpoint_serve(tmp_path: Path) -> None:
    """`tillpoint serve --demo` in its own process, and the scripted terminal as a person
    types it: a sale, a void refused for a wrong supervisor password (nothing sent),
    the void with the password typed at the prompt, then the batch's detail."""
    import json
    import sqlite3
    import subprocess
    import sys

    from tests.e2e.test_serve import served

    from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
    from tillpoint.terminal.signature import from_strokes

    state = str(tmp_path / "terminal.json")

    with served(tmp_path, terminals=1) as s:
        env = {**s.env, "TILLPOINT_LOCALE": "en", "COLUMNS": "200"}

        def terminal_cmd(*args: str, typed: str | None = None) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "tillpoint", "terminal", *args, "--state", state],
                env=env, input=typed, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip

        done = terminal_cmd("setup", "--tid", demo_tid(1), "--mid", demo_mid(1),
                            "--tmk", DEMO_TMK.hex(), "--port", str(s.iso_port),
                            "--merchant-name", "演示超市1 Demo Mart 1")  # fmt: skip
        assert done.returncode == 0, done.stderr
        sold = terminal_cmd("sale", "--amount", "1234.56", "--card", DEBIT, "--pin", "123456",
                            "--json")  # fmt: skip
        assert sold.returncode == 0, sold.stderr
        sale = json.loads(sold.stdout)
        # Approved by chip: the slip needs a signature, so "Cardholder" drawn went up.
        assert sale["signature"] == {"uploaded": True, "response_code": "00", "problem": None}
        # An image file of one's own; a file that is no image changes nothing.
        drawn = tmp_path / "signature.png"
        drawn.write_bytes(from_strokes([[(10.0, 90.0), (120.0, 20.0), (300.0, 110.0)]]))
        (tmp_path / "bad.png").write_text("no image")
        stan_before = json.loads(Path(state).read_text())["stan"]
        bad = terminal_cmd("sale", "--amount", "8.00", "--card", DEBIT, "--pin", "123456",
                           "--signature", str(tmp_path / "bad.png"))  # fmt: skip
        assert bad.returncode == 2 and "not an image" in bad.stderr
        assert json.loads(Path(state).read_text())["stan"] == stan_before  # nothing sent
        signed = terminal_cmd("sale", "--amount", "8.00", "--card", DEBIT, "--pin", "123456",
                              "--signature", str(drawn))  # fmt: skip
        assert signed.returncode == 0, signed.stderr
        assert "E-signature upload" in signed.stdout and "uploaded" in signed.stdout
        tapped = terminal_cmd("sale", "--amount", "8.00", "--card", DEBIT, "--entry", "tap",
                              "--json")  # fmt: skip
        assert json.loads(tapped.stdout)["signature"] is None  # 免密免签: none asked
        stan_after_sale = json.loads(Path(state).read_text())["stan"]
        wrong = terminal_cmd("void", "--rrn", sale["rrn"], "--card", DEBIT,
                             "--supervisor-password", "999999")  # fmt: skip
        assert wrong.returncode == 1
        assert "Wrong supervisor password: nothing was sent" in wrong.stderr
        assert json.loads(Path(state).read_text())["stan"] == stan_after_sale
        voided = terminal_cmd(
            "void",
            "--rrn",
            sale["rrn"],
            "--card",
            DEBIT,
            "--operator",
            "002",
            "--json",
            typed="123456\n",
        )  # asked for at the prompt
        assert voided.returncode == 0, voided.stderr
        prompt, answer = voided.stdout.split("{", 1)
        assert "Supervisor password" in prompt
        void = json.loads("{" + answer)
        assert void["approved"] and void["amount_minor"] == 123_456
        detail = terminal_cmd("detail")
        assert detail.returncode == 0, detail.stderr
        lines = detail.stdout.splitlines()
        assert "交易明细 TRANSACTION DETAIL" in lines[0]
        assert any(line.startswith(f"{sale['stan']} 消费 SALE") for line in lines)
        assert f"{void['stan']} 消费撤销 VOID" in detail.stdout and "已撤销 VOIDED" in detail.stdout
        assert "CNY 1,234.56" in detail.stdout and "CNY -1,234.56" in detail.stdout
        assert "共 4 笔 4 TRANSACTION(S)" in detail.stdout  # two more sales of 8.00
        slip = terminal_cmd("reprint", "--voucher", void["stan"], "--copy", "merchant")
        assert f"原凭证号 ORIG. VOUCHER {sale['stan']}" in slip.stdout
        assert "操作员号 OPERATOR NO. 002" in slip.stdout and "演示超市1 Demo Mart 1" in slip.stdout
        assert "银联 UnionPay" in slip.stdout and "工商银行 ICBC" in slip.stdout
    with sqlite3.connect(tmp_path / "serve.db") as db:
        rows = db.execute("SELECT kind, status, amount_minor FROM payments ORDER BY id").fetchall()
        signatures = db.execute(
            "SELECT p.amount_minor, s.image FROM payment_signatures s "
            "JOIN payments p ON p.id = s.payment_id ORDER BY p.id"
        ).fetchall()
    assert rows == [
        ("sale", "voided", 123_456),
        ("sale", "approved", 800),
        ("sale", "approved", 800),
    ]
    assert [minor for minor, _image in signatures] == [123_456, 800]
    assert signatures[1][1] == drawn.read_bytes()


# --- the cashier link (收银联动) ----------------------------------------------------------


def _paid_checkouts(app: Tillpoint) -> list[tuple[str, str]]:
    return [(c.reference, c.status.value) for c in app.checkouts.search("10000001")]


@pytest.mark.screen
def test_pos_screen_takes_the_amount_from_the_till_at_120_by_40(
    demo: Tillpoint, tmp_path: Path
) -> None:
    """Idle at the menu, the screen asks the host every few seconds (here: at once) and
    shows the till's amount in both languages; Enter takes the card and pays it;
    Cancel leaves it waiting, and it does not come back on the screen at once."""

    async def scenario(port: int) -> None:
        app = PosTerminal(device_at(port, tmp_path / "t.json"), checkout_every_s=0.05)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(app, pilot, "Operator no.")
            await keys(pilot, "001", "enter", "1234", "enter")
            await until(app, pilot, "Management")
            demo.checkouts.create("10000001", Money.parse("88.88"), "T1-0001")
            await until(app, pilot, "收银台金额 Amount from the till")
            assert "CNY 88.88" in app.shown and "Ref. CK" in app.shown
            fits(app, (120, 40))
            await keys(pilot, "enter")
            await until(app, pilot, "Present the card")
            assert "Sale  CNY 88.88" in app.shown
            await keys(pilot, "1", "2", "123456", "enter")
            await until(app, pilot, "please sign on the pad")
            await skip_the_pad(app, pilot)  # the pad's own test: tests/e2e/test_signature_pad.py
            await until(app, pilot, "Enter prints the cardholder copy")
            assert "CNY 88.88" in app.slips[-1] and "商户存根 MERCHANT COPY" in app.slips[-1]
            await keys(pilot, "enter")
            await until(app, pilot, "Management")
            assert _paid_checkouts(demo) == [("T1-0001", "paid")]
            # Another one: the cashier leaves it; it waits, and is not shown again at once.
            demo.checkouts.create("10000001", Money.parse("5.00"), "T1-0002")
            await until(app, pilot, "CNY 5.00")
            await keys(pilot, "escape")
            await until(app, pilot, "Management")
            await pilot.pause(0.3)  # several polls
            assert "Management" in app.shown
            assert _paid_checkouts(demo)[0] == ("T1-0002", "pending")
            await app.action_quit()

    run_with_host(demo, scenario)


@pytest.mark.screen
def test_pos_screen_takes_the_amount_from_the_till_at_80_by_24(
    demo: Tillpoint, tmp_path: Path
) -> None:
    """The compact layout shows the till's amount whole, and the keypad pays it (a
    small contactless sale: no PIN)."""

    async def scenario(port: int) -> None:
        app = PosTerminal(device_at(port, tmp_path / "t.json"), checkout_every_s=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(app, pilot, "Operator no.")
            for key in ("enter", "1", "2", "3", "4", "enter"):
                await pilot.click(f"#key-{key}")
            await until(app, pilot, "Management")
            demo.checkouts.create("10000001", Money.parse("36.50"), "T1-0003")
            await until(app, pilot, "Amount from the till")
            assert "CNY 36.50" in app.shown
            fits(app, (80, 24))
            for key in ("enter", "1", "3"):  # the first card, tapped
                await pilot.click(f"#key-{key}")
            await until(app, pilot, "cardholder copy")
            await pilot.click("#key-enter")
            await until(app, pilot, "Management")
            await app.action_quit()

    run_with_host(demo, scenario)
    assert _paid_checkouts(demo) == [("T1-0003", "paid")]
