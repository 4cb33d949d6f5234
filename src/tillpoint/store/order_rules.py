"""The arithmetic of selling, as plain functions over integers (fen and thousandths):
a line's amount, discounts by amount or percent, an order's discount spread over its
lines, the share of a line a partial return takes back, a cash tender's change, and how
a return's money goes back over the tenders that paid the sale. No database, no clock:
tests/unit/test_order_rules.py tests them alone, with property tests.

Rounding is half up to the fen, once, where a fraction of a fen appears.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from tillpoint.core.errors import invariant
from tillpoint.store.models import MILLI, TenderKind

HUNDRED = Decimal(100)
# What a cashier may give off an order without a manager: all discounts together, as a
# percentage of the lines' amounts before any discount.
DISCOUNT_FREE_PERCENT = Decimal(10)
# A return's money goes back to the sale's tenders in this order (then in the order
# they were paid): the customer's own account first, the drawer's cash last.
REFUND_ORDER = (TenderKind.CARD, TenderKind.WALLET, TenderKind.QR, TenderKind.CASH)


def divide_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for a non-negative numerator."""
    invariant(numerator >= 0 and denominator > 0, "a non-negative amount over a positive count")
    return (2 * numerator + denominator) // (2 * denominator)


def line_gross(unit_price_minor: int, quantity_milli: int) -> int:
    """Price times quantity, rounded half up to the fen: 12.80/kg x 0.455 kg = 5.82."""
    return divide_half_up(unit_price_minor * quantity_milli, MILLI)


def percent_of(amount_minor: int, percent: Decimal) -> int:
    """``percent`` % of an amount, rounded half up to the fen."""
    invariant(Decimal(0) <= percent <= HUNDRED, "a percentage from 0 to 100")
    exact = Decimal(amount_minor) * percent / HUNDRED
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def spread(total_minor: int, weights: Sequence[int]) -> list[int]:
    """``total_minor`` split over ``weights`` (the lines' amounts) in proportion, in
    whole fen that add up to it exactly: each takes the floor of its exact share, and
    the fen left over go one each to the largest remainders, the earlier line first
    on a tie. No share exceeds its weight while the total does not exceed their sum."""
    whole = sum(weights)
    invariant(all(w >= 0 for w in weights), "weights are amounts")
    invariant(0 <= total_minor <= whole or (total_minor == 0), "a share of what there is")
    if total_minor == 0:
        return [0] * len(weights)
    shares = [total_minor * w // whole for w in weights]
    remainders = [total_minor * w % whole for w in weights]
    left = total_minor - sum(shares)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    return shares


def taken_back(amount_minor: int, sold_milli: int, before_milli: int, now_milli: int) -> int:
    """The part of a line's ``amount_minor`` that a return of ``now_milli`` takes back
    after ``before_milli`` were returned already. Each return takes the difference of
    the rounded shares of all returned so far, so that however a line is returned in
    parts, the parts add up to the whole amount exactly once it is all back."""
    invariant(now_milli > 0 and before_milli + now_milli <= sold_milli, "within what was sold")
    after = divide_half_up(amount_minor * (before_milli + now_milli), sold_milli)
    return after - divide_half_up(amount_minor * before_milli, sold_milli)


@dataclass(frozen=True, slots=True)
class CashTender:
    amount_minor: int  # what it pays of the order
    received_minor: int  # what the customer handed over
    change_minor: int  # what went back


def cash(due_minor: int, received_minor: int | None, amount_minor: int | None) -> CashTender:
    """A cash tender: it pays ``amount_minor`` (else what it covers of ``due_minor``);
    the customer hands over ``received_minor`` (else exactly that), at least what it
    pays; the rest goes back as change. The caller checks the amount against the due."""
    if amount_minor is None:
        invariant(received_minor is not None, "cash received or an amount")
        amount_minor = min(due_minor, received_minor or 0)
    received = amount_minor if received_minor is None else received_minor
    return CashTender(amount_minor, received, received - amount_minor)


@dataclass(frozen=True, slots=True)
class Paid:
    """A sale's tender, as a return sees it: what it can still give back."""

    tender_id: int
    kind: TenderKind
    left_minor: int  # paid, less what returns took back through it already


def refund_plan(total_minor: int, tenders: Sequence[Paid]) -> list[tuple[int, int]]:
    """(tender id, amount) pairs that give back ``total_minor``: the tenders in
    ``REFUND_ORDER`` of their kinds (then as listed, the order they were paid), each up
    to what it has left. The amounts add up to the total and none exceeds its tender's
    left, as long as the total is within what they have left together."""
    invariant(0 <= total_minor <= sum(t.left_minor for t in tenders), "within what was paid")
    plan: list[tuple[int, int]] = []
    owed = total_minor
    ranked = sorted(enumerate(tenders), key=lambda it: (REFUND_ORDER.index(it[1].kind), it[0]))
    for _i, t in ranked:
        if owed == 0:
            break
        take = min(owed, t.left_minor)
        if take > 0:
            plan.append((t.tender_id, take))
            owed -= take
    return plan
