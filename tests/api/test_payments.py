"""Wallet payments both ways, refunds, and reading payments over /v1."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse
from xml.etree import ElementTree

from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tillpoint.core.clock import FixedClock
from tillpoint.payments.models import Payment, PaymentStatus

ALIPAY = "284000000000000001"
ALIPAY_POOR = "280000000000000002"  # section 6: 51, not enough money
WECHAT = "134000000000000001"
PROBLEM = "application/problem+json"


def pay(api: ApiEnv, who: str = "owner_a", amount: int = 10_000, **extra: object) -> dict:
    r = api.post(who, "/v1/payments", {"amount_minor": amount, "code": ALIPAY, **extra})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def qr(api: ApiEnv, amount: int = 2_500, **extra: object) -> dict:
    r = api.post(
        "owner_a", "/v1/payments", {"amount_minor": amount, "flow": "merchant_presented", **extra}
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def customer_answers(api: ApiEnv, qr_code: str, decision: str, wallet: str = "WXP") -> None:
    page = urlparse(qr_code).path
    assert api.client.get(page).status_code == 200
    r = api.client.post(page, data={"wallet": wallet, "decision": decision}, follow_redirects=False)
    assert r.status_code == 303


def test_customer_presented_code_is_charged_at_once(api: ApiEnv) -> None:
    p = pay(api, amount=12_345, reference="order-1")
    assert p["status"] == "succeeded"
    assert p["method"] == "alipay"
    assert p["card_org"] == "ALP"
    assert p["pan_masked"] == "284000********0001"
    assert p["channel"] == "api"
    assert p["qr_flow"] == "customer_presented"
    assert p["reference"] == "order-1"
    assert p["mid"] == api.mid_a
    assert p["fee_minor"] > 0
    assert api.get("owner_a", f"/v1/payments/{p['id']}").json() == p
    assert api.payable(api.mid_a) == -(12_345 - p["fee_minor"])


def test_declined_code_is_a_failed_payment(api: ApiEnv) -> None:
    r = api.post("owner_a", "/v1/payments", {"amount_minor": 1_000, "code": ALIPAY_POOR})
    assert r.status_code == 201
    assert (r.json()["status"], r.json()["response_code"]) == ("failed", "51")


def test_unknown_code_and_bad_bodies_are_problems(api: ApiEnv) -> None:
    r = api.post("owner_a", "/v1/payments", {"amount_minor": 1_000, "code": "990000000000000000"})
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "payment.code_unknown"
    for body in (
        {"amount_minor": 0, "code": ALIPAY},
        {"amount_minor": 1.5, "code": ALIPAY},
        {"amount_minor": 100},
        {"amount_minor": 100, "flow": "merchant_presented", "code": ALIPAY},
    ):
        r = api.post("owner_a", "/v1/payments", body)
        assert r.status_code == 422, body
        assert r.json()["code"] == "request.invalid"
        assert r.json()["errors"]
    with api.tp.ctx.db.read() as s:
        assert s.scalars(select(Payment)).all() == []


def test_over_the_merchant_limit_is_refused_61(api: ApiEnv) -> None:
    r = api.post("owner_a", "/v1/payments", {"amount_minor": 10**10, "code": ALIPAY})
    assert (r.json()["status"], r.json()["response_code"]) == ("failed", "61")


def test_merchant_presented_qr_approved_in_the_simulator(api: ApiEnv) -> None:
    p = qr(api)
    assert p["status"] == "pending"
    assert p["qr_code"].startswith("http://127.0.0.1:8000/simulator/qr/")
    svg = api.get("owner_a", f"/v1/payments/{p['id']}/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    root = ElementTree.fromstring(svg.content)  # noqa: S314 - our own answer
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    png = api.get("owner_a", f"/v1/payments/{p['id']}/qr.png")
    assert png.content.startswith(b"\x89PNG")
    page = api.client.get(urlparse(p["qr_code"]).path)
    assert "25.00" in page.text
    assert "微信支付" in page.text

    customer_answers(api, p["qr_code"], "approve", wallet="WXP")

    done = api.get("owner_a", f"/v1/payments/{p['id']}").json()
    assert done["status"] == "succeeded"
    assert done["method"] == "wechat"
    assert done["qr_code"] is None
    assert done["fee_minor"] > 0
    assert api.get("owner_a", f"/v1/payments/{p['id']}/qr.svg").status_code == 404
    assert "支付成功" in api.client.get(urlparse(p["qr_code"]).path).text


def test_customer_declines_in_the_simulator(api: ApiEnv) -> None:
    p = qr(api)
    customer_answers(api, p["qr_code"], "decline", wallet="ALP")
    done = api.get("owner_a", f"/v1/payments/{p['id']}").json()
    assert done["status"] == "failed"
    assert api.payable(api.mid_a) == 0


def test_cancel_while_pending(api: ApiEnv) -> None:
    p = qr(api)
    r = api.post("staff_a", f"/v1/payments/{p['id']}/cancel")
    assert r.status_code == 200
    assert r.json()["status"] == "canceled"
    again = api.post("staff_a", f"/v1/payments/{p['id']}/cancel")
    assert again.status_code == 409
    assert again.json()["code"] == "payment.not_pending"
    # the customer comes too late: nothing is charged
    customer_answers(api, p["qr_code"], "approve")
    assert api.get("owner_a", f"/v1/payments/{p['id']}").json()["status"] == "canceled"


def test_pending_qr_expires(api: ApiEnv, clock: FixedClock) -> None:
    p = qr(api, expires_in_s=60)
    clock.advance(timedelta(seconds=59))
    assert api.run(api.services.online.expire_due) == 0
    clock.advance(timedelta(seconds=1))
    assert api.run(api.services.online.expire_due) == 1
    assert api.get("owner_a", f"/v1/payments/{p['id']}").json()["status"] == "expired"
    assert "订单已关闭" in api.client.get(urlparse(p["qr_code"]).path).text


def test_partial_and_repeated_refunds_up_to_the_captured_amount(api: ApiEnv) -> None:
    p = pay(api, amount=10_000)
    first = api.post("owner_a", "/v1/refunds", {"payment_id": p["id"], "amount_minor": 3_000})
    assert first.status_code == 201, first.text
    refund = first.json()
    assert (refund["object"], refund["status"], refund["original_id"]) == (
        "refund",
        "succeeded",
        p["id"],
    )
    sale = api.get("owner_a", f"/v1/payments/{p['id']}").json()
    assert (sale["host_status"], sale["amount_refunded_minor"]) == ("partly_refunded", 3_000)

    too_much = api.post("staff_a", "/v1/refunds", {"payment_id": p["id"], "amount_minor": 7_001})
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "refund.too_much"

    rest = api.post("staff_a", "/v1/refunds", {"payment_id": p["id"]})  # all that is left
    assert rest.json()["amount_minor"] == 7_000
    sale = api.get("owner_a", f"/v1/payments/{p['id']}").json()
    assert (sale["host_status"], sale["amount_refunded_minor"]) == ("refunded", 10_000)
    listed = api.get("owner_a", "/v1/refunds", params={"payment_id": p["id"]}).json()
    assert [r["amount_minor"] for r in listed["data"]] == [7_000, 3_000]
    assert api.get("owner_a", f"/v1/refunds/{p['id']}").status_code == 404  # a sale
    # what the merchant is owed: the sale less its fee, less both refunds
    assert api.payable(api.mid_a) == p["fee_minor"]


def test_lists_page_newest_first_with_cursors(api: ApiEnv) -> None:
    made = [pay(api, amount=100 + n)["id"] for n in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = api.get("owner_a", "/v1/payments", params=params).json()
        seen += [p["id"] for p in body["data"]]
        cursor = body["next_cursor"]
        assert body["has_more"] == (cursor is not None)
        if not cursor:
            break
    assert seen == made[::-1]
    bad = api.get("owner_a", "/v1/payments", params={"cursor": "nonsense"})
    assert (bad.status_code, bad.json()["code"]) == (400, "page.cursor")


def test_merchants_see_only_their_own_payments(api: ApiEnv) -> None:
    p = pay(api)
    assert api.get("owner_b", f"/v1/payments/{p['id']}").status_code == 404
    r = api.post("owner_b", "/v1/refunds", {"payment_id": p["id"], "amount_minor": 1})
    assert r.status_code == 404
    assert api.post("owner_b", f"/v1/payments/{p['id']}/cancel").status_code == 404
    assert api.get("owner_b", "/v1/payments").json()["data"] == []
    assert [x["id"] for x in api.get("ops", "/v1/payments").json()["data"]] == [p["id"]]
    r = api.post("owner_b", "/v1/payments", {"amount_minor": 1, "code": ALIPAY, "mid": api.mid_a})
    assert r.status_code == 404


def test_roles(api: ApiEnv) -> None:
    r = api.post("reviewer", "/v1/payments", {"amount_minor": 100, "code": ALIPAY})
    assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden")
    r = api.post("ops", "/v1/payments", {"amount_minor": 100, "code": ALIPAY})
    assert (r.status_code, r.json()["code"]) == (422, "payment.mid_required")
    r = api.post("ops", "/v1/payments", {"amount_minor": 100, "code": WECHAT, "mid": api.mid_b})
    assert r.json()["mid"] == api.mid_b
    assert api.get("reviewer", f"/v1/payments/{r.json()['id']}").status_code == 200


def test_a_smart_pos_terminal_and_a_shop_can_be_named(api: ApiEnv) -> None:
    p = pay(api, tid=api.tid_a, shop_number=1)
    assert (p["tid"], p["shop_number"]) == (api.tid_a, 1)
    r = api.post("owner_a", "/v1/payments", {"amount_minor": 1, "code": ALIPAY, "tid": api.tid_b})
    assert r.status_code == 404  # merchant B's terminal
    with api.tp.ctx.db.read() as s:
        row = s.get(Payment, p["id"])
        assert row is not None
        assert row.batch_id is None  # never in a terminal's 8583 batch
        assert row.status is PaymentStatus.APPROVED


def test_api_payments_are_settled_and_on_the_statement(api: ApiEnv) -> None:
    p = pay(api, amount=10_000)
    qr_paid = qr(api, amount=5_000)
    customer_answers(api, qr_paid["qr_code"], "approve", wallet="UPQ")
    api.post("owner_a", "/v1/refunds", {"payment_id": p["id"], "amount_minor": 1_000})
    day = api.tp.days.cut_off("test")
    (row,) = [r for r in api.tp.settlement.run(day) if r.mid == api.mid_a]
    fees = p["fee_minor"] + api.get("owner_a", f"/v1/payments/{qr_paid['id']}").json()["fee_minor"]
    assert (row.gross_minor, row.refunds_minor, row.fees_minor) == (15_000, 1_000, fees)
    assert row.net_minor == 15_000 - 1_000 - fees
    statement = api.tp.statements.statement(api.mid_a, day)
    assert [line.tid for line in statement.lines] == ["API", "API", "API"]
