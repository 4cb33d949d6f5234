"""Posting to the ledger and proving it balances.

The chart of accounts and the lines of a payment's entries are plain functions
(``ledger/lines.py``, re-exported here). Each payment event posts one entry in the same
unit of work as the payment's change (``post_many``, called by the payment writer with
a whole batch). Entries are only ever added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import invariant
from tillpoint.core.groupcommit import HotWrite, new_ids
from tillpoint.core.money import DEFAULT_CURRENCY, Money
from tillpoint.ledger.lines import (
    DATA_FEES,
    FEES,
    IN_TRANSIT,
    Lines,
    balanced,
    capture_lines,
    carried,
    negated,
    payable,
    receivable,
    refund_lines,
)
from tillpoint.ledger.models import (
    AccountKind,
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
)

__all__ = [
    "DATA_FEES", "FEES", "IN_TRANSIT", "Balance", "LedgerService", "Lines", "Posting",
    "Problem", "capture_lines", "carried", "negated", "open_account",
    "open_merchant_accounts", "payable", "post", "post_many", "receivable", "refund_lines",
]  # fmt: skip

_INSERT_ENTRIES = HotWrite(
    insert(JournalEntry), ("id", "kind", "payment_id", "business_date", "at", "memo")
)
_INSERT_LINES = HotWrite(
    insert(JournalLine),
    ("entry_id", "account_code", "amount_minor", "currency", "business_date", "kind"),
)


@dataclass(frozen=True)
class Posting:
    """One journal entry to post: balanced lines and what the entry records."""

    kind: EntryKind
    lines: Lines
    business_date: date
    at: datetime
    memo: str
    payment_id: int | None = None
    currency: str = DEFAULT_CURRENCY


def post(
    s: Session,
    kind: EntryKind,
    lines: Lines,
    *,
    business_date: date,
    at: datetime,
    memo: str,
    payment_id: int | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> int:
    """One balanced entry; nothing is written if it does not balance."""
    posting = Posting(kind, lines, business_date, at, memo, payment_id, currency)
    return post_many(s, [posting])[0]


def post_many(s: Session | Connection, postings: Sequence[Posting]) -> list[int]:
    """Several balanced entries in one statement per table (the payment writer posts a
    whole batch of payments so); nothing is written if any does not balance. Gives the
    entries' ids, in order."""
    if not postings:
        return []
    kept = []
    for p in postings:
        lines = [(code, minor) for code, minor in p.lines if minor]
        if not balanced(lines):  # described only when it fails
            invariant(False, f"unbalanced {p.kind} entry: {lines}")
        kept.append(lines)
    conn = s.connection() if isinstance(s, Session) else s
    ids = new_ids(conn, "journal_entries", len(postings))
    _INSERT_ENTRIES.run(
        conn,
        [(i, p.kind, p.payment_id, p.business_date, p.at, p.memo)
         for i, p in zip(ids, postings, strict=True)],
    )  # fmt: skip
    _INSERT_LINES.run(
        conn,
        [(entry_id, code, minor, p.currency, p.business_date, p.kind)
         for entry_id, p, lines in zip(ids, postings, kept, strict=True)
         for code, minor in lines],
    )  # fmt: skip
    return ids


def open_account(
    s: Session,
    code: str,
    kind: AccountKind,
    name: str,
    at: datetime,
    *,
    merchant_id: int | None = None,
    currency: str = DEFAULT_CURRENCY,
) -> None:
    """Create an account unless it exists (safe to repeat)."""
    values = {
        "code": code,
        "kind": kind,
        "currency": currency,
        "merchant_id": merchant_id,
        "name": name,
        "created_at": at,
    }
    dialect = s.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    s.execute(maker(LedgerAccount).values(**values).on_conflict_do_nothing())


def open_merchant_accounts(s: Session, merchant_id: int, mid: str, at: datetime) -> None:
    open_account(
        s, payable(mid), AccountKind.LIABILITY, f"Payable to {mid}", at, merchant_id=merchant_id
    )
    open_account(
        s, carried(mid), AccountKind.ASSET, f"Carried from {mid}", at, merchant_id=merchant_id
    )


@dataclass(frozen=True)
class Balance:
    code: str
    kind: AccountKind
    name: str
    balance: Money  # debit balance: positive for assets, negative for what is owed


@dataclass(frozen=True)
class Problem:
    what: str  # "entry", "total" or "line" (a line whose date or kind is not its entry's)
    ref: str
    currency: str
    imbalance_minor: int


class LedgerService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def balances(self, prefix: str = "") -> list[Balance]:
        """Every account (or those whose code starts with ``prefix``) with its balance."""
        with self.ctx.db.read() as s:
            total = func.coalesce(func.sum(JournalLine.amount_minor), 0)
            rows = s.execute(
                select(LedgerAccount, total)
                .outerjoin(JournalLine, JournalLine.account_code == LedgerAccount.code)
                .where(LedgerAccount.code.startswith(prefix, autoescape=True))
                .group_by(LedgerAccount.code)
                .order_by(LedgerAccount.code)
            ).all()
            return [
                Balance(a.code, a.kind, a.name, Money(int(sum_), a.currency)) for a, sum_ in rows
            ]

    def check(self) -> list[Problem]:
        """Debits equal credits in every entry and overall, per currency, every entry has
        lines, and every line has its entry's date and kind. Empty: sound."""
        with self.ctx.db.read() as s:
            total = func.sum(JournalLine.amount_minor)
            per_entry = s.execute(
                select(JournalLine.entry_id, JournalLine.currency, total)
                .group_by(JournalLine.entry_id, JournalLine.currency)
                .having(total != 0)
            ).all()
            overall = s.execute(
                select(JournalLine.currency, total)
                .group_by(JournalLine.currency)
                .having(total != 0)
            ).all()
            empty = s.execute(
                select(JournalEntry.id)
                .outerjoin(JournalLine, JournalLine.entry_id == JournalEntry.id)
                .where(JournalLine.id.is_(None))
            ).scalars()
            astray = s.execute(
                select(JournalLine.id, JournalLine.currency)
                .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
                .where(
                    (JournalLine.business_date != JournalEntry.business_date)
                    | (JournalLine.kind != JournalEntry.kind)
                )
            ).all()
            return (
                [Problem("entry", str(e), c, int(x)) for e, c, x in per_entry]
                + [Problem("total", c, c, int(x)) for c, x in overall]
                + [Problem("entry", str(e), "", 0) for e in empty]
                + [Problem("line", str(line), c, 0) for line, c in astray]
            )
