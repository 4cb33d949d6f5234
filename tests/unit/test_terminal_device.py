"""The virtual terminal's own logic, without a host: the supervisor password, the
operator of scripted commands, transaction query, reprint of any voucher, the batch's
detail and summary, and what the slips say in either language."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from rich.cells import cell_len

from tillpoint.cli import main
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import set_locale
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_SUPERVISOR_PASSWORD
from tillpoint.iso8583.codes import describe
from tillpoint.receipts.slip import WIDTH, Tally, render
from tillpoint.terminal.device import (
    Device,
    DeviceState,
    JournalEntry,
    hash_supervisor_password,
)

DEBIT_MASKED = "621234*********0012"


def entry(kind: str, stan: str, rrn: str, amount_minor: int, **kw: object) -> JournalEntry:
    defaults: dict[str, object] = {
        "pan_masked": DEBIT_MASKED, "domestic": True, "auth_code": f"A{stan[-5:]}",
        "host_time": "1125171902", "card_org": "CUP", "issuer": "01020000",
        "entry": "insert", "operator": "001", "year": 2026,
    }  # fmt: skip
    defaults.update(kw)
    return JournalEntry(kind, stan, rrn, amount_minor, **defaults)  # type: ignore[arg-type]


def batch() -> list[JournalEntry]:
    """A morning at the till: two card sales (one voided), a refund, a tapped sale, a
    wallet sale, a foreign card."""
    return [
        entry("sale", "000002", "000000000001", 123_456),
        entry("sale", "000003", "000000000002", 5_000, voided=True),
        entry("void", "000004", "000000000003", 5_000, original_stan="000003",
              original_rrn="000000000002"),
        entry("refund", "000005", "000000000004", 1_000, original_rrn="000000000001",
              auth_code=""),
        entry("sale", "000006", "000000000005", 100_000, entry="tap"),
        entry("sale", "000007", "000000000006", 8_800, pan_masked="280000******0001",
              card_org="ALP", issuer="", entry="scan", auth_code=""),
        entry("sale", "000008", "000000000007", 20_000, pan_masked="476134******0019",
              card_org="VIS", issuer="40000000", domestic=False, entry="swipe"),
    ]  # fmt: skip


@pytest.fixture
def device(tmp_path: Path) -> Device:
    state = DeviceState.demo()
    state.port = 1  # nothing listens there: anything sent fails with OSError
    state.journal = batch()
    return Device(state, tmp_path / "t.json")


# --- the supervisor password ---------------------------------------------------------------


def test_a_wrong_supervisor_password_sends_nothing(device: Device) -> None:
    stan = device.client.stan
    undo = [
        device.void("000000000001", "6212340000000000012", supervisor_password="000000"),
        device.refund("000000000001", Money(100), "6212340000000000012",
                      supervisor_password="12345"),
        device.preauth_void("000000000001", "6212340000000000012",
                            supervisor_password=""),
        device.completion_void("000000000001", "6212340000000000012",
                               supervisor_password="1234567"),
    ]  # fmt: skip
    for work in undo:
        with pytest.raises(Refused) as refused:
            asyncio.run(work)
        assert refused.value.code == "terminal.supervisor_password"
    assert device.client.stan == stan and device.client._writer is None  # never connected
    assert device.state.pending_reversal is None


def test_the_right_supervisor_password_lets_the_void_go_to_the_host(device: Device) -> None:
    with pytest.raises(OSError, match="Connect call failed"):  # it went to the host
        asyncio.run(
            device.void("000000000001", "6212340000000000012",
                        supervisor_password=DEMO_SUPERVISOR_PASSWORD)
        )  # fmt: skip


def test_the_supervisor_password_is_kept_as_a_hash_and_can_change(
    device: Device, tmp_path: Path
) -> None:
    device.check_supervisor(DEMO_SUPERVISOR_PASSWORD)  # the demo default
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["supervisor_hash"].startswith("$argon2id$")
    with pytest.raises(Refused, match="nothing changed"):
        device.set_supervisor_password("000000", "135790")  # the current one is wrong
    with pytest.raises(InvalidInput):
        device.set_supervisor_password(DEMO_SUPERVISOR_PASSWORD, "13579")
    device.set_supervisor_password(DEMO_SUPERVISOR_PASSWORD, "135790")
    text = (tmp_path / "t.json").read_text()
    assert "135790" not in text and '"supervisor_hash": "$argon2id$' in text
    again = Device(DeviceState.load(tmp_path / "t.json"))
    again.check_supervisor("135790")
    with pytest.raises(Refused):
        again.check_supervisor(DEMO_SUPERVISOR_PASSWORD)


@pytest.mark.parametrize("password", ["12345", "1234567", "12345a", "１２３４５６", ""])
def test_a_supervisor_password_is_six_digits(password: str) -> None:
    with pytest.raises(InvalidInput):
        hash_supervisor_password(password)


# --- who works the terminal ------------------------------------------------------------------


def test_a_scripted_command_names_its_operator(tmp_path: Path) -> None:
    state = DeviceState.demo()
    state.operator = "00"  # the supervisor signed in last on the screen
    assert Device(state).client.operator == "00"  # the screen goes on with them
    assert Device(state, operator="002").client.operator == "002"
    assert state.operator == "00"
    for wrong in ("0", "000", "1000", "abc", "01"):
        with pytest.raises(InvalidInput):
            Device(state, operator=wrong)


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return int(done.value.code or 0)


def test_scripted_commands_never_inherit_the_screens_operator(
    device: Device, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_locale("en")
    device.state.operator = "00"
    device._save()
    state = str(tmp_path / "t.json")
    assert run_cli("terminal", "detail", "--state", state) == 0
    assert "操作员号 OPERATOR NO. 001" in capsys.readouterr().out  # the default, not 00
    assert run_cli("terminal", "summary", "--operator", "007", "--state", state) == 0
    assert "操作员号 OPERATOR NO. 007" in capsys.readouterr().out
    assert run_cli("terminal", "query", "--voucher", "4", "--state", state) == 0
    shown = capsys.readouterr().out
    assert "CNY -50.00" in shown and "000003" in shown  # a void: signed, and what it voided
    assert run_cli("terminal", "query", "--voucher", "99", "--state", state) == 1
    assert "No transaction 000099 in the open batch 000001" in capsys.readouterr().err
    # A wrong supervisor password: refused, exit 1, nothing sent (no host listens).
    code = run_cli("terminal", "void", "--rrn", "000000000001", "--card", "6212340000000000012",
                   "--supervisor-password", "999999", "--state", state)  # fmt: skip
    assert code == 1
    assert "Wrong supervisor password: nothing was sent" in capsys.readouterr().err
    assert DeviceState.load(tmp_path / "t.json").stan == device.client.stan


# --- query and reprint -----------------------------------------------------------------------


def test_query_by_voucher_or_rrn(device: Device) -> None:
    assert device.query(voucher="5").rrn == "000000000004"  # 1-6 digits, zero-filled
    assert device.query(voucher="000008").card_org == "VIS"
    assert device.query(rrn="000000000002").voided
    with pytest.raises(NotFound) as missing:
        device.query(voucher="999")
    assert missing.value.params == {"what": "000999", "batch": "000001"}
    with pytest.raises(NotFound):
        device.query(rrn="999999999999")
    for wrong in ({}, {"voucher": "1", "rrn": "000000000001"}, {"voucher": "1234567"},
                  {"voucher": "12a"}, {"voucher": ""}):  # fmt: skip
        with pytest.raises(InvalidInput):
            device.query(**wrong)


def test_reprint_any_voucher_of_the_batch(device: Device) -> None:
    first = device.receipt_of("2")
    assert (first.stan, first.amount_minor, first.rrn) == ("000002", 123_456, "000000000001")
    device.state.last_receipt = device.receipt(device.state.journal[-1]).to_dict()
    assert device.receipt_of().stan == "000008"  # without a voucher: the last
    device.state.last_receipt = None
    with pytest.raises(Refused):
        device.receipt_of()
    with pytest.raises(NotFound):
        device.receipt_of("42")


# --- slips -----------------------------------------------------------------------------------


def test_a_sales_slip_says_everything_a_cashier_needs(device: Device) -> None:
    merchant = "\n".join(render(device.receipt_of("2")))
    for text in (
        "商户存根 MERCHANT COPY", "演示超市1 Demo Mart 1", "898310054110001", "10000001",
        "操作员号 OPERATOR NO. 001", "银联 UnionPay", "发卡行 ISSUER 工商银行 ICBC",
        "插卡 CHIP", DEBIT_MASKED, "批次号 BATCH NO. 000001", "凭证号 VOUCHER NO. 000002",
        "授权码 AUTH NO. A00002", "参考号 REF. NO. 000000000001", "2026/11/25 17:19:02",
        "金额 AMOUNT CNY 1,234.56", "持卡人签名 CARDHOLDER SIGNATURE",
    ):  # fmt: skip
        assert text in merchant, text
    cardholder = "\n".join(render(device.receipt_of("2"), copy="cardholder"))
    assert "持卡人存根 CARDHOLDER COPY" in cardholder and "SIGNATURE" not in cardholder
    void = "\n".join(render(device.receipt_of("4")))
    assert "原凭证号 ORIG. VOUCHER 000003" in void and "CNY -50.00" in void
    assert "000000000002" in void  # 原参考号 ORIG. REF. NO.
    refund = "\n".join(render(device.receipt_of("5")))
    assert "退货 REFUND" in refund and "CNY -10.00" in refund and "AUTH NO." not in refund
    wallet = "\n".join(render(device.receipt_of("7")))
    assert "付款码 PAYMENT CODE" in wallet and "支付宝 Alipay" in wallet
    assert "扫码 QR" in wallet and "CARDHOLDER SIGNATURE" not in wallet
    assert wallet.endswith("免密免签 No signature required")  # spec 4.11: it says so
    visa = "\n".join(render(device.receipt_of("8")))
    assert "维萨 Visa" in visa and "刷卡 SWIPED" in visa and "CARDHOLDER SIGNATURE" in visa


@pytest.mark.parametrize(("amount_minor", "entry_mode", "signed"), [
    (100_000, "tap", False),  # 1,000.00 tapped: 免密免签
    (100_001, "tap", True),
    (100, "insert", True),
    (100, "swipe", True),
])  # fmt: skip
def test_a_small_contactless_sale_needs_no_signature(
    device: Device, amount_minor: int, entry_mode: str, signed: bool
) -> None:
    device.state.journal = [entry("sale", "000009", "000000000009", amount_minor,
                                  entry=entry_mode)]  # fmt: skip
    slip = "\n".join(render(device.receipt_of("9")))
    assert ("CARDHOLDER SIGNATURE" in slip) is signed
    assert ("免密免签 No signature required" in slip) is not signed


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_slips_read_the_same_in_either_language(device: Device, locale: str) -> None:
    """Slips carry both languages at once, whatever the terminal's language; money is
    CNY 1,234.56 in both."""
    set_locale(locale)
    try:
        slips = [render(device.receipt(e)) for e in device.state.journal]
        slips += [device.detail_slip(), device.summary_slip()]
        for lines in slips:
            assert all(cell_len(line) <= WIDTH for line in lines), lines
        assert Money(123_456).display() == "CNY 1,234.56"
        assert "CNY 1,234.56" in "\n".join(slips[0])
        assert "通过时间" not in describe("00")  # a status, not a time
    finally:
        set_locale("en")
    set_locale("zh_CN")
    zh = [render(device.receipt(e)) for e in device.state.journal]
    set_locale("en")
    assert zh == [render(device.receipt(e)) for e in device.state.journal]


def test_the_detail_lists_every_transaction(device: Device) -> None:
    detail = device.detail_slip()
    text = "\n".join(detail)
    assert "交易明细 TRANSACTION DETAIL" in text and "共 7 笔 7 TRANSACTION(S)" in text
    for e in device.state.journal:
        assert any(line.startswith(e.stan) for line in detail), e.stan
    voided = detail.index(next(line for line in detail if line.startswith("000003")))
    assert "已撤销 VOIDED" in detail[voided + 2]
    assert text.count("已撤销 VOIDED") == 1
    assert "000004 消费撤销 VOID" in text and "CNY -50.00" in text
    device.state.journal = []
    assert "无交易 NO TRANSACTIONS" in "\n".join(device.detail_slip())


def test_the_summary_counts_and_totals(device: Device) -> None:
    assert device.tallies() == [
        Tally("CUP", "sale", 3, 123_456 + 5_000 + 100_000),
        Tally("CUP", "void", 1, 5_000),
        Tally("CUP", "refund", 1, 1_000),
        Tally("VIS", "sale", 1, 20_000),
        Tally("ALP", "sale", 1, 8_800),
    ]
    totals = device.totals()  # what settlement sends: the voided sale and the void left out
    assert (totals.domestic.debit_count, totals.domestic.debit_minor) == (3, 232_256)
    assert (totals.domestic.credit_count, totals.domestic.credit_minor) == (1, 1_000)
    assert (totals.foreign.debit_count, totals.foreign.debit_minor) == (1, 20_000)
    summary = "\n".join(device.summary_slip())
    for text in ("交易汇总 TRANSACTION SUMMARY", "银联 UnionPay", "维萨 Visa", "支付宝 Alipay",
                 "CNY 2,284.56", "CNY 2,322.56", "CNY 200.00", "CNY 10.00"):  # fmt: skip
        assert text in summary, text
    assert summary.index("银联 UnionPay") < summary.index("维萨 Visa") < summary.index("支付宝")


def test_wrong_supervisor_passwords_lock_the_supervisor_functions(tmp_path: Path) -> None:
    """Five wrong in a row lock them for ten minutes, whatever is typed (the right one
    included), across restarts of the terminal; a right one resets the count."""
    now = [1_000_000.0]
    path = tmp_path / "t.json"
    device = Device(DeviceState.demo(), path, clock=lambda: now[0])
    for _ in range(4):
        assert not device.is_supervisor_password("000000")
    assert device.is_supervisor_password(DEMO_SUPERVISOR_PASSWORD)  # the count starts over
    for _ in range(4):
        assert not device.is_supervisor_password("000000")
    assert not device.is_supervisor_password("000000")  # the fifth in a row
    restarted = Device(DeviceState.load(path), path, clock=lambda: now[0])
    for password in ("000000", DEMO_SUPERVISOR_PASSWORD):
        with pytest.raises(Refused) as locked:
            restarted.check_supervisor(password)
        assert locked.value.code == "terminal.supervisor_locked"
    with pytest.raises(Refused, match="locked until"):
        asyncio.run(restarted.void("000000000001", "6212340000000000012",
                                   supervisor_password=DEMO_SUPERVISOR_PASSWORD))  # fmt: skip
    now[0] += 600
    restarted.check_supervisor(DEMO_SUPERVISOR_PASSWORD)  # the lock is over


# --- the chip -----------------------------------------------------------------------------


def _signed_on(device: Device) -> Device:
    from tillpoint.terminal.client import WorkingKeys

    device.client.keys = WorkingKeys(b"\x01" * 16, b"\x02" * 16, b"\x04" * 16)
    return device


def test_a_keyed_in_card_leaves_no_card_number_in_the_state_file(
    device: Device, tmp_path: Path
) -> None:
    """A keyed-in sale that gets no answer is kept for its reversal: without the card's
    number and expiry (fields 2 and 14), as without PIN and track data; on disk or not."""
    pan = "6212340000000000012"
    device = _signed_on(device)
    with pytest.raises(OSError, match="Connect call failed"):
        asyncio.run(device.sale(Money(100), pan, entry="manual", expiry="3012"))
    pending = device.state.pending_reversal or {}
    assert pending["22"].startswith("01") and pending["11"]  # the keyed-in sale, by its STAN
    assert not {"2", "14", "35", "36", "52", "53", "64"} & pending.keys()
    text = (tmp_path / "t.json").read_text()
    assert pan not in text and "3012" not in text


def test_the_state_file_is_made_anew_for_its_owner_alone(device: Device, tmp_path: Path) -> None:
    """It holds keys: readable by its owner only from its first byte, and written to a
    file of its own, never into one somebody opened beforehand under the temporary name."""
    path = tmp_path / "t.json"
    planted = path.with_name(path.name + ".tmp")
    planted.write_text("nothing")
    planted.chmod(0o644)
    with planted.open() as watcher:  # somebody holds it open
        device.state.save(path)
        assert watcher.read() == "nothing"  # the keys went to another file
    assert path.stat().st_mode & 0o777 == 0o600
    assert not planted.exists()
    assert DeviceState.load(path).tmk_hex == device.state.tmk_hex


@pytest.mark.parametrize("entry", ["insert", "tap"])
def test_a_chip_read_counts_the_cards_atc_up_in_the_state_file(
    device: Device, tmp_path: Path, entry: str
) -> None:
    """The ATC goes up with each read, kept before anything is sent (the host is not
    there: the read happened all the same), under a name that is not the card number."""
    from tillpoint.iso8583 import icc

    pan = "6212340000000000012"
    device = _signed_on(device)
    for n in range(2):
        if n:  # as if the reversal of the first had gone through since
            device.state.pending_reversal = None
        with pytest.raises(OSError, match="Connect call failed"):
            asyncio.run(device.sale(Money(100), pan, entry=entry, pin="123456"))
    text = (tmp_path / "t.json").read_text()
    assert pan not in text
    (atc,) = DeviceState.load(tmp_path / "t.json").atc.values()
    assert atc == 2
    # What the terminal will reverse carries the chip's data (23, 55), no PIN or track.
    pending = device.state.pending_reversal or {}
    assert pending["23"] == "001" and "35" not in pending and "52" not in pending
    tags = icc.request_tags(bytes.fromhex(pending["55"][2:]))
    assert tags["9F36"] == b"\x00\x02" and tags["9F02"] == bytes.fromhex("000000000100")
    assert pending["22"] == ("051" if entry == "insert" else "071")
    # Another card counts on its own; a swiped card has no chip to read.
    device.state.pending_reversal = None
    with pytest.raises(OSError, match="Connect call failed"):
        asyncio.run(device.sale(Money(100), "6250940000000000016", entry="insert"))
    device.state.pending_reversal = None
    with pytest.raises(OSError, match="Connect call failed"):
        asyncio.run(device.sale(Money(100), pan, entry="swipe", pin="123456"))
    assert sorted(DeviceState.load(tmp_path / "t.json").atc.values()) == [1, 2]
    assert "55" not in (device.state.pending_reversal or {})


def test_a_state_file_with_a_broken_counter_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    DeviceState.demo().save(path)
    data = json.loads(path.read_text())
    data["atc"] = {"x": "one"}
    path.write_text(json.dumps(data))
    with pytest.raises(InvalidInput):
        DeviceState.load(path)


def test_the_cli_takes_chip_for_an_inserted_card() -> None:
    from tillpoint.cli.terminal import _entry

    assert _entry("chip") == "insert" and _entry("tap") == "tap"


def test_keys_are_never_in_a_repr() -> None:
    """A client, its working keys and an admitted terminal may be formatted (a log line,
    a traceback): their keys are not in what that prints."""
    from tillpoint.iso8583.mac import MacMethod
    from tillpoint.merchants.models import MerchantKind
    from tillpoint.terminal.client import TerminalClient, WorkingKeys
    from tillpoint.terminals.signon import Admitted

    keys = WorkingKeys(b"\x11" * 16, b"\x22" * 16, b"\x44" * 16)
    client = TerminalClient("10000001", "898310054110001", b"\x33" * 16, keys=keys)
    admitted = Admitted(1, "10000001", 1, 1, 1, "000001", keys.pik, keys.mak, keys.tdk, 1,
                        MacMethod.ECB, "898310054110001", "5411", MerchantKind.PERSONAL)  # fmt: skip
    state = DeviceState.demo()
    state.keys_hex = ["11" * 16, "22" * 16, "44" * 16]
    for shown in (repr(client), repr(keys), repr(admitted)):
        assert all(k not in shown for k in ("\\x11", "\\x22", "\\x33", "\\x44")), shown
    assert state.tmk_hex not in repr(state) and "11" * 16 not in repr(state)
