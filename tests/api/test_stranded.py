"""The API's calls to wallets and networks: a write that fails after the wallet or the
network approved leaves nothing charged (or refunded) that is not on our books."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from tests.api.conftest import ApiEnv
from tests.api.test_payments import ALIPAY, pay, qr
from tests.hosting import stranded, unbacked
from tillpoint.core.money import Money
from tillpoint.networks.held import held_charges
from tillpoint.payments.models import IntentState, NetworkIntent, Payment, PaymentEvent
from tillpoint.payments.online import OnlinePayments


def network_dir(api: ApiEnv) -> Path:
    return api.tp.ctx.settings.network_directory()


def states(api: ApiEnv) -> list[tuple[str, IntentState]]:
    with api.tp.ctx.db.read() as s:
        return [(a, st) for a, st in s.execute(select(NetworkIntent.action, NetworkIntent.state))]


def check_books(api: ApiEnv) -> None:
    assert stranded(api.tp, network_dir(api)) == []
    assert unbacked(api.tp, network_dir(api)) == []


def failing(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def fail(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(OnlinePayments, name, fail)


def test_a_wallet_payment_whose_write_fails_is_reversed(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing(monkeypatch, "_write_new")
    r = api.post("owner_a", "/v1/payments", {"amount_minor": 2_000, "code": ALIPAY})
    assert r.status_code == 500
    assert states(api) == [("pay", IntentState.REVERSED)]
    assert held_charges(network_dir(api)) == {}
    check_books(api)


def test_an_order_whose_write_fails_is_closed_at_the_wallet(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    online = api.services.online
    failing(monkeypatch, "_write_new")
    merchant = api.merchant_id(api.mid_a)
    with pytest.raises(RuntimeError):
        api.run(online.create_qr, merchant, Money(2_500))
    assert states(api) == [("order", IntentState.REVERSED)]
    monkeypatch.undo()
    # the customer can no longer pay it: a new order works as before
    assert qr(api)["status"] == "pending"
    check_books(api)


def test_a_refund_whose_write_fails_is_reversed(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = pay(api, amount=10_000)
    failing(monkeypatch, "_write_refund")
    r = api.post("owner_a", "/v1/refunds", {"payment_id": p["id"], "amount_minor": 3_000})
    assert r.status_code == 500
    assert states(api) == [("refund", IntentState.REVERSED)]
    monkeypatch.undo()
    sale = api.get("owner_a", f"/v1/payments/{p['id']}").json()
    assert sale["amount_refunded_minor"] == 0
    assert held_charges(network_dir(api)) == {p["rrn"]: 10_000}  # refund undone
    again = api.post("owner_a", "/v1/refunds", {"payment_id": p["id"]})
    assert again.status_code == 201 and again.json()["amount_minor"] == 10_000
    check_books(api)


def test_a_paid_order_missing_from_our_books_is_given_back(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The customer pays an order whose payment the host lost: the money goes back."""
    order = qr(api)
    with api.tp.ctx.db.transaction() as s:  # as if the write had never happened
        s.query(PaymentEvent).delete()
        s.query(Payment).filter(Payment.id == order["id"]).delete()
    page = urlparse(order["qr_code"]).path
    api.client.post(page, data={"wallet": "WXP", "decision": "pay"}, follow_redirects=False)
    assert held_charges(network_dir(api)) == {}
    check_books(api)


@pytest.mark.postgres  # only PostgreSQL refuses a NUL in text
def test_a_nul_the_database_refuses_after_the_wallet_approved_is_reversed(api: ApiEnv) -> None:
    """Below the API's own checks: the service takes a reference the database refuses."""
    merchant = api.merchant_id(api.mid_a)
    online = api.services.online
    with pytest.raises(DBAPIError):
        api.run(partial(online.pay_with_code, reference="a\x00b"), merchant, Money(1_500), ALIPAY)
    assert states(api) == [("pay", IntentState.REVERSED)]
    assert held_charges(network_dir(api)) == {}
    check_books(api)
