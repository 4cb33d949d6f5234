"""Tenders that go through a network, and what the till waits on.

- card: a checkout for the shop's terminal by the cashier link (payments/checkouts.py):
  the tender is pending until the terminal's sale pays the checkout, or it fails,
  expires or is canceled;
- wallet: the customer's payment code, read by the till's scanner, charged at once
  (``OnlinePayments.pay_with_code``): paid or failed when the call returns;
- QR: a code the customer scans from the customer display (``create_qr``): pending
  until paid, expired or canceled.

Each is noted as a pending tender first (so two tenders never pay the same fen), its
checkout or payment carries the tender's reference (``O<order>T<tender>``), and the
order reads its pending tenders' checkouts and payments whenever it is read (a till
waits with ``wait``: one request that returns as soon as nothing is pending). A cash
sale moves no money through the acquirer.

Returns give money back the way it came: cash from the drawer at once (store/orders.py),
card, wallet and QR tenders by refunds of their payments (``OnlinePayments.refund``:
a card refund needs only the payment's reference, never the card).
"""

from __future__ import annotations

import asyncio
import logging

from tillpoint.core.errors import TillpointError
from tillpoint.core.money import Money
from tillpoint.payments.checkouts import CheckoutService
from tillpoint.payments.models import PaymentStatus
from tillpoint.payments.online import OnlinePayments
from tillpoint.store.models import TenderKind, TenderStatus
from tillpoint.store.orders import (
    NewOrder,
    NewReturn,
    OrderService,
    OrderView,
    TenderIn,
    check_tender,
    tender_reference,
)

log = logging.getLogger("tillpoint.store")
POLL_S = 0.5  # how often a waiting request reads its order again
MAX_WAIT_S = 30.0


class Tenders:
    """Orders with every kind of tender: the service the API's order routes call."""

    def __init__(
        self, orders: OrderService, checkouts: CheckoutService, online: OnlinePayments
    ) -> None:
        self.orders = orders
        self.checkouts = checkouts
        self.online = online

    async def create(self, new: NewOrder, *, merchant_id: int | None) -> OrderView:
        """Ring up an order; its cash tenders are taken with it, then its other
        tenders in turn. A refusal of one of those leaves the order open without it
        (the same request again returns the order; tender it again)."""
        made = await asyncio.to_thread(self.orders.create, new, merchant_id=merchant_id)
        view = made.order
        for t in made.to_tender:
            view = await self.tender(view.id, t, merchant_id=merchant_id)
        return view

    async def tender(self, order_id: int, t: TenderIn, *, merchant_id: int | None) -> OrderView:
        """One tender for an open order (a return: cash paid back)."""
        check_tender(t)
        if t.kind is TenderKind.CASH:
            return await asyncio.to_thread(
                self.orders.add_cash, order_id, merchant_id=merchant_id,
                received_minor=t.received_minor, amount_minor=t.amount_minor,
            )  # fmt: skip
        tid = None
        if t.kind is TenderKind.CARD:  # before anything is noted: a wrong tid changes nothing
            tid = await asyncio.to_thread(
                self.orders.card_terminal, order_id, t.tid, merchant_id=merchant_id
            )
        view, tender_id, owner = await asyncio.to_thread(
            self.orders.reserve, order_id, t.kind, t.amount_minor, merchant_id=merchant_id
        )
        amount_minor = next(x.amount_minor for x in view.tenders if x.id == tender_id)
        amount = Money(amount_minor, view.currency)
        ref = tender_reference(order_id, tender_id)
        try:
            if t.kind is TenderKind.CARD:
                assert tid is not None
                checkout = await asyncio.to_thread(
                    self.checkouts.create, tid, amount, ref, merchant_id=owner,
                    shop_number=view.shop_number,
                )  # fmt: skip
                await asyncio.to_thread(self.orders.attach, tender_id, checkout_id=checkout.id)
                return await asyncio.to_thread(self.orders.get, order_id, merchant_id=merchant_id)
            if t.kind is TenderKind.QR:
                made = await self.online.create_qr(
                    owner, amount, shop_number=view.shop_number, reference=ref
                )
                await asyncio.to_thread(self.orders.attach, tender_id, payment_id=made.payment.id)
                return await asyncio.to_thread(self.orders.get, order_id, merchant_id=merchant_id)
            assert t.code is not None  # check_tender: a wallet tender has its code
            made = await self.online.pay_with_code(
                owner, amount, t.code, shop_number=view.shop_number, reference=ref
            )
        except TillpointError:  # refused before money moved: as if never asked
            await asyncio.to_thread(self.orders.drop, tender_id)
            raise
        paid = made.payment.host_status is PaymentStatus.APPROVED
        return await asyncio.to_thread(
            self.orders.settle, tender_id, TenderStatus.PAID if paid else TenderStatus.FAILED,
            payment_id=made.payment.id, response_code=made.payment.response_code,
        )  # fmt: skip

    async def cancel_tender(
        self, order_id: int, tender_id: int, *, merchant_id: int | None
    ) -> OrderView:
        """Cancel a tender: cash not yet part of a paid order goes back to the
        customer; a card checkout still waiting for the terminal, or a QR code not yet
        paid, is canceled at its network (if the customer paid meanwhile, it stands,
        paid)."""
        tender = await asyncio.to_thread(
            self.orders.tender_of, order_id, tender_id, merchant_id=merchant_id
        )
        if tender.status is not TenderStatus.PENDING:
            return await asyncio.to_thread(
                self.orders.cancel_tender, order_id, tender_id, merchant_id=merchant_id
            )
        owner = await asyncio.to_thread(self.orders.owner, order_id, merchant_id=merchant_id)
        if tender.kind is TenderKind.CARD and tender.checkout_id and tender.tid:
            await asyncio.to_thread(
                self.checkouts.cancel, tender.tid, tender.checkout_id, merchant_id=owner
            )
        elif tender.kind is TenderKind.QR and tender.payment_id:
            await self.online.cancel(tender.payment_id, merchant_id=owner)
        return await asyncio.to_thread(self.orders.get, order_id, merchant_id=merchant_id)

    async def wait(self, order_id: int, *, merchant_id: int | None, wait_s: float) -> OrderView:
        """The order, once none of its tenders is pending or ``wait_s`` has passed:
        the till asks once and hears as soon as the terminal or the wallet answers."""
        loop = asyncio.get_running_loop()
        end = loop.time() + min(max(wait_s, 0.0), MAX_WAIT_S)
        while True:
            view = await asyncio.to_thread(self.orders.get, order_id, merchant_id=merchant_id)
            pending = any(t.status is TenderStatus.PENDING for t in view.tenders)
            if not pending or loop.time() >= end:
                return view
            await asyncio.sleep(POLL_S)

    async def cancel(self, order_id: int, *, merchant_id: int | None) -> OrderView:
        """Give up an order not paid: card, wallet and QR money it took is refunded
        first, its cash goes back to the customer."""
        owner = await asyncio.to_thread(self.orders.owner, order_id, merchant_id=merchant_id)
        taken = await asyncio.to_thread(
            self.orders.electronic_paid, order_id, merchant_id=merchant_id
        )
        view = await asyncio.to_thread(self.orders.get, order_id, merchant_id=merchant_id)
        for tender_id, payment_id, amount in taken:
            refund = await self.online.refund(
                payment_id, Money(amount, view.currency), merchant_id=owner,
                reference=tender_reference(order_id, tender_id) + "X",
            )  # fmt: skip
            if refund.host_status is not PaymentStatus.APPROVED:
                log.warning("refund of tender %s answered %s", tender_id, refund.response_code)
                return await asyncio.to_thread(self.orders.get, order_id, merchant_id=merchant_id)
            await asyncio.to_thread(self.orders.mark_refunded, tender_id)
        return await asyncio.to_thread(self.orders.cancel, order_id, merchant_id=merchant_id)

    # --- returns ----------------------------------------------------------------------

    async def create_return(
        self, original_id: int, new: NewReturn, *, merchant_id: int | None
    ) -> OrderView:
        """Take lines of a sale back and pay the money back (see OrderService)."""
        made = await asyncio.to_thread(
            self.orders.create_return, original_id, new, merchant_id=merchant_id
        )
        if made.replayed:
            return made.order
        return await self.refund_due(made.order.id, merchant_id=merchant_id)

    async def refund_due(self, return_id: int, *, merchant_id: int | None) -> OrderView:
        """Refund a return's card, wallet and QR parts. One refused (too late, say) is
        failed, and the return waits for that part to be paid back in cash."""
        owner = await asyncio.to_thread(self.orders.owner, return_id, merchant_id=merchant_id)
        view = await asyncio.to_thread(self.orders.get, return_id, merchant_id=owner)
        for tender_id, payment_id, amount, ref in await asyncio.to_thread(
            self.orders.refunds_due, return_id
        ):
            try:
                refund = await self.online.refund(
                    payment_id, Money(amount, view.currency), merchant_id=owner, reference=ref
                )
            except TillpointError as err:
                log.warning("refund of tender %s refused: %s", tender_id, err.code)
                view = await asyncio.to_thread(self.orders.settle, tender_id, TenderStatus.FAILED)
                continue
            done = refund.host_status is PaymentStatus.APPROVED
            view = await asyncio.to_thread(
                self.orders.settle, tender_id,
                TenderStatus.REFUNDED if done else TenderStatus.FAILED,
                payment_id=refund.id, response_code=refund.response_code,
            )  # fmt: skip
        return view
