"""E-signature upload (电子签名上送): one packet of a terminal's signature, decided by
``payments/signatures.py`` in one unit of work with its answer, which the duplicate rule
keeps (the same packet under the same STAN gets the same answer; changed, ``94``)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.signature import Packet
from tillpoint.payments import signatures
from tillpoint.payments.acquirer.desk import Desk
from tillpoint.payments.rules import Outcome, RequestKey
from tillpoint.payments.writer import Book
from tillpoint.terminals.signon import Admitted


class Signatures:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def upload(
        self, t: Admitted, key: RequestKey, rrn: str, amount_minor: int, field62: bytes
    ) -> Outcome:
        desk = self.desk
        if (early := await desk.answered_before(t, key)) is not None:
            return early
        try:
            packet: Packet | None = Packet.parse(field62)
        except FormatError:
            packet = None  # answered 30, and kept like any answer
        now = desk.ctx.now()

        def write(s: Session) -> Outcome:
            code, payment_id = signatures.receive(s, t.terminal_id, rrn, amount_minor, packet, now)
            outcome = Outcome(code, rrn)
            book = Book.of(s)
            book.keep_answer(t.terminal_id, key, outcome, payment_id, now)
            book.flush()
            return outcome

        try:
            written: Outcome = await desk.committer.submit(write)
        except IntegrityError as e:  # the same packet raced itself in (two connections)
            return await desk.write_failed(t, key, None, e)
        return written
