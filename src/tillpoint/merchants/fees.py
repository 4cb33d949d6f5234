"""Fee plans and the one fee function.

A fee is a Decimal percentage of the amount, rounded half-up to the fen once per
transaction, then capped. There is no per-transaction surcharge. Plans never change;
a merchant moves between plans from a date on, and the history is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from tillpoint.context import Context, check_actor, check_reason
from tillpoint.core.errors import InvalidInput, InvariantViolation, NotFound, Refused, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money, check_currency
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import (
    FeePlan,
    FeePlanAssignment,
    FeeRate,
    MerchantKind,
    MerchantStatus,
    PaymentMethod,
)
from tillpoint.merchants.services import find_merchant, merchant_label
from tillpoint.merchants.views import FeeAssignmentView, FeePlanView

MAX_RATE_PERCENT = Decimal(10)
RATE_PLACES = 4  # 0.3800% - finer than any scheme prices
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")


@dataclass(frozen=True)
class Rate:
    """The price of one payment method: a percentage, optionally capped per transaction."""

    percent: Decimal
    cap: Money | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.percent, Decimal) or not self.percent.is_finite():
            raise InvalidInput("fee.rate_malformed", N_("A rate is a decimal percentage"))
        if not Decimal(0) <= self.percent <= MAX_RATE_PERCENT:
            raise InvalidInput(
                "fee.rate_range",
                N_("A rate is between 0% and {max}%, not {rate}%"),
                max=MAX_RATE_PERCENT,
                rate=self.percent,
            )
        if -self.percent.as_tuple().exponent > RATE_PLACES:  # type: ignore[operator]
            raise InvalidInput(
                "fee.rate_precision",
                N_("A rate has at most {places} decimal places"),
                places=RATE_PLACES,
            )
        if self.cap is not None and self.cap.amount_minor < 0:
            raise InvalidInput("fee.cap_negative", N_("A fee cap cannot be negative"))


def fee(amount: Money, rate: Rate) -> Money:
    """The fee on one transaction: rate x amount, rounded half-up to the fen, capped.

    Never negative, never above the cap, never above the amount, and never smaller for
    a larger amount (property-tested).
    """
    if amount.amount_minor < 0:
        raise InvalidInput("fee.negative_amount", N_("A fee is charged on a positive amount"))
    charged = amount.times_rate(rate.percent)
    if rate.cap is not None and charged > rate.cap:
        charged = rate.cap
    invariant(0 <= charged.amount_minor <= amount.amount_minor, "fee within 0..amount")
    return charged


def parse_rate(text: str, currency: str = "CNY") -> Rate:
    """``0.50`` or ``0.50%`` or ``0.50%:20.00`` (capped at 20.00) -> Rate."""
    percent_text, _, cap_text = text.strip().partition(":")
    try:
        percent = Decimal(percent_text.strip().rstrip("%"))
    except InvalidOperation:
        raise InvalidInput(
            "fee.rate_malformed",
            N_("{text!r} is not a rate such as 0.50% or 0.50%:20.00"),
            text=text,
        ) from None
    cap = Money.parse(cap_text, currency) if cap_text.strip() else None
    return Rate(percent, cap)


def plan_rate(plan: FeePlan, method: PaymentMethod) -> Rate:
    for r in plan.rates:
        if r.method is method:
            cap = None if r.cap_minor is None else Money(r.cap_minor, plan.currency)
            return Rate(r.rate_percent, cap)
    raise InvariantViolation(
        "fee.plan_incomplete",
        "Fee plan {plan} has no rate for {method}",
        plan=plan.code,
        method=method,
    )


# The id of the plan in force for a merchant at a date (a plan never changes once made,
# so this tells whether one already loaded is still the one).
PLAN_ID_IN_FORCE = (
    select(FeePlanAssignment.fee_plan_id)
    .where(
        FeePlanAssignment.merchant_id == bindparam("merchant_id"),
        FeePlanAssignment.effective_from <= bindparam("on"),
    )
    .order_by(FeePlanAssignment.effective_from.desc())
    .limit(1)
)


def plan_in_force(s: Session, merchant_id: int, on: date) -> FeePlan:
    """The plan a merchant was on at a date: the latest assignment effective by then."""
    plan = s.execute(
        select(FeePlan)
        .join(FeePlanAssignment, FeePlanAssignment.fee_plan_id == FeePlan.id)
        .where(FeePlanAssignment.merchant_id == merchant_id, FeePlanAssignment.effective_from <= on)
        .order_by(FeePlanAssignment.effective_from.desc())
        .limit(1)
        .options(selectinload(FeePlan.rates))
    ).scalar_one_or_none()
    if plan is None:
        raise NotFound("fee.no_plan", N_("The merchant has no fee plan in force on {on}"), on=on)
    return plan


class FeeService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create_plan(
        self,
        code: str,
        name: str,
        rates: dict[PaymentMethod, Rate],
        actor: str,
        *,
        data_fee: Money,
        data_fee_free_days: int = 30,
        default_for: MerchantKind | None = None,
    ) -> FeePlanView:
        check_actor(actor)
        if not _CODE.fullmatch(code):
            raise InvalidInput(
                "fee.plan_code",
                N_("A plan code is 2-32 capital letters, digits, '-' or '_', e.g. BIZ-STD"),
            )
        missing = [m.value for m in PaymentMethod if m not in rates]
        if missing:
            raise InvalidInput(
                "fee.plan_incomplete",
                N_("A plan prices every payment method; missing: {missing}"),
                missing=", ".join(missing),
            )
        currency = check_currency(data_fee.currency)
        for rate in rates.values():
            if rate.cap is not None and rate.cap.currency != currency:
                raise InvalidInput(
                    "fee.cap_currency", N_("Caps are in the plan's currency {c}"), c=currency
                )
        if data_fee.amount_minor < 0 or not 0 <= data_fee_free_days <= 366:
            raise InvalidInput(
                "fee.data_fee",
                N_("The data fee is not negative and its free period is 0-366 days"),
            )
        name = " ".join(name.split())
        if not 1 <= len(name) <= 100:
            raise InvalidInput("fee.plan_name", N_("A plan name is 1-100 characters"))
        with self.ctx.db.transaction() as s:
            if s.execute(select(FeePlan.id).where(FeePlan.code == code)).first():
                raise Refused("fee.plan_exists", N_("Fee plan {plan} already exists"), plan=code)
            if default_for is not None:
                old = s.execute(
                    select(FeePlan).where(FeePlan.default_for == default_for)
                ).scalar_one_or_none()
                if old is not None:
                    old.default_for = None
                    s.flush()
            plan = FeePlan(
                code=code,
                name=name,
                currency=currency,
                default_for=default_for,
                data_fee_minor=data_fee.amount_minor,
                data_fee_free_days=data_fee_free_days,
                created_at=self.ctx.now(),
                rates=[
                    FeeRate(
                        method=m,
                        rate_percent=r.percent,
                        cap_minor=None if r.cap is None else r.cap.amount_minor,
                    )
                    for m, r in sorted(rates.items())
                ],
            )
            s.add(plan)
            s.flush()
            return FeePlanView.model_validate(plan)

    def list_plans(self, *, after_id: int = 0, limit: int | None = None) -> list[FeePlanView]:
        """Plans, oldest first; a page of ``limit`` after the plan ``after_id``."""
        query = select(FeePlan).options(selectinload(FeePlan.rates)).where(FeePlan.id > after_id)
        if limit is not None:
            check_limit(limit)
            query = query.limit(limit)
        with self.ctx.db.read() as s:
            return [FeePlanView.model_validate(p) for p in s.scalars(query.order_by(FeePlan.id))]

    def get_plan(self, code: str) -> FeePlanView:
        with self.ctx.db.read() as s:
            return FeePlanView.model_validate(self._plan(s, code))

    def assign(
        self,
        ref: str,
        plan_code: str,
        actor: str,
        *,
        effective_from: date | None = None,
        reason: str | None = None,
    ) -> FeeAssignmentView:
        """Move a merchant to another plan from a date on (today by default). Past dates
        are refused: fees already charged are never recomputed."""
        actor = check_actor(actor)
        why = check_reason(reason, required=True)
        start = effective_from or self.ctx.today()
        if start < self.ctx.today():
            raise InvalidInput(
                "fee.backdated",
                N_("A plan change takes effect today or later, not on {date}"),
                date=start,
            )
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            if m.status not in (MerchantStatus.APPROVED, MerchantStatus.SUSPENDED):
                raise Refused(
                    "fee.merchant_not_approved",
                    N_("Merchant {ref} is {status}: only approved merchants have fee plans"),
                    ref=merchant_label(m),
                    status=m.status,
                )
            plan = self._plan(s, plan_code)
            clash = s.execute(
                select(FeePlanAssignment).where(
                    FeePlanAssignment.merchant_id == m.id,
                    FeePlanAssignment.effective_from == start,
                )
            ).scalar_one_or_none()
            if clash is not None:
                raise Refused(
                    "fee.assignment_clash",
                    N_("Merchant {ref} already changes plan on {date}"),
                    ref=merchant_label(m),
                    date=start,
                )
            a = FeePlanAssignment(
                merchant_id=m.id,
                fee_plan_id=plan.id,
                effective_from=start,
                actor=actor,
                reason=why,
                at=self.ctx.now(),
            )
            s.add(a)
            s.flush()
            return self._assignment_view(a, plan)

    def current_plan(self, ref: str, on: date | None = None) -> FeePlanView:
        """The plan a merchant is on today (or on another date)."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            return FeePlanView.model_validate(plan_in_force(s, m.id, on or self.ctx.today()))

    def history(self, ref: str) -> list[FeeAssignmentView]:
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            rows = s.execute(
                select(FeePlanAssignment, FeePlan)
                .join(FeePlan)
                .where(FeePlanAssignment.merchant_id == m.id)
                .order_by(FeePlanAssignment.effective_from)
            ).all()
            return [self._assignment_view(a, p) for a, p in rows]

    def quote(
        self, ref: str, method: PaymentMethod, amount: Money, on: date | None = None
    ) -> tuple[FeePlanView, Money]:
        """The fee a merchant pays on an amount by a method, under the plan in force."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            plan = plan_in_force(s, m.id, on or self.ctx.today())
            return FeePlanView.model_validate(plan), fee(amount, plan_rate(plan, method))

    @staticmethod
    def _plan(s: Session, code: str) -> FeePlan:
        plan = s.execute(
            select(FeePlan).where(FeePlan.code == code).options(selectinload(FeePlan.rates))
        ).scalar_one_or_none()
        if plan is None:
            raise NotFound("fee.plan_not_found", N_("No fee plan {plan}"), plan=code)
        return plan

    @staticmethod
    def _assignment_view(a: FeePlanAssignment, plan: FeePlan) -> FeeAssignmentView:
        return FeeAssignmentView(
            plan_code=plan.code,
            effective_from=a.effective_from,
            actor=a.actor,
            reason=a.reason,
            at=a.at,
        )
