"""The chart of accounts' codes and the lines of the entries a payment posts: plain
functions over integers, no database (docs/settlement.md).

- ``receivable:<ORG>``: what a card organisation or wallet (CUP, VIS, MCC, JCB, AMX, ALP,
  WXP, UPQ) owes the acquirer for the payments it approved;
- ``merchant:<MID>:payable``: what the acquirer owes a merchant;
- ``merchant:<MID>:receivable``: what a merchant owes from a negative day, carried
  forward until a later day's net pays it;
- ``income:fees``: the acquirer's fee income; ``income:data-fees``: terminal data fees;
- ``payouts:in-transit``: payouts instructed to the bank.

A line's amount is signed, in minor units: debits positive, credits negative, so an
entry balances when its lines sum to zero.
"""

from __future__ import annotations

from collections.abc import Sequence

FEES = "income:fees"
IN_TRANSIT = "payouts:in-transit"
DATA_FEES = "income:data-fees"
Lines = Sequence[tuple[str, int]]  # (account code, signed minor units: debit +)


def receivable(org: str) -> str:
    return f"receivable:{org}"


def payable(mid: str) -> str:
    return f"merchant:{mid}:payable"


def carried(mid: str) -> str:
    """What a merchant owes the acquirer from negative days, until a later day pays it."""
    return f"merchant:{mid}:receivable"


def capture_lines(org: str, mid: str, amount_minor: int, fee_minor: int) -> Lines:
    """An approved sale or completion: the organisation owes the gross, the merchant is
    owed the gross less the fee, the fee is income."""
    lines = [(receivable(org), amount_minor), (payable(mid), -amount_minor)]
    if fee_minor:
        lines += [(payable(mid), fee_minor), (FEES, -fee_minor)]
    return lines


def refund_lines(org: str, mid: str, amount_minor: int) -> Lines:
    """Money back to the cardholder, out of what the merchant is owed. The fee of the
    sale is not returned (a void, the same day, undoes it whole)."""
    return [(payable(mid), amount_minor), (receivable(org), -amount_minor)]


def negated(lines: Lines) -> Lines:
    return [(code, -minor) for code, minor in lines]


def balanced(lines: Lines) -> bool:
    """Whether an entry of these lines may be posted: some line moves money, every
    amount is a whole number of minor units, and debits equal credits."""
    return (
        any(minor for _, minor in lines)
        and all(type(minor) is int for _, minor in lines)
        and sum(minor for _, minor in lines) == 0
    )
