"""/v1/stock over HTTP: a receipt, a transfer received at the other shop, a count
booked, an adjustment, reorder levels and the low list, the value at cost and the
history; quantities as decimal text only; refusals are problem documents and change
nothing; merchant keys write their own shops' stock, operations keys only read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_tenant_matrix import database_rows
from tillpoint.store.models import Product, SoldBy

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def products(api: ApiEnv, mid: str, *specs: tuple[str, SoldBy, int | None]) -> list[int]:
    """Products of merchant ``mid`` (sku, sold by, cost), as the catalogue would make them."""
    merchant_id = api.merchant_id(mid)
    made = []
    with api.tp.ctx.db.transaction() as s:
        for sku, sold_by, cost in specs:
            p = Product(merchant_id=merchant_id, sku=sku, name=f"商品 {sku} Item {sku}",
                        unit="kg" if sold_by is SoldBy.WEIGHT else "瓶", sold_by=sold_by,
                        price_minor=500, cost_minor=cost, currency="CNY", active=True,
                        revision=1, created_at=AT, updated_at=AT)  # fmt: skip
            s.add(p)
            s.flush()
            made.append(p.id)
    return made


@pytest.fixture
def stocked(api: ApiEnv) -> tuple[int, int]:
    """Merchant A with a second shop and two products: cola (pieces, 2.50) and rice
    (kg, 4.56)."""
    r = api.post("owner_a", f"/v1/merchants/{api.mid_a}/shops",
                 {"name": "二店 Second", "address": "上海市南京西路2号"})  # fmt: skip
    assert r.status_code == 201, r.text
    cola, rice = products(api, api.mid_a, ("COLA", SoldBy.PIECE, 250), ("RICE", SoldBy.WEIGHT, 456))
    return cola, rice


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def refused(api: ApiEnv, r: Any, status: int, code: str, before: Any) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code, r.text
    assert database_rows(api.tp) == before


def test_a_shops_stock_from_delivery_to_count(api: ApiEnv, stocked: tuple[int, int]) -> None:
    cola, rice = stocked
    receipt = ok(api.post("staff_a", "/v1/stock/receipts", {
        "shop": 1, "supplier": "华联批发 Hualian", "document": "DN-0001",
        "lines": [{"product_id": cola, "quantity": "24", "unit_cost_minor": 230},
                  {"product_id": rice, "quantity": "10.5"}],
    }), 201)  # fmt: skip
    assert receipt["total_cost_minor"] == 24 * 230 + 4788
    assert [x["level"] for x in receipt["lines"]] == ["24", "10.5"]

    t = ok(api.post("owner_a", "/v1/stock/transfers", {
        "from_shop": 1, "to_shop": 2, "note": "周末 weekend",
        "lines": [{"product_id": cola, "quantity": "10"}, {"product_id": rice, "quantity": "2"}],
    }), 201)  # fmt: skip
    assert t["status"] == "sent"
    got = ok(api.post("staff_a", f"/v1/stock/transfers/{t['id']}/receive", {"lines": [
        {"product_id": cola, "quantity": "9"}, {"product_id": rice, "quantity": "2"}]}))  # fmt: skip
    assert got["status"] == "received" and got["short"] is True
    assert ok(api.get("owner_a", f"/v1/stock/transfers/{t['id']}"))["lines"][0]["shortfall"] == "1"

    count = ok(api.post("owner_a", "/v1/stock/counts", {"shop": 1, "note": "盘点"}), 201)
    path = f"/v1/stock/counts/{count['id']}"
    ok(api.post("owner_a", path + "/lines", {"lines": [{"product_id": cola, "quantity": "10"}]}))
    ok(api.post("staff_a", path + "/lines", {"lines": [{"product_id": cola, "quantity": "3"}]}))
    entered = ok(api.post("staff_a", path + "/lines", {
        "mode": "set", "lines": [{"product_id": rice, "quantity": "8.25"}]}))  # fmt: skip
    assert {x["sku"]: x["counted"] for x in entered["lines"]} == {"COLA": "13", "RICE": "8.25"}
    booked = ok(api.post("owner_a", path + "/book", {}))
    assert {x["sku"]: (x["book"], x["difference"]) for x in booked["lines"]} == {
        "COLA": ("14", "-1"), "RICE": ("8.5", "-0.25")}  # fmt: skip
    assert (booked["scope"], booked["scope_category_id"]) == ("counted", None)
    assert ok(api.get("owner_a", path))["scope"] == "counted"

    adjusted = ok(api.post("owner_a", "/v1/stock/adjustments", {
        "shop": 2, "reason": "expired", "lines": [{"product_id": rice, "quantity": "-0.5"}]}), 201)  # fmt: skip
    assert adjusted["lines"][0]["level"] == "1.5"
    r = api.client.put("/v1/stock/reorder_levels", headers=api.headers("owner_a"),
                       json={"shop": 2, "product_id": rice, "reorder": "2"})  # fmt: skip
    assert ok(r)["low"] is True

    low = ok(api.get("staff_a", "/v1/stock/levels", params={"low": "true"}))["data"]
    assert [(x["shop_number"], x["sku"], x["quantity"], x["reorder"]) for x in low] == [
        (2, "RICE", "1.5", "2")]  # fmt: skip
    shop_1 = ok(api.get("owner_a", "/v1/stock/levels", params={"shop": 1}))["data"]
    assert [(x["sku"], x["quantity"], x["value_minor"]) for x in shop_1] == [
        ("COLA", "13", 3250), ("RICE", "8.25", 3762)]  # fmt: skip
    values = ok(api.get("owner_a", "/v1/stock/value"))["data"]
    # 13 x 2.50 + 8.25 x 4.56 = 70.12; 9 x 2.50 + 1.5 x 4.56 = 29.34
    assert [(v["shop_number"], v["value_minor"], v["low"]) for v in values] == [
        (1, 7012, 0), (2, 2934, 1)]  # fmt: skip

    # The history, newest first, a page at a time.
    first = ok(api.get("owner_a", "/v1/stock/movements", params={"shop": 1, "limit": 3}))
    assert [(m["kind"], m["sku"], m["quantity"]) for m in first["data"]] == [
        ("count", "RICE", "-0.25"),
        ("count", "COLA", "-1"),
        ("transfer_out", "RICE", "-2"),
    ]
    assert first["has_more"] is True
    rest = ok(api.get("owner_a", "/v1/stock/movements",
                      params={"shop": 1, "cursor": first["next_cursor"]}))  # fmt: skip
    assert [(m["kind"], m["document"], m["reason"]) for m in rest["data"]] == [
        ("transfer_out", None, None), ("receipt", "DN-0001", "华联批发 Hualian"),
        ("receipt", "DN-0001", "华联批发 Hualian")]  # fmt: skip
    assert all(m["created_by"].startswith("api:") for m in rest["data"])
    page_1 = ok(api.get("owner_a", "/v1/stock/levels", params={"limit": 1}))
    page_2 = ok(api.get("owner_a", "/v1/stock/levels", params={"cursor": page_1["next_cursor"]}))
    assert len(page_1["data"]) + len(page_2["data"]) == 4 and not page_2["has_more"]

    # Operations read a merchant's, and change nothing.
    seen = ok(api.get("reviewer", "/v1/stock/levels", params={"mid": api.mid_a, "shop": 2}))
    assert [x["sku"] for x in seen["data"]] == ["COLA", "RICE"]
    assert ok(api.get("owner_b", "/v1/stock/movements"))["data"] == []


def test_bad_input_is_a_clear_problem_and_changes_nothing(
    api: ApiEnv, stocked: tuple[int, int]
) -> None:
    cola, rice = stocked
    ok(api.post("owner_a", "/v1/stock/receipts", {"shop": 1, "supplier": "S", "document": "D1",
                                                   "lines": [{"product_id": cola, "quantity": "5"}]}),
       201)  # fmt: skip
    before = database_rows(api.tp)

    def line(quantity: Any, product: int = cola) -> dict[str, Any]:
        return {
            "shop": 1,
            "supplier": "S",
            "lines": [{"product_id": product, "quantity": quantity}],
        }

    for body, status, code in [
        (line(1.5), 422, "request.invalid"),  # a JSON number: never
        (line(2), 422, "request.invalid"),
        (line("1.2345"), 422, "stock.quantity_malformed"),
        (line("1e3"), 422, "stock.quantity_malformed"),
        (line("1.5"), 422, "stock.whole_pieces"),
        (line("-1"), 422, "stock.quantity_sign"),
        (line("1", 999_999), 404, "product.not_found"),
        ({**line("1"), "shop": 7}, 404, "shop.not_found"),
        ({**line("1"), "lines": []}, 422, "request.invalid"),
        ({**line("1"), "supplier": "a\x00b"}, 422, "request.invalid"),
        ({**line("1"), "document": "D1"}, 409, "stock.receipt_booked"),
    ]:  # fmt: skip
        refused(api, api.post("owner_a", "/v1/stock/receipts", body), status, code, before)
    send = {"from_shop": 1, "to_shop": 2, "lines": [{"product_id": cola, "quantity": "6"}]}
    refused(api, api.post("owner_a", "/v1/stock/transfers", send), 409, "stock.transfer_short",
            before)  # fmt: skip
    adjust = {"shop": 1, "reason": "found", "lines": [{"product_id": rice, "quantity": "-1"}]}
    refused(api, api.post("owner_a", "/v1/stock/adjustments", adjust), 422,
            "stock.adjust_direction", before)  # fmt: skip
    refused(api, api.post("owner_a", "/v1/stock/adjustments", {**adjust, "reason": "lost"}), 422,
            "request.invalid", before)  # fmt: skip
    # Operations keys read only; a staff key of another merchant finds nothing.
    for who in ("ops", "reviewer", "risk"):
        refused(api, api.post(who, "/v1/stock/counts", {"shop": 1}), 403, "auth.forbidden", before)
    refused(api, api.get("ops", "/v1/stock/levels", params={"shop": 1}), 422,
            "stock.mid_required", before)  # fmt: skip
    refused(api, api.get("owner_a", "/v1/stock/levels", params={"cursor": "bm9wZQ"}), 400,
            "page.cursor", before)  # fmt: skip
    refused(api, api.get("owner_b", "/v1/stock/levels", params={"mid": api.mid_a}), 404,
            "merchant.not_found", before)  # fmt: skip
    r = api.client.put("/v1/stock/reorder_levels", headers=api.headers("owner_a"),
                       json={"shop": 1, "product_id": cola, "reorder": "-2"})  # fmt: skip
    refused(api, r, 422, "stock.quantity_sign", before)
    # In the caller's language.
    r = api.client.post("/v1/stock/receipts", json=line("1.5"),
                        headers={**api.headers("owner_a"), "Accept-Language": "zh-CN"})  # fmt: skip
    assert "整" in r.json()["detail"], r.text


def test_a_receipt_sent_twice_under_one_key_is_booked_once(
    api: ApiEnv, stocked: tuple[int, int]
) -> None:
    cola, _rice = stocked
    body = {"shop": 1, "supplier": "S", "lines": [{"product_id": cola, "quantity": "5"}]}
    headers = api.headers("owner_a", idempotency="delivery-1")
    first = api.client.post("/v1/stock/receipts", json=body, headers=headers)
    again = api.client.post("/v1/stock/receipts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201 and first.content == again.content
    levels = ok(api.get("owner_a", "/v1/stock/levels", params={"product_id": cola}))["data"]
    assert [x["quantity"] for x in levels] == ["5"]


def test_a_transfer_received_without_a_body_arrives_as_sent(
    api: ApiEnv, stocked: tuple[int, int]
) -> None:
    cola, _rice = stocked
    line = {"product_id": cola, "quantity": "4"}
    ok(api.post("owner_a", "/v1/stock/receipts", {"shop": 1, "supplier": "S", "lines": [line]}),
       201)  # fmt: skip
    t = ok(api.post("owner_a", "/v1/stock/transfers",
                    {"from_shop": 1, "to_shop": 2, "lines": [line]}), 201)  # fmt: skip
    got = ok(api.client.post(f"/v1/stock/transfers/{t['id']}/receive",
                             headers=api.headers("staff_a")))  # fmt: skip
    assert (got["status"], got["short"], got["lines"][0]["received"]) == ("received", False, "4")
    again = api.client.post(
        f"/v1/stock/transfers/{t['id']}/receive", headers=api.headers("staff_a")
    )
    assert (again.status_code, again.json()["code"]) == (409, "stock.transfer_closed")
    levels = ok(api.get("owner_a", "/v1/stock/levels", params={"product_id": cola}))["data"]
    assert [(x["shop_number"], x["quantity"]) for x in levels] == [(1, "0"), (2, "4")]
