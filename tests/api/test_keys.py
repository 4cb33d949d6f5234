"""API keys and the audit log over the API: who may make, see and revoke which keys,
that a secret is shown once, and who reads which part of the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.api.test_resources import invalid, missing_alike, ok, problem
from tillpoint.access.models import IdempotencyRecord, Role


def key_ids(api: ApiEnv, who: str, query: str = "") -> list[int]:
    return [k["id"] for k in ok(api.get(who, f"/v1/api_keys{query}"))["data"]]


def test_a_key_is_made_shown_once_and_works(api: ApiEnv) -> None:
    body = {"role": "merchant_staff", "name": "Front desk", "mid": api.mid_a}
    answer = api.post("ops", "/v1/api_keys", json=body)
    made = ok(answer, 201)
    secret, key = made["secret"], made["key"]
    assert answer.headers["cache-control"] == "no-store"
    assert secret.startswith("tp_") and secret.startswith(key["prefix"])
    assert (key["role"], key["mid"], key["name"], key["revoked_at"]) == (
        "merchant_staff", api.mid_a, "Front desk", None,
    )  # fmt: skip

    new = {"Authorization": f"Bearer {secret}"}
    assert [m["mid"] for m in api.client.get("/v1/merchants", headers=new).json()["data"]] == [
        api.mid_a
    ]
    for who, path in (
        ("ops", f"/v1/api_keys/{key['id']}"),
        ("ops", "/v1/api_keys?limit=100"),
        ("owner_a", "/v1/api_keys"),
        ("ops", "/v1/audit_log?limit=100"),
    ):
        text = api.get(who, path).text
        assert secret not in text and "secret" not in text, path
    assert ok(api.get("ops", f"/v1/api_keys/{key['id']}"))["last_used_at"] is not None


def test_a_replay_repeats_the_answer_but_the_secret_is_never_stored_in_clear(
    api: ApiEnv,
) -> None:
    headers = api.headers("ops", idempotency="make-a-key-once")
    body = {"role": "reviewer", "name": "Audit"}
    first = api.client.post("/v1/api_keys", headers=headers, json=body)
    again = api.client.post("/v1/api_keys", headers=headers, json=body)
    secret = ok(first, 201)["secret"]
    assert again.content == first.content  # the caller who made it, within a day
    assert again.headers["cache-control"] == "no-store"
    with api.tp.ctx.db.read() as s:
        stored = s.scalars(select(IdempotencyRecord.body)).all()
    assert stored and all(b is not None and secret.encode() not in b for b in stored)
    assert all(b'"secret"' not in (b or b"") for b in stored)


def test_a_merchant_owner_makes_keys_for_its_own_merchant(api: ApiEnv) -> None:
    made = ok(
        api.post("owner_a", "/v1/api_keys", json={"role": "merchant_staff", "name": "Till 2"}), 201
    )
    assert (made["key"]["mid"], made["key"]["created_by"]) == (
        api.mid_a,
        "api:" + api.keys["owner_a"][:12],
    )
    problem(api.post("owner_a", "/v1/api_keys", json={"role": "ops_admin", "name": "x"}), 409,
            "api_key.forbidden")  # fmt: skip
    missing_alike(
        api.post(
            "owner_a",
            "/v1/api_keys",
            json={"role": "merchant_staff", "name": "x", "mid": api.mid_b},
        ),
        api.post(
            "ops",
            "/v1/api_keys",
            json={"role": "merchant_staff", "name": "x", "mid": "898310054119999"},
        ),
        api.mid_b,
        "898310054119999",
    )


def test_only_owners_handle_keys(api: ApiEnv) -> None:
    for who in ("reviewer", "staff_a"):
        problem(api.post(who, "/v1/api_keys", json={"role": "merchant_staff", "name": "x"}), 403,
                "auth.forbidden")  # fmt: skip
        problem(api.get(who, "/v1/api_keys"), 403, "auth.forbidden")
        problem(api.get(who, "/v1/api_keys/1"), 403, "auth.forbidden")
        problem(api.post(who, "/v1/api_keys/1/revoke"), 403, "auth.forbidden")
        problem(api.get(who, "/v1/audit_log"), 403, "auth.forbidden")


def test_keys_are_checked(api: ApiEnv) -> None:
    invalid(api.post("ops", "/v1/api_keys", json={"role": "god", "name": "x"}), "body.role")
    invalid(api.post("ops", "/v1/api_keys", json={"role": "reviewer"}), "body.name")
    problem(api.post("ops", "/v1/api_keys", json={"role": "reviewer", "name": " "}), 422,
            "api_key.name")  # fmt: skip
    problem(api.post("ops", "/v1/api_keys", json={"role": "merchant_owner", "name": "x"}), 422,
            "api_key.scope")  # fmt: skip
    invalid(api.get("ops", "/v1/api_keys/abc"), "path.id")


def test_key_lists_keep_to_the_tenant(api: ApiEnv) -> None:
    everything = key_ids(api, "ops", "?limit=100")
    assert len(everything) == 6 and everything == sorted(everything)
    owner_a, staff_a = everything[2], everything[3]  # the fixture's order
    assert key_ids(api, "ops", f"?mid={api.mid_a}") == [owner_a, staff_a]
    assert key_ids(api, "owner_a") == [owner_a, staff_a]
    assert key_ids(api, "owner_b") == [everything[4]]
    page = ok(api.get("ops", "/v1/api_keys?limit=2"))
    assert page["has_more"] and [k["id"] for k in page["data"]] == everything[:2]
    assert key_ids(api, "ops", f"?cursor={page['next_cursor']}") == everything[2:]
    missing_alike(
        api.get("owner_a", f"/v1/api_keys?mid={api.mid_b}"),
        api.get("ops", "/v1/api_keys?mid=898310054119999"),
        api.mid_b,
        "898310054119999",
    )
    assert ok(api.get("owner_a", f"/v1/api_keys/{staff_a}"))["role"] == Role.MERCHANT_STAFF
    missing_alike(
        api.get("owner_b", f"/v1/api_keys/{staff_a}"),
        api.get("ops", "/v1/api_keys/999999"),
        str(staff_a),
        "999999",
    )


def test_revoking(api: ApiEnv) -> None:
    staff_a = key_ids(api, "owner_a")[1]
    missing_alike(
        api.post("owner_b", f"/v1/api_keys/{staff_a}/revoke"),
        api.post("ops", "/v1/api_keys/999999/revoke"),
        str(staff_a),
        "999999",
    )
    assert api.get("staff_a", "/v1/merchants").status_code == 200
    revoked = ok(api.post("owner_a", f"/v1/api_keys/{staff_a}/revoke"))
    assert revoked["revoked_at"] is not None
    problem(api.get("staff_a", "/v1/merchants"), 401, "auth.invalid")
    assert ok(api.post("ops", f"/v1/api_keys/{staff_a}/revoke")) == revoked  # no change


def test_the_audit_log(api: ApiEnv) -> None:
    """What the API changed, newest first (the set-up's own records, the demo's
    accounts being made, come before and are left out)."""

    def log(who: str, query: str = "") -> list[dict[str, Any]]:
        entries = ok(api.get(who, f"/v1/audit_log{query}"))["data"]
        return [e for e in entries if not e["action"].startswith("console ")]

    api.post(
        "owner_a", f"/v1/merchants/{api.mid_a}/shops", json={"name": "二店", "address": "1 Road"}
    )
    api.post(
        "owner_b", f"/v1/merchants/{api.mid_b}/shops", json={"name": "二店", "address": "2 Road"}
    )
    api.post("ops", f"/v1/terminals/{api.tid_a}/freeze", json={"reason": "lost"})
    api.post("owner_a", "/v1/fee_plans", json={})  # refused: recorded with its status

    everything = log("ops")
    assert [e["id"] for e in everything] == sorted((e["id"] for e in everything), reverse=True)
    assert [(e["action"], e["status_code"]) for e in everything] == [
        ("POST /v1/fee_plans", 403),
        ("POST /v1/terminals/{tid}/freeze", 200),
        ("POST /v1/merchants/{ref}/shops", 201),
        ("POST /v1/merchants/{ref}/shops", 201),
    ]
    refused, frozen, b_shop, a_shop = everything
    assert frozen["merchant_id"] is None and frozen["target"] == f"/v1/terminals/{api.tid_a}/freeze"
    assert frozen["actor"] == "api:" + api.keys["ops"][:12] and frozen["client_ip"]

    a = api.merchant_id(api.mid_a)
    assert [e["id"] for e in log("ops", f"?mid={api.mid_a}")] == [
        refused["id"], a_shop["id"],
    ]  # fmt: skip
    assert {e["merchant_id"] for e in log("owner_a")} == {a}
    assert [e["id"] for e in log("owner_b")] == [b_shop["id"]]
    missing_alike(
        api.get("owner_a", f"/v1/audit_log?mid={api.mid_b}"),
        api.get("ops", "/v1/audit_log?mid=898310054119999"),
        api.mid_b,
        "898310054119999",
    )

    first = ok(api.get("ops", "/v1/audit_log?limit=3"))
    assert first["has_more"] and first["data"] == everything[:3]
    paged, page = list(first["data"]), first
    while page["has_more"]:  # pages of three, through the set-up's records too
        page = ok(api.get("ops", f"/v1/audit_log?limit=3&cursor={page['next_cursor']}"))
        assert len(page["data"]) <= 3
        paged += page["data"]
    assert [e for e in paged if not e["action"].startswith("console ")] == everything
