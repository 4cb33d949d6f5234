"""Nothing charged without a record: every call that may move money at a network is
written down (durably) before the network is asked, and settled afterwards.

The rule, for a sale (a hold, a capture, a void, a refund, a wallet payment or order
go the same way):

1. ``open``: a row in ``network_intents`` (state ``open``) names the network reference
   (RRN), the network and, for a terminal, the request's key (TID, batch, STAN, MTI).
   Its commit comes before the network hears of the call.
2. The network answers (or not: 98).
3. The payment's own write ``claim``s the row (deletes it) in the same unit of work.
   Whoever changes an ``open`` row first owns the outcome: a write that finds its row
   no longer open records the payment as not charged (98), because someone else has
   taken the call for reversal.
4. Anything else ends at the network: a row still open after a failed write, after a
   98, when a terminal's reversal names it, or when it is older than ``stale_after``
   (the host died in between) is moved to ``reversing``, reversed at the network
   (networks take a reversal of the same reference any number of times), and kept as
   ``reversed`` with its cause: the record that this call was undone.

A terminal's reversal that finds no payment and no row leaves a ``reversed`` row under
the original request's key: the unique key then refuses the original if it is still on
its way (its ``open`` fails), so a reversal can never be overtaken by its original.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.core.db import Database
from tillpoint.core.groupcommit import GroupCommitter, HotWrite, raw_execute
from tillpoint.core.money import Money
from tillpoint.networks.connector import NetworkAnswer
from tillpoint.payments import rules
from tillpoint.payments.models import IntentState, NetworkIntent
from tillpoint.terminals.models import Terminal

log = logging.getLogger("tillpoint.intents")

CARD, WALLET = rules.CARD, rules.WALLET  # which connector a reference belongs to
RECOVERY_GRACE_S = 10.0  # beyond the network's time-out, before a row counts as stale
RECOVERY_EVERY_S = 5.0
RECOVERY_BATCH = 500  # rows reversed per pass, at most

Reverse = Callable[[str], Awaitable[NetworkAnswer]]

_CLAIM = (
    delete(NetworkIntent)
    .where(
        NetworkIntent.rrn.in_(bindparam("rrns", expanding=True)),
        NetworkIntent.state == IntentState.OPEN,
    )
    .returning(NetworkIntent.rrn)
)
_CLAIM_SQLITE = "DELETE FROM network_intents WHERE state = 'open' AND rrn IN ({}) RETURNING rrn"
_INSERT = HotWrite(
    insert(NetworkIntent),
    ("rrn", "network", "action", "state", "terminal_id", "batch_no", "stan", "mti",
     "amount_minor", "currency", "created_at", "resolved_at", "cause"),
)  # fmt: skip
_TO_REVERSE = insert(NetworkIntent).returning(NetworkIntent.id)
_CALL_OF = select(NetworkIntent.id, NetworkIntent.rrn, NetworkIntent.state).where(
    NetworkIntent.terminal_id == bindparam("terminal_id"),
    NetworkIntent.batch_no == bindparam("batch_no"),
    NetworkIntent.stan == bindparam("stan"),
    NetworkIntent.mti == bindparam("mti"),
)


@dataclass(frozen=True, slots=True)
class Intent:
    """A call about to be made. ``key`` is the terminal request's (terminal id, batch,
    STAN, MTI), None for the API's."""

    rrn: str
    network: str  # CARD or WALLET
    action: str  # sale, preauth, capture, void, refund, pay, order
    amount: Money
    at: datetime
    key: tuple[int, str, str, str] | None = None

    def row(self) -> tuple[object, ...]:
        terminal_id, batch_no, stan, mti = self.key or (None, None, None, None)
        return (
            self.rrn, self.network, self.action, IntentState.OPEN, terminal_id, batch_no, stan,
            mti, self.amount.amount_minor, self.amount.currency, self.at, None, None,
        )  # fmt: skip


def _open_many(s: Session, intents: Sequence[Intent]) -> list[bool]:
    _INSERT.run(s.connection(), [i.row() for i in intents])
    return [True] * len(intents)


def claim(conn: Connection, rrns: Sequence[str]) -> set[str]:
    """Remove the open rows of these references, in the unit of work that puts their
    answers on our books; gives the ones removed. A reference not among them was taken
    for reversal meanwhile: its payment must not count as charged."""
    if not rrns:
        return set()
    if conn.dialect.name == "sqlite":  # on the driver: SQLAlchemy compiles an IN list anew
        sql = _CLAIM_SQLITE.format(", ".join("?" * len(rrns)))
        return {rrn for (rrn,) in raw_execute(conn, sql, tuple(rrns)) if rrn}
    return {rrn for rrn in conn.execute(_CLAIM, {"rrns": list(rrns)}).scalars() if rrn}


def to_reverse(
    conn: Connection, rrn: str, network: str, action: str, amount: Money, at: datetime
) -> int:
    """In the caller's unit of work: this reference is to be undone at the network (a
    terminal's reversal of a recorded payment). Written before the network is told, so
    a crash in between leaves it to ``recover``. Gives the row's id, for ``undo``."""
    values = {
        "rrn": rrn, "network": network, "action": action, "state": IntentState.REVERSING,
        "amount_minor": amount.amount_minor, "currency": amount.currency, "created_at": at,
    }  # fmt: skip
    return int(conn.execute(_TO_REVERSE, values).scalar_one())


@dataclass(frozen=True, slots=True)
class Call:
    """A noted call, as a terminal's reversal finds it."""

    id: int
    rrn: str | None
    state: IntentState


def intent_for(conn: Connection, key: tuple[int, str, str, str]) -> Call | None:
    """The call a terminal request made, if its answer is not on our books, locked
    against the request's own write (which removes it) on PostgreSQL."""
    terminal_id, batch_no, stan, mti = key
    params = {"terminal_id": terminal_id, "batch_no": batch_no, "stan": stan, "mti": mti}
    row = conn.execute(_CALL_OF.with_for_update(), params).first()
    return None if row is None else Call(row[0], row[1], row[2])


def take(conn: Connection, call: Call, cause: str) -> list[int]:
    """An open call taken for reversal; gives the rows now to reverse at the network
    (none when it was reversed already)."""
    if call.state is IntentState.OPEN:
        conn.execute(
            update(NetworkIntent)
            .where(NetworkIntent.id == call.id)
            .values(state=IntentState.REVERSING, cause=cause)
        )
        return [call.id]
    return [call.id] if call.state is IntentState.REVERSING else []


def reversed_before_original(
    conn: Connection, key: tuple[int, str, str, str], currency: str, at: datetime
) -> None:
    """A reversal found nothing to undo: no call was made for the request. A row under
    its key says so, so that the original, if it is still on its way, cannot make one
    (its ``open`` meets the unique key, which decides at once, against a racing
    original)."""
    terminal_id, batch_no, stan, mti = key
    _INSERT.run(
        conn,
        [(None, CARD, "none", IntentState.REVERSED, terminal_id, batch_no, stan, mti, 0,
          currency, at, at, "reversed before its original")],
    )  # fmt: skip


class Intents:
    """Opens rows through the group committer (durable before the network is asked) and
    reverses what is left at the networks."""

    def __init__(
        self,
        db: Database,
        committer: GroupCommitter,
        networks: Mapping[str, Reverse],
        now: Callable[[], datetime],
        *,
        stale_after_s: float,
        timeout_s: float,
    ) -> None:
        self.db = db
        self.committer = committer
        self.networks = networks
        self.now = now
        self.stale_after = timedelta(seconds=stale_after_s)
        self.timeout_s = timeout_s
        self.reversed = 0  # calls undone at a network by this process (tests, logs)

    async def open(self, intent: Intent) -> bool:
        """Durably note the call before it is made. False: the request's key already
        has a row (its reversal came first, or the same request is on its way)."""
        try:
            return bool(await self.committer.submit_bulk(_open_many, intent))
        except IntegrityError:
            return False

    async def reverse_open(self, rrn: str, cause: str) -> None:
        """Undo a call whose answer will not be on our books (its write failed, or the
        network did not answer in time). Best effort: what fails here, ``recover`` does."""
        try:
            ids = await asyncio.to_thread(self._take, rrn, cause)
            await self._undo(ids)
        except Exception:
            log.exception(json.dumps({"event": "reversal_deferred", "rrn": rrn}))

    async def undo(self, ids: Sequence[int]) -> None:
        """Reverse rows already marked ``reversing`` (by the caller's unit of work)."""
        try:
            await self._undo(ids)
        except Exception:
            log.exception(json.dumps({"event": "reversal_deferred", "ids": list(ids)}))

    async def recover(self) -> int:
        """One pass: rows open for longer than any live call takes are taken, and every
        row marked ``reversing`` is reversed at its network. Gives how many were."""
        cutoff = self.now() - self.stale_after
        ids = await asyncio.to_thread(self._take_stale, cutoff)
        return await self._undo(ids)

    async def run(self, every_s: float = RECOVERY_EVERY_S) -> None:
        """``recover`` at once, then every ``every_s`` seconds (``tillpoint serve``)."""
        while True:
            try:
                await self.recover()
            except Exception:  # the database or a network is down: the next pass retries
                log.exception(json.dumps({"event": "recovery_failed"}))
            await asyncio.sleep(every_s)

    # --- units of work ----------------------------------------------------------------

    def _take(self, rrn: str, cause: str) -> list[int]:
        with self.db.transaction(invalidate=False) as s:
            s.execute(
                update(NetworkIntent)
                .where(NetworkIntent.rrn == rrn, NetworkIntent.state == IntentState.OPEN)
                .values(state=IntentState.REVERSING, cause=cause)
            )
            return list(
                s.scalars(
                    select(NetworkIntent.id).where(
                        NetworkIntent.rrn == rrn, NetworkIntent.state == IntentState.REVERSING
                    )
                )
            )

    def _take_stale(self, cutoff: datetime) -> list[int]:
        with self.db.transaction(invalidate=False) as s:
            s.execute(
                update(NetworkIntent)
                .where(NetworkIntent.state == IntentState.OPEN, NetworkIntent.created_at < cutoff)
                .values(state=IntentState.REVERSING, cause="no answer on our books in time")
            )
            return list(
                s.scalars(
                    select(NetworkIntent.id)
                    .where(NetworkIntent.state == IntentState.REVERSING)
                    .order_by(NetworkIntent.id)
                    .limit(RECOVERY_BATCH)
                )
            )

    async def _undo(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        rows = await asyncio.to_thread(self._rows, ids)
        done = []
        for row_id, rrn, network in rows:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self.networks[network](rrn)
            except Exception:  # left to be reversed: the next pass tries again
                log.exception(json.dumps({"event": "reversal_deferred", "rrn": rrn}))
                continue
            done.append(row_id)
            log.warning(json.dumps({"event": "reversed_at_network", "rrn": rrn}))
        await asyncio.to_thread(self._done, done)
        self.reversed += len(done)
        return len(done)

    def _rows(self, ids: Sequence[int]) -> list[tuple[int, str, str]]:
        with self.db.read() as s:
            rows = s.execute(
                select(NetworkIntent.id, NetworkIntent.rrn, NetworkIntent.network).where(
                    NetworkIntent.id.in_(ids), NetworkIntent.state == IntentState.REVERSING
                )
            ).all()
        return [(i, rrn, network) for i, rrn, network in rows if rrn is not None]

    def _done(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self.db.transaction(invalidate=False) as s:
            s.execute(
                update(NetworkIntent)
                .where(NetworkIntent.id.in_(ids), NetworkIntent.state == IntentState.REVERSING)
                .values(state=IntentState.REVERSED, resolved_at=self.now())
            )


@dataclass(frozen=True)
class CallView:
    """A call the host noted, whose answer is not (or is no longer) on its books."""

    id: int
    rrn: str | None
    network: str
    action: str
    state: IntentState
    tid: str | None
    stan: str | None
    amount_minor: int
    currency: str
    created_at: datetime
    resolved_at: datetime | None
    cause: str | None


def recent_calls(db: Database, *, limit: int = 50, open_only: bool = False) -> list[CallView]:
    """Newest first: calls on their way or being reversed, and those reversed (with why).
    A call whose answer reached our books is not among them: its payment says it all."""
    query = (
        select(NetworkIntent, Terminal.tid)
        .outerjoin(Terminal, Terminal.id == NetworkIntent.terminal_id)
        .order_by(NetworkIntent.id.desc())
        .limit(limit)
    )
    if open_only:
        query = query.where(NetworkIntent.state != IntentState.REVERSED)
    with db.read() as s:
        return [
            CallView(i.id, i.rrn, i.network, i.action, i.state, tid, i.stan, i.amount_minor,
                     i.currency, i.created_at, i.resolved_at, i.cause)
            for i, tid in s.execute(query)
        ]  # fmt: skip
