"""The wallet simulator keeps its own records on disk, as a real wallet does: a payment
taken before a restart is refunded after it, within what was captured, and a QR order
shown before it can still be paid."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.demo import demo_mid, ensure_demo
from tillpoint.networks.wallets import OrderState, WalletOrg, WalletSimulator
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.online import OnlinePayments

ALIPAY = "284000000000000001"


def test_wallet_payments_outlive_a_restart(tp: Tillpoint) -> None:
    ensure_demo(tp, 1)
    merchant_id = tp.merchants.get(demo_mid(1)).id

    async def before() -> tuple[int, int, str]:
        acquirer = simulated(tp)
        try:
            online = OnlinePayments(acquirer)
            paid = await online.pay_with_code(merchant_id, Money(5_000, "CNY"), ALIPAY)
            shown = await online.create_qr(
                merchant_id, Money(2_500, "CNY"), expires_in=timedelta(minutes=5)
            )
            assert paid.payment.status == "succeeded" and shown.qr_code is not None
            return paid.payment.id, shown.payment.id, shown.qr_code.rsplit("/", 1)[1]
        finally:
            acquirer.close()

    async def after(paid_id: int, pending_id: int, token: str) -> None:
        acquirer = simulated(tp)  # a new process: nothing carried over in memory
        try:
            online = OnlinePayments(acquirer)
            first = await online.refund(paid_id, Money(3_000, "CNY"), merchant_id=merchant_id)
            assert first.status == "succeeded"
            second = await online.refund(paid_id, merchant_id=merchant_id)  # the rest
            assert (second.status, second.amount_minor) == ("succeeded", 2_000)
            assert online.get(paid_id).host_status == "refunded"

            wallets = acquirer.wallets
            assert isinstance(wallets, WalletSimulator)
            order = await wallets.answer_order(token, WalletOrg.WECHAT, True, tp.ctx.now())
            assert order is not None and order.state is OrderState.PAID
            await asyncio.sleep(0)
            assert online.get(pending_id).status == "succeeded"
        finally:
            acquirer.close()

    paid_id, pending_id, token = asyncio.run(before())
    asyncio.run(after(paid_id, pending_id, token))
