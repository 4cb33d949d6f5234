"""Refunds (退货): money back on a capture of this merchant, with the same card."""

from __future__ import annotations

from tillpoint.core.money import Money
from tillpoint.networks.connector import NetworkAnswer
from tillpoint.payments import reads, rules
from tillpoint.payments.acquirer.desk import Desk
from tillpoint.payments.models import PaymentKind
from tillpoint.payments.rules import Card, Instrument, Outcome, RequestKey
from tillpoint.payments.writer import After
from tillpoint.terminals.signon import Admitted

ENTRY_SCANNED = "03"  # field 22: a code read by a scanner


class Refunds:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def refund(
        self, t: Admitted, key: RequestKey, amount: Money, rrn: str, card: Card
    ) -> Outcome:
        """退货: money back on a sale or completion of this merchant, with the same card,
        within 30 days; all refunds together never exceed the original amount."""
        desk = self.desk
        if (early := await desk.answered_before(t, key)) is not None:
            return early
        if amount.amount_minor <= 0:
            return Outcome(rules.Refusal.AMOUNT.value)  # not kept: nothing to look up
        now = desk.ctx.now()
        day = desk.app.days.open_date(now)
        original = await desk.db.read_now(self._refundable, t, rrn)
        # A scanned code (entry 03, field 57) is tokenised as a wallet code; the digits
        # alone cannot tell (a UnionPay QR code looks like a 19-digit UnionPay card).
        kind = "wallet" if card.entry_mode == ENTRY_SCANNED else "pan"
        token = desk.ctx.keystore.token(card.pan, kind=kind)
        refusal = rules.refund_refusal(original, token, day, amount.amount_minor)
        if refusal is not None:
            return await desk.record_answer(t, key, Outcome(refusal.value))
        assert original is not None  # for mypy: no refusal
        new_rrn = await desk.rrns.next()
        network = desk.network_of(original.card_org)
        answer = await desk.ask(
            desk.intent(t, key, new_rrn, rules.network_name(original.card_org), "refund",
                        amount, now),
            lambda: network.refund(original.rrn, new_rrn, amount),
            NetworkAnswer("98", None),
        )  # fmt: skip
        if answer is None:
            return await desk.taken(t, key)
        outcome = Outcome(
            answer.response_code,
            new_rrn,
            answer.auth_code,
            original.card_org,
            answer.issuer_id,
            business_date=day.isoformat(),
        )
        instrument = Instrument(
            original.method,
            original.domestic,
            original.pan_masked or "",
            original.pan_token or "",
            card.entry_mode,
        )
        return await desk.record(
            t, key, amount, instrument, outcome, now, day, PaymentKind.REFUND, original.id,
            After.CREDIT, asked=True,
        )  # fmt: skip

    def _refundable(self, t: Admitted, rrn: str) -> rules.Original | None:
        with self.desk.db.read() as s:
            return reads.capture_by_rrn(s, t.merchant_id, rrn)
