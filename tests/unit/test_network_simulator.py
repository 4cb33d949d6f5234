"""The card network simulator behaves as section 6 of the terminal profile lists."""

import asyncio
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tillpoint.core.clock import BUSINESS_TZ, FixedClock
from tillpoint.core.money import Money
from tillpoint.networks.bins import Funding, classify
from tillpoint.networks.connector import AuthKind, CardOrg, CardRequest
from tillpoint.networks.simulator import CardNetworkSimulator
from tillpoint.security import tdes

R = TypeVar("R")
ZPK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
DEBIT, CREDIT, POOR, EXPIRED, LOST, SILENT = (
    "6212340000000000012", "6250940000000000016", "6212340000000000020",
    "6212340000000000038", "6212340000000000046", "6212340000000000053",
)  # fmt: skip
VISA, MASTERCARD = "4761340000000019", "5222220000000005"


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


@pytest.fixture
def net() -> CardNetworkSimulator:
    return CardNetworkSimulator(ZPK, FixedClock(datetime(2026, 11, 25, 10, tzinfo=BUSINESS_TZ)))


def req(pan: str, amount: str, ref: str = "000000000001", **kw: Any) -> CardRequest:
    fields: dict[str, Any] = {
        "network_ref": ref, "pan": pan, "expiry": "3012", "amount": Money.parse(amount),
        "kind": AuthKind.SALE, "entry_mode": "05", "mcc": "5411", "mid": "898310054110001",
    }  # fmt: skip
    fields.update(kw)
    return CardRequest(**fields)


def test_bin_table() -> None:
    debit, credit, visa = classify(DEBIT), classify(CREDIT), classify(VISA)
    assert debit is not None and (debit.org, debit.funding, debit.domestic) == (
        CardOrg.UNIONPAY,
        Funding.DEBIT,
        True,
    )
    assert credit is not None and credit.funding is Funding.CREDIT
    assert visa is not None and (visa.org, visa.domestic) == (CardOrg.VISA, False)
    mastercard = classify(MASTERCARD)
    assert mastercard is not None and mastercard.org is CardOrg.MASTERCARD
    assert classify("6212340000000000013") is None  # fails Luhn
    assert classify("12345") is None


def test_sale_debits_and_reversal_restores(net: CardNetworkSimulator) -> None:
    answer = run(net.authorise(req(DEBIT, "100.00")))
    assert answer.approved and answer.card_org is CardOrg.UNIONPAY and answer.auth_code
    assert net.card(DEBIT).available == Money.parse("99900.00")  # type: ignore[union-attr]
    assert run(net.authorise(req(DEBIT, "100.00"))) == answer  # same reference, same answer
    run(net.reverse("000000000001"))
    run(net.reverse("000000000001"))  # idempotent
    run(net.reverse("999999999999"))  # unknown: fine
    assert net.card(DEBIT).available == Money.parse("100000.00")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("pan", "amount", "code"),
    [
        (POOR, "10.01", "51"),
        (EXPIRED, "1.00", "54"),
        (LOST, "1.00", "41"),
        ("6212340000000000061", "1.00", "05"),  # the extra card: do not honour
        ("6212340000000000087", "1.00", "14"),  # no issuer holds it
    ],
)
def test_declines(net: CardNetworkSimulator, pan: str, amount: str, code: str) -> None:
    assert run(net.authorise(req(pan, amount))).response_code == code


def test_small_balance_card_takes_small_sales(net: CardNetworkSimulator) -> None:
    assert run(net.authorise(req(POOR, "10.00"))).approved


def test_silent_issuer_never_answers(net: CardNetworkSimulator) -> None:
    async def attempt() -> None:
        await asyncio.wait_for(net.authorise(req(SILENT, "1.00")), timeout=0.05)

    with pytest.raises(TimeoutError):
        run(attempt())
    assert net.card(SILENT).available == Money.parse("100000.00")  # type: ignore[union-attr]


def test_preauth_completion_up_to_115_percent(net: CardNetworkSimulator) -> None:
    run(net.authorise(req(CREDIT, "1000.00", "P1", kind=AuthKind.PREAUTH)))
    assert net.card(CREDIT).available == Money.parse("49000.00")  # type: ignore[union-attr]
    assert run(net.capture("P1", "C1", Money.parse("1150.01"))).response_code == "13"
    assert run(net.capture("P1", "C1", Money.parse("1150.00"))).approved
    assert net.card(CREDIT).available == Money.parse("48850.00")  # type: ignore[union-attr]
    assert run(net.capture("nope", "C2", Money.parse("1.00"))).response_code == "25"


def test_undoing_a_completion_puts_the_hold_back(net: CardNetworkSimulator) -> None:
    def available() -> Money:
        return net.card(CREDIT).available  # type: ignore[union-attr]

    run(net.authorise(req(CREDIT, "1000.00", "P1", kind=AuthKind.PREAUTH)))
    assert run(net.capture("P1", "C1", Money.parse("1100.00"))).approved
    assert available() == Money.parse("48900.00")
    assert run(net.cancel("C1", "V1")).approved  # 完成撤销: held again, not released
    assert available() == Money.parse("49000.00")
    assert run(net.reverse("V1")).approved  # the void undone: captured again
    assert available() == Money.parse("48900.00")
    assert run(net.reverse("C1")).approved  # the completion reversed: held again
    assert available() == Money.parse("49000.00")
    assert run(net.capture("P1", "C2", Money.parse("900.00"))).approved  # once more
    assert available() == Money.parse("49100.00")


def test_refunds_never_exceed_the_sale(net: CardNetworkSimulator) -> None:
    run(net.authorise(req(VISA, "300.00", "S1")))
    assert run(net.refund("S1", "R1", Money.parse("100.00"))).approved
    assert run(net.refund("S1", "R1", Money.parse("100.00"))).approved  # a repeat: no double credit
    assert run(net.refund("S1", "R2", Money.parse("200.01"))).response_code == "13"
    assert run(net.refund("S1", "R2", Money.parse("200.00"))).approved
    assert net.card(VISA).available == Money.parse("50000.00")  # type: ignore[union-attr]


def test_balance_inquiry(net: CardNetworkSimulator) -> None:
    answer = run(net.authorise(req(DEBIT, "0.00", kind=AuthKind.BALANCE)))
    assert answer.balance == Money.parse("100000.00")


def test_pin_checks_and_tries(net: CardNetworkSimulator) -> None:
    good = tdes.encrypt_pin_block(ZPK, "123456", DEBIT)
    bad = tdes.encrypt_pin_block(ZPK, "654321", DEBIT)
    assert run(net.authorise(req(DEBIT, "1.00", "A1", pin_block=good))).approved
    assert run(net.authorise(req(DEBIT, "1.00", "A2", pin_block=bad))).response_code == "55"
    assert run(net.authorise(req(DEBIT, "1.00", "A3", pin_block=bad))).response_code == "55"
    assert run(net.authorise(req(DEBIT, "1.00", "A4", pin_block=bad))).response_code == "75"
    assert run(net.authorise(req(DEBIT, "1.00", "A5", pin_block=good))).response_code == "75"


def test_the_issuers_records_outlive_a_restart(tmp_path: Path) -> None:
    """Balances, PIN tries and authorisations are on disk: after a restart yesterday's
    sale is refunded and a hold completed, and nothing stored names a card number."""
    clock = FixedClock(datetime(2026, 11, 25, 10, tzinfo=BUSINESS_TZ))
    path = tmp_path / "cards.sqlite3"
    before = CardNetworkSimulator(ZPK, clock, path=path)
    assert run(before.authorise(req(DEBIT, "100.00"))).approved
    hold = run(before.authorise(req(CREDIT, "500.00", "000000000002", kind=AuthKind.PREAUTH)))
    assert hold.approved
    wrong_pin = tdes.encrypt_pin_block(ZPK, "654321", CREDIT)
    refused = run(before.authorise(req(CREDIT, "1.00", "000000000003", pin_block=wrong_pin)))
    assert refused.response_code == "55"

    after = CardNetworkSimulator(ZPK, clock, path=path)  # a new process
    debit, credit = after.card(DEBIT), after.card(CREDIT)
    assert debit is not None and debit.available == Money.parse("99900.00")
    assert credit is not None and credit.pin_failures == 1
    assert credit.available == Money.parse("49500.00")
    refund = run(after.refund("000000000001", "000000000004", Money.parse("40.00")))
    assert refund.approved and debit.available == Money.parse("99940.00")
    assert (
        run(after.refund("000000000001", "000000000005", Money.parse("60.01"))).response_code
        == "13"
    )
    assert run(after.capture("000000000002", "000000000006", Money.parse("550.00"))).approved
    assert credit.available == Money.parse("49450.00")
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("cards.sqlite3*"))
    assert DEBIT.encode() not in stored and CREDIT.encode() not in stored
