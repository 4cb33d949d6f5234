"""The BIN table (卡BIN表): what a card number says about its card before any issuer is
asked, i.e. its organisation, whether it is debit or credit, and domestic or foreign.
Fees and batch totals are classified from it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tillpoint.core.ids import is_digits, luhn_ok
from tillpoint.networks.connector import CardOrg


class Funding(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


@dataclass(frozen=True)
class CardInfo:
    org: CardOrg
    funding: Funding
    domestic: bool
    issuer_id: str  # an11, as field 44 carries it


# Longest prefix wins. Test BINs of the demo set first, then scheme ranges.
_BINS: tuple[tuple[str, CardInfo], ...] = (
    ("621234", CardInfo(CardOrg.UNIONPAY, Funding.DEBIT, True, "01020000   ")),
    ("625094", CardInfo(CardOrg.UNIONPAY, Funding.CREDIT, True, "03080000   ")),
    ("476134", CardInfo(CardOrg.VISA, Funding.CREDIT, False, "40000000   ")),
    ("522222", CardInfo(CardOrg.MASTERCARD, Funding.CREDIT, False, "50000000   ")),
    ("62", CardInfo(CardOrg.UNIONPAY, Funding.DEBIT, True, "00010000   ")),
    ("4", CardInfo(CardOrg.VISA, Funding.CREDIT, False, "40000000   ")),
    ("5", CardInfo(CardOrg.MASTERCARD, Funding.CREDIT, False, "50000000   ")),
    ("35", CardInfo(CardOrg.JCB, Funding.CREDIT, False, "35000000   ")),
    ("34", CardInfo(CardOrg.AMEX, Funding.CREDIT, False, "34000000   ")),
    ("37", CardInfo(CardOrg.AMEX, Funding.CREDIT, False, "34000000   ")),
)
_LONGEST_FIRST = tuple(sorted(_BINS, key=lambda b: -len(b[0])))


def classify(pan: str) -> CardInfo | None:
    """The card's BIN entry, or None for a number no network here takes."""
    if not (is_digits(pan) and 13 <= len(pan) <= 19 and luhn_ok(pan)):
        return None
    for prefix, info in _LONGEST_FIRST:
        if pan.startswith(prefix):
            return info
    return None
