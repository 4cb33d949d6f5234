"""The settlement run (一清): each merchant's net of a closed business day, paid T+1
straight to its own bank account.

For merchant M and day D, from the ledger's entries booked on D:

    net = gross (captures less their voids and reversals) - refunds - fees - data fees

A positive net first pays off what M still owes from earlier negative days (carried
forward), and the rest is M's payout, due the next business day. A negative net is
carried forward. A payout is never negative. Each merchant's settlement is one
transaction (its record and its entries) and exists once per day, so running a day
again, or again after a crash halfway, settles only who is left.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.clearing.datafees import Due, fees_due
from tillpoint.clearing.days import BusinessDays, next_business_day
from tillpoint.clearing.models import (
    BusinessDay,
    DataFeeCharge,
    PayoutHold,
    Settlement,
    SettlementStatus,
)
from tillpoint.clearing.payouts import HoldNotice, NextPayout, hold_notice, next_payout
from tillpoint.context import Context, check_actor, check_reason
from tillpoint.core.errors import NotFound, Refused, invariant
from tillpoint.core.i18n import N_
from tillpoint.core.money import DEFAULT_CURRENCY, Money
from tillpoint.core.paging import check_limit
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind, JournalLine, LedgerAccount
from tillpoint.merchants.models import Merchant
from tillpoint.merchants.services import find_merchant

Progress = Callable[[int, int], None]  # (done, of)
PAYING = (SettlementStatus.PAID, SettlementStatus.HELD)  # a settlement that pays something
_READERS = 4  # connections summing a day side by side (see figures)


@dataclass(frozen=True)
class SettlementView:
    mid: str
    business_date: date
    currency: str
    transactions: int
    gross_minor: int
    refunds_minor: int
    fees_minor: int
    data_fees_minor: int
    net_minor: int
    carried_in_minor: int
    payout_minor: int
    carried_out_minor: int
    payout_date: date | None  # none while held
    status: SettlementStatus


@dataclass(frozen=True)
class SettlementRecord(SettlementView):
    """A settlement with its id, for lists that page and for finding it again."""

    id: int


@dataclass(frozen=True)
class PayoutView:
    """A payout instruction: what one settlement pays into the merchant's own account,
    and when. The account number is shown masked only (the payout file has it)."""

    id: int  # the settlement's
    reference: str  # the payout file's reference of it
    mid: str
    business_date: date
    payout_date: date | None  # none while held
    amount_minor: int
    currency: str
    bank_name: str
    bank_account_name: str
    bank_account_masked: str
    status: SettlementStatus  # paid or held


@dataclass(frozen=True)
class HoldView:
    """A merchant whose payouts are held: why, since when, by whom, and what the hold
    keeps back (the payouts of its settlements recorded as held)."""

    id: int
    mid: str
    merchant: str
    reason: str
    held_by: str
    held_at: datetime
    held_minor: int
    settlements_held: int
    currency: str = DEFAULT_CURRENCY


@dataclass(frozen=True)
class _Figures:
    merchant_id: int
    mid: str
    movement: int  # net: what the day's captures, undos and refunds owe the merchant
    refunds: int
    fees: int
    transactions: int  # movements: sales and completions, voids and reversals, refunds


@dataclass(frozen=True)
class Figures:
    """A closed day's sums per merchant, the settlement run's input."""

    day: date
    merchants: tuple[_Figures, ...]


class SettlementService:
    chunk = 200  # merchants settled per transaction

    def __init__(self, ctx: Context, days: BusinessDays) -> None:
        self.ctx = ctx
        self.days = days

    def run(
        self, day: date, progress: Progress | None = None, figures: Figures | None = None
    ) -> list[SettlementView]:
        """Settle every merchant with entries on ``day`` that is not settled yet, from
        the day's ``figures`` when they were summed already (see ``clearing.dayend``)."""
        self.check_ready(day)
        summed = self.figures(day) if figures is None else figures
        invariant(summed.day == day, "a day settled with another day's figures")
        todo = list(summed.merchants)
        with self.ctx.db.read() as s:
            done = set(
                s.scalars(select(Settlement.merchant_id).where(Settlement.business_date == day))
            )
            due = fees_due(s, day, self.ctx.settings.cutoff)  # once for the whole run
            # A merchant with no payments that day still pays a data fee that fell due.
            quiet = set(due) - {f.merchant_id for f in todo}
            for merchant_id in sorted(quiet):
                mid = s.scalar(select(Merchant.mid).where(Merchant.id == merchant_id))
                if mid is not None:
                    todo.append(_Figures(merchant_id, mid, 0, 0, 0, 0))
        todo = [f for f in todo if f.merchant_id not in done]
        for start in range(0, len(todo), self.chunk):
            self._settle(todo[start : start + self.chunk], day, due)
            if progress is not None:
                progress(min(start + self.chunk, len(todo)), len(todo))
        with self.ctx.db.transaction() as s:  # the run is over: the next day may follow
            s.execute(
                update(BusinessDay)
                .where(BusinessDay.business_date == day, BusinessDay.settled_at.is_(None))
                .values(settled_at=self.ctx.now())
            )
        return self.show(day)

    def check_ready(self, day: date) -> None:
        """Refuse to settle a day that is still open, before an earlier closed day, or
        while calls made before it closed still wait for their network's answer."""
        self.days.check_closed(day)
        earlier = [d for d in self.days.unsettled() if d < day]
        if earlier:
            raise Refused(
                "settle.out_of_order",
                N_("Business day {earlier} is not settled yet: settle it before {day}"),
                earlier=earlier[0].isoformat(),
                day=day.isoformat(),
            )
        self.days.check_landed(day)

    def figures(self, day: date) -> Figures:
        """Every merchant's movements of the day: the day's lines of each merchant's
        payable account, one range of the lines' account index each (account, date,
        entry, kind, amount), read in account order and summed as they come: no entry is
        visited and nothing is sorted. The merchants are shared among a few readers, each
        on a connection of its own: a day's end reads a cold database, and the ranges lie
        scattered in the file, so several reads outstanding at once keep the disk busy
        (ten million payments: 12 s instead of 32 s from the disk with four). A closed
        day's lines no longer change, so the readers need not share a snapshot."""
        with ThreadPoolExecutor(_READERS, thread_name_prefix="sums") as pool:
            parts = list(pool.map(self._sums, [day] * _READERS, range(_READERS)))
        figures = [f for part in parts for f in part]
        return Figures(day, tuple(sorted(figures, key=lambda f: f.merchant_id)))

    def _sums(self, day: date, reader: int) -> list[_Figures]:
        """The figures of the merchants whose id leaves ``reader`` when divided by the
        number of readers. An entry's lines on the merchant's account are its amount and,
        for a capture or its undoing, the fee: the movements are counted by the lines
        that are not fees (counting distinct payments would sort them)."""
        line, kind = JournalLine.amount_minor, JournalLine.kind
        is_fee = ((kind == EntryKind.CAPTURE) & (line > 0)) | (
            (kind == EntryKind.CAPTURE_UNDONE) & (line < 0)
        )
        mine = (
            LedgerAccount.code.like(ledger.payable("%")),  # every merchant's payable
            LedgerAccount.merchant_id % _READERS == reader,
        )
        with self.ctx.db.read() as s:
            sums = s.execute(
                select(
                    JournalLine.account_code,
                    -func.sum(line),
                    func.sum(case((kind == EntryKind.REFUND, line), else_=0)),
                    func.sum(case((is_fee, line), else_=0)),
                    func.sum(case((is_fee, 0), else_=1)),
                )
                .where(
                    JournalLine.account_code.in_(select(LedgerAccount.code).where(*mine)),
                    JournalLine.business_date == day,
                    kind.in_((EntryKind.CAPTURE, EntryKind.CAPTURE_UNDONE, EntryKind.REFUND)),
                )
                .group_by(JournalLine.account_code)
            ).all()
            owners = {
                code: (merchant_id, mid)
                for code, merchant_id, mid in s.execute(
                    select(LedgerAccount.code, Merchant.id, Merchant.mid)
                    .join(Merchant, Merchant.id == LedgerAccount.merchant_id)
                    .where(*mine)
                )
            }
        return [
            _Figures(owners[code][0], str(owners[code][1]), int(movement), int(refunds),
                     int(fees), int(n))
            for code, movement, refunds, fees, n in sums
            if code in owners and owners[code][1] is not None
        ]  # fmt: skip

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

    # --- reading across days ------------------------------------------------------------

    def settlements(
        self,
        *,
        mid: str | None = None,
        business_date: date | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[SettlementRecord]:
        """Settlements of any day, in id order, after ``after_id``."""
        check_limit(limit)
        query = (
            select(Settlement, Merchant.mid)
            .join(Merchant, Merchant.id == Settlement.merchant_id)
            .where(Settlement.id > after_id)
            .order_by(Settlement.id)
            .limit(limit)
        )
        if mid is not None:
            query = query.where(Merchant.mid == mid)
        if business_date is not None:
            query = query.where(Settlement.business_date == business_date)
        with self.ctx.db.read() as s:
            return [_record(row, m or "") for row, m in s.execute(query).all()]

    def recent(
        self, mid: str, *, before_id: int | None = None, limit: int = 20
    ) -> list[SettlementRecord]:
        """One merchant's settlements, newest first, before ``before_id``."""
        check_limit(limit)
        with self.ctx.db.read() as s:
            m = find_merchant(s, mid)
            query = (
                select(Settlement)
                .where(Settlement.merchant_id == m.id)
                .order_by(Settlement.id.desc())
                .limit(limit)
            )
            if before_id is not None:
                query = query.where(Settlement.id < before_id)
            return [_record(row, m.mid or "") for row in s.scalars(query)]

    def settlement(self, settlement_id: int) -> SettlementRecord:
        with self.ctx.db.read() as s:
            row = s.execute(
                select(Settlement, Merchant.mid)
                .join(Merchant, Merchant.id == Settlement.merchant_id)
                .where(Settlement.id == settlement_id)
            ).one_or_none()
        if row is None:
            raise NotFound("settlement.not_found", N_("No settlement {id}"), id=settlement_id)
        return _record(row[0], row[1] or "")

    def payouts(
        self,
        *,
        mid: str | None = None,
        payout_date: date | None = None,
        status: SettlementStatus | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[PayoutView]:
        """Payout instructions (the settlements that pay something, paid or held), in
        id order, after ``after_id``."""
        check_limit(limit)
        query = (
            select(Settlement, Merchant)
            .join(Merchant, Merchant.id == Settlement.merchant_id)
            .where(Settlement.status.in_(PAYING), Settlement.id > after_id)
            .order_by(Settlement.id)
            .limit(limit)
        )
        if mid is not None:
            query = query.where(Merchant.mid == mid)
        if payout_date is not None:
            query = query.where(Settlement.payout_date == payout_date)
        if status is not None:
            query = query.where(Settlement.status == status)
        with self.ctx.db.read() as s:
            return [
                PayoutView(
                    id=r.id,
                    reference=payout_reference(r),
                    mid=m.mid or "",
                    business_date=r.business_date,
                    payout_date=r.payout_date,
                    amount_minor=r.payout_minor,
                    currency=r.currency,
                    bank_name=m.bank_name,
                    bank_account_name=m.bank_account_name,
                    bank_account_masked=m.bank_account_masked,
                    status=r.status,
                )
                for r, m in s.execute(query).all()
            ]

    # --- holds ------------------------------------------------------------------------

    def hold(self, mid: str, reason: str, actor: str) -> None:
        """Stop the merchant's payouts from the next settlement on, until released."""
        actor, why = check_actor(actor), _check_reason(reason)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, mid)
            if self._held(s, m.id):
                raise Refused("settle.already_held", N_("Merchant {mid} is already held"), mid=mid)
            s.add(PayoutHold(merchant_id=m.id, reason=why, held_by=actor, held_at=self.ctx.now()))

    # --- what the merchant reads (clearing/payouts.py) ---------------------------------

    def next_payout(self, mid: str) -> NextPayout:
        """What merchant ``mid`` is paid next: amount (minor units), currency, date and
        state (scheduled, held, expected or nothing). The portal's settlements page and
        its home show it."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, mid)
            return next_payout(s, m, self.ctx.today(), self.ctx.settings.holiday_dates())

    def hold_notice(self, mid: str) -> HoldNotice | None:
        """Merchant ``mid``'s hold in force, as the merchant is told of it."""
        with self.ctx.db.read() as s:
            return hold_notice(s, find_merchant(s, mid))

    def current_hold(self, mid: str) -> HoldView | None:
        """The merchant's hold in force, if any."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, mid)
        held = self.holds(mid=m.mid, limit=1) if m.mid else []
        return held[0] if held else None

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
            today = self.days.open_date()
            due = self._payout_date(today)
            for row in kept:
                ledger.post(s, EntryKind.PAYOUT,
                            [(ledger.payable(mid), row.payout_minor),
                             (ledger.IN_TRANSIT, -row.payout_minor)],
                            business_date=today, at=self.ctx.now(),
                            memo=f"released settlement {row.business_date}")  # fmt: skip
                row.status, row.payout_date, row.paid_on = SettlementStatus.PAID, due, today
            return [_view(row, mid) for row in kept]

    def holds(
        self, *, mid: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[HoldView]:
        """The holds in force, in the order they were put on, after ``after_id``."""
        check_limit(limit)
        query = (
            select(PayoutHold, Merchant)
            .join(Merchant, Merchant.id == PayoutHold.merchant_id)
            .where(PayoutHold.released_at.is_(None), PayoutHold.id > after_id)
            .order_by(PayoutHold.id)
            .limit(limit)
        )
        if mid is not None:
            query = query.where(Merchant.mid == mid)
        with self.ctx.db.read() as s:
            rows = s.execute(query).all()
            kept = {
                merchant_id: (int(total or 0), int(n))
                for merchant_id, total, n in s.execute(
                    select(Settlement.merchant_id, func.sum(Settlement.payout_minor), func.count())
                    .where(
                        Settlement.merchant_id.in_([h.merchant_id for h, _m in rows]),
                        Settlement.status == SettlementStatus.HELD,
                    )
                    .group_by(Settlement.merchant_id)
                )
            }
            return [
                HoldView(h.id, m.mid or "", m.display_name or m.legal_name, h.reason, h.held_by,
                         h.held_at, *kept.get(h.merchant_id, (0, 0)))
                for h, m in rows
            ]  # fmt: skip

    def held_mids(self, mids: list[str]) -> set[str]:
        """Which of ``mids`` are held now."""
        with self.ctx.db.read() as s:
            return {
                str(mid)
                for mid in s.scalars(
                    select(Merchant.mid)
                    .join(PayoutHold, PayoutHold.merchant_id == Merchant.id)
                    .where(Merchant.mid.in_(mids), PayoutHold.released_at.is_(None))
                )
            }

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
        """The bank's payout instructions of a settled day, as CSV: one line per payout,
        with the merchant's own account (一清): the day's settlement run's, and those of
        earlier days whose hold was released that day. The account numbers are in clear:
        the caller writes the file for the bank only (mode 0600)."""
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(Settlement, Merchant)
                .join(Merchant, Merchant.id == Settlement.merchant_id)
                .where(Settlement.paid_on == day, Settlement.status == SettlementStatus.PAID)
                .order_by(Merchant.mid, Settlement.business_date)
            ).all()
            out = io.StringIO()
            w = csv.writer(out, lineterminator="\n")
            w.writerow(["reference", "payout_date", "mid", "merchant", "bank", "account_name",
                        "account_number", "amount", "currency"])  # fmt: skip
            for r, m in rows:
                account = self.ctx.keystore.open_text(
                    m.bank_account_enc, f"merchant:{m.id}:bank-account"
                )
                w.writerow([payout_reference(r),
                            r.payout_date.isoformat() if r.payout_date else "", m.mid,
                            m.legal_name, m.bank_name, m.bank_account_name, account,
                            Money(r.payout_minor, r.currency).plain(), r.currency])  # fmt: skip
            return out.getvalue()

    def _settle(self, chunk: list[_Figures], day: date, due: dict[int, list[Due]]) -> None:
        """Settle a chunk of merchants in one transaction: all or none of them, so a run
        stopped anywhere leaves each merchant settled whole or not at all. A data fee is
        charged once whatever runs alongside (unique per terminal and due date). What
        each settlement needs to know is read for the whole chunk at once."""
        ids = [f.merchant_id for f in chunk]
        try:
            with self.ctx.db.transaction() as s:
                settled = set(
                    s.scalars(
                        select(Settlement.merchant_id).where(
                            Settlement.business_date == day, Settlement.merchant_id.in_(ids)
                        )
                    )
                )  # by another run, since this one began
                held = set(
                    s.scalars(
                        select(PayoutHold.merchant_id).where(
                            PayoutHold.merchant_id.in_(ids), PayoutHold.released_at.is_(None)
                        )
                    )
                )
                carried = {
                    code: int(total or 0)
                    for code, total in s.execute(
                        select(JournalLine.account_code, func.sum(JournalLine.amount_minor))
                        .where(JournalLine.account_code.in_([ledger.carried(f.mid) for f in chunk]))
                        .group_by(JournalLine.account_code)
                    )
                }
                for f in chunk:
                    if f.merchant_id in settled:
                        continue
                    carried_in = carried.get(ledger.carried(f.mid), 0)
                    s.add(
                        self._settlement(
                            s, f, day, due.get(f.merchant_id, []), carried_in,
                            f.merchant_id in held,
                        )
                    )  # fmt: skip
        except IntegrityError:  # a run alongside settled one of them: one at a time
            if len(chunk) > 1:
                for f in chunk:
                    self._settle([f], day, due)

    def _settlement(
        self,
        s: Session,
        f: _Figures,
        day: date,
        due: list[Due],
        carried_in: int,
        held: bool,
    ) -> Settlement:
        """One merchant's settlement and its entries; ``carried_in`` is what it owes
        from earlier days, ``held`` whether its payouts are on hold."""
        mid, merchant_id = f.mid, f.merchant_id
        payable = ledger.payable(mid)
        movement, refunds, fees, transactions = f.movement, f.refunds, f.fees, f.transactions
        now = self.ctx.now()
        data_fees = 0
        for fee in due:
            data_fees += fee.amount_minor
            s.add(
                DataFeeCharge(
                    terminal_id=fee.terminal_id,
                    merchant_id=merchant_id,
                    due_date=fee.due_date,
                    amount_minor=fee.amount_minor,
                    currency=fee.currency,
                    business_date=day,
                )
            )
        gross = movement + refunds + fees
        movement -= data_fees

        def post(entry: EntryKind, lines: ledger.Lines) -> None:
            ledger.post(s, entry, lines, business_date=day, at=now, memo=f"settlement {day}")

        if data_fees:
            post(EntryKind.DATA_FEE, [(payable, data_fees), (ledger.DATA_FEES, -data_fees)])
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
            gross_minor=gross,
            refunds_minor=refunds,
            fees_minor=fees,
            data_fees_minor=data_fees,
            net_minor=movement,
            carried_in_minor=carried_in,
            payout_minor=payout,
            carried_out_minor=carried_out,
            payout_date=None if held and payout else self._payout_date(day),
            paid_on=day if payout and not held else None,
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


def payout_reference(r: Settlement) -> str:
    """How the payout file and the bank name a settlement's payout."""
    return f"TP{r.business_date:%Y%m%d}{r.id:010d}"


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
        r.data_fees_minor,
        r.net_minor,
        r.carried_in_minor,
        r.payout_minor,
        r.carried_out_minor,
        r.payout_date,
        r.status,
    )


def _record(r: Settlement, mid: str) -> SettlementRecord:
    return SettlementRecord(**dataclasses.asdict(_view(r, mid)), id=r.id)
