"""Triple-DES primitives of the software security module: the only code that sees clear keys.

UnionPay-style POS terminals still speak 3DES: double-length working keys (PIK, MAK)
under a terminal master key, key check values to confirm a key arrived intact, ISO 9564
format 0 PIN blocks, the UnionPay "ECB" MAC in field 64 and the ANSI X9.19 retail MAC.
Everything here is a pure function of its arguments so that it can be tested against
published vectors and an independent implementation.

Rules this module keeps, because it handles secrets:

* nothing is logged, and no exception message or parameter ever carries a key, PIN,
  PAN or PIN block (only lengths of keys and data, which are not secret);
* every defect inside a PIN block raises the same error, so that a caller cannot be
  turned into an oracle that tells an attacker which part of a forged block was wrong;
* keys always reach ``cryptography`` as 24-byte K1|K2|K3 values: its two-key and
  single-key 3DES forms are deprecated, and expanding the key ourselves makes the
  keying option explicit (double length = K1|K2|K1, single DES = K|K|K).
"""

from __future__ import annotations

import hmac
from functools import lru_cache
from secrets import token_bytes

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, modes

from tillpoint.core.errors import InvalidInput, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.ids import is_digits

__all__ = [
    "BLOCK_SIZE",
    "decrypt_ecb",
    "decrypt_pin",
    "encrypt_ecb",
    "encrypt_pin_block",
    "generate_key",
    "kcv",
    "mac_unionpay_ecb",
    "mac_x919",
    "macs_equal",
    "pin_block_format0",
    "pin_from_format0",
    "translate_pin_block",
    "with_odd_parity",
]

BLOCK_SIZE = 8
"""The DES block size in bytes."""

_KEY_LENGTHS = (16, 24)
_ZERO_IV = bytes(BLOCK_SIZE)
# Cipher contexts kept, an encrypting and a decrypting one per key in use (LRU): enough for
# the working keys of a few thousand busy terminals.
CIPHERS_KEPT = 8192
_PIN_MIN, _PIN_MAX = 4, 12
# Card numbers as UnionPay and the schemes issue them: 13 to 19 digits, check digit included,
# so that the PAN field always has 12 real digits before the check digit.
_PAN_MIN, _PAN_MAX = 13, 19


# --- validation ---------------------------------------------------------------------


# Lengths of keys and data are not secret, so they travel as parameters (for logs and
# problem documents); the message templates themselves never show a value.


def _bad_key_length(length: int) -> InvalidInput:
    return InvalidInput("crypto.bad_key_length", N_("A 3DES key is 16 or 24 bytes"), length=length)


def _check_key(key: bytes) -> None:
    if len(key) not in _KEY_LENGTHS:
        raise _bad_key_length(len(key))


def _check_x919_key(key: bytes) -> None:
    if len(key) != 16:
        raise InvalidInput(
            "crypto.bad_key_length", N_("An X9.19 MAC key is 16 bytes"), length=len(key)
        )


def _check_unionpay_mak(key: bytes) -> None:
    if len(key) != 16:
        raise InvalidInput(
            "crypto.bad_key_length",
            N_("A UnionPay MAC key is a double-length key of 16 bytes"),
            length=len(key),
        )


def _check_blocks(data: bytes) -> None:
    if len(data) % BLOCK_SIZE:
        raise InvalidInput(
            "crypto.bad_data_length", N_("3DES data is a multiple of 8 bytes"), length=len(data)
        )


def _check_pin(pin: str) -> None:
    # The message deliberately holds no digit and no parameter: nothing of the PIN can leak.
    if not (_PIN_MIN <= len(pin) <= _PIN_MAX and is_digits(pin)):
        raise InvalidInput("crypto.bad_pin", N_("A PIN must be four to twelve decimal digits"))


def _check_pan(pan: str) -> None:
    if not (_PAN_MIN <= len(pan) <= _PAN_MAX and is_digits(pan)):
        raise InvalidInput("crypto.bad_pan", N_("A card number is 13-19 digits"))


def _check_pin_block_length(block: bytes) -> None:
    # The length of a block is public (it is on the wire), unlike anything inside it.
    if len(block) != BLOCK_SIZE:
        raise InvalidInput("crypto.bad_pin_block", N_("A PIN block is 8 bytes"))


def _bad_pin_block() -> InvalidInput:
    # One error for every defect of the contents, so that the answer is no oracle telling
    # an attacker which part of a forged or mis-keyed block was wrong.
    return InvalidInput("crypto.bad_pin_block", N_("The PIN block is not a valid format 0 block"))


# --- block cipher helpers -----------------------------------------------------------


def _three_key(key: bytes) -> bytes:
    """The 24-byte K1|K2|K3 form: a double-length key K1|K2 means K1|K2|K1."""
    return key + key[:8] if len(key) == 16 else key


def _ecb(key24: bytes, data: bytes, *, encrypt: bool) -> bytes:
    # ECB is what the protocols specify: key blocks, PIN blocks and MAC steps are each
    # one independent block, never a message with structure across blocks.
    return _ecb_context(key24, encrypt).update(data)


@lru_cache(maxsize=CIPHERS_KEPT)
def _ecb_context(key24: bytes, encrypt: bool) -> CipherContext:
    """One cipher context per key and direction, kept: building one costs about ten times
    the block it then encrypts (a sale uses the terminal's MAK and PIK several times).
    An ECB context carries nothing from one block to the next and callers pass whole
    blocks, so ``update`` alone is the whole operation and the context is never
    finalised; it runs under the GIL, so threads cannot interleave inside one call."""
    cipher = Cipher(TripleDES(key24), modes.ECB())  # noqa: S305 - single blocks, see _ecb
    return cipher.encryptor() if encrypt else cipher.decryptor()


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _zero_pad(data: bytes) -> bytes:
    """ISO/IEC 9797-1 padding method 1; empty data becomes one zero block, as both MACs need."""
    if not data:
        return bytes(BLOCK_SIZE)
    return data + bytes(-len(data) % BLOCK_SIZE)


# --- keys ---------------------------------------------------------------------------


def with_odd_parity(key: bytes) -> bytes:
    """Set each byte's low bit so that the byte has odd parity.

    DES ignores those bits, but HSMs, key-loading devices and key exchange with
    UnionPay expect (and some verify) odd parity, so every key we issue carries it.
    """
    return bytes(b & 0xFE | (((b & 0xFE).bit_count() & 1) ^ 1) for b in key)


def generate_key(length: int = 16) -> bytes:
    """A fresh random double (16) or triple (24) length key with odd parity.

    Drawn from the operating system's CSPRNG. Equal components would silently turn
    3DES into single DES (K1 == K2 for a double-length key; K1 == K2 or K2 == K3 for
    a triple-length one), so such a draw is thrown away and the key drawn again; for
    triple-length keys K1 == K3 is refused too, so that they really have three keys.
    """
    if length not in _KEY_LENGTHS:
        raise _bad_key_length(length)
    while True:
        key = with_odd_parity(token_bytes(length))
        parts = {key[i : i + 8] for i in range(0, length, 8)}
        if len(parts) == length // 8:
            return key


def encrypt_ecb(key: bytes, data: bytes) -> bytes:
    """3DES-EDE ECB encryption of whole blocks (no padding: callers build exact blocks)."""
    _check_key(key)
    _check_blocks(data)
    return _ecb(_three_key(key), data, encrypt=True)


def decrypt_ecb(key: bytes, data: bytes) -> bytes:
    """3DES-EDE ECB decryption of whole blocks, e.g. a working key under the master key."""
    _check_key(key)
    _check_blocks(data)
    return _ecb(_three_key(key), data, encrypt=False)


def kcv(key: bytes, length: int = 4) -> bytes:
    """Key check value: the first ``length`` bytes of 3DES-ECB(key, 8 zero bytes).

    Lets two parties (or a terminal and the host) confirm they hold the same key
    without revealing it.
    """
    _check_key(key)
    # Callers pass a constant, so another length is a bug rather than bad input.
    invariant(1 <= length <= BLOCK_SIZE, "a key check value is 1 to 8 bytes")
    return _ecb(_three_key(key), bytes(BLOCK_SIZE), encrypt=True)[:length]


# --- MACs ---------------------------------------------------------------------------


def mac_unionpay_ecb(mak: bytes, mab: bytes) -> bytes:
    """The UnionPay POS "ECB" MAC of a MAC block, as the 8 ASCII bytes of field 64.

    The MAB is zero-padded and its blocks XORed into R; R's 16 upper-case hex digits
    are split into H1 and H2; E1 = 3DES(MAK, H1), E2 = 3DES(MAK, E1 XOR H2); the MAC is
    the first 8 hex digits of E2. It is the terminal protocol's algorithm, not a design
    choice, and a weak one: reordering blocks or adding zero bytes up to a block edge
    leaves the MAC unchanged, so prefer X9.19 wherever the other side allows it.
    """
    _check_unionpay_mak(mak)
    padded = _zero_pad(mab)
    r = 0
    for i in range(0, len(padded), BLOCK_SIZE):
        r ^= int.from_bytes(padded[i : i + BLOCK_SIZE], "big")
    hex_r = r.to_bytes(BLOCK_SIZE, "big").hex().upper().encode("ascii")
    key24 = _three_key(mak)
    e1 = _ecb(key24, hex_r[:8], encrypt=True)
    e2 = _ecb(key24, _xor(e1, hex_r[8:]), encrypt=True)
    return e2.hex().upper()[:8].encode("ascii")


def mac_x919(mak: bytes, data: bytes) -> bytes:
    """ANSI X9.19 retail MAC (ISO/IEC 9797-1 MAC algorithm 3, padding method 1), 8 bytes.

    Single-DES CBC-MAC under K1 over all blocks, then the last block is decrypted under
    K2 and encrypted under K1 again, so that a double-length key protects the result.
    """
    _check_x919_key(mak)
    k1, k2 = mak[:8], mak[8:]
    cbc = Cipher(TripleDES(k1 * 3), modes.CBC(_ZERO_IV)).encryptor()
    last = cbc.update(_zero_pad(data))[-BLOCK_SIZE:]
    return _ecb(k1 * 3, _ecb(k2 * 3, last, encrypt=False), encrypt=True)


def macs_equal(a: bytes, b: bytes) -> bool:
    """Compare MACs in constant time, so that response timing reveals no matching prefix."""
    return hmac.compare_digest(a, b)


# --- ISO 9564-1 format 0 PIN blocks ---------------------------------------------------


def _pan_field(pan: str) -> bytes:
    """``0000`` and the 12 rightmost PAN digits, the check digit excluded."""
    _check_pan(pan)
    return bytes.fromhex("0000" + pan[-13:-1])


def pin_block_format0(pin: str, pan: str) -> bytes:
    """The clear ISO 9564-1 format 0 (ANSI X9.8) PIN block for ``pin`` on card ``pan``.

    ``0``, the PIN length, the PIN digits, ``F`` fill, XORed with the PAN field; binding
    the PIN to the card stops a block from being replayed against another card.
    """
    _check_pin(pin)
    pan_field = _pan_field(pan)
    clear = bytes.fromhex(f"0{len(pin):X}{pin}".ljust(16, "F"))
    return _xor(clear, pan_field)


def pin_from_format0(block: bytes, pan: str) -> str:
    """The PIN in a clear format 0 block, after checking every field of the block.

    A wrong control nibble, length, non-digit or fill means a wrong key, a wrong card
    or a forged block; all of them raise the same ``crypto.bad_pin_block`` error.
    """
    pan_field = _pan_field(pan)
    _check_pin_block_length(block)
    nibbles = _xor(block, pan_field).hex().upper()
    length = int(nibbles[1], 16)
    pin, fill = nibbles[2 : 2 + length], nibbles[2 + length :]
    if (
        nibbles[0] != "0"
        or not _PIN_MIN <= length <= _PIN_MAX
        or not is_digits(pin)
        or fill != "F" * len(fill)
    ):
        raise _bad_pin_block()
    return pin


def encrypt_pin_block(pik: bytes, pin: str, pan: str) -> bytes:
    """The format 0 PIN block encrypted under the PIN key, as it travels in field 52."""
    _check_key(pik)
    return encrypt_ecb(pik, pin_block_format0(pin, pan))


def decrypt_pin(pik: bytes, enc_block: bytes, pan: str) -> str:
    """Decrypt a field 52 PIN block under the PIN key and return the verified PIN."""
    _check_key(pik)
    _check_pan(pan)
    _check_pin_block_length(enc_block)
    return pin_from_format0(decrypt_ecb(pik, enc_block), pan)


def translate_pin_block(from_key: bytes, to_key: bytes, enc_block: bytes, pan: str) -> bytes:
    """Re-encrypt a PIN block from one PIN key to another (a terminal's PIK to a network's
    zone PIN key), verifying it on the way; the clear block lives only inside this call."""
    _check_key(to_key)
    return encrypt_pin_block(to_key, decrypt_pin(from_key, enc_block, pan), pan)
