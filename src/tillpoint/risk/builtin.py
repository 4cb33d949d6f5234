"""The built-in rule set: what an acquirer screens for from the first day, each rule
with parameters per merchant kind (docs/risk.md explains each and its figures).

The definitions are data: ``ensure_builtin`` inserts the ones a database lacks, as
version 1 by ``system``; from then on operators change them through the API or CLI like
any other rule (every change a new version), and a new release never overwrites what
an operator tuned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tillpoint.core.i18n import N_
from tillpoint.risk.models import Action, Mode, Severity

#: A category's trading hours, by MCC: (opens, closes) in business hours; a payment in
#: an hour outside [opens, closes) is out of hours for it (``category_closed``).
TRADING_HOURS: dict[str, tuple[int, int]] = {
    "5812": (9, 23),  # restaurants
    "5814": (6, 23),  # fast food
    "5411": (6, 24),  # supermarkets, convenience stores
    "5499": (6, 23),  # food shops
    "5311": (9, 22),  # department stores
    "5651": (9, 22),  # clothing
    "5732": (9, 22),  # electronics
    "5944": (9, 22),  # jewellery
    "5912": (7, 24),  # pharmacies
    "5541": (0, 24),  # service stations
    "7011": (0, 24),  # hotels
    "4121": (0, 24),  # taxis
}
DEFAULT_HOURS = (6, 24)


def category_closed(mcc: str, hour: int) -> bool:
    opens, closes = TRADING_HOURS.get(mcc, DEFAULT_HOURS)
    return not opens <= hour < closes


@dataclass(frozen=True)
class RuleDef:
    code: str
    name: str
    expression: str
    action: Action
    severity: Severity
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    scope: dict[str, list[str]] = field(default_factory=dict)
    mode: Mode = Mode.LIVE


BUILTIN: tuple[RuleDef, ...] = (
    RuleDef(
        "velocity_card",
        N_("Card velocity: too many attempts of one card"),
        "card.count_10m >= max_10m or card.count_24h >= max_24h",
        Action.DECLINE,
        Severity.HIGH,
        {"default": {"max_10m": 5, "max_24h": 20}, "personal": {"max_10m": 4, "max_24h": 12}},
    ),
    RuleDef(
        "velocity_terminal",
        N_("Terminal velocity: unusually many payments in ten minutes"),
        "terminal.count_10m >= max_10m",
        Action.ALERT,
        Severity.MEDIUM,
        {"default": {"max_10m": 80}, "personal": {"max_10m": 30}},
    ),
    RuleDef(
        "velocity_merchant",
        N_("Merchant velocity: unusually many payments in an hour"),
        "merchant.count_1h >= max_1h",
        Action.ALERT,
        Severity.MEDIUM,
        {"default": {"max_1h": 600}, "personal": {"max_1h": 100}},
    ),
    RuleDef(
        "card_testing_card",
        N_("Card testing: a card refused again and again"),
        "card.declines_10m >= max_declines",
        Action.DECLINE,
        Severity.HIGH,
        {"default": {"max_declines": 3}},
    ),
    RuleDef(
        "card_testing_terminal",
        N_("Card testing: many cards, small or refused, on one terminal"),
        "terminal.distinct_cards_10m >= max_cards"
        " and (terminal.declines_10m >= max_declines or terminal.small_10m >= max_small)",
        Action.DECLINE,
        Severity.CRITICAL,
        {"default": {"max_cards": 8, "max_declines": 4, "max_small": 6}},
    ),
    RuleDef(
        "card_testing_sequence",
        N_("Card testing: sequential card numbers of one BIN on a terminal"),
        "terminal.bin_run_10m >= max_run",
        Action.DECLINE,
        Severity.CRITICAL,
        {"default": {"max_run": 4}},
    ),
    RuleDef(
        "cash_out_repeat",
        N_("Cash-out: the same credit card pays the same merchant again and again"),
        "credit and card.merchant_count_7d >= max_repeats and amount >= min_amount",
        Action.ALERT,
        Severity.HIGH,
        {
            "default": {"max_repeats": 4, "min_amount": 200000},
            "personal": {"max_repeats": 3, "min_amount": 100000},
        },
        {"kinds": ["personal"]},
    ),
    RuleDef(
        "cash_out_amount",
        N_("Cash-out: large round amounts or just under the limit, by credit card"),
        "credit and amount >= min_amount"
        " and (amount % round_to == 0 or amount * 100 >= near_limit_pct * limit_per_txn)",
        Action.ALERT,
        Severity.MEDIUM,
        {
            "default": {"min_amount": 300000, "round_to": 100000, "near_limit_pct": 95},
            "personal": {"min_amount": 100000, "round_to": 50000, "near_limit_pct": 95},
        },
        {"kinds": ["personal"]},
    ),
    RuleDef(
        "cash_out_hours",
        N_("Cash-out: credit card sales at hours the merchant's category does not trade"),
        "credit and category_closed and amount >= min_amount",
        Action.ALERT,
        Severity.MEDIUM,
        {"default": {"min_amount": 50000}},
    ),
    RuleDef(
        "cash_out_concentration",
        N_("Cash-out: a few cards bring most of a merchant's volume"),
        "merchant.top3_share_7d * 100 >= max_share_pct and merchant.approved_7d >= min_volume"
        " and merchant.distinct_cards_7d <= max_cards",
        Action.HOLD,
        Severity.HIGH,
        {"default": {"max_share_pct": 80, "min_volume": 5000000, "max_cards": 10}},
        {"kinds": ["personal"]},
    ),
    RuleDef(
        "category_mismatch",
        N_("Code jumping: the merchant's tickets no longer look like its category's"),
        "merchant.sales_30d >= min_sales and peers.merchants >= min_peers"
        " and (merchant.large_share_7d >= min_large_pct"
        " or merchant.large_share_20 >= min_recent_pct)",
        Action.ALERT,
        Severity.MEDIUM,
        {"default": {"min_sales": 20, "min_peers": 3, "min_large_pct": 50, "min_recent_pct": 60}},
    ),
    RuleDef(
        "relocation",
        N_("Relocation: the terminal reports a place far from its shop"),
        "terminal.distance_km >= max_km",
        Action.ALERT,
        Severity.HIGH,
        {"default": {"max_km": 50}},
    ),
    RuleDef(
        "relocation_freeze",
        N_("Relocation: the terminal keeps selling far from its shop"),
        "terminal.distance_km >= max_km and terminal.sales_away >= freeze_after",
        Action.FREEZE,
        Severity.CRITICAL,
        {"default": {"max_km": 50, "freeze_after": 3}},
    ),
    RuleDef(
        "relocation_network",
        N_("Relocation: the terminal keeps selling from a network it does not use"),
        "terminal.sales_new_network >= min_sales",
        Action.ALERT,
        Severity.MEDIUM,
        {"default": {"min_sales": 3}},
    ),
)
