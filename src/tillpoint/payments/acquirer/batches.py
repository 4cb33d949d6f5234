"""A terminal's batch: its settlement (批结算) against the host's totals, and the upload
(批上送) of its lines after an unbalanced settlement, with the differences kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.core.money import Money
from tillpoint.payments import reads, rules
from tillpoint.payments.acquirer.desk import Desk
from tillpoint.payments.models import BatchDiscrepancy, BatchUpload
from tillpoint.payments.rules import BatchTotals, Outcome, RequestKey
from tillpoint.payments.writer import Book
from tillpoint.terminals.models import TerminalBatch
from tillpoint.terminals.signon import Admitted

_SETTLE = (
    update(TerminalBatch)
    .where(
        TerminalBatch.terminal_id == bindparam("b_terminal_id"),
        TerminalBatch.batch_no == bindparam("b_batch_no"),
        TerminalBatch.settled_at.is_(None),
    )
    .values(settled_at=bindparam("at"))
)
_UPLOADED = select(BatchUpload.rrn, BatchUpload.amount_minor).where(
    BatchUpload.terminal_id == bindparam("terminal_id"),
    BatchUpload.batch_no == bindparam("batch_no"),
)


class Batches:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def totals(self, terminal_id: int, batch_no: str) -> tuple[BatchTotals, BatchTotals]:
        """The host's totals of a terminal's open batch: (domestic, foreign)."""
        with self.desk.db.read() as s:
            return rules.batch_totals(reads.batch_total_rows(s, terminal_id, batch_no))

    async def settle(
        self, t: Admitted, key: RequestKey, domestic: BatchTotals, foreign: BatchTotals
    ) -> Outcome:
        """批结算: compare the terminal's totals with the host's, close the batch."""
        desk = self.desk
        if (early := await desk.answered_before(t, key)) is not None:
            return early
        host = await desk.db.read_now(self.totals, t.terminal_id, t.batch_no)
        flags = rules.settlement_flags((domestic, foreign), host)
        now = desk.ctx.now()
        outcome = Outcome("00", await desk.rrns.next(), balanced=flags)

        def write(s: Session) -> Outcome:
            book = Book.of(s)
            params = {"b_terminal_id": t.terminal_id, "b_batch_no": t.batch_no, "at": now}
            book.conn.execute(_SETTLE, params)
            book.keep_answer(t.terminal_id, key, outcome, None, now)
            book.flush()
            return outcome

        try:
            return await desk.committer.submit(write)
        finally:
            desk.app.signon.forget(t.tid)  # the next message opens the next batch

    async def upload(
        self, t: Admitted, key: RequestKey, rrn: str, processing_code: str, amount: Money
    ) -> Outcome:
        """批上送: one transaction of a settled batch, as the terminal recorded it."""
        now = self.desk.ctx.now()
        values = {"terminal_id": t.terminal_id, "batch_no": key.batch_no, "stan": key.stan,
                  "rrn": rrn, "processing_code": processing_code,
                  "amount_minor": amount.amount_minor, "created_at": now}  # fmt: skip

        def write(s: Session) -> Outcome:
            s.connection().execute(insert(BatchUpload), values)
            return Outcome("00")

        try:
            return await self.desk.committer.submit(write)
        except IntegrityError:
            return Outcome("00")  # the same line again: already kept

    async def end_upload(self, t: Admitted, key: RequestKey, count: int) -> Outcome:
        """The last 0320: compare everything uploaded with the host's records of the
        batch and keep each difference for operations to look at."""
        now = self.desk.ctx.now()

        def write(s: Session) -> Outcome:
            conn = s.connection()
            params = {"terminal_id": t.terminal_id, "batch_no": key.batch_no}
            uploaded = {rrn: int(minor) for rrn, minor in conn.execute(_UPLOADED, params)}
            host = reads.batch_amounts(conn, t.terminal_id, key.batch_no)
            found = rules.discrepancies(uploaded, host, count)
            if found:
                conn.execute(insert(BatchDiscrepancy), [_row(t, key, d, now) for d in found])
            return Outcome("00")

        return await self.desk.committer.submit(write)


def _row(t: Admitted, key: RequestKey, d: rules.Discrepancy, at: datetime) -> dict[str, object]:
    return {"terminal_id": t.terminal_id, "batch_no": key.batch_no, "rrn": d.rrn,
            "problem": d.problem, "terminal_amount_minor": d.terminal_minor,
            "host_amount_minor": d.host_minor, "created_at": at}  # fmt: skip
