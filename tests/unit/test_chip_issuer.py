"""The network simulator as the test chip cards' issuer (spec 4.10): it verifies each
ARQC and answers every chip request with tag 91, the ARPC and the card status update."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tillpoint.core.clock import BUSINESS_TZ, FixedClock
from tillpoint.core.money import Money
from tillpoint.iso8583 import icc, tlv
from tillpoint.networks.connector import AuthKind, CardRequest, ChipData, NetworkAnswer
from tillpoint.networks.simulator import DEMO_IMK_AC, CardNetworkSimulator
from tillpoint.security import emv, tdes
from tillpoint.terminal import chip

R = TypeVar("R")
ZPK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
DEBIT, CREDIT, POOR, LOST = (
    "6212340000000000012", "6250940000000000016", "6212340000000000020", "6212340000000000046",
)  # fmt: skip
TODAY = datetime(2026, 11, 25, 10, tzinfo=BUSINESS_TZ)


def run(coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run(coro)


@pytest.fixture
def net() -> CardNetworkSimulator:
    return CardNetworkSimulator(ZPK, FixedClock(TODAY))


_atc = iter(range(1, 10_000))


def read(pan: str, minor: int, kind: str = "sale") -> chip.ChipRead:
    return chip.read(pan, next(_atc), kind=kind, amount_minor=minor, pin=False,
                     ifd_serial="10000001", today=TODAY.date())  # fmt: skip


def req(pan: str, minor: int, ref: str, card: chip.ChipRead | None, **kw: Any) -> CardRequest:
    fields: dict[str, Any] = {
        "network_ref": ref, "pan": pan, "expiry": "3012", "amount": Money(minor),
        "kind": AuthKind.SALE, "entry_mode": "05", "mcc": "5411", "mid": "",
        "chip": None if card is None else ChipData("01", card.icc),
    }  # fmt: skip
    fields.update(kw)
    return CardRequest(**fields)


def accepted(card: chip.ChipRead, answer: NetworkAnswer) -> bool:
    """What the card says of the answer's 91 (an approval's CSU, its ARPC)."""
    return card.accepts(answer.icc)


def csu(answer: NetworkAnswer) -> bytes:
    issuer = icc.issuer_authentication(answer.icc)
    assert issuer is not None
    return issuer[4:]


def tampered(data: bytes, tag: str) -> bytes:
    items = tlv.decode(data)
    return tlv.encode([(t, bytes([v[0] ^ 1]) + v[1:] if t == tag else v) for t, v in items])


def test_a_verified_arqc_is_decided_and_answered_with_its_arpc(net: CardNetworkSimulator) -> None:
    card = read(DEBIT, 12_34)
    answer = run(net.authorise(req(DEBIT, 12_34, "000000000001", card)))
    assert answer.approved and accepted(card, answer) and csu(answer) == emv.CSU_APPROVED
    assert net.card(DEBIT).available == Money.parse("100000.00") - Money(12_34)  # type: ignore[union-attr]
    # The ARPC is the issuer's own: the demo issuer's key, the card's ATC and ARQC.
    mk = emv.icc_master_key(DEMO_IMK_AC, DEBIT, "01")
    assert answer.icc == icc.issuer_data(
        emv.arpc(mk, card.session.atc, card.arqc, emv.CSU_APPROVED), emv.CSU_APPROVED
    )
    # A swiped card's answer carries no 55.
    assert run(net.authorise(req(DEBIT, 100, "000000000002", None))).icc is None


@pytest.mark.parametrize("tag", [*emv.ARQC_TAGS, "9F26"])
def test_a_changed_byte_gets_88_and_charges_nothing(net: CardNetworkSimulator, tag: str) -> None:
    card = read(DEBIT, 100)
    answer = run(net.authorise(req(DEBIT, 100, "000000000001", None,
                                   chip=ChipData("01", tampered(card.icc, tag)))))  # fmt: skip
    assert answer.response_code == "88"
    assert csu(answer) == emv.CSU_DECLINED  # answered all the same, with a decline
    assert net.card(DEBIT).available == Money.parse("100000.00")  # type: ignore[union-attr]
    assert net._book.count() == 0


def test_another_psn_another_amount_or_a_replay_get_88(net: CardNetworkSimulator) -> None:
    card = read(DEBIT, 100)
    wrong_psn = req(DEBIT, 100, "000000000001", None, chip=ChipData("02", card.icc))
    assert run(net.authorise(wrong_psn)).response_code == "88"
    # 9F02 says 1.00; field 4 asks 100.00: the card never agreed to that amount.
    assert run(net.authorise(req(DEBIT, 100_00, "000000000002", card))).response_code == "88"
    first = run(net.authorise(req(DEBIT, 100, "000000000003", card)))
    assert first.approved
    # The same request again (same reference): the same answer, the same ARPC.
    assert run(net.authorise(req(DEBIT, 100, "000000000003", card))) == first
    # The same cryptogram under another reference: a replay.
    replay = run(net.authorise(req(DEBIT, 100, "000000000004", card)))
    assert replay.response_code == "88" and not accepted(card, replay)
    assert net.card(DEBIT).available == Money.parse("100000.00") - Money(100)  # type: ignore[union-attr]


def test_a_lower_atc_is_not_refused(net: CardNetworkSimulator) -> None:
    """Each terminal's state file counts its own copy of a test card's ATC."""
    high = chip.read(DEBIT, 500, kind="sale", amount_minor=100, pin=False,
                     ifd_serial="10000001", today=TODAY.date())  # fmt: skip
    low = chip.read(DEBIT, 2, kind="sale", amount_minor=100, pin=False,
                    ifd_serial="10000002", today=TODAY.date())  # fmt: skip
    assert run(net.authorise(req(DEBIT, 100, "000000000001", high))).approved
    assert run(net.authorise(req(DEBIT, 100, "000000000002", low))).approved


def test_declines_carry_the_declining_csu(net: CardNetworkSimulator) -> None:
    card = read(POOR, 10_01)
    poor = run(net.authorise(req(POOR, 10_01, "000000000001", card)))
    assert poor.response_code == "51" and csu(poor) == emv.CSU_DECLINED
    assert not accepted(card, poor)  # a decline is never an approval to the card
    lost = read(LOST, 100)
    assert run(net.authorise(req(LOST, 100, "000000000002", lost))).response_code == "41"
    # A PIN that is wrong: 55, with 91 all the same.
    pin = tdes.encrypt_pin_block(ZPK, "654321", DEBIT)
    wrong = run(net.authorise(req(DEBIT, 100, "000000000003", read(DEBIT, 100), pin_block=pin)))
    assert wrong.response_code == "55" and csu(wrong) == emv.CSU_DECLINED


def test_malformed_chip_data_gets_30(net: CardNetworkSimulator) -> None:
    card = read(DEBIT, 100)
    for data in (ChipData("01", card.icc[:-3]), ChipData("01", b"\x9f"), ChipData("1", card.icc)):
        answer = run(net.authorise(req(DEBIT, 100, "000000000001", None, chip=data)))
        assert answer.response_code == "30" and answer.icc is None
    assert net._book.count() == 0


def test_balance_preauth_and_completion_by_chip(net: CardNetworkSimulator) -> None:
    card = read(DEBIT, 0, "balance")
    balance = run(net.authorise(req(DEBIT, 0, "000000000001", card, kind=AuthKind.BALANCE)))
    assert balance.balance == Money.parse("100000.00") and accepted(card, balance)
    hold_read = read(CREDIT, 1000_00, "preauth")
    hold = run(
        net.authorise(req(CREDIT, 1000_00, "000000000002", hold_read, kind=AuthKind.PREAUTH))
    )
    assert hold.approved and accepted(hold_read, hold)
    done_read = read(CREDIT, 1100_00, "completion")
    chip_data = ChipData("01", done_read.icc)
    # The completion's cryptogram covers 1,100.00; a capture of another amount gets 88.
    assert (
        run(net.capture("000000000002", "000000000003", Money(1000_00), chip_data)).response_code
        == "88"
    )
    tampered_data = ChipData("01", tampered(done_read.icc, "9F37"))
    assert (
        run(
            net.capture("000000000002", "000000000004", Money(1100_00), tampered_data)
        ).response_code
        == "88"
    )
    done = run(net.capture("000000000002", "000000000005", Money(1100_00), chip_data))
    assert done.approved and accepted(done_read, done)
    assert net.card(CREDIT).available == Money.parse("50000.00") - Money(1100_00)  # type: ignore[union-attr]


def test_the_cryptograms_seen_outlive_a_restart(tmp_path: Path) -> None:
    card = read(DEBIT, 100)
    first = CardNetworkSimulator(ZPK, FixedClock(TODAY), path=tmp_path / "cards.sqlite3")
    assert run(first.authorise(req(DEBIT, 100, "000000000001", card))).approved
    first.close()
    again = CardNetworkSimulator(ZPK, FixedClock(TODAY), path=tmp_path / "cards.sqlite3")
    assert run(again.authorise(req(DEBIT, 100, "000000000002", card))).response_code == "88"
    same = run(again.authorise(req(DEBIT, 100, "000000000001", card)))
    assert same.approved and accepted(card, same)  # its own request: the stored answer
    again.close()


def test_an_issuer_answer_without_its_arpc_is_refused_by_the_card(
    net: CardNetworkSimulator,
) -> None:
    card = read(DEBIT, 100)
    answer = run(net.authorise(req(DEBIT, 100, "000000000001", card)))
    assert not card.accepts(None)
    assert not card.accepts(b"\x91")  # not TLV
    assert not card.accepts(replace(answer, icc=tampered(answer.icc or b"", "91")).icc)
    declined = icc.issuer_data((answer.icc or b"")[2:6], emv.CSU_DECLINED)
    assert not card.accepts(declined)
