"""EMV cryptography of cryptogram version 18: the profile's worked example exactly, and
pyemv (an independent implementation; its ``cvn.VisaCVN18`` is exactly this) agreeing
on random keys, cards and transactions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyemv import cvn, kd, mac

from tillpoint.core.errors import InvalidInput
from tillpoint.security import emv

# Our module must never touch cryptography's deprecated 3DES paths: such a warning fails
# the test. pyemv does use them, so its own warnings are ignored (the later mark wins).
pytestmark = [
    pytest.mark.filterwarnings("error::cryptography.utils.CryptographyDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning:pyemv"),
]

h = bytes.fromhex
DEMO_IMK_AC = h("9E15204313F7318ACB79B90BD986AD29")
# Spec 4.10's worked example.
EXAMPLE = {
    "9F02": h("000000001234"), "9F03": h("000000000000"), "9F1A": h("0156"),
    "95": h("0000000000"), "5F2A": h("0156"), "9A": h("261204"), "9C": h("00"),
    "9F37": h("12345678"), "82": h("7C00"), "9F36": h("0001"), "9F10": h("06011203A00000"),
}  # fmt: skip

keys = st.binary(min_size=16, max_size=16)
pans = st.text("0123456789", min_size=12, max_size=19)
psns = st.text("0123456789", min_size=2, max_size=2)
atcs = st.binary(min_size=2, max_size=2)


def tags_of(draw: st.DrawFn) -> dict[str, bytes]:
    def b(n: int) -> bytes:
        return draw(st.binary(min_size=n, max_size=n))

    return {
        "9F02": b(6), "9F03": b(6), "9F1A": b(2), "95": b(5), "5F2A": b(2), "9A": b(3),
        "9C": b(1), "9F37": b(4), "82": b(2), "9F36": b(2),
        "9F10": draw(st.binary(min_size=1, max_size=32)),
    }  # fmt: skip


transactions = st.composite(tags_of)()


def test_the_worked_example() -> None:
    mk = emv.icc_master_key(DEMO_IMK_AC, "6212340000000000012", "01")
    assert mk == h("83A126D9E601DA0EADD9E5B03EE3C40D")
    arqc = emv.arqc(mk, EXAMPLE)
    assert arqc == h("23FA3C4C12C5E28A")
    assert emv.arpc(mk, EXAMPLE["9F36"], arqc, emv.CSU_APPROVED) == h("F618B50B")
    assert emv.verify_arqc(mk, {**EXAMPLE, "9F26": arqc})
    assert emv.verify_arpc(mk, EXAMPLE["9F36"], arqc, h("F618B50B") + emv.CSU_APPROVED)
    # The example's PAN has 19 digits: option B, which differs from option A.
    assert emv.option_b(DEMO_IMK_AC, "6212340000000000012", "01") == mk
    assert emv.option_a(DEMO_IMK_AC, "6212340000000000012", "01") != mk


def test_a_changed_bit_anywhere_fails_the_cryptograms() -> None:
    mk = emv.icc_master_key(DEMO_IMK_AC, "6212340000000000012", "01")
    arqc = emv.arqc(mk, EXAMPLE)
    for tag in emv.ARQC_TAGS:
        changed = {**EXAMPLE, tag: bytes([EXAMPLE[tag][0] ^ 1]) + EXAMPLE[tag][1:], "9F26": arqc}
        assert not emv.verify_arqc(mk, changed), tag
    bad_arpc = h("F618B50A") + emv.CSU_APPROVED
    assert not emv.verify_arpc(mk, EXAMPLE["9F36"], arqc, bad_arpc)
    # The same ARPC does not answer with another CSU (a decline made an approval).
    assert not emv.verify_arpc(mk, EXAMPLE["9F36"], arqc, h("F618B50B") + emv.CSU_DECLINED)
    assert not emv.verify_arpc(mk, EXAMPLE["9F36"], arqc, h("F618B50B"))  # no CSU
    other = emv.icc_master_key(DEMO_IMK_AC, "6212340000000000020", "01")
    assert not emv.verify_arqc(other, {**EXAMPLE, "9F26": arqc})  # another card's key
    assert not emv.verify_arqc(mk, EXAMPLE)  # no 9F26 at all


@given(keys, pans, psns)
def test_icc_master_keys_agree_with_pyemv(imk: bytes, pan: str, psn: str) -> None:
    # pyemv's option B falls back to option A for a PAN of at most 16 digits, as EMV says.
    assert emv.icc_master_key(imk, pan, psn) == kd.derive_icc_mk_b(imk, pan, psn)
    assert emv.option_a(imk, pan, psn) == kd.derive_icc_mk_a(imk, pan, psn)
    if len(pan) > 16:
        assert emv.option_b(imk, pan, psn) == kd.derive_icc_mk_b(imk, pan, psn)


@given(keys, atcs)
def test_session_keys_agree_with_pyemv(mk: bytes, atc: bytes) -> None:
    assert emv.session_key(mk, atc) == kd.derive_common_sk(mk, atc + bytes(6))


@given(keys, st.binary(max_size=64))
def test_mac_algorithm_3_agrees_with_pyemv(key: bytes, data: bytes) -> None:
    assert emv.mac_algorithm_3(key, data) == mac.mac_iso9797_3(key[:8], key[8:], data, 2)


@given(keys, pans, psns, transactions, st.binary(min_size=4, max_size=4))
def test_arqc_and_arpc_agree_with_pyemv_cvn18(
    imk: bytes, pan: str, psn: str, tags: dict[str, bytes], csu: bytes
) -> None:
    card = cvn.VisaCVN18(imk, imk, imk, pan, psn)
    mk = emv.icc_master_key(imk, pan, psn)
    assert mk == card.icc_mk_ac
    theirs = card.generate_ac(*(tags[t] for t in emv.ARQC_TAGS))
    arqc = emv.arqc(mk, tags)
    assert arqc == theirs
    assert emv.verify_arqc(mk, {**tags, "9F26": arqc})
    arpc = emv.arpc(mk, tags["9F36"], arqc, csu)
    assert arpc == card.generate_arpc(arqc, tags["9F36"], csu)
    assert emv.verify_arpc(mk, tags["9F36"], arqc, arpc + csu)


def test_errors_say_lengths_never_keys_or_card_numbers() -> None:
    pan = "6212340000000000012"
    for call in (
        lambda: emv.icc_master_key(DEMO_IMK_AC[:15], pan, "01"),
        lambda: emv.icc_master_key(DEMO_IMK_AC, pan + "9", "01"),
        lambda: emv.icc_master_key(DEMO_IMK_AC, pan, "1"),
        lambda: emv.session_key(DEMO_IMK_AC, b"\x00"),
        lambda: emv.arpc(DEMO_IMK_AC, b"\x00\x01", b"\x01" * 7, bytes(4)),
        lambda: emv.arpc(DEMO_IMK_AC, b"\x00\x01", b"\x01" * 8, bytes(3)),
        lambda: emv.arqc(DEMO_IMK_AC, {k: v for k, v in EXAMPLE.items() if k != "9A"}),
    ):
        with pytest.raises(InvalidInput) as caught:
            call()
        text = f"{caught.value} {caught.value!r} {caught.value.params!r}"
        assert pan not in text and DEMO_IMK_AC.hex() not in text.lower()
