"""The POS 8583 codec: exact bytes, round trips, and nothing but FormatError on garbage."""

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tillpoint.iso8583 import framing, tlv
from tillpoint.iso8583.codec import Message, decode, encode, encode_with_mac, mac_block
from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.fields import (
    Balance,
    EntryMode,
    Field60,
    Field61,
    SettlementTotals,
    Totals,
    split_key_block,
)

SIGN_ON = Message(
    "0800", {11: "000001", 41: "10000001", 42: "898310054110001", 60: "00000001004", 63: "001"}
)
SALE = Message(
    "0200",
    {
        2: "6212340000000000012", 3: "000000", 4: "000000001234", 11: "000002", 14: "3012",
        22: "021", 25: "00", 26: "12", 35: "6212340000000000012D30122010000",
        41: "10000001", 42: "898310054110001", 49: "156", 52: bytes(range(8)),
        53: "2600000000000000", 55: bytes.fromhex("9F2608AABBCCDDEEFF0011"), 60: "22000001000",
    },
)  # fmt: skip


def test_sign_on_bytes() -> None:
    body = encode(SIGN_ON)
    assert body[:2] == bytes.fromhex("0800")
    # Bitmap: fields 11, 41, 42, 60, 63.
    assert body[2:10] == bytes.fromhex("0020000000C00012")
    assert body[10:13] == bytes.fromhex("000001")  # n6 BCD
    # 60: LLL = 0011 digits in two BCD bytes, then 11 digits left-aligned, trailing 0.
    i = body.index(b"898310054110001") + 15
    assert body[i : i + 8] == bytes.fromhex("0011000000010040")
    assert body.endswith(bytes.fromhex("0003") + b"001")  # 63: LLL in bytes, ASCII
    assert decode(body) == SIGN_ON


def test_sale_field_layouts() -> None:
    body = encode(SALE)
    assert bytes.fromhex("1962123400000000000120") in body  # 2: LL=19, left-aligned, pad 0
    assert bytes.fromhex("0210") in body  # 22 "021" is left-aligned: 02 10
    assert bytes.fromhex("316212340000000000012D301220100000") in body  # 35: LL=31, D, pad 0
    assert decode(body) == SALE


def test_mac_block_is_everything_before_the_mac() -> None:
    body = encode_with_mac(SALE, lambda mab: b"ABCDEF12")
    mab = mac_block(body)
    assert body == mab + b"ABCDEF12"
    assert mab[:2] == bytes.fromhex("0200")
    assert mab[9] & 0x01  # bit 64 set in the bitmap the MAC covers
    assert decode(body).binary(64) == b"ABCDEF12"
    with pytest.raises(FormatError):
        mac_block(encode(SALE))  # no field 64


def test_errors_name_field_and_position_without_card_data() -> None:
    body = encode(SALE)
    with pytest.raises(FormatError) as e:
        decode(body[:40])
    assert e.value.field is not None and e.value.position is not None
    assert "6212340000000000012" not in str(e.value)
    with pytest.raises(FormatError, match="secondary bitmap"):
        decode(bytes.fromhex("0800") + bytes([0x80]) + bytes(15))
    assert SALE.safe()["2"] == "<19>" and SALE.safe()["35"] == "<31>"


# --- round trips -----------------------------------------------------------------------


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


def var_digits(lo: int, hi: int) -> st.SearchStrategy[str]:
    # Odd lengths end in a pad nibble the decoder strips, so a value may not end in 0.
    return st.text("0123456789", min_size=lo, max_size=hi).filter(
        lambda s: len(s) % 2 == 0 or not s.endswith("0")
    )


def ascii_text(n: int, lo: int | None = None) -> st.SearchStrategy[str]:
    alphabet = st.characters(min_codepoint=32, max_codepoint=126)
    return st.text(alphabet, min_size=n if lo is None else lo, max_size=n)


FIELD_VALUES: dict[int, st.SearchStrategy[Any]] = {
    2: var_digits(13, 19), 3: digits(6), 4: digits(12), 11: digits(6), 12: digits(6),
    13: digits(4), 14: digits(4), 15: digits(4),
    22: st.sampled_from(["011", "021", "032", "051", "071", "072"]), 23: digits(3),
    25: digits(2), 26: digits(2), 32: var_digits(1, 11),
    35: st.from_regex(r"\A[0-9]{13,19}D[0-9]{7,13}[1-9]\Z"), 37: ascii_text(12), 38: ascii_text(6),
    39: ascii_text(2), 41: ascii_text(8), 42: ascii_text(15), 44: ascii_text(25, 0),
    48: var_digits(62, 62), 49: digits(3), 52: st.binary(min_size=8, max_size=8),
    53: digits(16), 54: ascii_text(20, 0), 55: st.binary(min_size=0, max_size=255),
    57: ascii_text(64, 0), 60: var_digits(11, 13), 61: var_digits(12, 16),
    62: st.binary(min_size=0, max_size=512), 63: ascii_text(163, 0),
    64: st.binary(min_size=8, max_size=8),
}  # fmt: skip


@st.composite
def messages(draw: st.DrawFn) -> Message:
    chosen = draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), min_size=1, max_size=12))
    fields = {n: draw(FIELD_VALUES[n]) for n in chosen}
    fields = {n: v for n, v in fields.items() if v not in {"", b""}}
    return Message(draw(st.sampled_from(["0100", "0200", "0220", "0400", "0500", "0800"])), fields)


@settings(max_examples=300)
@given(messages())
def test_decode_encode_round_trip(message: Message) -> None:
    assert decode(encode(message)) == message


@settings(max_examples=150)
@given(messages())
def test_framing_round_trip(message: Message) -> None:
    payload = framing.request_tpdu() + framing.header() + encode(message)
    framed = framing.frame_bytes(payload)
    assert int.from_bytes(framed[:2], "big") == len(payload)
    frame = framing.parse_frame(framed[2:])
    assert decode(frame.body) == message
    assert framing.reply_tpdu(frame.tpdu) == bytes([0x60, 0x00, 0x00, 0x00, 0x01])


# --- garbage in: only FormatError out ---------------------------------------------------


@settings(max_examples=400)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_format_errors(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        decode(data)
    with contextlib.suppress(FormatError):
        framing.parse_frame(data)


@settings(max_examples=400)
@given(st.data())
def test_mutated_messages_raise_only_format_errors(data: st.DataObject) -> None:
    body = bytearray(encode_with_mac(data.draw(messages()), lambda mab: b"12345678"))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "grow"]))
        if action == "flip" and body:
            i = data.draw(st.integers(0, len(body) - 1))
            body[i] ^= data.draw(st.integers(1, 255))
        elif action == "cut" and body:
            del body[data.draw(st.integers(0, len(body) - 1)) :]
        else:
            body += data.draw(st.binary(min_size=1, max_size=8))
    with contextlib.suppress(FormatError):
        decode(bytes(body))


# --- sub-fields and TLV ------------------------------------------------------------------


def test_sub_fields() -> None:
    f60 = Field60.parse("22000001000")
    assert (f60.txn_type, f60.batch, f60.network_code) == ("22", "000001", "000")
    assert Field60("00", "000001", "004").build() == "00000001004"
    assert Field60.parse("2200000100051").ic_condition == "1"
    assert Field61.parse("0000010000120315") == Field61("000001", "000012", "0315")
    totals = SettlementTotals(Totals(123456, 3, 1000, 1), Totals())
    assert len(totals.build()) == 62 and SettlementTotals.parse(totals.build()) == totals
    assert Balance.parse(Balance(10_000_000).build()) == Balance(10_000_000)
    assert Balance(10_000_000).build() == "1002156C000010000000"
    assert EntryMode.parse("071") == EntryMode("07", True)
    assert len(split_key_block(bytes(60))) == 3
    for bad in (
        lambda: Field60.parse("22"),
        lambda: EntryMode.parse("991"),
        lambda: split_key_block(bytes(59)),
    ):
        with pytest.raises(FormatError):
            bad()


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["9F26", "9F27", "95", "9A", "9C", "9F02", "5F2A", "82", "9F36", "9F10"]
            ),
            st.binary(max_size=200),
        ),
        max_size=10,
    )
)
def test_tlv_round_trip(items: list[tuple[str, bytes]]) -> None:
    assert tlv.decode(tlv.encode(items)) == items


@given(st.binary(max_size=300))
def test_tlv_garbage(data: bytes) -> None:
    with contextlib.suppress(FormatError):
        tlv.decode(data)
