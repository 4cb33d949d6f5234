"""Members at the till over the page's session (``/cashier/api/members...``, ``/quote``):
a cashier signs a customer up with their consent (the notice's version checked), finds
them, prices the cart for them and sells; another merchant's people find none of it
(their look-up finds nobody, the member's id is 404, their snapshot lists their own);
and the number, through every one of these paths and an offline sale synced, is never in
clear in any column of any table nor in the logs."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, select

from tests.api.conftest import ApiEnv
from tests.api.test_cashier import CASHIER_1, DATA, Till
from tests.api.test_portal_home import portal_sign_in
from tests.membership import ten_off
from tests.selling import World, shop_world, water_code
from tillpoint.core.db import Base
from tillpoint.demo import DEMO_PASSWORD, demo_owner
from tillpoint.store.member_models import Channel, MemberConsent

NUMBER = "15900004321"


@pytest.fixture
def w(api: ApiEnv) -> World:
    return shop_world(api.tp, 1)


def _sign_up(till: Till, mobile: str = NUMBER, status: int = 201, **more: object) -> Any:
    programme = till.get("/members/programme")["programme"]
    body = {"mobile": mobile, "consent": {"membership": True,
                                          "notice_version": programme["notice_version"]}, **more}  # fmt: skip
    return till.post("/members", body, status)


def test_sign_up_find_quote_and_sell_at_the_till(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    assert till.post("/members/lookup", {"mobile": NUMBER}) == {"member": None}
    refused = till.post("/members", {"mobile": NUMBER, "consent": {"membership": False}}, 422)
    assert refused["code"] == "member.consent_required" and NUMBER not in json.dumps(refused)
    stale = till.post("/members", {"mobile": NUMBER, "consent": {"membership": True,
                                                                  "notice_version": "0"}}, 409)  # fmt: skip
    assert stale["code"] == "member.notice_changed"
    made = _sign_up(till, "159 0000 4321", name="钱七")
    assert (made["mobile"], made["name"], made["points"]) == ("159****4321", "钱七", 0)
    with api.tp.ctx.db.read() as s:
        consent = s.scalars(
            select(MemberConsent).where(MemberConsent.member_id == made["id"])
        ).one()
    assert (consent.channel, consent.granted_by) == (Channel.TILL, f"account {w.cashier_id}")
    assert _sign_up(till, status=409)["code"] == "member.mobile_taken"
    found = till.post("/members/lookup", {"mobile": "+86 159-0000-4321"})["member"]
    assert found["id"] == made["id"] and NUMBER not in json.dumps(found)
    api.tp.members.adjust(made["id"], 400, "t", merchant_id=w.merchant_id, by="t")
    cart = {"shift_id": shift["id"], "lines": [{"barcode": water_code(1), "quantity_milli": 4000}],
            "member_id": made["id"], "redeem_points": "max"}  # fmt: skip
    quote = till.post("/quote", cart)
    assert (quote["subtotal_minor"], quote["points_redeemed"], quote["total_minor"]) == (
        1000,
        400,
        600,
    )
    assert quote["points_earned"] == 6 and quote["points_balance"] == 400
    assert till.get(f"/members/{made['id']}")["points"] == 400  # the quote took nothing
    order = till.post("/orders", {
        "client_ref": str(uuid.uuid4()), "shift_id": shift["id"], "lines": cart["lines"],
        "member_id": made["id"], "redeem_points": 400, "expected_total_minor": 600,
        "tenders": [{"kind": "cash", "received_minor": 1000}],
    }, 201)  # fmt: skip
    assert order["status"] == "paid" and order["total_minor"] == 600
    assert order["loyalty"]["points_earned"] == 6 and order["loyalty"]["points_balance_after"] == 6
    html = till.get(f"/orders/{order['id']}/receipt")["html"]
    assert "159****4321" in html and "POINTS BALANCE" in html and NUMBER not in html
    snap = till.get("/members/snapshot")
    assert [(x["id"], x["mobile"]) for x in snap["members"]] == [(made["id"], "159****4321")]
    assert NUMBER not in json.dumps(snap)
    later = till.get("/members/snapshot?since=" + snap["as_of"].replace("+", "%2B"))
    assert [x["id"] for x in later["members"]] == [made["id"]]  # within the overlap


def test_another_merchants_till_finds_none_of_its_members(api: ApiEnv, w: World) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    member = _sign_up(till)
    coupon = api.tp.coupons.issue(w.merchant_id, value=ten_off(), member_id=member["id"],
                                  by="t")[0].code  # fmt: skip
    api.client.cookies.clear()
    assert portal_sign_in(api, demo_owner(2), DEMO_PASSWORD).status_code == 303
    page = api.client.get("/cashier?shop=1&lang=en")
    data = json.loads(DATA.search(page.text).group(1))  # type: ignore[union-attr]
    headers = {"X-CSRF-Token": data["csrf"], "Accept-Language": "en"}

    def post(path: str, body: object) -> tuple[int, Any]:
        r = api.client.post(f"/cashier/api{path}?shop=1", json=body, headers=headers)
        return r.status_code, r.json()

    assert post("/members/lookup", {"mobile": NUMBER}) == (200, {"member": None})
    r = api.client.get(f"/cashier/api/members/{member['id']}?shop=1", headers=headers)
    assert (r.status_code, r.json()["code"]) == (404, "member.not_found")
    r = api.client.get(f"/cashier/api/coupons/{coupon}?shop=1", headers=headers)
    assert (r.status_code, r.json()["code"]) == (404, "coupon.not_found")
    status, answer = post(
        "/quote", {"shift_id": shift["id"], "lines": [{"barcode": water_code(1)}]}
    )
    assert (status, answer["code"]) == (404, "shift.not_found")  # A's shift
    state = data["state"]
    own = api.tp.shifts.open(state["merchant"]["id"], 1, "B1", 0, state["account"]["id"])
    status, answer = post("/quote", {"shift_id": own.id, "member_id": member["id"],
                                     "lines": [{"barcode": water_code(1)}]})  # fmt: skip
    assert (status, answer["code"]) == (404, "member.not_found")
    snap = api.client.get("/cashier/api/members/snapshot?shop=1", headers=headers).json()
    assert snap["members"] == [] and snap["member_prices"] == []


def test_the_number_is_never_in_clear_through_the_till(
    api: ApiEnv, w: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    member = _sign_up(till, "159-0000-4321", name="孙九")
    till.post("/members/lookup", {"mobile": "159 0000 4321"})
    till.post("/members/lookup", {"mobile": "15900009999"})  # nobody
    till.post("/members", {"mobile": "15900009999", "consent": {"membership": False}}, 422)
    till.post("/quote", {"shift_id": shift["id"], "member_id": member["id"],
                         "lines": [{"barcode": water_code(1)}]})  # fmt: skip
    till.post("/orders", {"client_ref": "m-1", "shift_id": shift["id"], "member_id": member["id"],
                          "lines": [{"barcode": water_code(1)}],
                          "tenders": [{"kind": "cash", "received_minor": 250}]}, 201)  # fmt: skip
    till.get("/members/snapshot")
    # an offline sale of the member, synced
    page_id = str(uuid.uuid4())
    block = api.tp.offline.reserve_block(w.merchant_id, 1, "T1", page_id, 10)
    made_at = (api.tp.ctx.now() + timedelta(seconds=1)).isoformat()
    sale = {"client_ref": str(uuid.uuid4()), "receipt_no": block.first_receipt_no,
            "made_at": made_at, "shift_id": shift["id"], "member_id": member["id"],
            "lines": [{"product_id": w.products["water"], "name": "矿泉水 Water", "unit": "瓶",
                       "quantity_milli": 1000, "list_price_minor": 250, "unit_price_minor": 250,
                       "amount_minor": 250}],
            "subtotal_minor": 250, "total_minor": 250,
            "tenders": [{"kind": "cash", "amount_minor": 250, "received_minor": 250}]}  # fmt: skip
    synced = api.post("staff_a", "/v1/orders/sync",
                      {"shop_number": 1, "till": "T1", "page_id": page_id, "orders": [sale]})  # fmt: skip
    assert synced.status_code == 200 and synced.json()["synced"] == 1, synced.text
    assert api.tp.members.get(member["id"], merchant_id=w.merchant_id).points == 4
    clear = [NUMBER, "15900009999"]
    found = []
    with api.tp.ctx.db.read() as s:
        for table in Base.metadata.sorted_tables:
            columns = [
                c for c in table.columns if isinstance(c.type, String | Text | LargeBinary | JSON)
            ]
            if not columns:
                continue
            for row in s.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    if any(n.encode() in raw for n in clear):
                        found.append(f"{table.name}.{column.name}")
    assert found == []
    logged = "\n".join(r.getMessage() + str(r.args) for r in caplog.records)
    assert caplog.records and not any(n in logged for n in clear)
