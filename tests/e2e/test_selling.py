"""Selling end to end: a till opens a shift and sends a cart through the real API, pays
part in cash and part by card; the virtual terminal, over TCP to the real host, finds
the checkout with its poll and pays it with a sale; the till's one waiting read hears
the order paid (receipt number, stock out); then a return of part of it pays the card
part back by a refund of the card payment, and the Z report balances the drawer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.hosting import run_with_host
from tests.selling import DEBIT, PASSWORD, shop_world, water_code

from tillpoint.access.models import Role
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.demo import demo_mid
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.models import Payment, PaymentKind, PaymentStatus
from tillpoint.terminal.device import Device, DeviceState


class Till:
    def __init__(self, app: Tillpoint) -> None:
        self.acquirer = simulated(app)
        self.client = TestClient(create_api(app, self.acquirer), raise_server_exceptions=False)
        self.key = app.access.create_key(Role.MERCHANT_STAFF, "till", "test",
                                         merchant_ref=demo_mid(1)).secret  # fmt: skip

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {self.key}", "Idempotency-Key": str(uuid.uuid4())}
        r = self.client.request(method, path, json=body, headers=headers)
        assert r.status_code == status, r.text
        return r.json()

    def close(self) -> None:
        self.client.close()
        self.acquirer.close()


def test_part_cash_part_card_at_the_terminal_then_the_card_part_back(demo: Tillpoint) -> None:
    w = shop_world(demo, 1)
    till = Till(demo)
    seen: dict[str, Any] = {}

    async def scenario(port: int) -> None:
        call = till.call
        shift = await asyncio.to_thread(call, "POST", "/v1/shifts", {
            "shop_number": 1, "till": "T1", "float_minor": 20_000, "cashier_id": w.cashier_id,
        }, 201)  # fmt: skip
        cart = {
            "client_ref": str(uuid.uuid4()), "shift_id": shift["id"],
            "lines": [{"barcode": water_code(1), "quantity_milli": 10_000}],  # 25.00
            "tenders": [{"kind": "cash", "amount_minor": 500}, {"kind": "card"}],
        }  # fmt: skip
        order = await asyncio.to_thread(call, "POST", "/v1/orders", cart, 201)
        card = order["tenders"][1]
        assert (order["status"], card["status"], card["amount_minor"]) == ("open", "pending", 2000)

        # The till waits with one request while the terminal takes the card.
        waiting = asyncio.create_task(asyncio.to_thread(
            call, "GET", f"/v1/orders/{order['id']}?wait_s=20"))  # fmt: skip
        state = DeviceState.demo(1)
        state.port = port
        device = Device(state)
        offer = await device.poll_checkout()
        assert offer is not None and offer.amount == Money(2000)
        paid = await device.sale(offer.amount, DEBIT, pin="123456", checkout=offer.reference)
        assert paid.approved, paid
        await device.close()
        done = await waiting
        assert (done["status"], done["receipt_no"], done["paid_minor"]) == ("paid", "1-T1-1", 2500)
        seen.update(shift=shift, order=done, rrn=paid.rrn)

    try:
        run_with_host(demo, scenario)
        order, shift = seen["order"], seen["shift"]
        assert w.level("water") == -10_000
        card_payment = order["tenders"][1]["payment_id"]
        with demo.ctx.db.read() as s:
            assert s.get_one(Payment, card_payment).rrn == seen["rrn"]
        # Six waters back (15.00): the card's 20.00 first, so all by card.
        back = till.call("POST", f"/v1/orders/{order['id']}/returns", {
            "client_ref": "ret-1", "shift_id": shift["id"],
            "approval": {"login": w.manager_login, "password": PASSWORD},
            "lines": [{"line_id": order["lines"][0]["id"], "quantity_milli": 6_000}],
        }, 201)  # fmt: skip
        assert (back["status"], back["total_minor"], back["receipt_no"]) == ("paid", 1500, "1-T1-2")
        (refund,) = back["tenders"]
        assert (refund["kind"], refund["status"], refund["amount_minor"]) == (
            "card", "refunded", 1500,
        )  # fmt: skip
        with demo.ctx.db.read() as s:
            given = s.get_one(Payment, refund["payment_id"])
            assert (given.kind, given.original_id, given.amount_minor) == (
                PaymentKind.REFUND, card_payment, 1500,
            )  # fmt: skip
            sale = s.get_one(Payment, card_payment)
            assert (sale.status, sale.refunded_minor) == (PaymentStatus.PARTLY_REFUNDED, 1500)
            refunds = s.scalars(select(Payment).where(Payment.original_id == card_payment)).all()
            assert len(refunds) == 1
        assert w.level("water") == -4_000
        z = till.call("POST", f"/v1/shifts/{shift['id']}/close",
                      {"counted_cash_minor": 20_500})["report"]  # fmt: skip
        assert (z["kind"], z["cash_in_minor"], z["cash_out_minor"], z["over_short_minor"]) == (
            "Z", 500, 0, 0,
        )  # fmt: skip
        assert [(t["kind"], t["amount_minor"]) for t in z["takings"]] == [
            ("cash", 500), ("card", 2000),
        ]  # fmt: skip
        assert [(t["kind"], t["amount_minor"]) for t in z["refunds"]] == [("card", 1500)]
    finally:
        till.close()
