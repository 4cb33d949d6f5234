"""3DES primitives of the software security module (interim: key generation and KCV)."""

from __future__ import annotations

import os

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_


def _check_key(key: bytes) -> None:
    if len(key) not in (16, 24):
        raise InvalidInput("crypto.bad_key_length", N_("A 3DES key is 16 or 24 bytes"))


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
    _check_key(key)
    if len(data) % 8:
        raise InvalidInput("crypto.bad_data_length", N_("3DES data is a multiple of 8 bytes"))
    # K1K2 is K1K2K1 (EDE); cryptography wants the three keys spelt out.
    full = key + key[:8] if len(key) == 16 else key
    encryptor = Cipher(TripleDES(full), modes.ECB()).encryptor()  # noqa: S305 - key blocks
    return encryptor.update(data) + encryptor.finalize()


def kcv(key: bytes, length: int = 4) -> bytes:
    """Key check value: the first bytes of the key's encryption of eight zero bytes."""
    return encrypt_ecb(key, bytes(8))[:length]
