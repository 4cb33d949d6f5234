"""Limits per merchant kind: one transaction, one day, how many terminals."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillpoint.context import Context, check_actor
from tillpoint.core.errors import InvalidInput, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.merchants.models import KindLimits, Merchant, MerchantKind
from tillpoint.merchants.views import KindLimitsView


def limits_for(s: Session, kind: MerchantKind) -> KindLimits:
    row = s.get(KindLimits, kind)
    invariant(row is not None, f"kind limits for {kind} are seeded by migration 0001")
    assert row is not None  # for the type checker; invariant() above is the real check
    return row


def max_terminals(s: Session, m: Merchant) -> int:
    """The merchant's own limit if operations set one, else its kind's."""
    return m.max_terminals if m.max_terminals is not None else limits_for(s, m.kind).max_terminals


class LimitsService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list(self) -> list[KindLimitsView]:
        with self.ctx.db.read() as s:
            rows = s.scalars(select(KindLimits).order_by(KindLimits.kind))
            return [KindLimitsView.model_validate(r) for r in rows]

    def set(
        self,
        kind: MerchantKind,
        actor: str,
        *,
        per_txn: Money | None = None,
        daily: Money | None = None,
        max_terminals: int | None = None,
    ) -> KindLimitsView:
        actor = check_actor(actor)
        with self.ctx.db.transaction() as s:
            row = limits_for(s, kind)
            for money in (per_txn, daily):
                if money is not None and (
                    money.currency != row.currency or money.amount_minor <= 0
                ):
                    raise InvalidInput(
                        "limits.amount",
                        N_("A limit is a positive amount in {currency}"),
                        currency=row.currency,
                    )
            new_per_txn = per_txn.amount_minor if per_txn else row.per_txn_limit_minor
            new_daily = daily.amount_minor if daily else row.daily_limit_minor
            if new_daily < new_per_txn:
                raise InvalidInput(
                    "limits.daily_below_single",
                    N_("The daily limit cannot be below the per-transaction limit"),
                )
            if max_terminals is not None:
                if not 0 <= max_terminals <= 10_000:
                    raise InvalidInput(
                        "limits.max_terminals", N_("A terminal limit is between 0 and 10000")
                    )
                row.max_terminals = max_terminals
            row.per_txn_limit_minor, row.daily_limit_minor = new_per_txn, new_daily
            row.updated_by, row.updated_at = actor, self.ctx.now()
            s.flush()
            return KindLimitsView.model_validate(row)
