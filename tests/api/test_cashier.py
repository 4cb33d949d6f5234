"""The cashier's page and its JSON (``/cashier``, ``/cashier/api``) over a signed-in
session: a cashier lands at the till, sells in cash (the service decides everything),
needs a manager for a changed price, takes a sale back, holds and recalls, closes the
shift; and reaches nothing outside their shop or merchant (every door, with another
shop's or merchant's objects, answers as for one that does not exist), nothing without
the session's CSRF token, nothing signed out (401) or as staff (403)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import fastapi.routing
import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import sign_in as console_sign_in
from tests.api.test_portal_home import portal_sign_in
from tests.selling import PASSWORD, World, shop_world, water_code
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner
from tillpoint.store.models import OrderStatus

DATA = re.compile(r'<script type="application/json" id="till-data">(.*?)</script>', re.S)
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
CASHIER_1 = ("cashier1@shop.example.com", "cashier-secret-1")
CASHIER_2 = ("cashier1b@shop.example.com", "cashier-secret-2")  # of shop 2


@pytest.fixture
def w(api: ApiEnv) -> World:
    return shop_world(api.tp, 1)


class Till:
    """A signed-in browser at the till: the page's CSRF token, JSON both ways."""

    def __init__(self, api: ApiEnv, login: str, password: str, shop: int = 1) -> None:
        self.api, self.shop = api, shop
        answer = portal_sign_in(api, login, password)
        assert answer.status_code == 303, answer.text
        self.landed = answer.headers["location"]
        page = api.client.get(f"/cashier?shop={shop}&lang=en")
        assert page.status_code == 200, page.text
        found = DATA.search(page.text)
        assert found is not None
        self.data = json.loads(found.group(1))
        self.csrf = self.data["csrf"]

    def url(self, path: str) -> str:
        return f"/cashier/api{path}{'&' if '?' in path else '?'}shop={self.shop}"

    def get(self, path: str, status: int = 200) -> Any:
        r = self.api.client.get(self.url(path), headers={"Accept-Language": "en"})
        assert r.status_code == status, r.text
        return r.json()

    def post(self, path: str, body: Any = None, status: int = 200) -> Any:
        r = self.api.client.post(self.url(path), json=body or {},
                                 headers={"X-CSRF-Token": self.csrf, "Accept-Language": "en"})  # fmt: skip
        assert r.status_code == status, r.text
        return r.json()

    def open_shift(self, till: str = "T1", float_minor: int = 10_000) -> dict[str, Any]:
        shift: dict[str, Any] = self.post(
            "/shifts", {"till": till, "float_minor": float_minor}, 201
        )
        return shift

    def cart(self, shift_id: int, *lines: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {"client_ref": str(uuid.uuid4()), "shift_id": shift_id, "lines": list(lines), **more}


def test_a_cashier_lands_at_the_till_and_the_page_has_what_it_needs(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    assert till.landed == "/cashier"
    state = till.data["state"]
    assert [s["number"] for s in state["shops"]] == [1]  # their own shop only
    assert state["shift"] is None and till.data["shop"] == 1
    assert till.data["money"]["pos"] == ["CN¥", ""]
    assert till.data["texts"]["Scan to start a sale"] == "Scan to start a sale"
    page = api.client.get("/cashier")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    zh = api.client.get("/cashier?lang=zh-CN").text
    assert "扫码开始销售" in zh and '"To pay": "应付"' in zh
    assert api.client.get("/cashier/display").status_code == 200


def test_a_cash_sale_from_scan_to_receipt_and_the_z_report(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift(float_minor=20_000)
    assert till.get("/state?till=T1")["shift"]["id"] == shift["id"]
    found = till.get(f"/lookup?code={water_code(1)}")
    assert (found["product_id"], found["price_minor"]) == (w.products["water"], 250)
    assert [x["name"] for x in till.get("/search?q=面")] == ["面包 Bread"]
    assert till.get("/search?q=面")[0]["price_minor"] == 750  # the shop's price
    body = till.cart(shift["id"], {"barcode": water_code(1), "quantity_milli": 3000,
                                   "expected_amount_minor": 750},
                     expected_total_minor=750, tenders=[{"kind": "cash", "received_minor": 1000}])  # fmt: skip
    order = till.post("/orders", body, 201)
    assert (order["status"], order["receipt_no"], order["change_minor"]) == ("paid", "1-T1-1", 250)
    assert order["cashier_id"] == w.cashier_id
    assert till.post("/orders", body, 201)["id"] == order["id"]  # the same client_ref: once
    receipt = till.get(f"/orders/{order['id']}/receipt")
    assert "1-T1-1" in receipt["html"] and "<svg" in receipt["html"]
    assert api.client.get(receipt["url"].replace("http://testserver", "")).status_code == 200
    changes = till.get("/changes?since=0")
    assert changes["columns"][0] == "id" and len(changes["rows"]) == 4
    x = api.client.get(till.url(f"/shifts/{shift['id']}/report"), headers={"Accept-Language": "en"})
    assert x.status_code == 200 and "X report" in x.text
    z = till.post(f"/shifts/{shift['id']}/close", {"counted_cash_minor": 20_700})["report"]
    assert (z["kind"], z["expected_cash_minor"], z["over_short_minor"]) == ("Z", 20_750, -50)


def test_a_changed_price_needs_a_manager_in_the_same_request(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    line = {"product_id": w.products["bread"], "unit_price_minor": 500}
    refused = till.post("/orders", till.cart(shift["id"], line), 409)
    assert refused["code"] == "order.approval_required" and "price" in refused["detail"]
    wrong = {"login": w.manager_login, "password": "not it"}
    assert till.post("/orders", till.cart(shift["id"], line, approval=wrong), 409)["code"] == (
        "approval.wrong"
    )
    good = {"login": w.manager_login, "password": PASSWORD}
    made = till.post("/orders", till.cart(shift["id"], line, approval=good,
                                          tenders=[{"kind": "cash", "amount_minor": 500}]), 201)  # fmt: skip
    assert (made["status"], made["approved_by"]) == ("paid", w.manager_id)


def test_hold_recall_and_a_return_paid_back_in_cash(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    held = till.post("/orders", till.cart(shift["id"], {"barcode": water_code(1)}, hold=True), 201)
    assert held["status"] == "held"
    assert [x["id"] for x in till.get("/orders?status=held")] == [held["id"]]
    recalled = till.post(f"/orders/{held['id']}/recall", {"shift_id": shift["id"]})
    assert recalled["status"] == "open"
    paid = till.post(f"/orders/{held['id']}/tenders", {"kind": "cash", "received_minor": 250})
    assert paid["status"] == "paid"
    (sale,) = till.get(f"/orders?receipt_no={paid['receipt_no'].lower()}")
    assert sale["id"] == paid["id"]
    back = till.post(f"/orders/{sale['id']}/returns", {
        "client_ref": "r1", "shift_id": shift["id"],
        "lines": [{"line_id": sale["lines"][0]["id"], "quantity_milli": 1000}],
        "approval": {"login": w.manager_login, "password": PASSWORD},
    }, 201)  # fmt: skip
    assert (back["kind"], back["status"], back["total_minor"]) == ("return", "paid", 250)
    assert back["tenders"][0]["kind"] == "cash"


def test_a_wallet_code_that_is_declined_says_why(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    order = till.post("/orders", till.cart(shift["id"], {"barcode": water_code(1)}), 201)
    failed = till.post(f"/orders/{order['id']}/tenders",
                       {"kind": "wallet", "code": "280000000000000002"})  # fmt: skip
    tender = failed["tenders"][0]
    assert (tender["status"], tender["why"]) == ("failed", "Insufficient funds")
    assert failed["due_minor"] == 250
    canceled = till.post(f"/orders/{order['id']}/cancel")
    assert canceled["status"] == OrderStatus.CANCELED.value


def test_a_cashier_sells_only_in_their_shop(api: ApiEnv, w: World) -> None:
    """Shop 2's shift, orders and catalogue are out of reach of shop 1's cashier: as if
    they did not exist (or, naming shop 2's shift to sell, the seller is refused)."""
    other = Till(api, *CASHIER_2, shop=2)
    shift_2 = other.open_shift()
    order_2 = other.post("/orders", other.cart(shift_2["id"], {"barcode": water_code(1)},
                                               tenders=[{"kind": "cash", "amount_minor": 250}]), 201)  # fmt: skip
    api.client.cookies.clear()
    till = Till(api, *CASHIER_1)
    for path in ("/state", f"/lookup?code={water_code(1)}", "/changes", "/search?q=W"):
        r = api.client.get(f"/cashier/api{path}{'&' if '?' in path else '?'}shop=2")
        assert (r.status_code, r.json()["code"]) == (404, "shop.not_found"), path
    assert till.get(f"/orders/{order_2['id']}", 404)["code"] == "order.not_found"
    assert till.get(f"/orders/{order_2['id']}/receipt", 404)["code"] == "order.not_found"
    assert till.get(f"/shifts/{shift_2['id']}", 404)["code"] == "shift.not_found"
    assert till.post(f"/shifts/{shift_2['id']}/close", {"counted_cash_minor": 0}, 404)
    assert till.post(f"/orders/{order_2['id']}/returns", {
        "client_ref": "x", "shift_id": shift_2["id"], "lines": [{"line_id": 1, "quantity_milli": 1}],
        "approval": {"login": w.manager_login, "password": PASSWORD},
    }, 404)["code"] == "order.not_found"  # fmt: skip
    sold = till.post("/orders", till.cart(shift_2["id"], {"barcode": water_code(1)}), 409)
    assert sold["code"] == "seller.not_here"
    assert api.client.get("/cashier?shop=2").status_code == 200  # the page: their own shop
    assert till.get("/state")["shift"] is None


def test_another_merchants_people_reach_nothing_of_it(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    order = till.post("/orders", till.cart(shift["id"], {"barcode": water_code(1)},
                                           tenders=[{"kind": "cash", "amount_minor": 250}]), 201)  # fmt: skip
    api.client.cookies.clear()
    assert portal_sign_in(api, demo_owner(2), DEMO_PASSWORD).status_code == 303
    page = api.client.get("/cashier?shop=1&lang=en")
    data = json.loads(DATA.search(page.text).group(1))  # type: ignore[union-attr]
    headers = {"X-CSRF-Token": data["csrf"]}
    for path in (f"/orders/{order['id']}", f"/orders/{order['id']}/receipt",
                 f"/shifts/{shift['id']}", f"/shifts/{shift['id']}/report"):  # fmt: skip
        assert api.client.get(f"/cashier/api{path}?shop=1").status_code == 404, path
    for path, body in ((f"/orders/{order['id']}/cancel", {}),
                       (f"/orders/{order['id']}/hold", {}),
                       (f"/shifts/{shift['id']}/close", {"counted_cash_minor": 0})):  # fmt: skip
        r = api.client.post(f"/cashier/api{path}?shop=1", json=body, headers=headers)
        assert r.status_code == 404, path
    lookup = api.client.get(f"/cashier/api/lookup?shop=1&code={water_code(1)}")
    assert lookup.json()["code"] == "product.unknown_code"  # merchant 2's catalogue
    with api.tp.ctx.db.read() as s:
        from tillpoint.store.models import Order

        assert s.get_one(Order, order["id"]).status is OrderStatus.PAID


def test_a_display_on_another_device_follows_its_till_and_no_other(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shown = {"type": "cart", "merchant": "演示超市1", "total": 500, "due": 500,
             "lines": [{"name": "矿泉水 Water", "qty": "2", "amount": 500}]}  # fmt: skip
    assert till.post("/display?till=T1", shown) == {"version": 1}
    assert till.get("/display?till=T1") == {"version": 1, "message": shown}
    assert till.get("/display?till=T1&after=1&wait_s=0.2") == {"version": 1, "message": shown}
    qr = {
        "type": "qr",
        "total": 500,
        "due": 500,
        "src": "/cashier/api/orders/7/tenders/9/qr.svg?shop=1",
    }
    assert till.post("/display?till=T1", qr) == {"version": 2}
    assert till.get("/display?till=T1&after=1&wait_s=5") == {"version": 2, "message": qr}
    assert till.get("/display?till=T2") == {"version": 0, "message": None}
    for bad in ({"type": "dance"}, {**qr, "src": "https://elsewhere.example/qr.svg"},
                {**shown, "colour": "red"}, {**shown, "total": 1.5}):  # fmt: skip
        assert till.post("/display?till=T1", bad, 422)
    assert till.post("/display?till=../x", shown, 422)
    assert till.get("/display?till=T1")["version"] == 2  # nothing changed
    api.client.cookies.clear()
    Till(api, *CASHIER_2, shop=2)  # shop 2's cashier: not shop 1's display
    r = api.client.get("/cashier/api/display?shop=1&till=T1")
    assert (r.status_code, r.json()["code"]) == (404, "shop.not_found")
    api.client.cookies.clear()
    other = Till(api, demo_owner(2), DEMO_PASSWORD)  # another merchant: a display of its own
    assert other.get("/display?till=T1") == {"version": 0, "message": None}


def cashier_routes(api: ApiEnv) -> list[tuple[str, str]]:
    found = []
    for route in fastapi.routing.iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        if route.methods and route.path.startswith("/cashier"):
            path = PARAM.sub("1", route.path)
            found += [(m, path) for m in sorted(route.methods) if m != "HEAD"]
    return found


def test_every_door_signed_out_as_staff_and_without_the_csrf_token(api: ApiEnv, w: World) -> None:
    routes = cashier_routes(api)
    assert ("GET", "/cashier") in routes and ("POST", "/cashier/api/orders") in routes
    for method, path in routes:
        r = api.client.request(method, path + "?shop=1", follow_redirects=False)
        if path.startswith("/cashier/api"):
            assert r.status_code == 401, (method, path)
        else:
            assert r.status_code == 303, (method, path)
            assert r.headers["location"].startswith("/portal/sign-in?next=/cashier"), (method, path)
    assert console_sign_in(api, DEMO_ADMIN, DEMO_PASSWORD).status_code == 303
    for method, path in routes:
        r = api.client.request(method, path + "?shop=1", follow_redirects=False)
        assert r.status_code == 403, (method, path, r.status_code)
    api.client.cookies.clear()
    Till(api, *CASHIER_1)
    for method, path in routes:
        if method == "POST":
            r = api.client.post(path + "?shop=1", json={}, follow_redirects=False)
            assert r.status_code == 403, (method, path, r.status_code)


def test_owners_and_managers_sell_in_any_shop_of_theirs(api: ApiEnv, w: World) -> None:
    till = Till(api, demo_owner(1), DEMO_PASSWORD, shop=2)
    assert [s["number"] for s in till.data["state"]["shops"]] == [1, 2]
    assert till.landed == "/portal"
    shift = till.open_shift("front-2")
    order = till.post("/orders", till.cart(shift["id"], {"barcode": water_code(1)},
                                           tenders=[{"kind": "cash", "amount_minor": 250}]), 201)  # fmt: skip
    assert (order["shop_number"], order["cashier_id"]) == (2, w.owner_id)
    menu = api.client.get("/portal?lang=en").text
    assert 'href="/cashier"' in menu


def test_malformed_input_is_refused_and_changes_nothing(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    bad = [
        {"client_ref": "x", "shift_id": shift["id"], "lines": []},
        {"client_ref": "x", "shift_id": shift["id"], "lines": [{"product_id": 1, "quantity_milli": 0}]},
        {"client_ref": "x", "shift_id": shift["id"], "lines": [{"product_id": 1, "discount_percent": "10.555"}]},
        {"client_ref": "x", "shift_id": shift["id"], "lines": [{"product_id": 1}], "surprise": 1},
        {"client_ref": "x", "shift_id": shift["id"], "lines": [{"product_id": 1, "quantity_milli": 1.5}]},
    ]  # fmt: skip
    for body in bad:
        assert till.post("/orders", body, 422)["code"] == "request.invalid", body
    assert till.post("/orders", till.cart(shift["id"], {"product_id": w.products["water"],
                                                        "quantity_milli": 1500}), 422)["code"] == (
        "order.whole_pieces"
    )  # fmt: skip
    assert till.get("/orders/99999999999", 404)["code"] == "order.not_found"
    assert till.get("/orders", 422)["code"] == "cashier.list"
    r = api.client.get("/cashier/api/lookup?shop=abc&code=1")
    assert r.status_code == 422
    assert till.get("/orders?status=held") == []
