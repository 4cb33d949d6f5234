"""Voids and reversals: undoing a payment of the open batch at the network and on our
books (its transition, its entry negated, a completion's hold put back)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.core.money import Money
from tillpoint.networks.connector import NetworkAnswer
from tillpoint.payments import reads, rules
from tillpoint.payments.acquirer.desk import Desk
from tillpoint.payments.checkouts import reopen_reversed
from tillpoint.payments.intents import intent_for, reversed_before_original, take, to_reverse
from tillpoint.payments.models import PaymentKind, PaymentStatus
from tillpoint.payments.rules import Outcome, RequestKey
from tillpoint.payments.writer import Book
from tillpoint.terminals.signon import Admitted


class Voids:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def void(
        self,
        t: Admitted,
        key: RequestKey,
        amount: Money,
        rrn: str,
        kind: PaymentKind = PaymentKind.SALE,
    ) -> Outcome:
        """消费撤销 (and 预授权撤销, 完成撤销): a sale or completion of this terminal's open
        batch, or a pre-authorisation of this terminal, in full, undone at the network."""
        desk = self.desk
        if (early := await desk.answered_before(t, key)) is not None:
            return early
        original = await desk.db.read_now(self._original, t, rrn, kind)
        refusal = rules.void_refusal(original, amount.amount_minor)
        if refusal is not None:
            return await desk.record_answer(t, key, Outcome(refusal.value))
        assert original is not None  # for mypy: no refusal
        new_rrn = await desk.rrns.next()
        network = desk.network_of(original.card_org)
        answer = await desk.ask(
            desk.intent(t, key, new_rrn, rules.network_name(original.card_org), "void",
                        amount, desk.ctx.now()),
            lambda: network.cancel(original.rrn, new_rrn),
            NetworkAnswer("98", None),
        )  # fmt: skip
        if answer is None:
            return await desk.taken(t, key)
        outcome = Outcome(
            answer.response_code,
            new_rrn,
            original.auth_code,
            original.card_org,
            business_date=desk.app.days.open_date().isoformat(),
        )
        to = PaymentStatus.VOIDED if answer.approved else None
        # 完成撤销 puts the hold back, so that it can be completed again.
        hold_to = PaymentStatus.APPROVED if kind is PaymentKind.COMPLETION and to else None
        return await desk.record_answer(t, key, outcome, original.id, to, hold_to, asked=True)

    def _original(self, t: Admitted, rrn: str, kind: PaymentKind) -> rules.Original | None:
        with self.desk.db.read() as s:
            return reads.original_in_batch(s, t.terminal_id, t.batch_no, rrn, kind)

    async def reverse(self, t: Admitted, key: RequestKey, original_mti: str) -> Outcome:
        """冲正: undo whatever the request with this STAN did; always answered 00, the
        same every time, and an original that arrives later is refused.

        What to undo is decided and written first, in one unit of work with the answer:
        the payment moved, or the call the original made (whose answer is not on our
        books) taken for reversal, or, when no call was made yet, a note that refuses the
        original. The network hears of it afterwards, and again from ``Intents.recover``
        if the host stops in between."""
        desk = self.desk
        repeat = await desk.db.read_now(self._prior_reversal, t.terminal_id, key)
        if repeat is not None:
            return repeat
        now = desk.ctx.now()
        day = desk.app.days.open_date(now)
        original_key = (t.terminal_id, key.batch_no, key.stan, original_mti)
        cause = f"{key.mti} stan {key.stan} rc 00"
        currency = desk.ctx.settings.currency

        def write(s: Session) -> tuple[Outcome, list[int]]:
            book = Book.of(s)
            conn = book.conn
            # The original's call first, locked: its own write removes it with the
            # payment, so either the call is still ours to take, or the payment is found.
            call = intent_for(conn, original_key)
            if call is not None:
                outcome = Outcome("00", call.rrn)
                book.keep_answer(t.terminal_id, key, outcome, None, now)
                book.flush()
                return outcome, take(conn, call, cause)
            found = reads.answered_in(conn, t.terminal_id, key, original_mti)
            if found is None:
                reversed_before_original(conn, original_key, currency, now)
                book.keep_answer(t.terminal_id, key, Outcome("00"), None, now)
                book.flush()
                return Outcome("00"), []
            original, answered_rrn = found
            payment = book.load([original.id])[original.id]  # locked, as it stands
            ids = []
            undo = rules.reversal(payment, answered_rrn)
            if undo is not None:
                book.undo(payment, undo.to, undo.hold_to, cause, now, day, t.mid, t.batch_id)
                if payment.kind is PaymentKind.SALE:  # the checkout it paid waits again
                    reopen_reversed(conn, payment.id, now)
                amount = Money(payment.amount_minor, payment.currency)
                network = rules.network_name(payment.card_org)
                ids.append(to_reverse(conn, undo.rrn, network, "reversal", amount, now))
            outcome = Outcome("00", original.rrn)
            book.keep_answer(t.terminal_id, key, outcome, original.id, now)
            book.flush()
            return outcome, ids

        try:
            outcome, ids = await desk.committer.submit(write)
        except IntegrityError:  # the same reversal raced itself: the first answer stands
            prior = await desk.db.read_now(self._prior_reversal, t.terminal_id, key)
            return prior or Outcome(rules.Refusal.HOST_ERROR.value)
        desk.day_totals.forget(t.merchant_id)
        await desk.intents.undo(ids)
        return outcome

    def _prior_reversal(self, terminal_id: int, key: RequestKey) -> Outcome | None:
        """A reversal repeated for whatever reason (even another reason code) gets the
        first one's answer."""
        with self.desk.db.read() as s:
            found = reads.stored_answer(s, terminal_id, key)
        return None if found is None else Outcome.from_json(found[1])
