"""The card's side of a chip read (spec 4.10): what the chip of a test card computes when
the virtual terminal reads it, inserted (22 = 05x) or tapped (07x).

Every test card is a chip card of the demo issuer, personalised with its own ICC master
key, derived from the demo issuer's master key (``DEMO_IMK_AC``, a test key of the
profile) by EMV option B from its PAN and PAN sequence number 01: the terminal knows
that key only as this personalisation of its virtual cards, as a card factory would.

For each read the card counts its application transaction counter (ATC) up by one and
computes the ARQC over the transaction's data (cryptogram version 18,
``security/emv.py``); the terminal sends it in field 55 with the tags of 4.10, and 23 =
``001``. When the answer comes the card checks the ARPC in tag 91: an approval whose
ARPC does not verify (or that has none) is refused by the card, and the terminal
reverses it with reason ``06``.

The counters live in the terminal's state file (``DeviceState.atc``), so that they only
go up; each card's counter is named there by a keyed hash of its number (under the
terminal's TMK), never by the number itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import date

from tillpoint.core.errors import InvalidInput, Refused
from tillpoint.core.i18n import N_
from tillpoint.iso8583 import icc
from tillpoint.networks.bins import Funding, classify
from tillpoint.networks.connector import CardOrg
from tillpoint.security import emv

PSN = "01"  # the test cards' PAN sequence number
FIELD_23 = "0" + PSN  # field 23, n3
MAX_ATC = 0xFFFF  # a card whose counter is used up refuses to be read
IAD = bytes.fromhex("06011203A00000")  # 9F10: length 6, key index 01, CVN 18, CVR
AIP = bytes.fromhex("7C00")  # 82
CNY = bytes.fromhex("0156")  # 5F2A and 9F1A: China, the yuan
ARQC_CID = b"\x80"  # 9F27: an ARQC
TERMINAL_TYPE = b"\x22"  # 9F35: attended, online with offline capability, merchant's
TERMINAL_CAPABILITIES = bytes.fromhex("E0F8C8")  # 9F33: IC, magstripe, keyed; PINs; SDA/DDA
CVM_ONLINE_PIN = bytes.fromhex("420300")  # 9F34: enciphered PIN online
CVM_NONE = bytes.fromhex("1F0302")  # 9F34: no CVM required (a small tap)
TVR = bytes(5)  # 95: nothing the terminal found wrong
#: 9C by what the terminal does (spec 4.10): goods, a balance inquiry, a pre-auth.
TRANSACTION_TYPES = {"sale": b"\x00", "completion": b"\x00", "preauth": b"\x03", "balance": b"\x30"}
_AIDS = {
    (CardOrg.UNIONPAY, Funding.DEBIT): "A000000333010101",
    (CardOrg.UNIONPAY, Funding.CREDIT): "A000000333010102",
    (CardOrg.VISA, Funding.CREDIT): "A0000000031010",
    (CardOrg.VISA, Funding.DEBIT): "A0000000031010",
    (CardOrg.MASTERCARD, Funding.CREDIT): "A0000000041010",
    (CardOrg.MASTERCARD, Funding.DEBIT): "A0000000041010",
    (CardOrg.JCB, Funding.CREDIT): "A0000000651010",
    (CardOrg.AMEX, Funding.CREDIT): "A00000002501",
}
_UNIONPAY_DEBIT = "A000000333010101"


def counter_name(tmk: bytes, pan: str) -> str:
    """How the state file names a card's ATC: a keyed hash of its number, not the number."""
    return hmac.new(tmk, b"atc|" + pan.encode(), hashlib.sha256).hexdigest()[:32]


def aid(pan: str) -> bytes:
    """84: the card's application, by its network and funding (UnionPay debit when the
    BIN table does not know the number)."""
    info = classify(pan)
    name = _UNIONPAY_DEBIT if info is None else _AIDS.get((info.org, info.funding), _UNIONPAY_DEBIT)
    return bytes.fromhex(name)


@dataclass(frozen=True)
class ChipRead:
    """One read of the chip: field 55 as sent, and what the card needs to check the
    issuer's answer."""

    icc: bytes = field(repr=False)
    arqc: bytes
    session: emv.Session  # the transaction's session key, under the card's master key

    def accepts(self, answer_icc: bytes | None) -> bool:
        """Whether the card takes an approval: tag 91 holds the ARPC of its ARQC with
        the approving CSU. A malformed 55 is no ARPC."""
        try:
            issuer = icc.issuer_authentication(answer_icc)
        except InvalidInput:  # the answer's 55 is not TLV
            return False
        if issuer is None or issuer[emv.ARPC_BYTES :] != emv.CSU_APPROVED:
            return False
        return self.session.verify_arpc(self.arqc, issuer)


def personalise(pan: str) -> bytes:
    """A test card's ICC master key, as the demo issuer personalised it."""
    from tillpoint.networks.simulator import DEMO_IMK_AC  # the demo issuer's test key

    return emv.icc_master_key(DEMO_IMK_AC, pan, PSN)


def read(
    pan: str,
    atc: int,
    *,
    kind: str,
    amount_minor: int,
    pin: bool,
    ifd_serial: str,
    today: date,
    unpredictable: bytes | None = None,
) -> ChipRead:
    """The card's answer to GENERATE AC for an online authorisation: field 55 with the
    tags of 4.10, in its order, the ARQC computed over them."""
    if not 1 <= atc <= MAX_ATC:
        raise Refused("terminal.chip_counter", N_("The card's transaction counter is used up"))
    key = personalise(pan)
    tags = {
        "9F10": IAD,
        "9F37": unpredictable if unpredictable is not None else secrets.token_bytes(4),
        "9F36": atc.to_bytes(2, "big"),
        "95": TVR,
        "9A": bytes.fromhex(today.strftime("%y%m%d")),
        "9C": TRANSACTION_TYPES[kind],
        "9F02": bytes.fromhex(f"{amount_minor:012d}"),
        "9F03": bytes(6),
        "5F2A": CNY,
        "82": AIP,
        "9F1A": CNY,
        "84": aid(pan),
        "9F33": TERMINAL_CAPABILITIES,
        "9F34": CVM_ONLINE_PIN if pin else CVM_NONE,
        "9F35": TERMINAL_TYPE,
        "9F1E": ifd_serial.encode("ascii")[:8].ljust(8),
    }
    session = emv.Session.of(key, tags["9F36"])
    cryptogram = session.arqc(tags)
    items = [("9F26", cryptogram), ("9F27", ARQC_CID), *tags.items()]
    return ChipRead(icc.build(items), cryptogram, session)
