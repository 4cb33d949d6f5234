"""3DES, MACs and PIN blocks: published vectors, and an independent implementation
(psec) agreeing on random inputs."""

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tillpoint.core.errors import InvalidInput
from tillpoint.security import tdes

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # psec imports TripleDES from its deprecated place
    import psec

DEMO_TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
keys = st.binary(min_size=16, max_size=16).filter(lambda k: k[:8] != k[8:])
data = st.binary(min_size=0, max_size=300)
pins = st.text("0123456789", min_size=4, max_size=12)
pans = st.text("0123456789", min_size=13, max_size=19)


def quiet(fn, *args):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


# --- published vectors ---------------------------------------------------------------


def test_kcv_of_the_demo_tmk() -> None:
    # 3DES of zeros under 0123456789ABCDEFFEDCBA9876543210 is 08D7B4FB629D0885, the
    # check value every payment HSM manual quotes for this test key.
    assert tdes.encrypt_ecb(DEMO_TMK, bytes(8)).hex().upper() == "08D7B4FB629D0885"
    assert tdes.kcv(DEMO_TMK).hex().upper() == "08D7B4FB"


def test_fips_113_mac_vector() -> None:
    # FIPS PUB 113 / ANSI X9.9: key 0123456789ABCDEF, "7654321 Now is the time for ",
    # MAC F1D30F68. X9.19 with equal halves reduces to that single-DES CBC-MAC.
    k = bytes.fromhex("0123456789ABCDEF")
    assert tdes.mac_x919(k + k, b"7654321 Now is the time for ")[:4].hex().upper() == "F1D30F68"


def test_iso_9564_format_0_vector() -> None:
    # The worked example of ISO 9564 format 0 (as on Wikipedia): PIN 1234, PAN
    # 43219876543210987 -> 0412AC89ABCDEF67.
    block = tdes.pin_block_format0("1234", "43219876543210987")
    assert block.hex().upper() == "0412AC89ABCDEF67"
    assert tdes.pin_from_format0(block, "43219876543210987") == "1234"


# --- against psec ----------------------------------------------------------------------


@settings(max_examples=60)
@given(keys, st.binary(min_size=8, max_size=64).filter(lambda b: len(b) % 8 == 0))
def test_ecb_agrees_with_psec(key: bytes, block: bytes) -> None:
    assert tdes.encrypt_ecb(key, block) == quiet(psec.des.encrypt_tdes_ecb, key, block)
    assert tdes.decrypt_ecb(key, tdes.encrypt_ecb(key, block)) == block
    assert tdes.kcv(key) == quiet(psec.des.generate_kcv, key, 4)


@settings(max_examples=60)
@given(keys, data)
def test_x919_agrees_with_psec(key: bytes, message: bytes) -> None:
    expected = quiet(psec.mac.generate_retail_mac, key[:8], key[8:], message or bytes(8), 1)
    assert tdes.mac_x919(key, message) == expected


@settings(max_examples=60)
@given(pins, pans)
def test_pin_blocks_agree_with_psec(pin: str, pan: str) -> None:
    block = tdes.pin_block_format0(pin, pan)
    assert block == psec.pinblock.encode_pinblock_iso_0(pin, pan)
    assert psec.pinblock.decode_pinblock_iso_0(block, pan) == pin
    assert tdes.pin_from_format0(block, pan) == pin


@settings(max_examples=40)
@given(keys, keys, pins, pans)
def test_pin_encryption_and_translation(pik: bytes, zpk: bytes, pin: str, pan: str) -> None:
    under_pik = tdes.encrypt_pin_block(pik, pin, pan)
    assert tdes.decrypt_pin(pik, under_pik, pan) == pin
    under_zpk = tdes.translate_pin_block(pik, zpk, under_pik, pan)
    assert tdes.decrypt_pin(zpk, under_zpk, pan) == pin


# --- the UnionPay ECB MAC, re-derived step by step with psec's DES ----------------------


@settings(max_examples=60)
@given(keys, data)
def test_unionpay_ecb_mac(mak: bytes, mab: bytes) -> None:
    padded = mab + bytes(-len(mab) % 8) if mab else bytes(8)
    r = bytes(8)
    for i in range(0, len(padded), 8):
        r = bytes(a ^ b for a, b in zip(r, padded[i : i + 8], strict=True))
    h = r.hex().upper().encode()
    e1 = quiet(psec.des.encrypt_tdes_ecb, mak, h[:8])
    e2 = quiet(psec.des.encrypt_tdes_ecb, mak, bytes(a ^ b for a, b in zip(e1, h[8:], strict=True)))
    assert tdes.mac_unionpay_ecb(mak, mab) == e2.hex().upper().encode()[:8]


def test_unionpay_mac_is_ascii_hex() -> None:
    mac = tdes.mac_unionpay_ecb(DEMO_TMK, b"\x02\x00" + bytes(30))
    assert len(mac) == 8 and all(c in b"0123456789ABCDEF" for c in mac)


# --- keys and refusals -------------------------------------------------------------------


def test_generated_keys_have_odd_parity_and_distinct_halves() -> None:
    for _ in range(50):
        key = tdes.generate_key()
        assert len(key) == 16 and key[:8] != key[8:]
        assert all(bin(b).count("1") % 2 == 1 for b in key)
    assert tdes.with_odd_parity(bytes(8)) == bytes.fromhex("0101010101010101")
    assert len(tdes.generate_key(24)) == 24


def test_macs_compare_in_constant_time() -> None:
    assert tdes.macs_equal(b"ABCDEF12", b"ABCDEF12")
    assert not tdes.macs_equal(b"ABCDEF12", b"ABCDEF13")


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda: tdes.encrypt_ecb(bytes(15), bytes(8)), "crypto.bad_key_length"),
        (lambda: tdes.encrypt_ecb(DEMO_TMK, bytes(7)), "crypto.bad_data_length"),
        (lambda: tdes.pin_block_format0("123", "6212340000000000012"), "crypto.bad_pin"),
        (lambda: tdes.pin_block_format0("12a4", "6212340000000000012"), "crypto.bad_pin"),
        (lambda: tdes.pin_block_format0("1234", "12"), "crypto.bad_pan"),
        (lambda: tdes.pin_from_format0(bytes(8), "6212340000000000012"), "crypto.bad_pin_block"),
        (
            lambda: tdes.decrypt_pin(DEMO_TMK, bytes(8), "6212340000000000012"),
            "crypto.bad_pin_block",
        ),
    ],
)
def test_malformed_input_is_refused_without_secrets(call, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as e:
        call()
    assert e.value.code == code
    assert "1234" not in str(e.value) and "6212340000000000012" not in str(e.value)
