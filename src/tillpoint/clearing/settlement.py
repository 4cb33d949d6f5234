"""The settlement run (一清): each merchant's net of a closed business day, paid T+1
straight to its own bank account.

For merchant M and day D, from the ledger's entries booked on D:

    net = gross (captures less their voids and reversals) - refunds - fees

A positive net first pays off what M still owes from earlier negative days (carried
forward), and the rest is M's payout, due the next business day. A negative net is
carried forward. A payout is never negative. Each merchant's settlement is one
transaction (its record and its entries) and exists once per day, so running a day
again, or again after a crash halfway, settles only who is left.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.clearing.days import BusinessDays, next_business_day
from tillpoint.clearing.models import PayoutHold, Settlement, SettlementStatus
from tillpoint.context import Context, check_actor, check_reason
from tillpoint.core.errors import Refused
from tillpoint.core.i18n import N_
from tillpoint.core.money import DEFAULT_CURRENCY, Money
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind, JournalEntry, JournalLine, LedgerAccount
from tillpoint.merchants.models import Merchant
from tillpoint.merchants.services import find_merchant

Progress = Callable[[int, int], None]  # (done, of)


@dataclass(frozen=True)
class SettlementView:
    mid: str
    business_date: date
    currency: str
    transactions: int
    gross_minor: int
    refunds_minor: int
    fees_minor: int
    net_minor: int
    carried_in_minor: int
    payout_minor: int
    carried_out_minor: int
    payout_date: date | None  # none while held
    status: SettlementStatus


class SettlementService:
    def __init__(self, ctx: Context, days: BusinessDays) -> None:
        self.ctx = ctx
        self.days = days

    def run(self, day: date, progress: Progress | None = None) -> list[SettlementView]:
        """Settle every merchant with entries on ``day`` that is not settled yet."""
        if not self.days.is_closed(day):
            raise Refused(
                "settle.day_open",
                N_("Business day {day} is still open: cut it off first"),
                day=day.isoformat(),
            )
        with self.ctx.db.read() as s:
            merchants = s.execute(
                select(LedgerAccount.merchant_id, Merchant.mid)
                .join(Merchant, Merchant.id == LedgerAccount.merchant_id)
                .join(JournalLine, JournalLine.account_code == LedgerAccount.code)
                .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                .where(
                    JournalEntry.business_date == day,
                    LedgerAccount.code.like("merchant:%:payable"),
                )
                .distinct()
                .order_by(LedgerAccount.merchant_id)
            ).all()
            done = set(
                s.scalars(select(Settlement.merchant_id).where(Settlement.business_date == day))
            )
        for n, (merchant_id, mid) in enumerate(merchants, 1):
            if merchant_id is not None and mid is not None and merchant_id not in done:
                self._settle(merchant_id, mid, day)
            if progress is not None:
                progress(n, len(merchants))
        return self.show(day)

    def show(self, day: date, mid: str | None = None) -> list[SettlementView]:
        with self.ctx.db.read() as s:
            query = (
                select(Settlement, Merchant.mid)
                .join(Merchant, Merchant.id == Settlement.merchant_id)
                .where(Settlement.business_date == day)
                .order_by(Merchant.mid)
            )
            if mid is not None:
                query = query.where(Merchant.mid == mid)
            return [_view(row, m or "") for row, m in s.execute(query).all()]

    # --- holds ------------------------------------------------------------------------

    def hold(self, mid: str, reason: str, actor: str) -> None:
        """Stop the merchant's payouts from the next settlement on, until released."""
        actor, why = check_actor(actor), _check_reason(reason)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, mid)
            if self._held(s, m.id):
                raise Refused("settle.already_held", N_("Merchant {mid} is already held"), mid=mid)
            s.add(PayoutHold(merchant_id=m.id, reason=why, held_by=actor, held_at=self.ctx.now()))

    def release(self, mid: str, actor: str) -> list[SettlementView]:
        """End the hold and pay what it kept back, due the next business day."""
        actor = check_actor(actor)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, mid)
            hold = self._held(s, m.id)
            if hold is None:
                raise Refused("settle.not_held", N_("Merchant {mid} is not held"), mid=mid)
            hold.released_by, hold.released_at = actor, self.ctx.now()
            kept = s.scalars(
                select(Settlement)
                .where(Settlement.merchant_id == m.id, Settlement.status == SettlementStatus.HELD)
                .order_by(Settlement.business_date)
            ).all()
            due = self._payout_date(self.days.open_date())
            for row in kept:
                ledger.post(s, EntryKind.PAYOUT,
                            [(ledger.payable(mid), row.payout_minor),
                             (ledger.IN_TRANSIT, -row.payout_minor)],
                            business_date=self.days.open_date(), at=self.ctx.now(),
                            memo=f"released settlement {row.business_date}")  # fmt: skip
                row.status, row.payout_date = SettlementStatus.PAID, due
            return [_view(row, mid) for row in kept]

    @staticmethod
    def _held(s: Session, merchant_id: int) -> PayoutHold | None:
        return s.scalars(
            select(PayoutHold).where(
                PayoutHold.merchant_id == merchant_id, PayoutHold.released_at.is_(None)
            )
        ).first()

    def _payout_date(self, day: date) -> date:
        return next_business_day(day, self.ctx.settings.holiday_dates())

    # --- the payout file -----------------------------------------------------------------

    def payout_file(self, day: date) -> str:
        """The bank's payout instructions for a settled day, as CSV: one line per
        merchant paid, with its own account (一清). The account numbers are in clear:
        the caller writes the file for the bank only (mode 0600)."""
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(Settlement, Merchant)
                .join(Merchant, Merchant.id == Settlement.merchant_id)
                .where(Settlement.business_date == day, Settlement.status == SettlementStatus.PAID)
                .order_by(Merchant.mid)
            ).all()
            out = io.StringIO()
            w = csv.writer(out, lineterminator="\n")
            w.writerow(["reference", "payout_date", "mid", "merchant", "bank", "account_name",
                        "account_number", "amount", "currency"])  # fmt: skip
            for r, m in rows:
                account = self.ctx.keystore.open_text(
                    m.bank_account_enc, f"merchant:{m.id}:bank-account"
                )
                w.writerow([f"TP{r.business_date:%Y%m%d}{r.id:010d}",
                            r.payout_date.isoformat() if r.payout_date else "", m.mid,
                            m.legal_name, m.bank_name, m.bank_account_name, account,
                            Money(r.payout_minor, r.currency).plain(), r.currency])  # fmt: skip
            return out.getvalue()

    def _settle(self, merchant_id: int, mid: str, day: date) -> None:
        try:
            with self.ctx.db.transaction() as s:
                if s.scalar(
                    select(Settlement.id).where(
                        Settlement.merchant_id == merchant_id, Settlement.business_date == day
                    )
                ):
                    return  # another run got there first
                s.add(self._settlement(s, merchant_id, mid, day))
        except IntegrityError:
            return  # the same: the unique (merchant, day) made sure

    def _settlement(self, s: Session, merchant_id: int, mid: str, day: date) -> Settlement:
        payable = ledger.payable(mid)
        line, kind = JournalLine.amount_minor, JournalEntry.kind
        movement, refunds, transactions = s.execute(
            select(
                func.coalesce(-func.sum(line), 0),
                func.coalesce(func.sum(case((kind == EntryKind.REFUND, line), else_=0)), 0),
                func.count(func.distinct(JournalEntry.payment_id)),
            )
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(
                JournalLine.account_code == payable,
                JournalEntry.business_date == day,
                kind.in_((EntryKind.CAPTURE, EntryKind.CAPTURE_UNDONE, EntryKind.REFUND)),
            )
        ).one()
        # The fee lines on the merchant's payable: debits in captures, credits in undos.
        fees = s.scalar(
            select(func.coalesce(func.sum(line), 0))
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(
                JournalLine.account_code == payable,
                JournalEntry.business_date == day,
                (
                    (kind == EntryKind.CAPTURE) & (line > 0)
                    | (kind == EntryKind.CAPTURE_UNDONE) & (line < 0)
                ),
            )
        )
        movement, refunds, fees = int(movement), int(refunds), int(fees or 0)
        carried_in = int(
            s.scalar(
                select(func.coalesce(func.sum(line), 0)).where(
                    JournalLine.account_code == ledger.carried(mid)
                )
            )
            or 0
        )
        now = self.ctx.now()

        def post(entry: EntryKind, lines: ledger.Lines) -> None:
            ledger.post(s, entry, lines, business_date=day, at=now, memo=f"settlement {day}")

        held = self._held(s, merchant_id)
        if movement >= 0:
            applied = min(carried_in, movement)
            payout = movement - applied
            if applied:
                post(EntryKind.CARRY_APPLIED, [(payable, applied), (ledger.carried(mid), -applied)])
            if payout and not held:
                post(EntryKind.PAYOUT, [(payable, payout), (ledger.IN_TRANSIT, -payout)])
            carried_out = carried_in - applied
        else:
            payout = 0
            post(EntryKind.CARRY, [(ledger.carried(mid), -movement), (payable, movement)])
            carried_out = carried_in - movement
        return Settlement(
            merchant_id=merchant_id,
            business_date=day,
            currency=DEFAULT_CURRENCY,
            gross_minor=movement + refunds + fees,
            refunds_minor=refunds,
            fees_minor=fees,
            net_minor=movement,
            carried_in_minor=carried_in,
            payout_minor=payout,
            carried_out_minor=carried_out,
            payout_date=None if held and payout else self._payout_date(day),
            status=(
                SettlementStatus.NOTHING
                if not payout
                else SettlementStatus.HELD
                if held
                else SettlementStatus.PAID
            ),
            transactions=int(transactions),
            created_at=now,
        )


def _check_reason(reason: str) -> str:
    return check_reason(reason, required=True) or ""


def _view(r: Settlement, mid: str) -> SettlementView:
    return SettlementView(
        mid,
        r.business_date,
        r.currency,
        r.transactions,
        r.gross_minor,
        r.refunds_minor,
        r.fees_minor,
        r.net_minor,
        r.carried_in_minor,
        r.payout_minor,
        r.carried_out_minor,
        r.payout_date,
        r.status,
    )
