"""The resource routes: merchants and review, shops, terminals, operators, fee plans,
settlements and payouts. Each family: what it does, who may (403 otherwise), that a
merchant's key finds another merchant's objects exactly as missing ones (404), that
malformed requests are 422 problem documents, and that secrets are shown once."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from tests.api.conftest import ApiEnv
from tests.conftest import resident_id
from tillpoint.core.clock import FixedClock
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind

PROBLEM = "application/problem+json"
NO_MID = "898310054119999"  # well formed, no such merchant
NO_TID = "19999999"

PERSONAL: dict[str, Any] = {
    "kind": "personal",
    "legal_name": "李四 Li Si",
    "mcc": "5812",
    "region_code": "3100",
    "contact_name": "李四 Li Si",
    "contact_phone": "13912345678",
    "bank_name": "工商银行 ICBC",
    "bank_account_name": "李四 Li Si",
    "bank_account_no": "6212340000000000012",
    "shop_address": "上海市黄浦区南京东路1号",
    "id_number": resident_id("31010119900101001"),
}


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code and body["status"] == status, body
    return body


def invalid(response: Any, *fields: str) -> None:
    """A malformed request: 422 with where each problem is."""
    body = problem(response, 422, "request.invalid")
    assert {e["location"] for e in body["errors"]} >= set(fields), body


def missing_alike(theirs: Any, missing: Any, ref: str, no_ref: str) -> None:
    """Another merchant's object answers as one that does not exist."""
    a, b = theirs.json(), missing.json()
    assert theirs.status_code == missing.status_code == 404
    assert (a["code"], a["title"]) == (b["code"], b["title"])
    assert a["detail"].replace(ref, "?") == b["detail"].replace(no_ref, "?")


# --- merchants ---------------------------------------------------------------------------


def test_an_application_through_review(api: ApiEnv) -> None:
    applied = ok(api.post("ops", "/v1/merchants", json=PERSONAL), 201)
    assert (applied["status"], applied["mid"]) == ("submitted", None)
    assert applied["bank_account_masked"].endswith("0012")
    text = api.get("ops", f"/v1/merchants/{applied['id']}").text
    assert PERSONAL["bank_account_no"] not in text and PERSONAL["id_number"] not in text
    ref = str(applied["id"])

    review = ok(api.post("reviewer", f"/v1/merchants/{ref}/start_review"))
    assert review["status"] == "under_review"
    approved = ok(api.post("reviewer", f"/v1/merchants/{ref}/approve", json={"reason": "ok"}))
    assert approved["status"] == "approved" and approved["mid"].startswith("8983100581")
    history = ok(api.get("ops", f"/v1/merchants/{approved['mid']}/history"))
    assert [e["to_status"] for e in history["data"]] == ["submitted", "under_review", "approved"]
    assert history["data"][-1]["reason"] == "ok"
    problem(api.post("reviewer", f"/v1/merchants/{ref}/approve", json={}), 409, "merchant.already")


def test_a_rejection_needs_a_reason(api: ApiEnv) -> None:
    ref = str(ok(api.post("ops", "/v1/merchants", json=PERSONAL), 201)["id"])
    invalid(api.post("reviewer", f"/v1/merchants/{ref}/reject", json={}), "body.reason")
    problem(
        api.post("reviewer", f"/v1/merchants/{ref}/reject", json={"reason": " "}),
        422,
        "reason.required",
    )
    rejected = ok(api.post("reviewer", f"/v1/merchants/{ref}/reject", json={"reason": "fake"}))
    assert (rejected["status"], rejected["status_reason"]) == ("rejected", "fake")


def test_applications_are_checked(api: ApiEnv) -> None:
    invalid(api.post("ops", "/v1/merchants", json={**PERSONAL, "kind": "alien"}), "body.kind")
    invalid(api.post("ops", "/v1/merchants", json={"kind": "personal"}), "body.legal_name")
    bad_id = {**PERSONAL, "id_number": "310101199001010013"}
    problem(api.post("ops", "/v1/merchants", json=bad_id), 422, "application.id_number")
    assert ok(api.get("ops", "/v1/merchants?status=submitted"))["data"] == []


def test_suspend_reinstate_close(api: ApiEnv) -> None:
    path = f"/v1/merchants/{api.mid_a}"
    suspended = ok(api.post("ops", f"{path}/suspend", json={"reason": "chargebacks"}))
    assert suspended["status"] == "suspended"
    assert ok(api.get("owner_a", path))["status"] == "suspended"  # its keys still read
    assert ok(api.post("ops", f"{path}/reinstate", json={"reason": "cleared"}))["status"] == (
        "approved"
    )
    problem(
        api.post("ops", f"{path}/close", json={"reason": "gone"}), 409, "merchant.has_terminals"
    )


def test_who_may_submit_review_and_suspend(api: ApiEnv) -> None:
    for who in ("reviewer", "owner_a", "staff_a"):
        problem(api.post(who, "/v1/merchants", json=PERSONAL), 403, "auth.forbidden")
    ref = str(ok(api.post("ops", "/v1/merchants", json=PERSONAL), 201)["id"])
    for action in ("start_review", "approve"):
        problem(
            api.post("owner_a", f"/v1/merchants/{ref}/{action}", json={}), 403, "auth.forbidden"
        )
    for action in ("suspend", "reinstate", "close"):
        response = api.post("reviewer", f"/v1/merchants/{api.mid_a}/{action}", json={"reason": "x"})
        problem(response, 403, "auth.forbidden")
    problem(api.client.get("/v1/merchants"), 401, "auth.missing")


def test_merchant_lists_page_and_keep_to_the_tenant(api: ApiEnv) -> None:
    first = ok(api.get("ops", "/v1/merchants?limit=1"))
    assert first["has_more"] and [m["mid"] for m in first["data"]] == [api.mid_a]
    second = ok(api.get("ops", f"/v1/merchants?limit=1&cursor={first['next_cursor']}"))
    assert [m["mid"] for m in second["data"]] == [api.mid_b] and not second["has_more"]
    assert ok(api.get("ops", "/v1/merchants?status=submitted"))["data"] == []
    for who in ("owner_a", "staff_a"):
        assert [m["mid"] for m in ok(api.get(who, "/v1/merchants"))["data"]] == [api.mid_a]
    assert ok(api.get("owner_a", "/v1/merchants?kind=personal"))["data"] == []
    problem(api.get("ops", "/v1/merchants?cursor=nonsense"), 400, "page.cursor")
    invalid(api.get("ops", "/v1/merchants?limit=1000"), "query.limit")


def test_another_merchant_is_missing(api: ApiEnv) -> None:
    own_id = api.merchant_id(api.mid_a)
    assert ok(api.get("owner_a", f"/v1/merchants/{own_id}"))["mid"] == api.mid_a
    other = api.merchant_id(api.mid_b)
    for tail in ("", "/history", "/shops", "/fee_plan", "/fee_plan/history"):
        missing_alike(
            api.get("owner_a", f"/v1/merchants/{api.mid_b}{tail}"),
            api.get("ops", f"/v1/merchants/{NO_MID}{tail}"),
            api.mid_b,
            NO_MID,
        )
        assert api.get("owner_a", f"/v1/merchants/{other}{tail}").status_code == 404
    missing_alike(
        api.post(
            "owner_b", f"/v1/merchants/{api.mid_a}/shops", json={"name": "x", "address": "1 Road"}
        ),
        api.post("ops", f"/v1/merchants/{NO_MID}/shops", json={"name": "x", "address": "1 Road"}),
        api.mid_a,
        NO_MID,
    )


# --- shops -------------------------------------------------------------------------------


def test_shops(api: ApiEnv) -> None:
    path = f"/v1/merchants/{api.mid_a}/shops"
    shop = {"name": "演示超市 徐汇店", "address": "上海市徐汇区漕溪北路88号"}
    added = ok(api.post("owner_a", path, json=shop), 201)
    assert (added["number"], added["status"], added["region_code"]) == (2, "open", "3100")
    assert [s["number"] for s in ok(api.get("staff_a", path))["data"]] == [1, 2]
    problem(api.post("owner_a", path, json=shop), 409, "shop.duplicate_name")
    problem(api.post("staff_a", path, json=shop), 403, "auth.forbidden")
    problem(api.post("reviewer", f"{path}/2/close"), 403, "auth.forbidden")
    assert api.post("owner_b", f"{path}/2/close").status_code == 404
    assert ok(api.post("owner_a", f"{path}/2/close"))["status"] == "closed"
    problem(api.post("owner_a", f"{path}/1/close"), 409, "shop.has_terminals")
    problem(api.post("owner_a", f"{path}/7/close"), 404, "shop.not_found")
    invalid(api.post("owner_a", f"{path}/0/close"), "path.number")


# --- terminals ---------------------------------------------------------------------------


def test_the_fleet_and_its_secrets(api: ApiEnv) -> None:
    made = api.post("ops", "/v1/terminals", json={"serial_no": "SN-P2-000123", "model": "P2"})
    provisioned = ok(made, 201)
    assert made.headers["cache-control"] == "no-store"
    tmk, tid = provisioned["tmk_hex"], provisioned["terminal"]["tid"]
    assert len(tmk) == 32 and provisioned["terminal"]["status"] == "in_stock"
    assert ok(api.get("ops", f"/v1/terminals/{tid}"))["tmk_kcv"] == provisioned["tmk_kcv"]

    answer = api.post("ops", f"/v1/terminals/{tid}/bind", json={"mid": api.mid_a})
    bound = ok(answer)
    password = bound["supervisor_password"]
    assert answer.headers["cache-control"] == "no-store" and len(password) == 6
    assert (bound["terminal"]["mid"], bound["terminal"]["shop_number"]) == (api.mid_a, 1)
    assert api.tp.terminals.verify_operator(tid, "00", password)

    assert ok(api.post("ops", f"/v1/terminals/{tid}/ship", json={"note": "SF1"}))["status"] == (
        "shipped"
    )
    invalid(api.post("ops", f"/v1/terminals/{tid}/freeze", json={}), "body.reason")
    frozen = ok(api.post("ops", f"/v1/terminals/{tid}/freeze", json={"reason": "lost"}))
    assert (frozen["status"], frozen["status_reason"]) == ("frozen", "lost")
    assert (
        ok(api.post("ops", f"/v1/terminals/{tid}/unfreeze", json={"reason": "found"}))["status"]
        == "shipped"
    )
    problem(api.post("ops", f"/v1/terminals/{tid}/retire", json={"reason": "old"}), 409,
            "terminal.bad_transition")  # fmt: skip
    assert (
        ok(api.post("ops", f"/v1/terminals/{tid}/unbind", json={"reason": "returned"}))["status"]
        == "in_stock"
    )
    assert (
        ok(api.post("ops", f"/v1/terminals/{tid}/retire", json={"reason": "old"}))["status"]
        == "retired"
    )
    history = ok(api.get("ops", f"/v1/terminals/{tid}/history"))["data"]
    assert [e["to_status"] for e in history] == [
        "in_stock", "bound", "shipped", "frozen", "shipped", "in_stock", "retired",
    ]  # fmt: skip

    # The secrets were shown once; no read returns them.
    for who, path in (
        ("ops", f"/v1/terminals/{tid}"),
        ("ops", "/v1/terminals?limit=100"),
        ("ops", f"/v1/terminals/{tid}/history"),
        ("ops", "/v1/audit_log?limit=100"),
    ):
        text = api.get(who, path).text
        assert tmk not in text and password not in text, path


def test_fleet_actions_are_for_operations(api: ApiEnv) -> None:
    for who in ("reviewer", "owner_a", "staff_a"):
        response = api.post(who, "/v1/terminals", json={"serial_no": "SN-X-0001", "model": "P2"})
        problem(response, 403, "auth.forbidden")
        for action in ("ship", "freeze", "unfreeze", "unbind"):
            response = api.post(who, f"/v1/terminals/{api.tid_a}/{action}", json={"reason": "x"})
            problem(response, 403, "auth.forbidden")
    invalid(api.post("ops", "/v1/terminals", json={"serial_no": "SN-X-0001"}), "body.model")
    problem(api.post("ops", "/v1/terminals", json={"serial_no": "!", "model": "P2"}), 422,
            "terminal.malformed_serial")  # fmt: skip
    problem(api.post("ops", f"/v1/terminals/{api.tid_a}/bind", json={"mid": api.mid_b}), 409,
            "terminal.bound_elsewhere")  # fmt: skip


def test_terminal_lists_keep_to_the_tenant(api: ApiEnv) -> None:
    everything = ok(api.get("ops", "/v1/terminals"))["data"]
    assert [t["tid"] for t in everything] == [api.tid_a, api.tid_b]
    assert [t["tid"] for t in ok(api.get("ops", f"/v1/terminals?mid={api.mid_b}"))["data"]] == [
        api.tid_b
    ]
    assert ok(api.get("ops", "/v1/terminals?status=frozen"))["data"] == []
    page = ok(api.get("ops", "/v1/terminals?limit=1"))
    assert page["has_more"] and len(page["data"]) == 1
    for who in ("owner_a", "staff_a"):
        assert [t["tid"] for t in ok(api.get(who, "/v1/terminals"))["data"]] == [api.tid_a]
    missing_alike(
        api.get("owner_a", f"/v1/terminals?mid={api.mid_b}"),
        api.get("ops", f"/v1/terminals?mid={NO_MID}"),
        api.mid_b,
        NO_MID,
    )
    for tail in ("", "/history", "/operators"):
        missing_alike(
            api.get("owner_b", f"/v1/terminals/{api.tid_a}{tail}"),
            api.get("ops", f"/v1/terminals/{NO_TID}{tail}"),
            api.tid_a,
            NO_TID,
        )
    problem(api.get("ops", "/v1/terminals/x"), 422, "terminal.malformed_tid")


# --- operators ---------------------------------------------------------------------------


def test_operators(api: ApiEnv) -> None:
    path = f"/v1/terminals/{api.tid_a}/operators"
    cashier = {"code": "002", "password": "4826", "name": "王芳 Wang Fang"}
    added = api.post("owner_a", path, json=cashier)
    assert "4826" not in added.text
    assert ok(added, 201)["role"] == "operator"
    assert [o["code"] for o in ok(api.get("staff_a", path))["data"]] == ["00", "001", "002"]
    assert "4826" not in api.get("owner_a", path).text

    changed = ok(api.post("owner_a", f"{path}/002/password", json={"password": "1357"}))
    assert changed["locked"] is False
    assert api.tp.terminals.verify_operator(api.tid_a, "002", "1357")
    problem(api.post("owner_a", f"{path}/002/password", json={"password": "12"}), 422,
            "operator.password_format")  # fmt: skip
    problem(api.post("owner_a", path, json={**cashier, "code": "abc"}), 422, "operator.code_format")
    problem(api.post("owner_a", path, json=cashier), 409, "operator.exists")

    assert api.client.delete(f"{path}/002", headers=api.headers("owner_a")).status_code == 204
    assert [o["code"] for o in ok(api.get("ops", path))["data"]] == ["00", "001"]
    response = api.client.delete(f"{path}/00", headers=api.headers("owner_a"))
    problem(response, 409, "operator.supervisor_required")


def test_operators_belong_to_the_terminals_merchant(api: ApiEnv) -> None:
    path = f"/v1/terminals/{api.tid_a}/operators"
    cashier = {"code": "003", "password": "4826"}
    for who in ("staff_a", "reviewer"):
        problem(api.post(who, path, json=cashier), 403, "auth.forbidden")
        problem(api.client.delete(f"{path}/001", headers=api.headers(who)), 403, "auth.forbidden")
    missing_alike(
        api.post("owner_b", path, json=cashier),
        api.post("ops", f"/v1/terminals/{NO_TID}/operators", json=cashier),
        api.tid_a,
        NO_TID,
    )
    missing_alike(
        api.post("owner_b", f"{path}/001/password", json={"password": "1111"}),
        api.post(
            "ops", f"/v1/terminals/{NO_TID}/operators/001/password", json={"password": "1111"}
        ),
        api.tid_a,
        NO_TID,
    )
    assert api.client.delete(f"{path}/001", headers=api.headers("owner_b")).status_code == 404
    assert api.tp.terminals.verify_operator(api.tid_a, "001", "1234")  # untouched


# --- fee plans ---------------------------------------------------------------------------

RATES = {
    "debit": {"rate_percent": "0.50", "cap_minor": 2000},
    "credit": {"rate_percent": "0.60"},
    "contactless": {"rate_percent": "0.38"},
    "foreign": {"rate_percent": "1.5"},
    "alipay": {"rate_percent": "0.38"},
    "wechat": {"rate_percent": "0.38"},
    "unionpay_qr": {"rate_percent": "0.3"},
}


def test_fee_plans(api: ApiEnv, clock: FixedClock) -> None:
    plan = {"code": "BIZ-2027", "name": "Business 2027", "rates": RATES}
    made = ok(api.post("ops", "/v1/fee_plans", json=plan), 201)
    rates = {r["method"]: (r["rate_percent"], r["cap_minor"]) for r in made["rates"]}
    assert rates["debit"] == ("0.50", 2000) and rates["foreign"] == ("1.5", None)
    assert made["data_fee_minor"] == 3600
    assert ok(api.get("reviewer", "/v1/fee_plans/BIZ-2027")) == made
    codes = [p["code"] for p in ok(api.get("ops", "/v1/fee_plans"))["data"]]
    assert "BIZ-2027" in codes and len(codes) >= 3
    problem(api.post("ops", "/v1/fee_plans", json=plan), 409, "fee.plan_exists")
    problem(api.get("ops", "/v1/fee_plans/NOPE"), 404, "fee.plan_not_found")

    path = f"/v1/merchants/{api.mid_a}/fee_plan"
    default = ok(api.get("staff_a", path))["code"]
    tomorrow = (api.tp.ctx.today() + timedelta(days=1)).isoformat()
    move = {"plan_code": "BIZ-2027", "reason": "volume", "effective_from": tomorrow}
    moved = ok(api.post("ops", path, json=move), 201)
    assert (moved["plan_code"], moved["effective_from"]) == ("BIZ-2027", tomorrow)
    history = ok(api.get("owner_a", f"{path}/history"))["data"]
    assert [a["plan_code"] for a in history] == [default, "BIZ-2027"]
    assert ok(api.get("owner_a", path))["code"] == default
    clock.advance(timedelta(days=1))
    assert ok(api.get("owner_a", path))["code"] == "BIZ-2027"
    yesterday = (api.tp.ctx.today() - timedelta(days=1)).isoformat()
    problem(
        api.post(
            "ops", path, json={"plan_code": "BIZ-2027", "reason": "x", "effective_from": yesterday}
        ),
        422,
        "fee.backdated",
    )


def test_rates_are_decimal_strings(api: ApiEnv) -> None:
    def create(**rates: Any) -> Any:
        body = {"code": "BIZ-X", "name": "X", "rates": {**RATES, **rates}}
        return api.post("ops", "/v1/fee_plans", json=body)

    invalid(create(debit={"rate_percent": 0.5}), "body.rates.debit.rate_percent")
    invalid(create(debit={"rate_percent": "half"}), "body.rates.debit.rate_percent")
    invalid(create(debit={"rate_percent": "0.5", "cap_minor": 20.5}), "body.rates.debit.cap_minor")
    invalid(create(bitcoin={"rate_percent": "1"}), "body.rates.bitcoin.[key]")
    problem(create(debit={"rate_percent": "0.12345"}), 422, "fee.rate_precision")
    problem(create(debit={"rate_percent": "11"}), 422, "fee.rate_range")
    problem(create(debit={"rate_percent": "0.5", "cap_minor": -1}), 422, "fee.cap_negative")
    rates = dict(RATES)
    del rates["wechat"]
    response = api.post("ops", "/v1/fee_plans", json={"code": "BIZ-X", "name": "X", "rates": rates})
    problem(response, 422, "fee.plan_incomplete")
    assert api.get("ops", "/v1/fee_plans/BIZ-X").status_code == 404  # nothing was made


def test_fee_plans_are_the_acquirers(api: ApiEnv) -> None:
    for who in ("owner_a", "staff_a"):
        problem(api.get(who, "/v1/fee_plans"), 403, "auth.forbidden")
        problem(api.get(who, "/v1/fee_plans/BIZ-STD"), 403, "auth.forbidden")
    for who in ("reviewer", "owner_a"):
        body = {"code": "BIZ-Y", "name": "Y", "rates": RATES}
        problem(api.post(who, "/v1/fee_plans", json=body), 403, "auth.forbidden")
        body = {"plan_code": "BIZ-STD", "reason": "x"}
        problem(api.post(who, f"/v1/merchants/{api.mid_a}/fee_plan", json=body), 403,
                "auth.forbidden")  # fmt: skip


# --- settlements and payouts -------------------------------------------------------------


def settle(api: ApiEnv, *sales: tuple[str, int]) -> str:
    """Book sales, close the day and settle it; the business date."""
    tp = api.tp
    with tp.ctx.db.transaction() as s:
        for mid, amount in sales:
            ledger.post(s, EntryKind.CAPTURE, ledger.capture_lines("CUP", mid, amount, amount // 100),
                        business_date=tp.days.open_date(), at=tp.ctx.now(), memo="test")  # fmt: skip
    day = tp.days.cut_off("ops")
    tp.settlement.run(day)
    return day.isoformat()


def test_settlements(api: ApiEnv) -> None:
    day = settle(api, (api.mid_a, 10_000), (api.mid_b, 20_000))
    rows = ok(api.get("reviewer", f"/v1/settlements?business_date={day}"))["data"]
    assert [(r["mid"], r["gross_minor"], r["fees_minor"], r["payout_minor"]) for r in rows] == [
        (api.mid_a, 10_000, 100, 9_900),
        (api.mid_b, 20_000, 200, 19_800),
    ]
    a, b = rows
    assert ok(api.get("ops", f"/v1/settlements/{b['id']}")) == b
    assert ok(api.get("ops", f"/v1/settlements?mid={api.mid_b}"))["data"] == [b]
    assert ok(api.get("ops", "/v1/settlements?business_date=2020-01-01"))["data"] == []
    first = ok(api.get("ops", "/v1/settlements?limit=1"))
    assert first["data"] == [a] and first["has_more"]
    assert ok(api.get("ops", f"/v1/settlements?cursor={first['next_cursor']}"))["data"] == [b]

    assert ok(api.get("staff_a", "/v1/settlements"))["data"] == [a]
    assert ok(api.get("owner_a", f"/v1/settlements/{a['id']}")) == a
    missing_alike(
        api.get("owner_a", f"/v1/settlements/{b['id']}"),
        api.get("ops", "/v1/settlements/999999"),
        str(b["id"]),
        "999999",
    )
    missing_alike(
        api.get("owner_a", f"/v1/settlements?mid={api.mid_b}"),
        api.get("owner_a", f"/v1/settlements?mid={NO_MID}"),
        api.mid_b,
        NO_MID,
    )
    invalid(api.get("ops", "/v1/settlements?business_date=yesterday"), "query.business_date")
    invalid(api.get("ops", "/v1/settlements/0"), "path.id")


def test_payouts_and_holds(api: ApiEnv, clock: FixedClock) -> None:
    first = settle(api, (api.mid_a, 10_000), (api.mid_b, 20_000))
    payouts = ok(api.get("ops", "/v1/payouts"))["data"]
    assert [(p["mid"], p["amount_minor"], p["status"]) for p in payouts] == [
        (api.mid_a, 9_900, "paid"),
        (api.mid_b, 19_800, "paid"),
    ]
    assert payouts[0]["bank_account_masked"].endswith("0001")
    day = date.fromisoformat(payouts[0]["business_date"])
    assert payouts[0]["reference"] in api.tp.settlement.payout_file(day)
    assert ok(api.get("owner_b", "/v1/payouts"))["data"] == [payouts[1]]
    assert api.get("owner_b", f"/v1/payouts?mid={api.mid_a}").status_code == 404

    hold = f"/v1/merchants/{api.mid_a}/payout_hold"
    invalid(api.post("ops", hold, json={}), "body.reason")
    for who in ("reviewer", "owner_a"):
        problem(api.post(who, hold, json={"reason": "x"}), 403, "auth.forbidden")
    assert api.post("ops", hold, json={"reason": "chargeback"}).status_code == 204
    problem(api.post("ops", hold, json={"reason": "again"}), 409, "settle.already_held")

    clock.advance(timedelta(days=1))
    second = settle(api, (api.mid_a, 5_000))
    assert second != first
    (held,) = ok(api.get("owner_a", "/v1/payouts?status=held"))["data"]
    assert (held["amount_minor"], held["payout_date"]) == (4_950, None)

    release = f"/v1/merchants/{api.mid_a}/payout_release"
    problem(api.post("owner_a", release), 403, "auth.forbidden")
    (released,) = ok(api.post("ops", release))["data"]
    assert (released["business_date"], released["status"]) == (second, "paid")
    assert ok(api.get("ops", "/v1/payouts?status=held"))["data"] == []
    problem(api.post("ops", release), 409, "settle.not_held")
