"""Accounts, journal entries and their lines.

A line's amount is signed: debits positive, credits negative, so an entry balances when
its lines sum to zero in each currency. Rows are only ever inserted: a correction is a
new entry.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tillpoint.core.db import Base, BigId, UTCDateTime, str_enum


class AccountKind(StrEnum):
    ASSET = "asset"  # owed to the acquirer, or its money on the way
    LIABILITY = "liability"  # owed by the acquirer
    INCOME = "income"


class EntryKind(StrEnum):
    CAPTURE = "capture"  # an approved sale or completion, with its fee
    CAPTURE_UNDONE = "capture_undone"  # its void or reversal
    REFUND = "refund"
    PAYOUT = "payout"  # the day's net on its way to the merchant's bank account
    CARRY = "carry"  # a negative day: the merchant owes it, carried forward
    CARRY_APPLIED = "carry_applied"  # what was carried, taken from a later day's net
    DATA_FEE = "data_fee"  # a terminal's yearly data fee, fallen due


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[AccountKind] = mapped_column(str_enum(AccountKind))
    currency: Mapped[str] = mapped_column(String(3))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JournalEntry(Base):
    __tablename__ = "journal_entries"
    # A day's entries by kind, with their payments: reconciliation reads a closed day's
    # entries from this index, not from the table.
    __table_args__ = (Index("ix_journal_entries_day", "business_date", "kind", "payment_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    business_date: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    memo: Mapped[str] = mapped_column(String(200))


class JournalLine(Base):
    """One account's part of an entry. It repeats its entry's business date and kind
    (both fixed when the entry is posted; `ledger check` proves they agree), so that an
    account's lines of a day are one range of the account index: the settlement run
    sums each merchant's day there, without visiting the entries. In that range the
    lines are in entry order, so a new line goes at its end, as it did when the index
    was by account alone; kind and amount only ride along."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint("amount_minor <> 0", name="nonzero"),
        Index("ix_journal_lines_account", "account_code", "business_date", "entry_id", "kind",
              "amount_minor"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entries.id"), index=True)
    account_code: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.code"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # debit +, credit -
    currency: Mapped[str] = mapped_column(String(3))
    business_date: Mapped[date] = mapped_column(Date)  # its entry's
    kind: Mapped[EntryKind] = mapped_column(str_enum(EntryKind))  # its entry's
