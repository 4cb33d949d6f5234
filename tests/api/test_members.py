"""The members' API as the till uses it: sign up, find by mobile number, show points and
coupons, sell to a member redeeming points and a coupon, return; the owner's programme,
coupons, exports and erasure; the acquirer's keys kept out; and the mobile number never
in clear in any column of any table, nor in the logs."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import LargeBinary, String, Text, select
from sqlalchemy.types import JSON

from tests.api.conftest import ApiEnv
from tests.selling import World, shop_world, water_code
from tillpoint.access.models import IdempotencyRecord
from tillpoint.core.db import Base

NUMBER = "15900001234"


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def selling(api: ApiEnv) -> tuple[World, int]:
    w = shop_world(api.tp, 1)
    body = {"shop_number": 1, "till": "T1", "float_minor": 0, "cashier_id": w.cashier_id}
    return w, ok(api.post("staff_a", "/v1/shifts", body), 201)["id"]


def sign_up(api: ApiEnv, mobile: str = NUMBER, **kw: Any) -> Any:
    body = {"mobile": mobile, "consent": {"membership": True}, **kw}
    return api.post("staff_a", "/v1/members", body)


def test_the_till_signs_up_finds_and_sells_to_a_member(api: ApiEnv) -> None:
    w, shift = selling(api)
    refused = sign_up(api, consent={"membership": False})
    assert (refused.status_code, refused.json()["code"]) == (422, "member.consent_required")
    made = ok(sign_up(api, "159 0000 1234", name="赵六", birthday="1991-02-03",
                      tags=["vip"], consent={"membership": True, "marketing": True}), 201)  # fmt: skip
    assert made["mobile"] == "159****1234" and made["marketing"] is True
    assert NUMBER not in str(made)
    again = sign_up(api)
    assert (again.status_code, again.json()["code"]) == (409, "member.mobile_taken")
    # At the till: the number typed or scanned, in the body.
    found = ok(api.client.post("/v1/members/lookup", json={"mobile": NUMBER},
                               headers={"Authorization": f"Bearer {api.keys['staff_a']}"}))  # fmt: skip
    assert found["id"] == made["id"] and found["points"] == 0
    missing = api.client.post("/v1/members/lookup", json={"mobile": "15900009999"},
                              headers={"Authorization": f"Bearer {api.keys['staff_a']}"})  # fmt: skip
    assert (missing.status_code, missing.json()["code"]) == (404, "member.mobile_not_found")
    # The owner gives points and a coupon; the till redeems both on an order.
    member = made["id"]
    ok(api.post("owner_a", f"/v1/members/{member}/points", {"points": 250, "note": "gift"}), 201)
    coupon = {"name": "满20减5", "kind": "amount", "amount_minor": 500, "min_spend_minor": 2000}
    (issued,) = ok(api.post("owner_a", "/v1/coupons", {"coupon": coupon, "member_id": member}),
                   201)["data"]  # fmt: skip
    shown = ok(api.get("staff_a", f"/v1/coupons/{issued['code'].lower()}"))
    assert shown["usable"] is True
    order = ok(api.post("staff_a", "/v1/orders", {
        "client_ref": "m-1", "shift_id": shift, "member_id": member, "redeem_points": "max",
        "coupon_codes": [issued["code"]],
        "lines": [{"barcode": water_code(1), "quantity_milli": 10_000}],
        "tenders": [{"kind": "cash", "received_minor": 10_000}],
    }), 201)  # fmt: skip
    # 25.00 - 5.00 coupon - 2.00 (200 of 250 points: whole steps of 100) = 18.00
    assert (order["status"], order["total_minor"], order["discount_minor"]) == ("paid", 1800, 700)
    assert order["loyalty"]["points_redeemed"] == 200
    assert order["loyalty"]["points_earned"] == 18
    assert order["loyalty"]["coupons"][0]["discount_minor"] == 500
    ledger = ok(api.get("staff_a", f"/v1/members/{member}/points"))["data"]
    assert [(e["kind"], e["points"], e["balance"]) for e in ledger] == [
        ("earned", 18, 68), ("redeemed", -200, 50), ("adjusted", 250, 250),
    ]  # fmt: skip
    history = ok(api.get("staff_a", f"/v1/members/{member}/history"))
    assert (history["sales"], history["spend_minor"], history["segment"]) == (1, 1800, "new")
    assert history["favourites"][0]["name"] == "矿泉水 Water"
    # A return of half: 9 of the 18 points back out, 100 of the 200 redeemed back in.
    back = ok(api.post("staff_a", f"/v1/orders/{order['id']}/returns", {
        "client_ref": "m-1-r", "shift_id": shift,
        "lines": [{"line_id": order["lines"][0]["id"], "quantity_milli": 5000}],
        "approval": {"login": w.manager_login, "password": "manager-secret-1"},
    }), 201)  # fmt: skip
    assert back["status"] == "paid" and back["loyalty"]["points_taken_back"] == 9
    assert back["loyalty"]["points_restored"] == 100
    assert ok(api.get("staff_a", f"/v1/members/{member}"))["points"] == 68 - 9 + 100


def test_the_owner_runs_the_programme_and_the_lists(api: ApiEnv) -> None:
    ok(sign_up(api, tags=["vip"]), 201)
    programme = {
        "points_per_yuan": "2", "redeem_points": 50, "redeem_minor": 100,
        "levels": [{"name": "Gold", "min_spend_minor": 100000, "discount_percent": "5"}],
        "notice_version": "2026-11",
    }  # fmt: skip
    staff = api.client.put("/v1/loyalty", json=programme, headers=api.headers("staff_a"))
    assert staff.status_code == 403
    got = ok(api.client.put("/v1/loyalty", json=programme, headers=api.headers("owner_a")))
    assert got["points_per_yuan"] == "2" and got["levels"][0]["name"] == "Gold"
    assert ok(api.get("staff_a", "/v1/loyalty"))["notice_version"] == "2026-11"
    template = ok(api.post("owner_a", "/v1/coupon-templates",
                           {"name": "生日券", "kind": "percent", "percent": "10"}), 201)  # fmt: skip
    assert ok(api.get("staff_a", "/v1/coupon-templates"))["data"][0]["id"] == template["id"]
    rows = ok(api.get("staff_a", "/v1/members", params={"tag": "vip"}))["data"]
    assert [r["mobile"] for r in rows] == ["159****1234"]
    segments = ok(api.get("owner_a", "/v1/members/segments"))["data"]
    assert {s["segment"]: s["members"] for s in segments}["prospects"] == 1
    csv = api.get("owner_a", "/v1/members/export", params={"format": "csv"})
    assert csv.status_code == 200 and "159****1234" in csv.text and NUMBER not in csv.text
    xlsx = api.get("owner_a", "/v1/members/export", params={"format": "xlsx", "tag": "vip"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet["B2"].value == "159****1234"
    assert api.get("staff_a", "/v1/members/export").status_code == 403


def test_a_members_own_file_and_erasure(api: ApiEnv) -> None:
    member = ok(sign_up(api, name="孙七"), 201)["id"]
    assert api.get("staff_a", f"/v1/members/{member}/export").status_code == 403
    own = api.get("owner_a", f"/v1/members/{member}/export")
    assert own.status_code == 200 and "attachment" in own.headers["content-disposition"]
    assert own.json()["member"]["mobile"] == NUMBER
    withdrawn = ok(api.post("staff_a", f"/v1/members/{member}/consents/marketing/withdraw",
                            {"channel": "till"}), 409)  # fmt: skip
    assert withdrawn["code"] == "member.consent_not_given"
    ok(api.post("staff_a", f"/v1/members/{member}/consents", {"purpose": "marketing"}))
    gone = ok(api.client.delete(f"/v1/members/{member}", headers=api.headers("owner_a")))
    assert gone["status"] == "erased" and gone["mobile"] is None and gone["name"] is None
    again = api.get("owner_a", f"/v1/members/{member}/export")
    assert again.status_code == 409


@pytest.mark.parametrize("who", ["ops", "reviewer", "risk"])
def test_the_acquirers_keys_see_no_member(api: ApiEnv, who: str) -> None:
    member = ok(sign_up(api), 201)["id"]
    for path in ("/v1/members", f"/v1/members/{member}", "/v1/loyalty", "/v1/coupons"):
        r = api.get(who, path)
        assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden"), path


def test_the_number_is_never_in_clear_in_the_database_or_the_logs(
    api: ApiEnv, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _w, shift = selling(api)
    member = ok(sign_up(api, "+86 159-0000-1234", name="周八"), 201)["id"]
    ok(api.client.post("/v1/members/lookup", json={"mobile": NUMBER},
                       headers=api.headers("staff_a")))  # fmt: skip
    bad = api.post("staff_a", "/v1/members", {"mobile": NUMBER + "9", "consent": {}})
    assert bad.status_code == 422 and NUMBER not in bad.text
    ok(api.client.patch(f"/v1/members/{member}", json={"mobile": "15900005678"},
                        headers=api.headers("staff_a")))  # fmt: skip
    ok(api.client.patch(f"/v1/members/{member}", json={"mobile": NUMBER},
                        headers=api.headers("staff_a")))  # fmt: skip
    ok(api.post("staff_a", "/v1/orders", {
        "client_ref": "p-1", "shift_id": shift, "member_id": member,
        "lines": [{"barcode": water_code(1)}], "tenders": [{"kind": "cash", "amount_minor": 250}],
    }), 201)  # fmt: skip
    for path in (f"/v1/members/{member}/export", "/v1/members/export"):
        assert api.get("owner_a", path).status_code == 200
    clear = [NUMBER, "15900005678"]
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


def test_a_request_is_remembered_by_a_keyed_fingerprint(api: ApiEnv) -> None:
    """The Idempotency-Key record keeps a keyed digest of the body: a plain hash of a
    sign-up's body would let whoever reads the database test guessed mobile numbers."""
    body = json.dumps({"mobile": NUMBER, "consent": {"membership": True}}).encode()
    headers = {**api.headers("staff_a", idempotency="fingerprint-1"),
               "Content-Type": "application/json"}  # fmt: skip
    ok(api.client.post("/v1/members", content=body, headers=headers), 201)
    with api.tp.ctx.db.read() as s:
        stored = s.scalars(
            select(IdempotencyRecord.fingerprint).where(IdempotencyRecord.key == "fingerprint-1")
        ).one()
    plain = hashlib.sha256(b"POST /v1/members\n" + body).hexdigest()
    keyed = api.tp.ctx.keystore.token(
        f"POST /v1/members {hashlib.sha256(body).hexdigest()}", kind="idempotency"
    )
    assert stored == keyed != plain
