"""/v1/shifts, /v1/orders and /v1/counters through HTTP: a shift opened, a cart sent and
paid in cash in one request, its receipt printed and shown, wallet and QR tenders, the
waiting read, a manager's approval, hold and recall, a return, the Z report; and what
the routes refuse."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.api.conftest import ApiEnv
from tests.selling import ALIPAY, PASSWORD, World, shop_world, water_code


@pytest.fixture
def w(api: ApiEnv) -> World:
    return shop_world(api.tp, 1)


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def shift(api: ApiEnv, w: World, till: str = "T1") -> int:
    body = {"shop_number": 1, "till": till, "float_minor": 10_000, "cashier_id": w.cashier_id}
    return int(ok(api.post("staff_a", "/v1/shifts", body), 201)["id"])


def cart(shift_id: int, *lines: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"client_ref": str(uuid.uuid4()), "shift_id": shift_id,
            "lines": list(lines) or [{"barcode": water_code(), "quantity_milli": 2000}], **kw}  # fmt: skip


def test_a_cash_sale_in_one_request_its_receipt_and_the_z_report(api: ApiEnv, w: World) -> None:
    s = shift(api, w)
    body = cart(s, {"barcode": water_code(), "quantity_milli": 2000},
                {"product_id": w.products["apple"], "quantity_milli": 455},
                tenders=[{"kind": "cash", "received_minor": 2000}], expected_total_minor=1082)  # fmt: skip
    order = ok(api.post("staff_a", "/v1/orders", body), 201)
    assert (order["status"], order["receipt_no"], order["total_minor"]) == ("paid", "1-T1-1", 1082)
    assert order["tenders"][0]["change_minor"] == 918 and order["mid"] == api.mid_a
    # The same cart again (a retry, another Idempotency-Key): the same order.
    assert ok(api.post("staff_a", "/v1/orders", body), 201)["id"] == order["id"]
    changed = api.post("staff_a", "/v1/orders", {**body, "expected_total_minor": None})
    assert (changed.status_code, changed.json()["code"]) == (409, "order.client_ref_used")

    links = ok(api.get("owner_a", f"/v1/orders/{order['id']}/receipt"))
    assert links["receipt"]["order"]["receipt_no"] == "1-T1-1"
    printed = api.get("staff_a", f"/v1/orders/{order['id']}/receipt.escpos?columns=48")
    assert printed.status_code == 200 and printed.content.startswith(b"\x1b@")
    assert b"1-T1-1" in printed.content and "找零".encode("gb18030") in printed.content
    page = api.client.get(urlparse(links["url"]).path)
    assert page.status_code == 200 and "1-T1-1" in page.text and "苹果 Apples" in page.text
    assert "Content-Security-Policy" in page.headers
    assert api.client.get(urlparse(links["qr_svg_url"]).path).text.startswith("<svg")
    wrong = urlparse(links["url"]).path[:-1] + ("0" if links["url"][-1] != "0" else "1")
    assert api.client.get(wrong).status_code == 404

    x = api.get("staff_a", f"/v1/shifts/{s}/report.escpos")
    assert x.status_code == 200 and x.content.startswith(b"\x1b@")
    text = x.content.decode("gb18030", errors="replace")
    assert "X 报表（班中） X REPORT" in text and "应有现金 EXPECTED" in text
    assert "现金 CASH" in text and "(1) 10.82" in text and "110.82" in text
    closed = ok(api.post("staff_a", f"/v1/shifts/{s}/close", {"counted_cash_minor": 11_082}))
    z = closed["report"]
    assert (z["kind"], z["sales"], z["expected_cash_minor"], z["over_short_minor"]) == (
        "Z", 1, 11_082, 0,
    )  # fmt: skip
    printed = api.get("staff_a", f"/v1/shifts/{s}/report.escpos?columns=48").content
    text = printed.decode("gb18030", errors="replace")
    assert "Z 报表（交班） Z REPORT" in text and "实点现金 COUNTED" in text
    assert "长短款 OVER/SHORT" in text and "交班时间 CLOSED" in text
    assert api.get("staff_a", f"/v1/shifts/{s}/report.escpos?columns=40").status_code == 422
    assert ok(api.get("reviewer", f"/v1/shifts/{s}"))["status"] == "closed"


def test_wallet_and_qr_tenders_and_the_waiting_read(api: ApiEnv, w: World) -> None:
    s = shift(api, w)
    body = cart(s, tenders=[{"kind": "wallet", "code": ALIPAY, "amount_minor": 100}])
    order = ok(api.post("staff_a", "/v1/orders", body), 201)
    assert (order["status"], order["due_minor"]) == ("open", 400)
    qr = ok(api.post("staff_a", f"/v1/orders/{order['id']}/tenders", {"kind": "qr"}))
    pending = qr["tenders"][1]
    assert pending["status"] == "pending" and pending["qr_code"].startswith("http")
    waited = ok(api.get("staff_a", f"/v1/orders/{order['id']}?wait_s=0.6"))
    assert waited["tenders"][1]["status"] == "pending"
    canceled = ok(api.post("staff_a", f"/v1/orders/{order['id']}/tenders/{pending['id']}/cancel"))
    assert canceled["tenders"][1]["status"] == "canceled" and canceled["due_minor"] == 400
    paid = ok(api.post("staff_a", f"/v1/orders/{order['id']}/tenders",
                       {"kind": "cash", "received_minor": 500}))  # fmt: skip
    assert (paid["status"], paid["change_minor"]) == ("paid", 100)


def test_approval_hold_recall_and_a_return(api: ApiEnv, w: World) -> None:
    s = shift(api, w)
    cheap = {"product_id": w.products["water"], "quantity_milli": 2000, "unit_price_minor": 200}
    refused = api.post("staff_a", "/v1/orders", cart(s, cheap))
    assert (refused.status_code, refused.json()["code"]) == (409, "order.approval_required")
    approval = {"login": w.manager_login, "password": PASSWORD}
    held = ok(api.post("staff_a", "/v1/orders", cart(s, cheap, approval=approval, hold=True)), 201)
    assert (held["status"], held["approved_by"]) == ("held", w.manager_id)
    listed = ok(api.get("staff_a", "/v1/orders?status=held&shop_number=1&till=T1"))["data"]
    assert [o["id"] for o in listed] == [held["id"]]
    other = shift(api, w, "T2")
    ok(api.post("staff_a", f"/v1/orders/{held['id']}/recall", {"shift_id": other}))
    sale = ok(api.post("staff_a", f"/v1/orders/{held['id']}/tenders",
                       {"kind": "cash", "amount_minor": 400}))  # fmt: skip
    assert sale["receipt_no"] == "1-T2-1"
    found = ok(api.get("owner_a", "/v1/orders?receipt_no=1-T2-1"))["data"]
    assert [o["id"] for o in found] == [sale["id"]]
    back = {"client_ref": "ret-1", "shift_id": other, "approval": approval,
            "lines": [{"line_id": sale["lines"][0]["id"], "quantity_milli": 1000}]}  # fmt: skip
    ret = ok(api.post("staff_a", f"/v1/orders/{sale['id']}/returns", back), 201)
    assert (ret["kind"], ret["status"], ret["total_minor"], ret["original_order_id"]) == (
        "return", "paid", 200, sale["id"],
    )  # fmt: skip
    too_much = api.post("staff_a", f"/v1/orders/{sale['id']}/returns",
                        {**back, "client_ref": "ret-2",
                         "lines": [{"line_id": sale["lines"][0]["id"], "quantity_milli": 2000}]})  # fmt: skip
    assert (too_much.status_code, too_much.json()["code"]) == (409, "return.too_much")
    half = api.post("staff_a", f"/v1/orders/{sale['id']}/returns",
                    {**back, "client_ref": "ret-3",
                     "lines": [{"line_id": sale["lines"][0]["id"], "quantity_milli": 500}]})  # fmt: skip
    assert (half.status_code, half.json()["code"]) == (422, "order.whole_pieces")


def test_counters_are_the_owners(api: ApiEnv, w: World) -> None:
    made = ok(api.post("owner_a", "/v1/counters", {"shop_number": 1, "number": 3, "name": "茶"}),
              201)  # fmt: skip
    assert (made["mid"], made["number"], made["active"]) == (api.mid_a, 3, True)
    staff = api.post("staff_a", "/v1/counters", {"shop_number": 1, "number": 4, "name": "x"})
    assert staff.status_code == 403
    patched = api.client.patch(f"/v1/counters/{made['id']}", json={"active": False},
                               headers=api.headers("owner_a"))  # fmt: skip
    assert ok(patched)["active"] is False
    assert ok(api.get("staff_a", "/v1/counters?active=false"))["data"][0]["id"] == made["id"]


@pytest.mark.parametrize(
    "change",
    [
        {"lines": []},
        {"lines": [{"barcode": "1", "quantity_milli": 0}]},
        {"lines": [{"barcode": "1", "discount_percent": "abc"}]},
        {"lines": [{"barcode": "1", "discount_percent": "100.5"}]},
        {"lines": [{"barcode": "1", "quantity_milli": 1.5}]},
        {"tenders": [{"kind": "cash", "received_minor": "100"}]},
        {"tenders": [{"kind": "bitcoin"}]},
        {"client_ref": "x" * 41},
        {"shift_id": 0},
    ],
)
def test_malformed_carts_are_422(api: ApiEnv, w: World, change: dict[str, Any]) -> None:
    r = api.post("staff_a", "/v1/orders", {**cart(1), **change})
    assert r.status_code == 422, r.text
