"""Wallet codes a terminal scanned (被扫): the customer's Alipay, WeChat Pay or UnionPay
QR payment code in field 57, charged at the wallet like a card at its network."""

from __future__ import annotations

from tillpoint.core.money import Money
from tillpoint.networks.connector import NetworkAnswer
from tillpoint.networks.wallets import WALLET_ISSUERS, WalletRequest, wallet_for
from tillpoint.payments import rules
from tillpoint.payments.acquirer.desk import Desk
from tillpoint.payments.checkouts import Claim
from tillpoint.payments.intents import WALLET
from tillpoint.payments.models import PaymentKind
from tillpoint.payments.rules import WALLET_METHODS, Instrument, Outcome, RequestKey
from tillpoint.security.keystore import mask_pan
from tillpoint.terminals.signon import Admitted

ENTRY_SCANNED = "03"  # field 22: a code read by a scanner


class Wallets:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def sale(
        self, t: Admitted, key: RequestKey, amount: Money, code: str, checkout: Claim | None = None
    ) -> Outcome:
        """被扫: the terminal scanned the customer's payment code (field 57); ``checkout``:
        the sale's claim on the checkout it pays (4.13)."""
        desk = self.desk
        now = desk.ctx.now()
        day = desk.app.days.open_date(now)
        org = wallet_for(code)
        instrument = Instrument(
            method=WALLET_METHODS[org] if org else None,
            domestic=True,
            masked=mask_pan(code),
            token=desk.ctx.keystore.token(code, kind="wallet"),
            entry_mode=ENTRY_SCANNED,
        )
        # A wallet code is not screened for card testing: the wallet does its own.
        facts = await desk.db.read_now(desk.sale_facts, t, key, None, now, day)
        if facts.early is not None:
            return facts.early
        assert facts.limits is not None  # for mypy: read with every new request
        refusal = rules.screen(amount, org is not None, facts.limits, facts.taken_minor)
        rrn = await desk.rrns.next()
        if refusal is not None or org is None:
            outcome = Outcome((refusal or rules.Refusal.UNKNOWN_CARD).value, rrn,
                              card_org=org.value if org else None)  # fmt: skip
            return await desk.record(t, key, amount, instrument, outcome, now, day,
                                     checkout=checkout)  # fmt: skip
        verdict = desk.screen(t, rrn, PaymentKind.SALE, amount, instrument, facts.limits, now,
                              card=False)  # fmt: skip
        if verdict is not None and verdict.decline:
            outcome = Outcome(rules.Refusal.SUSPECTED_FRAUD.value, rrn, card_org=org.value)
            return await desk.record(t, key, amount, instrument, outcome, now, day,
                                     checkout=checkout, verdict=verdict)  # fmt: skip
        wallets = desk.wallets
        answer = await desk.ask(
            desk.intent(t, key, rrn, WALLET, "pay", amount, now),
            lambda: wallets.pay(WalletRequest(rrn, code, amount, t.mid, t.mcc)),
            NetworkAnswer("98", None, WALLET_ISSUERS[org]),
        )
        if answer is None:
            return await desk.taken(t, key)
        outcome = Outcome(
            answer.response_code,
            rrn,
            answer.auth_code,
            org.value,
            answer.issuer_id,
            business_date=day.isoformat(),
        )
        return await desk.record(t, key, amount, instrument, outcome, now, day, asked=True,
                                 checkout=checkout, verdict=verdict)  # fmt: skip
