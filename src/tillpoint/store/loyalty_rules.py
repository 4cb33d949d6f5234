"""The arithmetic of loyalty, as plain functions over integers (fen, points, and
millionths of a point): points a sale earns, what a return takes back and gives back,
what redeemed points are worth, a member's price, a member's level, a coupon's
discount and whether it may be used. No database, no clock:
tests/unit/test_loyalty_rules.py tests them alone, with property tests.

- **Earning.** A line earns its net (what the customer paid for it, after every
  discount, redeemed points included) in yuan x the shop's points per yuan x its
  category's multiple. Rates and multiples have at most two decimal places, so a line's
  points are exact in millionths (``line_micro``). The order earns the sum, rounded
  **down** to a whole point, once per order.
- **Returns take back** what the returned quantities earned: each line's exact points in
  proportion to the quantity returned (rounded down), summed over every paid return of
  the sale, rounded down to whole points, less what earlier returns took already. Once
  the whole sale is back, exactly what it earned has been taken back.
- **Returns give back redeemed points** in proportion to the lines' amounts returned
  (each line's amount shared out by quantity as ``order_rules.taken_back`` does, the
  proportion of the redeemed points rounded half up), less what earlier returns gave.
  Once the whole sale is back, all the redeemed points are.
- **Redeeming** is in whole steps: ``step_points`` points take ``step_minor`` fen off,
  never more than what is left to pay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tillpoint.core.errors import invariant
from tillpoint.store.order_rules import divide_half_up, percent_of

MICRO = 10**6  # millionths of a point in a point
CENTI = Decimal(100)
TWO_PLACES = Decimal("0.01")


def plain(value: Decimal) -> Decimal:
    """The same number written without an exponent (``1E+1`` is ``10``): a rate or a
    percentage is kept and sent as text, and the tills read digits and a point."""
    return Decimal(f"{value:f}")


def centi(rate: Decimal) -> int:
    """A rate of at most two decimal places, in hundredths (1.5 -> 150)."""
    invariant(rate >= 0 and rate == rate.quantize(TWO_PLACES), "a rate to two places")
    return int(rate * CENTI)


def line_micro(net_minor: int, points_per_yuan: Decimal, multiplier: Decimal) -> int:
    """A line's points in millionths: net fen / 100 x rate x multiple, exactly."""
    invariant(net_minor >= 0, "a line's net is not negative")
    return net_minor * centi(points_per_yuan) * centi(multiplier)


def earned(micros: Sequence[int]) -> int:
    """An order's points: the sum of its lines', rounded down to a whole point."""
    return sum(micros) // MICRO


def returned_micro(micro: int, sold_milli: int, returned_milli: int) -> int:
    """A line's exact points for the quantity returned so far, rounded down."""
    invariant(0 <= returned_milli <= sold_milli and sold_milli > 0, "within what was sold")
    return micro * returned_milli // sold_milli


def take_back(earned_points: int, returned_micro_total: int, taken_already: int) -> int:
    """What a return takes back: the whole points of everything returned so far, less
    what earlier returns took."""
    after = returned_micro_total // MICRO
    invariant(taken_already <= after <= earned_points, "never more than the sale earned")
    return after - taken_already


def give_back(redeemed: int, amount_total: int, amount_returned: int, given_already: int) -> int:
    """What a return gives back of the points the sale redeemed: their proportion of the
    sale's line amounts returned so far, rounded half up, less what earlier returns gave."""
    invariant(0 <= amount_returned <= amount_total, "within what was sold")
    after = divide_half_up(redeemed * amount_returned, amount_total) if amount_total else 0
    invariant(given_already <= after <= redeemed, "never more than was redeemed")
    return after - given_already


def redeem_value(points: int, step_points: int, step_minor: int) -> int:
    """What ``points`` (whole steps) take off an order."""
    invariant(points >= 0 and points % step_points == 0, "whole steps")
    return points // step_points * step_minor


def redeem_most(balance: int, due_minor: int, step_points: int, step_minor: int) -> int:
    """The most points an order of ``due_minor`` can take from ``balance``: whole steps,
    never more than the order."""
    if balance <= 0 or due_minor <= 0:
        return 0
    return min(balance // step_points, due_minor // step_minor) * step_points


def member_price(list_minor: int, member_minor: int | None, level_percent: Decimal | None) -> int:
    """A member's unit price: the lowest of the list price, the product's member price
    and the list price less the level's percentage (rounded half up to the fen)."""
    best = list_minor
    if member_minor is not None:
        best = min(best, member_minor)
    if level_percent:
        best = min(best, list_minor - percent_of(list_minor, level_percent))
    return best


@dataclass(frozen=True, slots=True)
class Level:
    id: int
    name: str
    min_spend_minor: int
    discount_percent: Decimal


def level_for(spend_minor: int, levels: Sequence[Level]) -> Level | None:
    """The highest level whose spend the member has reached (none below the first)."""
    reached = [lv for lv in levels if lv.min_spend_minor <= spend_minor]
    return max(reached, key=lambda lv: lv.min_spend_minor) if reached else None


# --- coupons -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """What a coupon is, as the rules see it."""

    amount_minor: int | None  # so much off; or
    percent: Decimal | None  # this percentage off
    min_spend_minor: int
    valid_from: date
    valid_until: date
    uses_allowed: int
    uses_made: int
    void: bool
    member_id: int | None  # none: whoever shows it


def coupon_refusal(c: CouponTerms, today: date, member_id: int | None, spend_minor: int) -> str:
    """Why a coupon cannot be used on an order (``""``: it can): its code names the
    reason (``void``, ``not_yet``, ``expired``, ``used_up``, ``other_member``,
    ``min_spend``)."""
    if c.void:
        return "void"
    if today < c.valid_from:
        return "not_yet"
    if today > c.valid_until:
        return "expired"
    if c.uses_made >= c.uses_allowed:
        return "used_up"
    if c.member_id is not None and c.member_id != member_id:
        return "other_member"
    if spend_minor < c.min_spend_minor:
        return "min_spend"
    return ""


def coupon_discount(c: CouponTerms, left_minor: int) -> int:
    """What a coupon takes off an order with ``left_minor`` left to pay: its amount, or
    its percentage of what is left (rounded half up), never more than what is left."""
    invariant(left_minor >= 0, "what is left is not negative")
    if c.amount_minor is not None:
        return min(c.amount_minor, left_minor)
    return min(percent_of(left_minor, c.percent or Decimal(0)), left_minor)
