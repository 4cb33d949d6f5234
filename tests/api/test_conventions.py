"""What holds on every route: authentication and its rate limit, idempotency, problem
documents, the audit log, the caller's language."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.api.conftest import ApiEnv
from tillpoint.access.models import AuditRecord, IdempotencyRecord
from tillpoint.core.clock import FixedClock
from tillpoint.payments.models import Payment

ALIPAY = "284000000000000001"
BODY = {"amount_minor": 1_000, "code": ALIPAY}


def payments(api: ApiEnv) -> int:
    with api.tp.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Payment)) or 0)


def post(api: ApiEnv, who: str, key: str, body: object, path: str = "/v1/payments") -> object:
    return api.client.post(path, json=body, headers=api.headers(who, idempotency=key))


# --- idempotency --------------------------------------------------------------------------


def test_a_replay_returns_the_stored_response_byte_for_byte(api: ApiEnv) -> None:
    first = post(api, "owner_a", "k1", BODY)
    again = post(api, "owner_a", "k1", BODY)
    assert first.status_code == again.status_code == 201  # type: ignore[attr-defined]
    assert first.content == again.content  # type: ignore[attr-defined]
    assert again.headers["Idempotent-Replayed"] == "true"  # type: ignore[attr-defined]
    assert "Idempotent-Replayed" not in first.headers  # type: ignore[attr-defined]
    assert payments(api) == 1


def test_the_same_key_with_another_body_or_path_is_422(api: ApiEnv) -> None:
    post(api, "owner_a", "k1", BODY)
    other = post(api, "owner_a", "k1", {**BODY, "amount_minor": 1_001})
    assert other.status_code == 422  # type: ignore[attr-defined]
    assert other.json()["code"] == "idempotency.mismatch"  # type: ignore[attr-defined]
    elsewhere = post(api, "owner_a", "k1", {"payment_id": 1}, path="/v1/refunds")
    assert elsewhere.json()["code"] == "idempotency.mismatch"  # type: ignore[attr-defined]
    assert payments(api) == 1


def test_a_request_still_in_flight_is_409(api: ApiEnv) -> None:
    key_id = api.tp.access.authenticate(api.keys["owner_a"]).key_id  # type: ignore[union-attr]
    with api.tp.ctx.db.transaction() as s:
        s.add(
            IdempotencyRecord(
                api_key_id=key_id, key="busy", fingerprint="x" * 64, created_at=api.tp.ctx.now()
            )
        )
    r = post(api, "owner_a", "busy", BODY)
    assert (r.status_code, r.json()["code"]) == (409, "idempotency.in_flight")  # type: ignore[attr-defined]
    assert payments(api) == 0


def test_keys_belong_to_the_caller(api: ApiEnv) -> None:
    a = post(api, "owner_a", "shared", BODY)
    b = post(api, "staff_a", "shared", BODY)  # another API key, same merchant: its own key
    assert a.json()["id"] != b.json()["id"]  # type: ignore[attr-defined]
    assert payments(api) == 2


def test_a_post_without_a_key_is_refused_and_changes_nothing(api: ApiEnv) -> None:
    headers = {"Authorization": f"Bearer {api.keys['owner_a']}"}
    r = api.client.post("/v1/payments", json=BODY, headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["location"] == "header.Idempotency-Key"
    assert payments(api) == 0


def test_refusals_are_kept_and_replayed_too(api: ApiEnv) -> None:
    sale = post(api, "owner_a", "sale", BODY).json()  # type: ignore[attr-defined]
    too_much = {"payment_id": sale["id"], "amount_minor": 1_001}
    first = post(api, "owner_a", "r1", too_much, path="/v1/refunds")
    again = post(api, "owner_a", "r1", too_much, path="/v1/refunds")
    assert first.status_code == again.status_code == 409  # type: ignore[attr-defined]
    assert first.content == again.content  # type: ignore[attr-defined]


def test_a_server_error_is_not_kept_so_the_client_can_retry(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object, **_kw: object) -> None:
        raise RuntimeError("the wallet link fell over")

    monkeypatch.setattr(api.services.online, "pay_with_code", broken)
    assert post(api, "owner_a", "k", BODY).status_code == 500  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert post(api, "owner_a", "k", BODY).status_code == 201  # type: ignore[attr-defined]


def test_old_keys_are_forgotten_after_a_day(api: ApiEnv, clock: FixedClock) -> None:
    post(api, "owner_a", "k", BODY)
    clock.advance(timedelta(hours=25))
    assert api.tp.access.forget_idempotency_keys() == 1
    assert post(api, "owner_a", "k", BODY).status_code == 201  # type: ignore[attr-defined]
    assert payments(api) == 2


# --- authentication -------------------------------------------------------------------------


def test_missing_and_wrong_keys_are_401_problems(api: ApiEnv) -> None:
    r = api.client.get("/v1/payments")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["WWW-Authenticate"] == "Bearer"
    problem = r.json()
    assert problem == {
        "type": "urn:tillpoint:problem:auth.missing",
        "title": "Not authenticated",
        "status": 401,
        "detail": "Send an API key: Authorization: Bearer <key>",
        "code": "auth.missing",
        "instance": "/v1/payments",
    }
    r = api.client.get("/v1/payments", headers={"Authorization": "Bearer tp_test_nonsense"})
    assert (r.status_code, r.json()["code"]) == (401, "auth.invalid")


def test_a_revoked_key_stops_working(api: ApiEnv) -> None:
    caller = api.tp.access.authenticate(api.keys["staff_a"])
    assert caller is not None
    api.tp.access.revoke(caller.key_id, "test")
    assert api.get("staff_a", "/v1/payments").status_code == 401


def test_failed_authentication_is_rate_limited(api: ApiEnv) -> None:
    bad = {"Authorization": "Bearer tp_test_guess"}
    codes = [api.client.get("/v1/payments", headers=bad).status_code for _ in range(11)]
    assert codes == [401] * 10 + [429]
    # A good key not yet seen, from that address, waits too (tests/api/test_limits.py:
    # keys already in use do not).
    r = api.get("owner_a", "/v1/payments")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_keys_are_stored_hashed(api: ApiEnv) -> None:
    from tillpoint.access.models import ApiKey

    with api.tp.ctx.db.read() as s:
        stored = [(k.prefix, k.secret_hash) for k in s.scalars(select(ApiKey))]
    for secret in api.keys.values():
        assert all(secret not in (prefix, digest) for prefix, digest in stored)
        assert any(secret.startswith(prefix) for prefix, _digest in stored)


# --- audit and language ---------------------------------------------------------------------


def test_every_change_is_audited(api: ApiEnv) -> None:
    with api.tp.ctx.db.read() as s:  # the set-up's own (the demo's accounts) come before
        before = s.scalar(select(func.max(AuditRecord.id))) or 0
    post(api, "owner_a", "k", BODY)
    api.client.post("/v1/payments", json=BODY)  # unauthenticated: audited as anonymous
    with api.tp.ctx.db.read() as s:
        records = s.scalars(
            select(AuditRecord).where(AuditRecord.id > before).order_by(AuditRecord.id)
        ).all()
    assert [(r.action, r.status_code) for r in records] == [
        ("POST /v1/payments", 201),
        ("POST /v1/payments", 401),
    ]
    done = records[0]
    assert done.actor.startswith("api:tp_test_")
    assert done.merchant_id == api.merchant_id(api.mid_a)
    assert done.client_ip == "testclient"
    assert records[1].actor == "anonymous"


def test_problems_speak_the_callers_language(api: ApiEnv) -> None:
    r = api.client.get("/v1/payments", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert r.json()["title"] == "未认证"
    assert "API 密钥" in r.json()["detail"]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_load_nothing_from_elsewhere(api: ApiEnv, page: str) -> None:
    html = api.client.get(page).text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)""", html)
    assert assets and all(a.startswith("/") for a in assets), assets
    assert "cdn." not in html and "googleapis" not in html
    for asset in assets:
        assert api.client.get(asset).status_code == 200, asset
