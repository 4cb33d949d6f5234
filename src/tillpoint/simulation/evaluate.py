"""How well the live rules caught a simulation's labelled patterns (docs/risk.md,
"Measured"): `tillpoint risk evaluate`.

The simulation booked every sale through the acquirer, so screening ran on it as it
runs live: its alerts are in ``risk_alerts``. Here they are held against the run's
labels:

- **recall**, per pattern: the share of the labelled episodes that raised at least one
  alert of the pattern's family of rules (``FAMILIES``: card testing is caught by the
  card-testing and velocity rules, cash-out by the cash-out rules, and so on; an
  operator's own rule joins a family by the start of its code) on the labelled merchant
  (and terminal, where the label names one) between the episode's first payment and a
  day after its last;
- **false alerts**: alerts on the run's merchants that no label explains (the alert's
  payment is not one a label covers, and it is not on a labelled merchant during its
  episode and the day after). They are counted twice: every alert, and the distinct
  merchant-days with one (several alerts of one merchant on one day join one case and
  are looked at once), each per 1,000 of the run's merchant-days.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.db import Database
from tillpoint.core.errors import NotFound
from tillpoint.core.i18n import N_
from tillpoint.risk.models import RiskAlert
from tillpoint.simulation.models import (
    Pattern,
    RunStatus,
    SimulationLabel,
    SimulationLabelPayment,
    SimulationMerchant,
    SimulationRun,
)

#: The rules (by the start of their code) that count as catching each pattern.
FAMILIES: dict[Pattern, tuple[str, ...]] = {
    Pattern.CARD_TESTING: ("card_testing", "velocity"),
    Pattern.CASH_OUT: ("cash_out",),
    Pattern.RELOCATION: ("relocation",),
    Pattern.CATEGORY_MISMATCH: ("category_mismatch",),
}
GRACE = timedelta(days=1)  # an alert this long after an episode's last payment still counts


@dataclass(frozen=True)
class PatternResult:
    pattern: Pattern
    episodes: int
    caught: int
    recall: Decimal | None  # None: no episode of it in the run
    rules: dict[str, int]  # the rules that caught it: how many episodes each


@dataclass(frozen=True)
class Evaluation:
    run_id: int
    seed: int
    merchants: int
    days: int
    payments: int
    alerts: int
    patterns: list[PatternResult]
    false_alerts: int
    false_alert_days: int  # distinct (merchant, business day) with a false alert
    false_alerts_per_1000_merchant_days: Decimal
    false_alert_days_per_1000_merchant_days: Decimal
    false_by_rule: dict[str, int]


def _per_thousand(count: int, merchant_days: int) -> Decimal:
    return (Decimal(count) * 1000 / Decimal(max(merchant_days, 1))).quantize(Decimal("0.01"))


def evaluate(db: Database, run_id: int | None = None) -> Evaluation:
    """The run's figures (the last finished run when ``run_id`` is None)."""
    with db.read() as s:
        query = select(SimulationRun).where(SimulationRun.status == RunStatus.FINISHED)
        if run_id is not None:
            query = query.where(SimulationRun.id == run_id)
        run = s.scalars(query.order_by(SimulationRun.id.desc()).limit(1)).first()
        if run is None:
            raise NotFound(
                "simulation.no_run",
                N_("No finished simulation run: run 'tillpoint simulate' first"),
            )
        merchants = set(
            s.scalars(
                select(SimulationMerchant.merchant_id).where(SimulationMerchant.run_id == run.id)
            )
        )
        labels = list(s.scalars(select(SimulationLabel).where(SimulationLabel.run_id == run.id)))
        covered = set(
            s.scalars(
                select(SimulationLabelPayment.payment_id)
                .join(SimulationLabel, SimulationLabel.id == SimulationLabelPayment.label_id)
                .where(SimulationLabel.run_id == run.id)
            )
        )
        alerts = [
            a
            for a in s.execute(
                select(
                    RiskAlert.rule_code, RiskAlert.merchant_id, RiskAlert.terminal_id,
                    RiskAlert.payment_id, RiskAlert.created_at,
                )
            )
            if a.merchant_id in merchants
        ]  # fmt: skip
    by_merchant: dict[int, list[SimulationLabel]] = defaultdict(list)
    for label in labels:
        by_merchant[label.merchant_id].append(label)

    def during(label: SimulationLabel, at: datetime) -> bool:
        return label.first_at <= at <= label.last_at + GRACE

    results = []
    for pattern in Pattern:
        episodes = [label for label in labels if label.pattern is pattern]
        caught, rules = 0, defaultdict[str, int](int)
        for label in episodes:
            hits = {
                a.rule_code
                for a in alerts
                if a.merchant_id == label.merchant_id
                and (label.terminal_id is None or a.terminal_id == label.terminal_id)
                and a.rule_code.startswith(FAMILIES[pattern])
                and during(label, a.created_at)
            }
            if hits:
                caught += 1
                for code in hits:
                    rules[code] += 1
        recall = (
            (Decimal(caught) / Decimal(len(episodes))).quantize(Decimal("0.0001"))
            if episodes
            else None
        )
        results.append(PatternResult(pattern, len(episodes), caught, recall, dict(rules)))
    false = [
        a
        for a in alerts
        if a.payment_id not in covered
        and not any(during(label, a.created_at) for label in by_merchant.get(a.merchant_id, ()))
    ]
    false_days = {(a.merchant_id, a.created_at.astimezone(BUSINESS_TZ).date()) for a in false}
    by_rule: dict[str, int] = defaultdict(int)
    for a in false:
        by_rule[a.rule_code] += 1
    merchant_days = run.merchants * run.days
    return Evaluation(
        run.id, run.seed, run.merchants, run.days, run.payments, len(alerts), results,
        len(false), len(false_days), _per_thousand(len(false), merchant_days),
        _per_thousand(len(false_days), merchant_days), dict(sorted(by_rule.items())),
    )  # fmt: skip
