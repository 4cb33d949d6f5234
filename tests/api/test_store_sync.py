"""Selling offline through HTTP (docs/offline.md): a page's receipt block, a batch of its
offline sales synced and synced again, each answered (synced, already synced, refused
with its reason in the caller's language), what needs a look listed; and tenancy: a
till of merchant B cannot sync into A's shop, use A's page or block, or sell under A's
shift."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiEnv
from tests.selling import World, shop_world


@pytest.fixture
def w(api: ApiEnv) -> World:
    return shop_world(api.tp, 1)


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def open_shift(api: ApiEnv, who: str, cashier: int, till: str = "T1") -> int:
    body = {"shop_number": 1, "till": till, "float_minor": 0, "cashier_id": cashier}
    return int(ok(api.post(who, "/v1/shifts", body), 201)["id"])


def block(api: ApiEnv, who: str, page: str, size: int = 100, **kw: Any) -> Any:
    body = {"shop_number": 1, "till": "T1", "page_id": page, "size": size, **kw}
    return ok(api.post(who, "/v1/tills/receipt-blocks", body), 201)


def sale(api: ApiEnv, shift: int, receipt_no: str, product: int, price: int = 250,
         n: int = 2, **kw: Any) -> dict[str, Any]:  # fmt: skip
    total = price * n
    made = (api.tp.ctx.now() + timedelta(seconds=30)).isoformat()
    return {
        "client_ref": str(uuid.uuid4()), "receipt_no": receipt_no, "made_at": made,
        "shift_id": shift,
        "lines": [{"product_id": product, "name": "矿泉水 Water", "unit": "瓶",
                   "quantity_milli": n * 1000, "list_price_minor": price,
                   "unit_price_minor": price, "amount_minor": total}],
        "subtotal_minor": total, "total_minor": total,
        "tenders": [{"kind": "cash", "amount_minor": total, "received_minor": total + 500,
                     "change_minor": 500}],
    } | kw  # fmt: skip


def sync(api: ApiEnv, who: str, page: str, *orders: dict[str, Any],
         http: dict[str, Any] | None = None) -> Any:  # fmt: skip
    body = {"shop_number": 1, "till": "T1", "page_id": page, "orders": list(orders)}
    if http is not None:
        return api.client.post("/v1/orders/sync", json=body, **http)
    return api.post(who, "/v1/orders/sync", body)


def test_a_page_syncs_its_offline_sales_once(api: ApiEnv, w: World) -> None:
    shift = open_shift(api, "staff_a", w.cashier_id)
    page = str(uuid.uuid4())
    b = block(api, "staff_a", page, 3)
    assert (b["first_receipt_no"], b["last_receipt_no"], b["fallback_prefix"]) == (
        "1-T1-1",
        "1-T1-3",
        "1-T1-P1.",
    )
    water = w.products["water"]
    sales = [sale(api, shift, no, water) for no in ("1-T1-1", "1-T1-2", "1-T1-P1.1")]
    bad = sale(api, shift, "1-T1-3", water, total_minor=1)
    answer = ok(sync(api, "staff_a", page, *sales, bad))
    assert (answer["synced"], answer["already_synced"], answer["refused"]) == (3, 0, 1)
    assert [r["status"] for r in answer["results"]] == ["synced"] * 3 + ["refused"]
    assert answer["results"][3]["code"] == "sync.total" and answer["results"][3]["needs_look"]
    assert answer["results"][2]["flags"] == ["stock_negative", "fallback_number"]
    order = ok(api.get("owner_a", f"/v1/orders/{answer['results'][0]['order_id']}"))
    assert (order["receipt_no"], order["status"], order["total_minor"]) == ("1-T1-1", "paid", 500)
    # Again, with the fixed one: the others already synced, nothing written twice.
    fixed = sale(api, shift, "1-T1-3", water)
    again = ok(sync(api, "staff_a", page, fixed, *sales))
    assert [r["status"] for r in again["results"]] == ["synced"] + ["already_synced"] * 3
    assert [r["order_id"] for r in again["results"][1:]] == [
        r["order_id"] for r in answer["results"][:3]
    ]
    listed = ok(api.get("owner_a", "/v1/orders", params={"shift_id": shift}))["data"]
    assert len(listed) == 4
    looks = ok(api.get("owner_a", "/v1/offline-orders", params={"needs_look": "true"}))
    assert len(looks["data"]) == 4 and looks["data"][0]["flags"] == ["stock_negative"]
    assert looks["data"][0]["lines"][0]["level_milli"] == -8000
    # The reason in the caller's language.
    zh = sync(api, "staff_a", page, sale(api, shift, "1-T1-99", water),
              http={"headers": {**api.headers("staff_a"), "Accept-Language": "zh-CN"}})  # fmt: skip
    assert ok(zh)["results"][0]["code"] == "sync.receipt_no"


def test_a_page_made_known_numbers_in_its_own_form(api: ApiEnv, w: World) -> None:
    shift = open_shift(api, "staff_a", w.cashier_id)
    page = str(uuid.uuid4())
    body = {"shop_number": 1, "till": "T1", "page_id": page}
    known = ok(api.post("staff_a", "/v1/tills/pages", body))
    assert (known["object"], known["page_number"], known["receipt_prefix"]) == (
        "till_page", 1, "1-T1-P1.",
    )  # fmt: skip
    assert ok(api.post("staff_a", "/v1/tills/pages", body)) == known  # once
    answer = ok(sync(api, "staff_a", page, sale(api, shift, "1-T1-P1.1", w.products["water"])))
    assert answer["results"][0]["flags"] == ["stock_negative"]  # not "fallback_number"
    # It took none of the till's numbers: a block starts at the first.
    assert block(api, "staff_a", page, 5)["first_receipt_no"] == "1-T1-1"
    r = api.post("staff_a", "/v1/tills/pages", {**body, "till": "T 1"})
    assert r.status_code == 422
    r = api.post("ops", "/v1/tills/pages", body)
    assert (r.status_code, r.json()["code"]) == (422, "till_page.mid_required")
    assert ok(api.post("ops", "/v1/tills/pages", {**body, "mid": api.mid_a})) == known


def test_a_batch_of_the_wrong_shape_is_refused_whole(api: ApiEnv, w: World) -> None:
    shift = open_shift(api, "staff_a", w.cashier_id)
    page = str(uuid.uuid4())
    block(api, "staff_a", page)
    one = sale(api, shift, "1-T1-1", w.products["water"])
    for broken in ({**one, "made_at": "2026-11-25T10:00:00"},  # no offset
                   {**one, "total_minor": 1.5}, {**one, "lines": []}):  # fmt: skip
        r = sync(api, "staff_a", page, broken)
        assert r.status_code == 422, r.text
    assert ok(api.get("owner_a", "/v1/orders"))["data"] == []
    # A time that cannot be put on the server's clock: that order refused, not a 500.
    for far in ("0001-01-01T00:00:00+23:00", "9999-12-31T23:59:59-23:00"):
        answer = ok(sync(api, "staff_a", page, {**one, "made_at": far}))
        assert answer["results"][0]["code"] == "sync.made_at_range"
    too_many = api.post("staff_a", "/v1/orders/sync", {"shop_number": 1, "till": "T1",
                        "page_id": page, "orders": [one] * 501})  # fmt: skip
    assert too_many.status_code == 422
    unknown = sync(api, "staff_a", str(uuid.uuid4()), one)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "till_page.not_found")
    reviewer = sync(api, "reviewer", page, one)
    assert reviewer.status_code == 403


def test_a_till_of_b_cannot_sync_into_a(api: ApiEnv, w: World) -> None:
    b_world = shop_world(api.tp, 2)
    shift_a = open_shift(api, "staff_a", w.cashier_id)
    shift_b = open_shift(api, "owner_b", b_world.cashier_id)
    page_a, page_b = str(uuid.uuid4()), str(uuid.uuid4())
    block(api, "staff_a", page_a)
    b_block = block(api, "owner_b", page_b)
    assert b_block["first_receipt_no"] == "1-T1-1"  # B's own till T1 of its own shop 1
    water_a, water_b = w.products["water"], b_world.products["water"]
    # A's page, named by B's key in B's shop: no such page there.
    r = sync(api, "owner_b", page_a, sale(api, shift_b, "1-T1-1", water_b))
    assert (r.status_code, r.json()["code"]) == (404, "till_page.not_found")
    # A's third shop (B has two): as one that does not exist.
    api.tp.merchants.add_shop(api.mid_a, "三店 Third shop", "3 Road", "test")
    r = api.post("owner_b", "/v1/orders/sync", {"shop_number": 3, "till": "T1",
                 "page_id": page_a, "orders": [sale(api, shift_a, "3-T1-1", water_a)]})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (404, "shop.not_found")
    r = api.post("owner_b", "/v1/tills/receipt-blocks",
                 {"shop_number": 3, "till": "T1", "page_id": page_a})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (404, "shop.not_found")
    # B's own page, with A's shift, A's product or A's cashier: each order refused.
    answer = ok(sync(api, "owner_b", page_b, sale(api, shift_a, "1-T1-1", water_b),
                     sale(api, shift_b, "1-T1-2", water_a),
                     sale(api, shift_b, "1-T1-3", water_b, cashier_id=w.cashier_id)))  # fmt: skip
    assert [(x["status"], x["code"]) for x in answer["results"]] == [
        ("refused", "shift.not_found"), ("refused", "product.not_found"),
        ("refused", "account.not_found"),
    ]  # fmt: skip
    # Nothing of A's moved, and B's list shows B's alone.
    assert ok(api.get("owner_a", "/v1/orders"))["data"] == []
    assert ok(api.get("owner_b", "/v1/offline-orders"))["data"] == []
    r = api.get("owner_b", "/v1/offline-orders", params={"mid": api.mid_a})
    assert r.status_code == 404
    # Operations name the merchant.
    r = api.post("ops", "/v1/tills/receipt-blocks", {"shop_number": 1, "till": "T1",
                 "page_id": page_a})  # fmt: skip
    assert (r.status_code, r.json()["code"]) == (422, "receipt_block.mid_required")
    made = block(api, "ops", page_a, 5, mid=api.mid_a)
    assert made["page_number"] == 1 and made["first_number"] == 101
