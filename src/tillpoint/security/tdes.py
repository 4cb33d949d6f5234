"""3DES primitives of the software security module: the only code that handles clear
keys and PINs. Nothing here logs, and no error message carries a key, PIN or PAN.

- keys: generation with odd parity, check values (KCV);
- 3DES ECB (EDE; a double-length key K1K2 is K1K2K1);
- the UnionPay "ECB" MAC and the ANSI X9.19 retail MAC (ISO 9797-1 algorithm 3);
- ISO 9564-1 format 0 PIN blocks.
"""

from __future__ import annotations

import hmac
import os

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_

BLOCK = 8


def _key(key: bytes) -> bytes:
    """The 24-byte form cryptography wants: K1K2 -> K1K2K1."""
    if len(key) == 16:
        return key + key[:8]
    if len(key) == 24:
        return key
    raise InvalidInput("crypto.bad_key_length", N_("A 3DES key is 16 or 24 bytes"))


def _blocks(data: bytes) -> None:
    if len(data) % BLOCK:
        raise InvalidInput("crypto.bad_data_length", N_("3DES data is a multiple of 8 bytes"))


def with_odd_parity(key: bytes) -> bytes:
    """Set each byte's low bit so the byte has an odd number of 1 bits (DES parity)."""
    return bytes((b & 0xFE) | ((bin(b >> 1).count("1") + 1) % 2) for b in key)


def generate_key(length: int = 16) -> bytes:
    """A random double- or triple-length key with odd parity and distinct halves."""
    if length not in (16, 24):
        raise InvalidInput("crypto.bad_key_length", N_("A 3DES key is 16 or 24 bytes"))
    while True:
        key = with_odd_parity(os.urandom(length))
        if key[:8] != key[8:16]:  # equal halves would be single DES
            return key


def encrypt_ecb(key: bytes, data: bytes) -> bytes:
    full = _key(key)
    _blocks(data)
    enc = Cipher(TripleDES(full), modes.ECB()).encryptor()  # noqa: S305 - independent key blocks
    return enc.update(data) + enc.finalize()


def decrypt_ecb(key: bytes, data: bytes) -> bytes:
    full = _key(key)
    _blocks(data)
    dec = Cipher(TripleDES(full), modes.ECB()).decryptor()  # noqa: S305 - independent key blocks
    return dec.update(data) + dec.finalize()


def _des(key8: bytes, block: bytes, *, decrypt: bool = False) -> bytes:
    """Single DES on one block, as 3DES with three equal keys."""
    cipher = Cipher(TripleDES(key8 * 3), modes.ECB())  # noqa: S305 - one block
    op = cipher.decryptor() if decrypt else cipher.encryptor()
    return op.update(block) + op.finalize()


def kcv(key: bytes, length: int = 4) -> bytes:
    """Key check value: the first bytes of the key's encryption of eight zero bytes."""
    return encrypt_ecb(key, bytes(BLOCK))[:length]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def _pad_zero(data: bytes) -> bytes:
    """ISO 9797-1 padding method 1; empty data is one zero block."""
    if not data:
        return bytes(BLOCK)
    return data + bytes(-len(data) % BLOCK)


def mac_unionpay_ecb(mak: bytes, mab: bytes) -> bytes:
    """The UnionPay "ECB" MAC of spec section 3: the 8 ASCII bytes of field 64.

    XOR all zero-padded blocks into R; hex R into H1|H2 (8 ASCII bytes each);
    E2 = 3DES(MAK, 3DES(MAK, H1) XOR H2); the MAC is the first 8 hex characters of E2.
    """
    padded = _pad_zero(mab)
    r = bytes(BLOCK)
    for i in range(0, len(padded), BLOCK):
        r = _xor(r, padded[i : i + BLOCK])
    hexed = r.hex().upper().encode()
    e1 = encrypt_ecb(mak, hexed[:BLOCK])
    e2 = encrypt_ecb(mak, _xor(e1, hexed[BLOCK:]))
    return e2.hex().upper().encode()[:BLOCK]


def mac_x919(mak: bytes, data: bytes) -> bytes:
    """ANSI X9.19 retail MAC (ISO 9797-1 algorithm 3, padding method 1), 8 bytes:
    a single-DES CBC-MAC under the left half, then decrypt with the right half and
    encrypt with the left on the last block."""
    if len(mak) != 16:
        raise InvalidInput("crypto.bad_key_length", N_("An X9.19 MAC key is 16 bytes"))
    left, right = mak[:8], mak[8:]
    padded = _pad_zero(data)
    chain = bytes(BLOCK)
    for i in range(0, len(padded), BLOCK):
        chain = _des(left, _xor(chain, padded[i : i + BLOCK]))
    return _des(left, _des(right, chain, decrypt=True))


def macs_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison, so timing does not reveal how much of a MAC matched."""
    return hmac.compare_digest(a, b)


def _pan_block(pan: str) -> bytes:
    if not (pan.isdigit() and 13 <= len(pan) <= 19):
        raise InvalidInput("crypto.bad_pan", N_("A card number is 13-19 digits"))
    return bytes.fromhex("0000" + pan[-13:-1])


def pin_block_format0(pin: str, pan: str) -> bytes:
    """The clear ISO 9564 format 0 block: 0, length, PIN, F fill, XOR the PAN block."""
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise InvalidInput("crypto.bad_pin", N_("A PIN is 4-12 digits"))
    field = f"0{len(pin):X}{pin}".ljust(16, "F")
    return _xor(bytes.fromhex(field), _pan_block(pan))


def pin_from_format0(block: bytes, pan: str) -> str:
    """The PIN of a clear format 0 block; refuses anything malformed."""
    if len(block) != BLOCK:
        raise InvalidInput("crypto.bad_pin_block", N_("A PIN block is 8 bytes"))
    field = _xor(block, _pan_block(pan)).hex().upper()
    length = int(field[1], 16)
    pin, fill = field[2 : 2 + length], field[2 + length :]
    if field[0] != "0" or not 4 <= length <= 12 or not pin.isdigit() or set(fill) - {"F"}:
        raise InvalidInput(
            "crypto.bad_pin_block", N_("The PIN block is not a valid format 0 block")
        )
    return pin


def encrypt_pin_block(pik: bytes, pin: str, pan: str) -> bytes:
    return encrypt_ecb(pik, pin_block_format0(pin, pan))


def decrypt_pin(pik: bytes, enc_block: bytes, pan: str) -> str:
    return pin_from_format0(decrypt_ecb(pik, enc_block), pan)


def translate_pin_block(from_key: bytes, to_key: bytes, enc_block: bytes, pan: str) -> bytes:
    """Re-encrypt a PIN block from one key to another (a terminal's PIK to the network's
    zone PIN key), checking it on the way; the clear block lives only inside this call."""
    return encrypt_pin_block(to_key, decrypt_pin(from_key, enc_block, pan), pan)
