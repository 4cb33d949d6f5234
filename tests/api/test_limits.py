"""Limits in front of every route: the body's size (before it is read), the caller's
key (before the body is read), failed authentications per address (which must not
lock out the keys in use behind it), requests per key, and which address a request
comes from (X-Forwarded-For only from configured proxies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api.conftest import ApiEnv
from tillpoint.access.models import AuditRecord, IdempotencyRecord
from tillpoint.core.settings import Settings
from tillpoint.http.limits import DEFAULT_BODY_BYTES
from tillpoint.http.services import forwarded_client
from tillpoint.payments.models import Payment

ALIPAY = "284000000000000001"
BAD = {"Authorization": "Bearer tp_test_guess"}
PER_MINUTE = 5
CHUNK = 64 * 1024
HUGE_BYTES = 300 * 1024 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The API tests' settings, with a low rate per key and two trusted proxies."""
    return settings.model_copy(
        update={"api_key_requests_per_minute": PER_MINUTE,
                "trusted_proxies": "10.0.0.0/8, 192.0.2.1"}
    )  # fmt: skip


def count(api: ApiEnv, table: type) -> int:
    with api.tp.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def from_address(api: ApiEnv, host: str) -> TestClient:
    """A client whose connection comes from ``host``."""
    return TestClient(api.client.app, client=(host, 40000), raise_server_exceptions=False)


# --- the body: refused before it is read ------------------------------------------------


def call(api: ApiEnv, path: str, headers: dict[str, str], chunks: Iterator[bytes]) -> Any:
    """One request straight into the ASGI app, its body streamed from ``chunks`` (never
    held whole); the answer's status and how many chunks the app took."""
    taken = 0

    async def receive() -> dict[str, Any]:
        nonlocal taken
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        taken += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    answer: dict[str, Any] = {}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] = answer.get("body", b"") + message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.9", 40000),
        "server": ("testserver", 80),
    }

    async def run() -> None:
        await api.client.app(scope, receive, send)  # type: ignore[arg-type]

    api.run(run)
    return answer["status"], taken, answer.get("body", b"")


def huge() -> Iterator[bytes]:
    return (b"x" * CHUNK for _ in range(HUGE_BYTES // CHUNK))


def test_a_declared_length_over_the_limit_is_413_before_anything_is_read(api: ApiEnv) -> None:
    for headers in ({}, api.headers("owner_a")):
        length = {"Content-Length": str(HUGE_BYTES), "Content-Type": "application/json"}
        status, taken, body = call(api, "/v1/payments", {**headers, **length}, huge())
        assert (status, taken) == (413, 0)
        assert b'"code":"request.too_large"' in body
    assert count(api, Payment) == count(api, IdempotencyRecord) == 0


def test_an_anonymous_body_is_never_read(api: ApiEnv) -> None:
    status, taken, body = call(api, "/v1/payments", {"Content-Type": "application/json"}, huge())
    assert (status, taken) == (401, 0)
    assert b'"code":"auth.missing"' in body


def test_a_streamed_body_is_cut_off_at_the_limit(api: ApiEnv) -> None:
    headers = {**api.headers("owner_a"), "Content-Type": "application/json"}
    status, taken, body = call(api, "/v1/payments", headers, huge())
    assert status == 413 and b'"code":"request.too_large"' in body
    assert taken * CHUNK <= DEFAULT_BODY_BYTES + CHUNK  # not one chunk more than needed
    assert count(api, Payment) == count(api, IdempotencyRecord) == 0


def test_a_route_may_take_more_than_the_default(api: ApiEnv) -> None:
    """A signature's PNG (base64) may be bigger than 64 KiB: its route says so."""
    big = {"image_base64": "A" * (DEFAULT_BODY_BYTES + 10)}
    r = api.post("staff_a", "/v1/payments/1/signature", json=big)
    assert r.status_code != 413 and r.json()["code"] != "request.too_large"
    r = api.post("staff_a", "/v1/payments", json={"reference": "x" * DEFAULT_BODY_BYTES})
    assert (r.status_code, r.json()["code"]) == (413, "request.too_large")
    assert r.headers["content-type"] == "application/problem+json"
    extra = api.client.get("/openapi.json").json()["paths"]["/v1/payments/{payment_id}/signature"]
    assert extra["post"]["x-max-body-bytes"] > DEFAULT_BODY_BYTES


# --- failed authentications, per address ------------------------------------------------


def test_a_guesser_does_not_lock_out_the_keys_in_use_behind_its_address(api: ApiEnv) -> None:
    assert api.get("owner_a", "/v1/payments").status_code == 200  # a key in use
    codes = [api.client.get("/v1/payments", headers=BAD).status_code for _ in range(11)]
    assert codes == [401] * 10 + [429]
    assert api.get("owner_a", "/v1/payments").status_code == 200  # keeps working
    r = api.client.get("/v1/payments", headers=BAD)  # the guesser waits
    assert (r.status_code, r.json()["code"]) == (429, "auth.rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    # A key never seen in this process waits out the minute too: were it checked, a
    # guesser would learn which of its guesses is right.
    assert api.get("staff_a", "/v1/payments").status_code == 429


# --- requests per key ------------------------------------------------------------------------


def test_each_key_has_its_own_request_rate(api: ApiEnv) -> None:
    codes = [api.get("owner_a", "/v1/payments").status_code for _ in range(PER_MINUTE)]
    assert codes == [200] * PER_MINUTE
    r = api.get("owner_a", "/v1/payments")
    assert (r.status_code, r.json()["code"]) == (429, "api_key.rate_limited")
    assert r.headers["content-type"] == "application/problem+json"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert api.get("staff_a", "/v1/payments").status_code == 200  # another key: its own
    # A refused POST runs nothing and keeps no answer for its Idempotency-Key.
    r = api.post("owner_a", "/v1/payments", json={"amount_minor": 100, "code": ALIPAY})
    assert r.status_code == 429
    assert count(api, Payment) == count(api, IdempotencyRecord) == 0
    with api.tp.ctx.db.read() as s:
        audited = s.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
    assert audited is not None and (audited.action, audited.status_code) == (
        "POST /v1/payments",
        429,
    )
    assert audited.actor.startswith("api:tp_test_")  # the key that was throttled


# --- which address ------------------------------------------------------------------------


def test_forwarded_for_counts_only_from_a_trusted_proxy(api: ApiEnv) -> None:
    # From an address that is not a proxy, a rotating X-Forwarded-For changes nothing.
    direct = from_address(api, "198.51.100.7")
    codes = [
        direct.get("/v1/payments", headers={**BAD, "X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(11)
    ]
    assert codes == [401] * 10 + [429]
    # Through a configured proxy, the address the proxy names is the client.
    proxy = from_address(api, "10.1.2.3")
    spoofed = {**BAD, "X-Forwarded-For": "198.51.100.7, 203.0.113.50"}
    assert proxy.get("/v1/payments", headers=spoofed).status_code == 401
    with api.tp.ctx.db.read() as s:
        before = s.scalar(select(func.count()).select_from(AuditRecord)) or 0
    proxy.post("/v1/payments", json={}, headers=spoofed)
    with api.tp.ctx.db.read() as s:
        last = s.scalars(select(AuditRecord).order_by(AuditRecord.id.desc())).first()
    assert last is not None and last.id > before and last.client_ip == "203.0.113.50"


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.7", ["203.0.113.1"], "198.51.100.7"),  # not a proxy: ignored
        ("10.0.0.5", [], "10.0.0.5"),  # a proxy that names no one
        ("10.0.0.5", ["203.0.113.1"], "203.0.113.1"),
        ("10.0.0.5", ["1.1.1.1, 203.0.113.1"], "203.0.113.1"),  # the client's own claim
        ("10.0.0.5", ["203.0.113.1, 10.9.9.9"], "203.0.113.1"),  # two proxies
        ("10.0.0.5", ["203.0.113.1", "192.0.2.1"], "203.0.113.1"),  # two headers
        ("10.0.0.5", ["nonsense, 10.9.9.9"], "10.9.9.9"),  # stops at garbage
        ("::ffff:10.0.0.5", ["203.0.113.1"], "::ffff:10.0.0.5"),  # not configured
    ],
)
def test_the_client_behind_trusted_proxies(
    settings: Settings, peer: str, forwarded: list[str], client: str
) -> None:
    assert forwarded_client(peer, forwarded, settings.trusted_proxy_networks()) == client
