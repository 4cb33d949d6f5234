"""EMV chip card cryptography of cryptogram version 18, the one every test chip card of
the terminal profile uses (docs/protocol.md, "Chip cards"): what the issuer (the network
simulator) and the card (the virtual terminal's chip) compute alike.

- ICC master key (``icc_master_key``): from the issuer's master key for application
  cryptograms (IMK-AC), the PAN and the PAN sequence number (PSN), by EMV option A for a
  PAN of at most 16 digits and option B (SHA-1, then decimalisation) for a longer one,
  as EMV Book 2 annex A1.4 says; odd parity set, as a card is personalised.
- Session key (``session_key``): the EMV common session key derivation from the
  application transaction counter (ATC): R = ATC || 00 00 00 00 00 00, the left half
  3DES(MK, R with byte 2 = F0), the right half 3DES(MK, R with byte 2 = 0F).
- ARQC (``arqc``): ISO/IEC 9797-1 MAC algorithm 3 (single DES CBC under the session
  key's left half, the last block decrypted under its right half and encrypted again
  under the left) with padding method 2 (``80`` then zeros), over the values of
  ``ARQC_TAGS`` concatenated in that order. All 8 bytes.
- ARPC (``arpc``): method 2: the same MAC over ARQC || CSU (card status update, 4
  bytes), its first 4 bytes. The issuer's answer carries ARPC || CSU in tag 91.

Everything is a pure function of its arguments. 3DES is ``cryptography``'s, always keyed
with 24 bytes (K1|K2|K1), never through its deprecated two-key path; contexts are built
per call and not kept (a session key serves one transaction: keeping them would only
push the host's working keys out of ``tdes``'s cache). Errors never carry a key, a PAN
or a cryptogram, only lengths.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.core.ids import is_digits, is_pan
from tillpoint.security.tdes import with_odd_parity

__all__ = [
    "ARQC_TAGS",
    "CSU_APPROVED",
    "CSU_DECLINED",
    "CVN",
    "Session",
    "arpc",
    "arqc",
    "arqc_data",
    "icc_master_key",
    "mac_algorithm_3",
    "option_a",
    "option_b",
    "session_key",
    "verify_arpc",
    "verify_arqc",
]

CVN = 0x12  # cryptogram version 18, as byte 3 of the test cards' 9F10 says
#: The tags whose values the ARQC covers, in this order (spec 4.10).
ARQC_TAGS = ("9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37", "82", "9F36", "9F10")
CSU_APPROVED = bytes(4)
CSU_DECLINED = bytes.fromhex("00800000")
ATC_BYTES, ARQC_BYTES, ARPC_BYTES, CSU_BYTES = 2, 8, 4, 4
_BLOCK = 8
_OPTION_A_MAX_PAN = 16  # EMV: a PAN of at most 16 digits takes option A
_DECIMALISE = str.maketrans("abcdef", "012345")


def _bad_length(message: str, got: int) -> InvalidInput:
    """Lengths are not secret: they travel as a parameter; the values never do."""
    return InvalidInput("emv.bad_length", message, length=got)


def _check_key(key: bytes) -> None:
    if len(key) != 16:
        raise _bad_length(N_("An EMV master or session key is 16 bytes"), len(key))


def _check_pan_psn(pan: str, psn: str) -> None:
    if not is_pan(pan):
        raise InvalidInput("crypto.bad_pan", N_("A card number is 12-19 digits"))
    if not (len(psn) == 2 and is_digits(psn)):
        raise InvalidInput("emv.bad_psn", N_("A PAN sequence number is two digits"))


def _tdes_ecb(key16: bytes, data: bytes) -> bytes:
    """3DES-EDE ECB under a double-length key, as K1|K2|K1."""
    encryptor = Cipher(TripleDES(key16 + key16[:8]), modes.ECB()).encryptor()  # noqa: S305
    return encryptor.update(data) + encryptor.finalize()


# --- keys ---------------------------------------------------------------------------


def _from_data_a(imk: bytes, data_a: bytes) -> bytes:
    """The ICC master key: 3DES(IMK, A || not A), with odd parity."""
    data_b = bytes(b ^ 0xFF for b in data_a)
    return with_odd_parity(_tdes_ecb(imk, data_a + data_b))


def option_a(imk: bytes, pan: str, psn: str = "00") -> bytes:
    """EMV option A: A is the rightmost 16 digits of PAN || PSN (zeros in front when
    shorter), as 8 bytes of BCD."""
    _check_key(imk)
    _check_pan_psn(pan, psn)
    return _from_data_a(imk, bytes.fromhex((pan + psn)[-16:].rjust(16, "0")))


def option_b(imk: bytes, pan: str, psn: str = "00") -> bytes:
    """EMV option B, for a PAN of more than 16 digits: SHA-1 over PAN || PSN as BCD (a
    leading 0 when the digits are odd in number); A is the first 16 decimal digits of the
    hash's hex, completed when there are fewer by its letters a-f read as 0-5, in order."""
    _check_key(imk)
    _check_pan_psn(pan, psn)
    digits = pan + psn
    bcd = bytes.fromhex(digits.rjust(len(digits) + len(digits) % 2, "0"))
    digest = hashlib.sha1(bcd, usedforsecurity=False)
    hexed = digest.hexdigest()
    decimal = "".join(c for c in hexed if c.isdigit())
    letters = "".join(c for c in hexed if not c.isdigit()).translate(_DECIMALISE)
    return _from_data_a(imk, bytes.fromhex((decimal + letters)[:16]))


def icc_master_key(imk: bytes, pan: str, psn: str = "00") -> bytes:
    """The card's master key for application cryptograms (MK-AC), as personalised."""
    if len(pan) <= _OPTION_A_MAX_PAN:
        return option_a(imk, pan, psn)
    return option_b(imk, pan, psn)


def session_key(icc_mk: bytes, atc: bytes) -> bytes:
    """The EMV common session key of one transaction, from its ATC (2 bytes)."""
    _check_key(icc_mk)
    if len(atc) != ATC_BYTES:
        raise _bad_length(N_("An application transaction counter is 2 bytes"), len(atc))
    r = atc + bytes(6)
    left = r[:2] + b"\xf0" + r[3:]
    right = r[:2] + b"\x0f" + r[3:]
    return with_odd_parity(_tdes_ecb(icc_mk, left + right))


# --- MACs ---------------------------------------------------------------------------


def mac_algorithm_3(key: bytes, data: bytes) -> bytes:
    """ISO/IEC 9797-1 MAC algorithm 3 with padding method 2 (``80``, then zeros to a
    whole block: always at least the ``80``), all 8 bytes.

    Single DES CBC under K1 over every block but the last, then the last block (XORed
    with that chain) through DES under K1, DES^-1 under K2 and DES under K1 again,
    which is one 3DES-EDE step under K1|K2|K1."""
    _check_key(key)
    padded = data + b"\x80" + bytes(-(len(data) + 1) % _BLOCK)
    chain = bytes(_BLOCK)
    if len(padded) > _BLOCK:
        cbc = Cipher(TripleDES(key[:8] * 3), modes.CBC(chain)).encryptor()
        chain = cbc.update(padded[:-_BLOCK])[-_BLOCK:]
    last = int.from_bytes(padded[-_BLOCK:], "big") ^ int.from_bytes(chain, "big")
    return _tdes_ecb(key, last.to_bytes(_BLOCK, "big"))


def arqc_data(tags: Mapping[str, bytes]) -> bytes:
    """The values of ``ARQC_TAGS``, in order (a missing tag is a caller's error)."""
    missing = [t for t in ARQC_TAGS if t not in tags]
    if missing:
        raise InvalidInput("emv.missing_tag", N_("Tag {tag} is missing"), tag=missing[0])
    return b"".join(tags[t] for t in ARQC_TAGS)


def _atc(tags: Mapping[str, bytes]) -> bytes:
    atc = tags.get("9F36", b"")
    if len(atc) != ATC_BYTES:
        raise _bad_length(N_("An application transaction counter is 2 bytes"), len(atc))
    return atc


@dataclass(frozen=True)
class Session:
    """One transaction's cryptograms under its session key (both sides compute it once
    and use it for the ARQC and the ARPC)."""

    key: bytes = field(repr=False)
    atc: bytes

    @classmethod
    def of(cls, icc_mk: bytes, atc: bytes) -> Session:
        return cls(session_key(icc_mk, atc), atc)

    def arqc(self, tags: Mapping[str, bytes]) -> bytes:
        return mac_algorithm_3(self.key, arqc_data(tags))

    def verify_arqc(self, tags: Mapping[str, bytes]) -> bool:
        given = tags.get("9F26", b"")
        return len(given) == ARQC_BYTES and hmac.compare_digest(given, self.arqc(tags))

    def arpc(self, cryptogram: bytes, csu: bytes) -> bytes:
        if len(cryptogram) != ARQC_BYTES:
            raise _bad_length(N_("An ARQC is 8 bytes"), len(cryptogram))
        if len(csu) != CSU_BYTES:
            raise _bad_length(N_("A card status update is 4 bytes"), len(csu))
        return mac_algorithm_3(self.key, cryptogram + csu)[:ARPC_BYTES]

    def verify_arpc(self, cryptogram: bytes, issuer_data: bytes) -> bool:
        if len(issuer_data) != ARPC_BYTES + CSU_BYTES:
            return False
        given, csu = issuer_data[:ARPC_BYTES], issuer_data[ARPC_BYTES:]
        return hmac.compare_digest(given, self.arpc(cryptogram, csu))


def arqc(icc_mk: bytes, tags: Mapping[str, bytes]) -> bytes:
    """The authorisation request cryptogram the card computes over ``tags`` (upper-case
    hex tag to value), under the session key of the ATC in 9F36."""
    return Session.of(icc_mk, _atc(tags)).arqc(tags)


def verify_arqc(icc_mk: bytes, tags: Mapping[str, bytes]) -> bool:
    """Whether 9F26 is the ARQC of the other tags (compared in constant time)."""
    return Session.of(icc_mk, _atc(tags)).verify_arqc(tags)


def arpc(icc_mk: bytes, atc: bytes, cryptogram: bytes, csu: bytes) -> bytes:
    """The authorisation response cryptogram, method 2: the first 4 bytes of the MAC
    over ARQC || CSU under the session key of the transaction's ATC."""
    return Session.of(icc_mk, atc).arpc(cryptogram, csu)


def verify_arpc(icc_mk: bytes, atc: bytes, cryptogram: bytes, issuer_data: bytes) -> bool:
    """Whether tag 91's value (ARPC || CSU) answers the card's ARQC."""
    return Session.of(icc_mk, atc).verify_arpc(cryptogram, issuer_data)
