"""Closed business days and each merchant's settlement of a day."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, UTCDateTime, str_enum


class BusinessDay(Base):
    """A business day that is over (日切): nothing more is booked on it."""

    __tablename__ = "business_days"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str] = mapped_column(String(100))
    # When its settlement run finished: days are settled in date order, as each day's
    # carried balances come from the days before it.
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SettlementStatus(StrEnum):
    PAID = "paid"  # the payout instruction is in the payout file
    NOTHING = "nothing"  # nothing to pay: zero, or a negative day carried forward
    HELD = "held"  # the payout waits until operations release the merchant


class PayoutHold(Base):
    """Operations stop a merchant's payouts (a dispute, a mismatch, a risk case) until
    they release it; what it is owed stays on its payable account meanwhile."""

    __tablename__ = "payout_holds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    held_by: Mapped[str] = mapped_column(String(100))
    held_at: Mapped[datetime] = mapped_column(UTCDateTime())
    released_by: Mapped[str | None] = mapped_column(String(100))
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Settlement(Base):
    """One merchant's settlement of one business day, in minor units."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("merchant_id", "business_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    business_date: Mapped[date] = mapped_column(Date, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    gross_minor: Mapped[int] = mapped_column(BigInteger)  # captures less voids/reversals
    refunds_minor: Mapped[int] = mapped_column(BigInteger)
    fees_minor: Mapped[int] = mapped_column(BigInteger)
    data_fees_minor: Mapped[int] = mapped_column(BigInteger)  # terminal data fees due
    net_minor: Mapped[int] = mapped_column(BigInteger)  # gross - refunds - fees - data fees
    carried_in_minor: Mapped[int] = mapped_column(BigInteger)  # owed from earlier days
    payout_minor: Mapped[int] = mapped_column(BigInteger)  # never negative
    carried_out_minor: Mapped[int] = mapped_column(BigInteger)  # owed after this day
    payout_date: Mapped[date | None] = mapped_column(Date)  # none while held
    # The business day whose payout file instructs the payout: the run's day, or the day
    # a hold was released (none while held, or with nothing to pay).
    paid_on: Mapped[date | None] = mapped_column(Date, index=True)
    status: Mapped[SettlementStatus] = mapped_column(str_enum(SettlementStatus))
    transactions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DataFeeCharge(Base):
    """A terminal's yearly data fee (流量费), charged by the settlement of the day it fell
    due (or the first settlement after)."""

    __tablename__ = "data_fee_charges"
    __table_args__ = (UniqueConstraint("terminal_id", "due_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    terminal_id: Mapped[int] = mapped_column(ForeignKey("terminals.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    due_date: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    business_date: Mapped[date] = mapped_column(Date)  # the settlement that charged it


class MatchStatus(StrEnum):
    MATCHED = "matched"
    MISSING_AT_HOST = "missing_at_host"  # the network has it, the acquirer does not
    MISSING_AT_NETWORK = "missing_at_network"  # the acquirer has it, the network does not
    AMOUNT_MISMATCH = "amount_mismatch"
    # The network cleared the reference for another merchant than the one registered
    # (MID), in another category (MCC), or in another fee class than the merchant was
    # charged in: code jumping (跳码). Kept beside any difference of amounts.
    MID_MISMATCH = "mid_mismatch"
    MCC_MISMATCH = "mcc_mismatch"
    FEE_CLASS_MISMATCH = "fee_class_mismatch"


#: The differences of whom a reference was cleared for, rather than of how much: risk's
#: to act on (an alert in the merchant's case, which holds its payouts).
ACCEPTOR_MISMATCHES = frozenset(
    {MatchStatus.MID_MISMATCH, MatchStatus.MCC_MISMATCH, MatchStatus.FEE_CLASS_MISMATCH}
)


class ReconciliationRun(Base):
    """A business day reconciled: how many references matched, how many did not."""

    __tablename__ = "reconciliation_runs"

    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    matched: Mapped[int] = mapped_column(Integer)
    problems: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReconciliationItem(Base):
    """A network reference of a business day that the acquirer and the network booked
    differently (minor units owed to the acquirer; zero where one side has nothing), one
    row per kind of difference. Matched references are only counted. A difference of
    MID, MCC or fee class keeps the registered value and the network's."""

    __tablename__ = "reconciliation_items"
    __table_args__ = (UniqueConstraint("business_date", "network_ref", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    network_ref: Mapped[str] = mapped_column(String(12))
    org: Mapped[str | None] = mapped_column(String(3))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    host_minor: Mapped[int] = mapped_column(BigInteger)
    network_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[MatchStatus] = mapped_column(str_enum(MatchStatus))
    host_value: Mapped[str | None] = mapped_column(String(20))  # registered
    network_value: Mapped[str | None] = mapped_column(String(20))  # the clearing file's
