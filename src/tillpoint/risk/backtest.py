"""Backtests: a rule (a draft, or one in force) run over the payments of past days, as
screening would have run it, and measured against the cases people resolved.

The payments are replayed in the order they were recorded through an engine of their
own (fresh features, warmed with the 30 days before the range), the rule evaluated on
each sale and pre-authorisation of the range before it is counted, exactly as live
screening does. What the past cannot give back: a terminal's place then (the distance
features read as 0) and the exemptions then in force.

Precision and recall are per merchant: the merchants whose cases were resolved as
fraud or cash-out confirmed are the positives, those resolved as false positives the
negatives; a merchant with no resolved case counts in neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.db import Database
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.merchants.limits import limits_for
from tillpoint.merchants.models import Merchant, MerchantKind, PaymentMethod
from tillpoint.payments.models import Channel, Payment, PaymentKind
from tillpoint.payments.rules import Limits
from tillpoint.payments.screening import Attempt, card_digits
from tillpoint.risk.engine import (
    _SCREENED,
    _TAIL,
    _WALLETS,
    FEATURES,
    WARM_DAYS,
    Engine,
    params_for,
    peer_group,
)
from tillpoint.risk.expr import CompiledRule, compile_rule
from tillpoint.risk.features import FeatureStore
from tillpoint.risk.models import Action, CaseStatus, Resolution, RiskCase

MAX_DAYS = 92  # a backtest covers at most a quarter
CONFIRMED = (Resolution.FRAUD_CONFIRMED, Resolution.CASH_OUT_CONFIRMED)


@dataclass(frozen=True)
class BacktestResult:
    date_from: date
    date_to: date
    payments: int  # screened in the range
    fired: int  # payments the rule fired on
    merchants: int  # merchants it fired on
    action: Action
    declined: int  # payments it would have declined (decline or freeze)
    flagged: int  # payments it would have let through with an alert (alert or hold)
    amount_minor: int  # what the payments it fired on came to
    true_positives: int
    false_positives: int
    false_negatives: int
    precision: Decimal | None
    recall: Decimal | None
    examples: list[str]  # references of the first payments it fired on


def backtest(
    db: Database,
    expression: str,
    params: Mapping[str, Any],
    scope: Mapping[str, Any],
    action: Action,
    date_from: date,
    date_to: date,
) -> BacktestResult:
    if date_to < date_from or (date_to - date_from).days >= MAX_DAYS:
        raise InvalidInput(
            "risk.backtest_range",
            N_("A backtest covers 1 to {days} days, the first before the last"),
            days=MAX_DAYS,
        )
    kinds = scope.get("kinds") or [k.value for k in MerchantKind]
    rules: dict[MerchantKind, CompiledRule] = {
        k: compile_rule(expression, FEATURES, params_for(params, k))
        for k in MerchantKind
        if k.value in kinds
    }
    mccs = frozenset(scope.get("mccs") or ()) or None
    mids = frozenset(scope.get("mids") or ()) or None
    start = datetime.combine(date_from, time(), BUSINESS_TZ)
    end = datetime.combine(date_to + timedelta(days=1), time(), BUSINESS_TZ)
    engine = Engine(db, lambda: end, store=FeatureStore(), signalled=False, listen=False)
    with db.read() as s:
        found = s.execute(select(Merchant.id, Merchant.kind, Merchant.mcc, Merchant.mid))
        merchants = {m.id: (m.kind, m.mcc, m.mid) for m in found}
        limits = {k: limits_for(s, k) for k in MerchantKind}
        resolved = dict(
            s.execute(
                select(RiskCase.merchant_id, RiskCase.resolution)
                .where(RiskCase.status == CaseStatus.RESOLVED)
                .order_by(RiskCase.id)
            ).all()
        )
        engine._peer_group.update({i: peer_group(mcc, k) for i, (k, mcc, _m) in merchants.items()})
        rows = s.execute(
            _TAIL.where(Payment.created_at >= start - timedelta(days=WARM_DAYS),
                        Payment.created_at < end).limit(None),
            {"after": 0},
        )  # fmt: skip
        payments = fired = declined = amount = 0
        hit_merchants: set[int] = set()
        examples: list[str] = []
        decline = action in (Action.DECLINE, Action.FREEZE)
        for row in rows:
            rrn, kind, merchant_id, terminal_id, token, masked, amount_minor = row[1:8]
            method, at = row[9], row[10]
            if at >= start and kind in _SCREENED and merchant_id in merchants:
                payments += 1
                mkind, mcc, mid = merchants[merchant_id]
                rule = rules.get(mkind)
                if (
                    rule is not None
                    and (mccs is None or mcc in mccs)
                    and (mids is None or mid in mids)
                ):
                    card = method not in _WALLETS and token is not None
                    lim = limits[mkind]
                    attempt = Attempt(
                        at, rrn, PaymentKind(kind), Channel.TERMINAL, merchant_id, mkind, mcc,
                        terminal_id, amount_minor, PaymentMethod(method) if method else None,
                        token if card else None,
                        *(card_digits(masked) if card else (None, None)),
                        method == PaymentMethod.CREDIT,
                        Limits(lim.per_txn_limit_minor, lim.daily_limit_minor),
                    )  # fmt: skip
                    if rule(engine.features(attempt, rule.names)):
                        fired += 1
                        amount += amount_minor
                        hit_merchants.add(merchant_id)
                        if len(examples) < 20:
                            examples.append(rrn)
            engine._apply(*row[1:])
    if decline:
        declined = fired
    positives = {m for m, r in resolved.items() if r in CONFIRMED}
    negatives = {m for m, r in resolved.items() if r is Resolution.FALSE_POSITIVE}
    tp = len(hit_merchants & positives)
    fp = len(hit_merchants & negatives)
    fn = len(positives - hit_merchants)
    return BacktestResult(
        date_from, date_to, payments, fired, len(hit_merchants), action, declined,
        0 if decline else fired, amount, tp, fp, fn,
        _ratio(tp, tp + fp), _ratio(tp, tp + fn), examples,
    )  # fmt: skip


def _ratio(part: int, whole: int) -> Decimal | None:
    return None if whole == 0 else (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"))
