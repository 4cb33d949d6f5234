"""Posting to the ledger and proving it balances.

The chart of accounts (docs/settlement.md):

- ``receivable:<ORG>``: what a card organisation or wallet (CUP, VIS, MCC, JCB, AMX, ALP,
  WXP, UPQ) owes the acquirer for the payments it approved;
- ``merchant:<MID>:payable``: what the acquirer owes a merchant;
- ``merchant:<MID>:receivable``: what a merchant owes from a negative day, carried
  forward until a later day's net pays it;
- ``income:fees``: the acquirer's fee income; ``income:data-fees``: terminal data fees;
- ``payouts:in-transit``: payouts instructed to the bank.

Each payment event posts one entry in the same unit of work as the payment's change
(``post``, called from the terminal host's writer). Entries are only ever added.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import invariant
from tillpoint.core.money import DEFAULT_CURRENCY, Money
from tillpoint.ledger.models import (
    AccountKind,
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
)

FEES = "income:fees"
Lines = Sequence[tuple[str, int]]  # (account code, signed minor units: debit +)


def receivable(org: str) -> str:
    return f"receivable:{org}"


def payable(mid: str) -> str:
    return f"merchant:{mid}:payable"


def carried(mid: str) -> str:
    """What a merchant owes the acquirer from negative days, until a later day pays it."""
    return f"merchant:{mid}:receivable"


IN_TRANSIT = "payouts:in-transit"
DATA_FEES = "income:data-fees"


def capture_lines(org: str, mid: str, amount_minor: int, fee_minor: int) -> Lines:
    """An approved sale or completion: the organisation owes the gross, the merchant is
    owed the gross less the fee, the fee is income."""
    lines = [(receivable(org), amount_minor), (payable(mid), -amount_minor)]
    if fee_minor:
        lines += [(payable(mid), fee_minor), (FEES, -fee_minor)]
    return lines


def refund_lines(org: str, mid: str, amount_minor: int) -> Lines:
    """Money back to the cardholder, out of what the merchant is owed. The fee of the
    sale is not returned (a void, the same day, undoes it whole)."""
    return [(payable(mid), amount_minor), (receivable(org), -amount_minor)]


def negated(lines: Lines) -> Lines:
    return [(code, -minor) for code, minor in lines]


_INSERT_ENTRIES = insert(JournalEntry).returning(JournalEntry.id, sort_by_parameter_order=True)
_INSERT_LINE = insert(JournalLine)


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


def post_many(s: Session, postings: Sequence[Posting]) -> list[int]:
    """Several balanced entries in one statement per table (the terminal host's writer
    posts a whole batch of payments so); nothing is written if any does not balance.
    Gives the entries' ids, in order."""
    if not postings:
        return []
    kept = []
    for p in postings:
        lines = [(code, minor) for code, minor in p.lines if minor]
        if not lines or sum(minor for _, minor in lines) != 0:  # described only when it fails
            invariant(False, f"unbalanced {p.kind} entry: {lines}")
        kept.append(lines)
    conn = s.connection()
    ids = list(
        conn.execute(
            _INSERT_ENTRIES,
            [
                {"kind": p.kind, "payment_id": p.payment_id, "business_date": p.business_date,
                 "at": p.at, "memo": p.memo}
                for p in postings
            ],
        ).scalars()
    )  # fmt: skip
    conn.execute(
        _INSERT_LINE,
        [
            {"entry_id": entry_id, "account_code": code, "amount_minor": minor,
             "currency": p.currency, "business_date": p.business_date, "kind": p.kind}
            for entry_id, p, lines in zip(ids, postings, kept, strict=True)
            for code, minor in lines
        ],
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
