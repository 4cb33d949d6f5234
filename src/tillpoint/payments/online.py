"""Payments that do not come from a POS terminal over ISO 8583: the REST API's.

- Customer-presented codes (被扫): the merchant's app scanned the customer's wallet
  code; the wallet answers at once.
- Merchant-presented codes (主扫): the wallet opens an order and gives a QR code; the
  payment is ``pending`` until the customer pays or refuses in the wallet app (the wallet
  notifies us), the merchant cancels it, or its deadline passes (``expire_due``).
- Refunds, partial and repeated, of any captured payment of the merchant (wallet or
  card: a card refund needs only the original's reference, never the card number).

Card payments themselves only ever come from a terminal. Each change is one unit of
work, written by the payment writer the terminal host uses (``payments/writer.py``):
the payment, its event (the outbox of webhooks and live streams) and, when money
moves, its ledger entry. Every call to a wallet or network that may move money is
noted first and its note removed by the payment's write, as the terminal host does
(``payments/intents.py``): what does not reach our books is reversed there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.merchants.limits import limits_for
from tillpoint.merchants.models import (
    Merchant,
    MerchantKind,
    MerchantStatus,
    PaymentMethod,
    Shop,
    ShopStatus,
)
from tillpoint.merchants.services import find_shop
from tillpoint.networks.connector import NetworkAnswer
from tillpoint.networks.wallets import WALLET_ISSUERS, WalletOrg, WalletRequest, wallet_for
from tillpoint.payments import reads, rules
from tillpoint.payments.acquirer import Acquirer
from tillpoint.payments.intents import WALLET, Intent, claim
from tillpoint.payments.models import Channel, Payment, PaymentKind, PaymentStatus, QrFlow
from tillpoint.payments.rules import (
    CAPTURES,
    REFUND_WINDOW_DAYS,
    REFUNDABLE,
    WALLET_METHODS,
    Limits,
    Original,
    network_name,
    status_of,
)
from tillpoint.payments.screening import Attempt, Verdict
from tillpoint.payments.views import PaymentView, payment_view, payment_views
from tillpoint.payments.writer import After, Book, NewPayment, PaymentRow
from tillpoint.security.keystore import mask_pan
from tillpoint.terminals.models import Terminal, TerminalStatus

log = logging.getLogger("tillpoint.payments")
T = TypeVar("T")

QR_EXPIRY_DEFAULT = timedelta(minutes=5)
QR_EXPIRY_RANGE = (timedelta(minutes=1), timedelta(hours=2))
ENTRY_SCANNED = "03"  # field 22: a code read by a scanner
ENTRY_QR_SHOWN = "QR"  # a code the customer scanned: no field 22 value exists for it
TRADING = (MerchantStatus.APPROVED,)


@dataclass(frozen=True)
class Place:
    """Where a payment is taken: the merchant, its shop and perhaps a terminal."""

    merchant_id: int
    mid: str
    merchant_name: str
    shop_id: int
    terminal_id: int | None
    kind: MerchantKind
    mcc: str
    limits: Limits


@dataclass(frozen=True)
class QrPayment:
    """A new payment; for a merchant-presented one, the QR code's content too."""

    payment: PaymentView
    qr_code: str | None


class OnlinePayments:
    def __init__(self, acquirer: Acquirer) -> None:
        self.acquirer = acquirer
        self.app = acquirer.app
        self.ctx = acquirer.app.ctx
        self.wallets = acquirer.wallets
        self.wallets.listen(self._notified)
        self._refunding: dict[int, asyncio.Lock] = {}

    # --- reading ----------------------------------------------------------------------

    def get(self, payment_id: int, *, merchant_id: int | None = None) -> PaymentView:
        with self.ctx.db.read() as s:
            return payment_view(s, visible_payment(s, payment_id, merchant_id))

    def search(
        self,
        *,
        merchant_id: int | None = None,
        kind: PaymentKind | None = None,
        status: PaymentStatus | None = None,
        channel: Channel | None = None,
        business_date: date | None = None,
        original_id: int | None = None,
        refunds: bool | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[PaymentView]:
        """Newest first."""
        query = select(Payment).order_by(Payment.id.desc()).limit(limit)
        for column, value in (
            (Payment.merchant_id, merchant_id),
            (Payment.kind, kind),
            (Payment.status, status),
            (Payment.channel, channel),
            (Payment.business_date, business_date),
            (Payment.original_id, original_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if refunds is not None:
            query = query.where(
                Payment.kind == PaymentKind.REFUND
                if refunds
                else Payment.kind != PaymentKind.REFUND
            )
        if before_id is not None:
            query = query.where(Payment.id < before_id)
        with self.ctx.db.read() as s:
            return payment_views(s, s.scalars(query))

    # --- customer-presented (被扫) ---------------------------------------------------------

    async def pay_with_code(
        self,
        merchant_id: int,
        amount: Money,
        code: str,
        *,
        shop_number: int | None = None,
        tid: str | None = None,
        reference: str | None = None,
    ) -> QrPayment:
        """Charge the customer's wallet code now; the answer is final (succeeded or
        failed) when this returns."""
        code = code.strip()
        org = wallet_for(code)
        if org is None:
            raise InvalidInput(
                "payment.code_unknown",
                N_("That is not an Alipay, WeChat Pay or UnionPay QR payment code"),
            )
        place, refusal, day, now = await asyncio.to_thread(
            self._admit, merchant_id, amount, shop_number, tid
        )
        rrn = await self.acquirer.rrns.next()
        verdict = None
        if refusal is None:
            verdict = await asyncio.to_thread(self._screen, place, amount, rrn, now, org)
            if verdict is not None and verdict.decline:
                refusal = rules.Refusal.SUSPECTED_FRAUD.value
        answer: NetworkAnswer | None = NetworkAnswer(refusal, None) if refusal else None
        if answer is None:
            answer = await self.acquirer.ask(
                Intent(rrn, WALLET, "pay", amount, now),
                lambda: self.wallets.pay(WalletRequest(rrn, code, amount, place.mid, place.mcc)),
                NetworkAnswer("98", None, WALLET_ISSUERS[org]),
            ) or NetworkAnswer("96", None)  # (None only for a terminal's request key)
        return await self._recorded(
            rrn,
            answer.approved and refusal is None,
            self._write_new,
            place,
            amount,
            org,
            rrn,
            answer,
            day,
            now,
            QrFlow.CUSTOMER_PRESENTED,
            reference,
            mask_pan(code),
            self.ctx.keystore.token(code, kind="wallet"),
            None,
            asked=refusal is None,
            verdict=verdict,
        )

    # --- merchant-presented (主扫) ---------------------------------------------------------

    async def create_qr(
        self,
        merchant_id: int,
        amount: Money,
        *,
        shop_number: int | None = None,
        tid: str | None = None,
        reference: str | None = None,
        expires_in: timedelta = QR_EXPIRY_DEFAULT,
    ) -> QrPayment:
        """Open a pending payment and the QR code the customer scans with any wallet."""
        low, high = QR_EXPIRY_RANGE
        if not low <= expires_in <= high:
            raise InvalidInput(
                "payment.expires_in",
                N_("A QR code lives from {low} to {high} seconds"),
                low=int(low.total_seconds()),
                high=int(high.total_seconds()),
            )
        place, refusal, day, now = await asyncio.to_thread(
            self._admit, merchant_id, amount, shop_number, tid
        )
        if refusal is not None:
            raise Refused(
                "payment.over_limit",
                N_("The amount is over the merchant's limits (per payment or per day)"),
            )
        rrn = await self.acquirer.rrns.next()
        verdict = await asyncio.to_thread(self._screen, place, amount, rrn, now, None)
        if verdict is not None and verdict.decline:
            await asyncio.to_thread(self._keep_alone, verdict)
            raise Refused("payment.risk_declined", N_("Risk screening declined this payment (59)"))
        expires_at = now + expires_in
        payload = ""

        async def precreate() -> NetworkAnswer:
            nonlocal payload
            payload = await self.wallets.precreate(
                rrn, amount, place.merchant_name, expires_at, place.mid, place.mcc
            )
            return NetworkAnswer("00", None)

        opened = await self.acquirer.ask(
            Intent(rrn, WALLET, "order", amount, now), precreate, NetworkAnswer("98", None)
        )
        if opened is None or not opened.approved:
            self.acquirer.reverse_in_background(rrn)
            raise Refused("payment.wallet_unavailable", N_("The wallet did not answer in time"))
        return await self._recorded(
            rrn,
            True,
            self._write_new,
            place,
            amount,
            None,
            rrn,
            None,
            day,
            now,
            QrFlow.MERCHANT_PRESENTED,
            reference,
            None,
            None,
            expires_at,
            payload,
            asked=True,
            verdict=verdict,
        )

    async def _notified(self, rrn: str, org: WalletOrg, answer: NetworkAnswer) -> None:
        """The wallet says the customer paid or refused. A payment for an order that is
        not on our books (its write failed) is given back at once."""
        known = await asyncio.to_thread(self._settle_pending, rrn, answer, org)
        if not known and answer.approved:
            log.warning(json.dumps({"event": "paid_order_not_on_our_books", "rrn": rrn}))
            await self.wallets.reverse(rrn)

    async def cancel(self, payment_id: int, *, merchant_id: int | None = None) -> PaymentView:
        """Close a pending QR payment before the customer pays. If the customer paid in
        the meantime the payment has succeeded, and stays so (refund it instead)."""
        view = self.get(payment_id, merchant_id=merchant_id)
        if view.host_status is not PaymentStatus.PENDING:
            raise Refused(
                "payment.not_pending",
                N_("Payment {id} is {status}: only a pending payment can be canceled"),
                id=payment_id,
                status=view.host_status,
            )
        answer = await self.wallets.close(view.rrn)
        if answer.response_code in ("00", "25"):
            await asyncio.to_thread(self._close_pending, view.rrn, PaymentStatus.CANCELED)
        return self.get(payment_id, merchant_id=merchant_id)

    async def expire_due(self) -> int:
        """Close the pending QR payments whose time is up; how many were closed."""
        now = self.ctx.now()
        with self.ctx.db.read() as s:
            due = list(
                s.scalars(
                    select(Payment.rrn).where(
                        Payment.status == PaymentStatus.PENDING, Payment.expires_at <= now
                    )
                )
            )
        closed = 0
        for rrn in due:
            answer = await self.wallets.close(rrn)
            if answer.response_code in ("00", "25"):
                closed += await asyncio.to_thread(self._close_pending, rrn, PaymentStatus.EXPIRED)
        return closed

    # --- refunds ----------------------------------------------------------------------

    async def refund(
        self,
        payment_id: int,
        amount: Money | None = None,
        *,
        merchant_id: int | None = None,
        reference: str | None = None,
        seen_refunded_minor: int | None = None,
    ) -> PaymentView:
        """Give back ``amount`` (all that is left, if None) of a captured payment, within
        30 days; all refunds together never exceed what was captured.

        ``seen_refunded_minor``: how much of it was refunded when the person asking saw
        it (a page's form). Given, the refund is made only while that is still so: the
        same form sent twice, or after another refund, refunds nothing more."""
        now = self.ctx.now()
        with self.ctx.db.read() as s:
            original = visible_payment(s, payment_id, merchant_id)
        self._check_seen(original, seen_refunded_minor)
        if original.kind not in CAPTURES or original.status not in REFUNDABLE:
            raise Refused(
                "payment.not_refundable",
                N_("Payment {id} is {status}: only a captured payment can be refunded"),
                id=payment_id,
                status=original.status,
            )
        left = original.amount_minor - original.refunded_minor
        wanted = Money(left, original.currency) if amount is None else amount
        if wanted.currency != original.currency:
            raise InvalidInput(
                "refund.currency",
                N_("Refund in {currency}, the payment's currency"),
                currency=original.currency,
            )
        if not 0 < wanted.amount_minor <= left:
            raise Refused(
                "refund.too_much",
                N_("At most {left} can still be refunded on payment {id}"),
                left=Money(left, original.currency).format(),
                id=payment_id,
            )
        day = self.app.days.open_date(now)
        if (day - original.business_date).days > REFUND_WINDOW_DAYS:
            raise Refused(
                "refund.too_late",
                N_("Refunds are possible for {days} days after a payment"),
                days=REFUND_WINDOW_DAYS,
            )
        network = self.acquirer.network_of(original.card_org)
        async with self._refunding.setdefault(original.id, asyncio.Lock()):
            if seen_refunded_minor is not None:  # a refund may have been made meanwhile
                with self.ctx.db.read() as s:
                    self._check_seen(visible_payment(s, payment_id, merchant_id),
                                     seen_refunded_minor)  # fmt: skip
            rrn = await self.acquirer.rrns.next()
            try:
                answer = await self.acquirer.ask(
                    Intent(rrn, network_name(original.card_org), "refund", wanted, now),
                    lambda: network.refund(original.rrn, rrn, wanted),
                    NetworkAnswer("98", None),
                ) or NetworkAnswer("96", None)  # (None only for a terminal's request key)
                # Refused when another process refunded it meanwhile: given back too.
                return await self._recorded(
                    rrn, answer.approved, self._write_refund, original.id, wanted, rrn, answer,
                    reference, seen_refunded_minor,
                )  # fmt: skip
            finally:
                self._refunding.pop(original.id, None)

    @staticmethod
    def _check_seen(original: Payment | Original, seen_refunded_minor: int | None) -> None:
        if seen_refunded_minor is not None and original.refunded_minor != seen_refunded_minor:
            raise Refused(
                "refund.changed",
                N_("Payment {id} was refunded meanwhile (perhaps this same form, sent twice): "
                   "nothing more was refunded. Look at it again before refunding."),
                id=original.id,
            )  # fmt: skip

    async def _recorded(
        self, rrn: str, approved: bool, write: Callable[..., T], *args: Any, **kw: Any
    ) -> T:
        """Write what a call answered (in a thread); a call the network approved whose
        write fails is reversed there before the error goes on, and one unanswered (98)
        is reversed in the background."""
        try:
            result = await asyncio.to_thread(write, *args, **kw)
        except Exception:
            if approved:
                await self.acquirer.intents.reverse_open(rrn, "the host could not record it")
            raise
        view = result.payment if isinstance(result, QrPayment) else result
        if isinstance(view, PaymentView) and view.response_code == "98":
            self.acquirer.reverse_in_background(rrn)
        self.acquirer.desk.acted(kw.get("verdict"))
        return result

    def _screen(
        self, place: Place, amount: Money, rrn: str, now: datetime, org: WalletOrg | None
    ) -> Verdict | None:
        """Risk screening of an API payment (payments/screening.py): a wallet's, which
        has no card to count."""
        screener = self.app.screener
        if screener is None:
            return None
        with self.ctx.db.quick_read() as conn:
            screener.catch_up(conn, place.terminal_id)
        return screener.screen(
            Attempt(
                now, rrn, PaymentKind.SALE, Channel.API, place.merchant_id, place.kind,
                place.mcc, place.terminal_id, amount.amount_minor,
                WALLET_METHODS[org] if org else None, None, None, None, False, place.limits,
            )
        )  # fmt: skip

    def _keep_alone(self, verdict: Verdict) -> None:
        """A decision on a payment that is not recorded (a QR code never opened)."""
        if verdict.keep is not None:
            with self.ctx.db.transaction(invalidate=False) as s:
                verdict.keep(s.connection(), None)

    # --- units of work ----------------------------------------------------------------

    def _admit(
        self, merchant_id: int, amount: Money, shop_number: int | None, tid: str | None
    ) -> tuple[Place, str | None, date, datetime]:
        """Where the payment is taken, and a refusal code when the merchant's limits
        forbid it (61), as the host applies them to terminals."""
        rules.check_amount(amount, self.ctx.settings.currency)
        now = self.ctx.now()
        day = self.app.days.open_date(now)
        with self.ctx.db.read() as s:
            merchant = s.get(Merchant, merchant_id)
            if merchant is None or merchant.mid is None:
                raise NotFound("merchant.not_found", N_("No merchant {ref}"), ref=merchant_id)
            if merchant.status not in TRADING:
                raise Refused(
                    "merchant.not_trading",
                    N_("Merchant {ref} is {status}: it cannot take payments"),
                    ref=merchant.mid,
                    status=merchant.status,
                )
            terminal_id, shop = None, None
            if tid is not None:
                terminal = s.execute(
                    select(Terminal).where(Terminal.tid == tid, Terminal.merchant_id == merchant.id)
                ).scalar_one_or_none()
                if terminal is None:
                    raise NotFound("terminal.not_found", N_("No terminal {tid}"), tid=tid)
                if terminal.status is not TerminalStatus.ACTIVE:
                    raise Refused(
                        "terminal.not_active",
                        N_("Terminal {tid} is {status}"),
                        tid=tid,
                        status=terminal.status,
                    )
                terminal_id = terminal.id
                shop = s.get(Shop, terminal.shop_id) if terminal.shop_id else None
                if shop_number is not None and (shop is None or shop.number != shop_number):
                    raise InvalidInput(
                        "payment.shop_terminal",
                        N_("Terminal {tid} is not in shop {number}"),
                        tid=tid,
                        number=shop_number,
                    )
            if shop is None:
                shop = find_shop(s, merchant, shop_number)
            if shop.status is not ShopStatus.OPEN:
                raise Refused("shop.closed", N_("Shop {number} is closed"), number=shop.number)
            kind = limits_for(s, merchant.kind)
            limits = Limits(kind.per_txn_limit_minor, kind.daily_limit_minor)
            taken = reads.taken_on_day(s, merchant.id, day)
            over = rules.over_limit(amount.amount_minor, limits, taken)
            place = Place(
                merchant.id,
                merchant.mid,
                merchant.display_name,
                shop.id,
                terminal_id,
                merchant.kind,
                merchant.mcc,
                limits,
            )
            return place, "61" if over else None, day, now

    def _write_new(
        self,
        place: Place,
        amount: Money,
        org: WalletOrg | None,
        rrn: str,
        answer: NetworkAnswer | None,
        day: date,
        now: datetime,
        flow: QrFlow,
        reference: str | None,
        masked: str | None,
        token: str | None,
        expires_at: datetime | None,
        qr_code: str | None = None,
        *,
        asked: bool = False,
        verdict: Verdict | None = None,
    ) -> QrPayment:
        """``asked``: the wallet was asked under ``rrn``; the call's note is removed here,
        or, if it was taken for reversal meanwhile, the payment is not charged (98)."""
        if answer is None:
            status, code = PaymentStatus.PENDING, "00"
        else:
            status, code = status_of(answer.response_code), answer.response_code
        method = WALLET_METHODS[org] if org else None
        with self.ctx.db.transaction(invalidate=False) as s:
            fee_minor = self._fee(s, place.merchant_id, PaymentKind.SALE, status, method,
                                  amount, day)  # fmt: skip
            row = PaymentRow(
                0, PaymentKind.SALE, status, code, place.merchant_id, place.shop_id,
                place.terminal_id, None, None, rrn, answer.auth_code if answer else None,
                amount.amount_minor, amount.currency, method, org.value if org else None, True,
                masked, token,
                ENTRY_SCANNED if flow is QrFlow.CUSTOMER_PRESENTED else ENTRY_QR_SHOWN, day,
                None, 0, fee_minor, Channel.API, flow, reference, expires_at, qr_code, now, now,
            )  # fmt: skip
            book = Book.of(s)
            memo = f"api sale {rrn}"
            new = NewPayment(row, f"api {flow.value}", place.mid, asked, memo=memo, verdict=verdict)
            [recorded] = book.record([new])
            book.flush()
            return QrPayment(payment_view(s, s.get_one(Payment, recorded.row.id)), qr_code)

    @staticmethod
    def _fee(
        s: Session,
        merchant_id: int,
        kind: PaymentKind,
        status: PaymentStatus,
        method: PaymentMethod | None,
        amount: Money,
        day: date,
    ) -> int:
        """The fee of the plan in force that day (rounded once), for a capture."""
        if status is not PaymentStatus.APPROVED or kind not in CAPTURES:
            return 0
        _, rates = reads.rates_in_force(s, merchant_id, day)
        return rules.fee_minor(kind, status, method, amount, rates)

    def _settle_pending(self, rrn: str, answer: NetworkAnswer, org: WalletOrg) -> bool:
        """Whether the order's payment is on our books."""
        now = self.ctx.now()
        with self.ctx.db.transaction(invalidate=False) as s:
            book = Book.of(s)
            p = book.load_rrn(rrn)
            if p is None or p.status is not PaymentStatus.PENDING:
                log.warning("wallet result for %s, which is not pending: ignored", rrn)
                return p is not None
            status = status_of(answer.response_code)
            method, amount = WALLET_METHODS[org], Money(p.amount_minor, p.currency)
            # The payment belongs to the day its answer came, not the day its code was
            # shown: a code paid after the cut-off is the next day's money (and the
            # wallet clears it then), never a line on a day already settled.
            day = self.app.days.open_date(now)
            fee_minor = self._fee(s, p.merchant_id, p.kind, status, method, amount, day)
            book.answer_pending(p.id, answer.response_code, answer.auth_code, method,
                                org.value, fee_minor, day)  # fmt: skip
            book.move(p.id, status, f"wallet {org.value} rc {answer.response_code}", now)
            if status is PaymentStatus.APPROVED:
                entry = rules.entry_of(p.kind, status, org.value, self._mid(s, p.merchant_id),
                                       p.amount_minor, fee_minor)  # fmt: skip
                book.post(entry, day, now, f"api sale {rrn}", p.id, p.currency)
            book.flush()
            return True

    def _close_pending(self, rrn: str, to: PaymentStatus) -> int:
        now = self.ctx.now()
        with self.ctx.db.transaction(invalidate=False) as s:
            book = Book.of(s)
            p = book.load_rrn(rrn)
            if p is None or p.status is not PaymentStatus.PENDING:
                return 0
            book.move(p.id, to, f"qr {to.value}", now)
            book.flush()
            return 1

    def _write_refund(
        self,
        original_id: int,
        amount: Money,
        rrn: str,
        answer: NetworkAnswer,
        reference: str | None,
        seen_refunded_minor: int | None = None,
    ) -> PaymentView:
        now = self.ctx.now()
        day = self.app.days.open_date(now)
        status = status_of(answer.response_code)
        with self.ctx.db.transaction(invalidate=False) as s:
            book = Book.of(s)
            taken = answer.response_code != "98" and not claim(book.conn, [rrn])
            if taken and status is PaymentStatus.APPROVED:  # taken for reversal meanwhile
                status, answer = PaymentStatus.TIMED_OUT, NetworkAnswer("98", None)
            sale = book.load([original_id])[original_id]
            mid = ""
            if status is PaymentStatus.APPROVED:
                left = sale.amount_minor - sale.refunded_minor
                if amount.amount_minor > left or sale.status not in REFUNDABLE:
                    # Another refund got there first: the network gave this one back,
                    # so take it back from the network again.
                    raise Refused("refund.too_much", N_("The payment was refunded meanwhile"))
                self._check_seen(sale, seen_refunded_minor)  # (another process's refund)
                mid = self._mid(s, sale.merchant_id)
            row = PaymentRow(
                0, PaymentKind.REFUND, status, answer.response_code, sale.merchant_id,
                sale.shop_id, sale.terminal_id, None, None, rrn, answer.auth_code,
                amount.amount_minor, amount.currency, sale.method, sale.card_org, sale.domestic,
                sale.pan_masked, sale.pan_token, sale.entry_mode, day, sale.id, 0, 0,
                Channel.API, None, reference, None, None, now, now,
            )  # fmt: skip
            cause, memo = f"api refund of {sale.rrn}", f"api refund {rrn} of {sale.rrn}"
            [recorded] = book.record([NewPayment(row, cause, mid, after=After.CREDIT, memo=memo)])
            book.flush()
            return payment_view(s, s.get_one(Payment, recorded.row.id))

    @staticmethod
    def _mid(s: Session, merchant_id: int) -> str:
        return s.scalar(select(Merchant.mid).where(Merchant.id == merchant_id)) or ""


def visible_payment(s: Session, payment_id: int, merchant_id: int | None) -> Payment:
    """A payment, if the caller may see it (another merchant's is not found)."""
    p = s.get(Payment, payment_id)
    if p is None or (merchant_id is not None and p.merchant_id != merchant_id):
        raise NotFound("payment.not_found", N_("No payment {id}"), id=payment_id)
    return p
