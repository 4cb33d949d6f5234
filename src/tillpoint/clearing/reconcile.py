"""Reconciliation (对账): the networks' clearing files of a business day against the
acquirer's own books, reference by reference.

For each network reference (the RRN the host gave the network) the host's side is what
the day's ledger entries say the network owes for it (a capture +, its void or reversal
−, a refund −) and the network's side is the sum of its clearing lines. Equal: matched.
Otherwise the reference is missing on one side or its amounts differ, and the merchant
concerned is held (its payouts wait) until operations release it. Reconcile a day before
settling it; the day's-end worker does.

Each clearing line also names whom the network cleared it for: the merchant's MID, its
category (MCC) and the fee class. For a reference the books have, they are compared
with the merchant's registered MID and MCC (never changed once a merchant is approved:
those in force when it paid) and the class its fee was charged in (the payment's
method): a difference is code jumping (跳码), kept as a difference of its own kind with
both values. Those are risk's to act on: they are handed to the ``watchers`` (the
composition root gives risk's), which raise an alert in the merchant's case and hold its
payouts there, so that resolving the case as a false positive releases them.
Reconciliation itself holds only for differences of amounts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import chain, islice

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from tillpoint.clearing.days import BusinessDays
from tillpoint.clearing.models import (
    ACCEPTOR_MISMATCHES,
    MatchStatus,
    PayoutHold,
    ReconciliationItem,
    ReconciliationRun,
)
from tillpoint.clearing.payouts import RECONCILIATION, reconciliation_reason
from tillpoint.context import Context
from tillpoint.core.paging import check_limit
from tillpoint.ledger.models import EntryKind
from tillpoint.merchants.models import Merchant, PaymentMethod
from tillpoint.networks.clearing import Acceptor, ClearingJournal
from tillpoint.payments.models import Payment

# Both sides of one comparison in one table, private to the transaction's connection:
# a row per reference, each side's lines summed into it as they are loaded (an upsert),
# so that comparing is one scan, with no grouping and no join. Clustered by reference
# on SQLite (no rowid), where the references arrive almost in order.
_STAGE = MetaData()
# Besides the amounts, whom each side has a reference for, as one number (a key): the
# merchant times ``CLASSES`` plus the fee class's code. The books' is the payment's
# merchant and method (what its fee was charged in); the network's is that of the
# merchant whose registered MID and MCC the line names (below zero: no such merchant)
# and the class it names (the first line of a reference that names one). Equal keys:
# cleared as registered. One number a side keeps the comparison a single comparison of
# integers in the same scan, with no join, and the load one parameter longer a line.
_REFS = Table(
    "recon_refs", _STAGE, Column("ref", String(12), primary_key=True), Column("org", String(3)),
    Column("merchant_id", Integer), Column("host_minor", BigInteger),
    Column("network_minor", BigInteger), Column("host_key", BigInteger),
    Column("net_key", BigInteger), prefixes=["TEMPORARY"], sqlite_with_rowid=False,
)  # fmt: skip
CLASSES = 1024  # fee class codes: the payment methods from 1, then any others a file names
CLASS_CODES = {m.value: n for n, m in enumerate(PaymentMethod, 1)}
_CLASS_NAMES = {n: name for name, n in CLASS_CODES.items()}
_HOST_KEY = (
    f"p.merchant_id * {CLASSES} + CASE p.method "
    + " ".join(f"WHEN '{name}' THEN {n}" for name, n in CLASS_CODES.items())
    + " ELSE 0 END"
)
# The books: a capture is owed by the network, its void or reversal and a refund are
# taken back. SQLite adds a reference's entries up as they come (an upsert may meet its
# own row again there); PostgreSQL's upsert may not, so it groups them first.
_HOST_SELECT = (
    " FROM journal_entries e JOIN payments p ON p.id = e.payment_id"
    " WHERE e.business_date = :day AND e.kind IN (:capture, :undone, :refund)"
)
_HOST_AMOUNT = "CASE WHEN e.kind = :capture THEN p.amount_minor ELSE -p.amount_minor END"
_LOAD_HOST_SQLITE = (
    "INSERT INTO recon_refs (ref, org, merchant_id, host_minor, host_key)"
    f" SELECT p.rrn, p.card_org, p.merchant_id, {_HOST_AMOUNT}, {_HOST_KEY}{_HOST_SELECT}"
    " ON CONFLICT (ref) DO UPDATE"
    " SET host_minor = COALESCE(recon_refs.host_minor, 0) + excluded.host_minor"
)
_LOAD_HOST_GROUPED = (
    "INSERT INTO recon_refs (ref, org, merchant_id, host_minor, host_key)"
    f" SELECT p.rrn, MIN(p.card_org), MIN(p.merchant_id), SUM({_HOST_AMOUNT}),"
    f" MIN({_HOST_KEY}){_HOST_SELECT}"
    " GROUP BY p.rrn"
)
# The clearing file goes in through the driver: its rows are plain. On SQLite, several
# hundred rows to a statement, which spares most of a statement's cost per row (a
# quarter of the load); PostgreSQL's upsert may not meet a reference twice in one
# statement, so there it is one row to a statement, pipelined by executemany.
_LOAD = (
    "INSERT INTO recon_refs (org, ref, network_minor, net_key) VALUES {rows}"
    " ON CONFLICT (ref) DO UPDATE"
    " SET network_minor = COALESCE(recon_refs.network_minor, 0) + excluded.network_minor,"
    " net_key = COALESCE(recon_refs.net_key, excluded.net_key)"
)
_ROWS_PER_STATEMENT = 500  # 2,000 parameters, well under SQLite's limit
_BATCH = 50_000  # rows read from the file at a time
VALUE_CHARS = 20  # a value kept with a difference (a MID is 15): a longer one is cut
_MERCHANTS_AT_ONCE = 1000  # registered values read for so many merchants a statement


class _Acceptors:
    """The key of each acceptor a clearing file names (``_REFS``), and the acceptor
    of each key, to say what differs. A pair of MID and MCC is looked up once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.merchants: dict[tuple[str, str], int] = {}
        self.others = 0  # pairs that are no merchant's
        self.classes = dict(CLASS_CODES)
        self.named: dict[int, Acceptor] = {}

    def __call__(self, a: Acceptor) -> int:
        merchant = self.merchants.get((a.mid, a.mcc))
        if merchant is None:
            merchant = self.conn.scalar(
                select(Merchant.id).where(Merchant.mid == a.mid, Merchant.mcc == a.mcc)
            )
            if merchant is None:
                self.others += 1
                merchant = -self.others
            self.merchants[(a.mid, a.mcc)] = merchant
        code = self.classes.get(a.fee_class)
        if code is None:  # a class no plan prices: never the books' (beyond 1023, shared)
            code = self.classes[a.fee_class] = min(len(self.classes) + 1, CLASSES - 1)
        key = merchant * CLASSES + code
        self.named.setdefault(key, a)
        return key


def _load_clearing(conn: Connection, lines: Iterator[tuple[str, str, int, int | None]]) -> None:
    """Add the clearing file's lines to their references' network amounts, with the key
    of whom they name."""
    if conn.dialect.paramstyle != "qmark":
        one = _LOAD.format(rows="(%s, %s, %s, %s)")
        while batch := list(islice(lines, _BATCH)):
            conn.exec_driver_sql(one, batch)
        return
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    row = "(?, ?, ?, ?)"
    many = _LOAD.format(rows=", ".join([row] * _ROWS_PER_STATEMENT))
    while batch := list(islice(lines, _ROWS_PER_STATEMENT)):
        if len(batch) < _ROWS_PER_STATEMENT:  # the file's last rows
            many = _LOAD.format(rows=", ".join([row] * len(batch)))
        cursor.execute(many, list(chain.from_iterable(batch)))
    cursor.close()


@dataclass(frozen=True)
class Item:
    network_ref: str
    org: str | None
    merchant_id: int | None
    host_minor: int  # what the books say the network owes for it
    network_minor: int  # what the network's clearing file says
    status: MatchStatus
    # A MID, MCC or fee class that differs: the registered one and the network's.
    host_value: str | None
    network_value: str | None

    @classmethod
    def of(cls, row: ReconciliationItem) -> Item:
        return cls(row.network_ref, row.org, row.merchant_id, row.host_minor,
                   row.network_minor, row.status, row.host_value,
                   row.network_value)  # fmt: skip

    @property
    def acceptor(self) -> bool:
        """Whether it is a difference of whom the reference was cleared for (MID, MCC,
        fee class): risk's to act on."""
        return self.status in ACCEPTOR_MISMATCHES


@dataclass(frozen=True)
class ItemRecord(Item):
    """A difference kept by a day's reconciliation, with its id (for lists that page)
    and the MID of the merchant concerned, when known."""

    id: int
    mid: str | None


@dataclass(frozen=True)
class Reconciliation:
    business_date: date
    matched: int
    problems: list[Item]
    held: list[int]  # merchant ids put on hold by this run (or by its watchers)

    @property
    def unmatched(self) -> int:
        """References that did not match (one may have several differences)."""
        return len({i.network_ref for i in self.problems})


#: Told, after a run is kept, the day's differences of whom references were cleared for
#: (each run, the first or a repeat: the same differences again change nothing); gives
#: the merchants it held for them.
Watcher = Callable[[date, Sequence[Item]], Sequence[int]]


@dataclass
class _Found:
    matched: int
    problems: list[Item] = field(default_factory=list)


class ReconciliationService:
    def __init__(self, ctx: Context, days: BusinessDays) -> None:
        self.ctx = ctx
        self.days = days
        self.watchers: list[Watcher] = []  # the composition root adds risk's

    def journal(self) -> ClearingJournal:
        return ClearingJournal(self.ctx.settings.network_directory(), self.days.open_date)

    def run(self, day: date) -> Reconciliation:
        """Match the day once; a second run reports what the first found. Either way the
        watchers are then told of the differences of whom references were cleared for
        (a watcher that failed the first time is told again)."""
        self.days.check_closed(day)
        with self.ctx.db.read() as s:
            done_before = s.get(ReconciliationRun, day) is not None
        if not done_before:
            self.days.check_landed(day)  # a call in flight is no difference
        with self.ctx.db.transaction() as s:
            done = s.get(ReconciliationRun, day)
            if done is not None:
                kept = s.scalars(
                    select(ReconciliationItem)
                    .where(ReconciliationItem.business_date == day)
                    .order_by(ReconciliationItem.network_ref, ReconciliationItem.id)
                ).all()
                result = Reconciliation(day, done.matched, [Item.of(i) for i in kept], [])
            else:
                found = self._compare(s, day)
                problems = found.problems
                s.add(ReconciliationRun(business_date=day, matched=found.matched,
                                        problems=len({i.network_ref for i in problems}),
                                        at=self.ctx.now()))  # fmt: skip
                if problems:
                    s.execute(
                        insert(ReconciliationItem),
                        [{"business_date": day, "network_ref": i.network_ref, "org": i.org,
                          "merchant_id": i.merchant_id, "host_minor": i.host_minor,
                          "network_minor": i.network_minor, "status": i.status,
                          "host_value": i.host_value, "network_value": i.network_value}
                         for i in problems],
                    )  # fmt: skip
                amounts = {i.merchant_id for i in problems if not i.acceptor} - {None}
                held = self._hold(s, day, amounts)
                result = Reconciliation(day, found.matched, problems, held)
        acceptors = [i for i in result.problems if i.acceptor]
        if not acceptors:
            return result
        by_anyone = set(result.held)
        for watch in self.watchers:
            by_anyone.update(watch(day, acceptors))
        return Reconciliation(day, result.matched, result.problems, sorted(by_anyone))

    def items(self, day: date, *, after_id: int = 0, limit: int = 100) -> list[ItemRecord]:
        """The differences a day's reconciliation kept, in id order, after ``after_id``."""
        check_limit(limit)
        with self.ctx.db.read() as s:
            return [
                ItemRecord(i.network_ref, i.org, i.merchant_id, i.host_minor, i.network_minor,
                           i.status, i.host_value, i.network_value, i.id, mid)
                for i, mid in s.execute(
                    select(ReconciliationItem, Merchant.mid)
                    .outerjoin(Merchant, Merchant.id == ReconciliationItem.merchant_id)
                    .where(ReconciliationItem.business_date == day,
                           ReconciliationItem.id > after_id)
                    .order_by(ReconciliationItem.id)
                    .limit(limit)
                )
            ]  # fmt: skip

    def _compare(self, s: Session, day: date) -> _Found:
        """The day's references on both sides, compared in the database: how many match,
        and those that do not (in reference order). Neither side is ever held in memory
        whole."""
        conn = s.connection()
        _REFS.drop(conn, checkfirst=True)
        _REFS.create(conn)
        host = _LOAD_HOST_SQLITE if conn.dialect.name == "sqlite" else _LOAD_HOST_GROUPED
        conn.execute(
            text(host).bindparams(bindparam("day", type_=Date)),
            {"day": day, "capture": EntryKind.CAPTURE.value,
             "undone": EntryKind.CAPTURE_UNDONE.value, "refund": EntryKind.REFUND.value},
        )  # fmt: skip
        acceptors = _Acceptors(conn)
        _load_clearing(conn, self.journal().keyed_rows(day, acceptors))
        r = _REFS.c
        # A side with no line owes nothing: a call the host reversed at the network
        # before recording it (+X, -X there, nothing here) is settled, not missing.
        equal = func.coalesce(r.host_minor, 0) == func.coalesce(r.network_minor, 0)
        matched = conn.scalar(select(func.count()).select_from(_REFS).where(equal)) or 0
        owner = select(Payment.merchant_id).where(Payment.rrn == r.ref).scalar_subquery()
        found = _Found(int(matched))
        cleared_for = []  # references cleared for another than registered
        for ref, org, merchant, ours, theirs, host_key, net_key in conn.execute(
            select(r.ref, r.org, func.coalesce(r.merchant_id, owner), r.host_minor,
                   r.network_minor, r.host_key, r.net_key)
            .where(~equal | (r.net_key != r.host_key))  # no key on one side: not compared
            .order_by(r.ref)
        ):  # fmt: skip
            if (ours or 0) != (theirs or 0):  # no line and no amount are alike
                found.problems.append(
                    Item(ref, org, merchant, ours or 0, theirs or 0,
                         MatchStatus.MISSING_AT_NETWORK if theirs is None
                         else MatchStatus.MISSING_AT_HOST if ours is None
                         else MatchStatus.AMOUNT_MISMATCH, None, None)
                )  # fmt: skip
            if host_key is not None and net_key is not None and host_key != net_key:
                cleared_for.append((ref, org, merchant, ours or 0, theirs or 0, host_key, net_key))
        _REFS.drop(conn)
        _acceptor_differences(conn, acceptors, cleared_for, found)
        found.problems.sort(key=lambda i: i.network_ref)  # stable: amounts first
        return found

    def _hold(self, s: Session, day: date, merchants: set[int | None]) -> list[int]:
        """Hold every merchant concerned by a difference that is not held already."""
        held = []
        for merchant_id in sorted(m for m in merchants if m is not None):
            if not s.scalar(
                select(PayoutHold.id).where(
                    PayoutHold.merchant_id == merchant_id, PayoutHold.released_at.is_(None)
                )
            ):
                s.add(
                    PayoutHold(
                        merchant_id=merchant_id,
                        reason=reconciliation_reason(day),
                        held_by=RECONCILIATION,
                        held_at=self.ctx.now(),
                    )
                )
                held.append(merchant_id)
        return held


def _acceptor_differences(
    conn: Connection,
    acceptors: _Acceptors,
    cleared_for: list[tuple[str, str | None, int | None, int, int, int, int]],
    found: _Found,
) -> None:
    """The differences of references cleared for another than registered: one per value
    that differs (MID, MCC, fee class), with the registered value and the network's. A
    reference that has one is not counted as matched, though its amounts agree."""
    ids = sorted({host_key // CLASSES for *_, host_key, _ in cleared_for})
    registered = {
        m_id: (mid, mcc)
        for start in range(0, len(ids), _MERCHANTS_AT_ONCE)
        for m_id, mid, mcc in conn.execute(
            select(Merchant.id, Merchant.mid, Merchant.mcc).where(
                Merchant.id.in_(ids[start : start + _MERCHANTS_AT_ONCE])
            )
        )
    }
    for ref, org, merchant, ours, theirs, host_key, net_key in cleared_for:
        mid, mcc = registered.get(host_key // CLASSES, (None, None))
        charged = _CLASS_NAMES.get(host_key % CLASSES)
        named = acceptors.named[net_key]
        differ = False
        for status, ours_value, network in (
            (MatchStatus.MID_MISMATCH, mid, named.mid),
            (MatchStatus.MCC_MISMATCH, mcc, named.mcc),
            (MatchStatus.FEE_CLASS_MISMATCH, charged, named.fee_class),
        ):
            if ours_value is not None and network != ours_value:
                found.problems.append(Item(ref, org, merchant, ours, theirs, status,
                                           ours_value, network[:VALUE_CHARS]))  # fmt: skip
                differ = True
        if differ and ours == theirs:
            found.matched -= 1
