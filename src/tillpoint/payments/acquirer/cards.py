"""Card authorisations: a sale, a pre-authorisation, its completion, a balance inquiry.

A sale, in order: the duplicate rule; screening (amount, card number, the PIN rule,
card testing, the merchant kind's limits); an RRN; the PIN block translated from the
terminal's PIK to the network's zone key; a chip card's 55 and PAN sequence number passed
on as they came (the issuer verifies the ARQC, and its 55, the ARPC, goes back in the
answer: nothing of the chip is computed here); the call noted durably
(``payments/intents.py``); the network's decision, or 98 when it does not come in time;
then the payment, its first event, its entry, the terminal's answer and the note's
removal are written in one unit of work through group commit, and only then does the
answer go back. Declined attempts are recorded too: they are history and risk signals.
"""

from __future__ import annotations

import asyncio

from tillpoint.core.errors import InvalidInput
from tillpoint.core.money import Money
from tillpoint.networks.bins import CardInfo, Funding, classify
from tillpoint.networks.connector import AuthKind, CardRequest, ChipData, NetworkAnswer
from tillpoint.payments import reads, rules
from tillpoint.payments.acquirer.desk import Desk
from tillpoint.payments.checkouts import Claim
from tillpoint.payments.intents import CARD
from tillpoint.payments.models import PaymentKind
from tillpoint.payments.rules import Card, Instrument, Outcome, RequestKey
from tillpoint.payments.writer import After
from tillpoint.security import tdes
from tillpoint.security.keystore import mask_pan
from tillpoint.terminals.signon import Admitted


def chip_of(card: Card) -> ChipData | None:
    """What the issuer gets of a card read from its chip (None: not read so)."""
    return None if card.icc is None else ChipData(card.psn, card.icc)


def issuer_icc(answer: NetworkAnswer) -> str | None:
    """The issuer's 55, as the answer (and the duplicate rule's copy of it) keeps it."""
    return None if answer.icc is None else answer.icc.hex()


class Cards:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def sale(
        self,
        t: Admitted,
        key: RequestKey,
        amount: Money,
        card: Card,
        kind: PaymentKind = PaymentKind.SALE,
        *,
        checkout: Claim | None = None,
    ) -> Outcome:
        """A sale, or (``kind=PREAUTH``) a pre-authorisation that only holds the funds;
        ``checkout``: the sale's claim on the checkout it pays (4.13)."""
        desk = self.desk
        now = desk.ctx.now()
        day = desk.app.days.open_date(now)
        info = classify(card.pan)
        instrument = self.instrument(card, info, amount)  # the card's token, once
        facts = await desk.db.read_now(desk.sale_facts, t, key, instrument.token, now, day)
        if facts.early is not None:
            return facts.early
        assert facts.limits is not None  # for mypy: read with every new request
        refusal = rules.screen(
            amount, info is not None, facts.limits, facts.taken_minor,
            entry_mode=card.entry_mode, has_pin=card.pin_block is not None,
            recent_refusals=facts.recent_refusals,
        )  # fmt: skip
        rrn = await desk.rrns.next()
        if refusal is not None or info is None:
            outcome = Outcome((refusal or rules.Refusal.UNKNOWN_CARD).value, rrn,
                              card_org=info.org.value if info else None)  # fmt: skip
            return await desk.record(t, key, amount, instrument, outcome, now, day, kind,
                                     checkout=checkout)  # fmt: skip
        verdict = desk.screen(t, rrn, kind, amount, instrument, facts.limits, now, card=True,
                              credit=info.funding is Funding.CREDIT)  # fmt: skip
        if verdict is not None and verdict.decline:
            outcome = Outcome(rules.Refusal.SUSPECTED_FRAUD.value, rrn, card_org=info.org.value)
            return await desk.record(t, key, amount, instrument, outcome, now, day, kind,
                                     checkout=checkout, verdict=verdict)  # fmt: skip
        request = CardRequest(
            network_ref=rrn,
            pan=card.pan,
            expiry=card.expiry or "",
            amount=amount,
            kind=AuthKind.PREAUTH if kind is PaymentKind.PREAUTH else AuthKind.SALE,
            entry_mode=card.entry_mode,
            mcc=t.mcc,
            mid=t.mid,
            pin_block=self.pin_for_network(t, card),
            chip=chip_of(card),
            fee_class=instrument.method.value if instrument.method else "",
        )
        network = desk.network
        answer = await desk.ask(
            desk.intent(t, key, rrn, CARD, kind.value, amount, now),
            lambda: network.authorise(request),
            NetworkAnswer("98", info.org, info.issuer_id),
        )
        if answer is None:
            return await desk.taken(t, key)
        outcome = Outcome(
            answer.response_code,
            rrn,
            answer.auth_code,
            (answer.card_org or info.org).value,
            answer.issuer_id or info.issuer_id,
            business_date=day.isoformat(),
            icc=issuer_icc(answer),
        )
        return await desk.record(t, key, amount, instrument, outcome, now, day, kind, asked=True,
                                 checkout=checkout, verdict=verdict)  # fmt: skip

    async def balance(self, t: Admitted, card: Card) -> Outcome:
        """查余额: not a payment; nothing is recorded but the log line."""
        desk = self.desk
        info = classify(card.pan)
        if info is None:
            return Outcome(rules.Refusal.UNKNOWN_CARD.value)
        if card.pin_block is None:
            return Outcome(rules.Refusal.PIN_REQUIRED.value, card_org=info.org.value)
        rrn = await desk.rrns.next()
        request = CardRequest(
            network_ref=rrn,
            pan=card.pan,
            expiry=card.expiry or "",
            amount=Money(0),
            kind=AuthKind.BALANCE,
            entry_mode=card.entry_mode,
            mcc="",
            mid="",
            pin_block=self.pin_for_network(t, card),
            chip=chip_of(card),
        )
        try:  # nothing is held: nothing to note or undo
            async with asyncio.timeout(desk.network_timeout_s):
                answer = await desk.network.authorise(request)
        except TimeoutError:
            answer = NetworkAnswer("98", info.org, info.issuer_id)
        return Outcome(
            answer.response_code,
            rrn,
            card_org=info.org.value,
            issuer_id=answer.issuer_id or info.issuer_id,
            balance_minor=answer.balance.amount_minor if answer.balance else None,
            icc=issuer_icc(answer),
        )

    async def complete(
        self, t: Admitted, key: RequestKey, amount: Money, auth_code: str, card: Card
    ) -> Outcome:
        """预授权完成: capture a pre-authorisation of this merchant (named by its
        authorization code and card) within 30 days, for at most 115% of the hold."""
        desk = self.desk
        if (early := await desk.answered_before(t, key)) is not None:
            return early
        now = desk.ctx.now()
        day = desk.app.days.open_date(now)
        info = classify(card.pan)
        instrument = self.instrument(card, info, amount)  # the card's token, once
        hold = await desk.db.read_now(self._hold, t, auth_code, instrument.token)
        # A card no organisation issues has no hold either.
        refusal = rules.completion_refusal(hold if info else None, day, amount.amount_minor)
        if refusal is not None:
            return await desk.record_answer(t, key, Outcome(refusal.value))
        assert hold is not None  # for mypy: no refusal
        assert info is not None
        rrn = await desk.rrns.next()
        network, chip = desk.network, chip_of(card)
        fee_class = instrument.method.value if instrument.method else ""
        answer = await desk.ask(
            desk.intent(t, key, rrn, CARD, "capture", amount, now),
            lambda: network.capture(hold.rrn, rrn, amount, chip, fee_class),
            NetworkAnswer("98", info.org, info.issuer_id),
        )
        if answer is None:
            return await desk.taken(t, key)
        outcome = Outcome(
            answer.response_code,
            rrn,
            answer.auth_code or auth_code,
            hold.card_org,
            answer.issuer_id or info.issuer_id,
            business_date=day.isoformat(),
            icc=issuer_icc(answer),
        )
        return await desk.record(
            t, key, amount, instrument, outcome, now, day,
            PaymentKind.COMPLETION, hold.id, After.COMPLETE, asked=True,
        )  # fmt: skip

    def _hold(self, t: Admitted, auth_code: str, pan_token: str) -> rules.Original | None:
        with self.desk.db.read() as s:
            return reads.hold(s, t.merchant_id, auth_code, pan_token)

    def instrument(self, card: Card, info: CardInfo | None, amount: Money) -> Instrument:
        return Instrument(
            method=rules.payment_method(info, card.entry_mode, amount) if info else None,
            domestic=info.domestic if info else None,
            masked=mask_pan(card.pan),
            token=self.desk.ctx.keystore.token(card.pan),
            entry_mode=card.entry_mode,
        )

    def pin_for_network(self, t: Admitted, card: Card) -> bytes | None:
        """The PIN block re-encrypted from the PIK to the zone PIN key; a block that does
        not decrypt to a valid format 0 block goes on as an all-zero block, which the
        issuer refuses as a wrong PIN."""
        if card.pin_block is None:
            return None
        try:
            return tdes.translate_pin_block(t.pik, self.desk.zpk, card.pin_block, card.pan)
        except InvalidInput:
            return bytes(8)
