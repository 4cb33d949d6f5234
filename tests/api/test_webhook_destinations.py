"""Webhooks reach public addresses only (server-side request forgery): loopback,
private, link-local and cloud metadata URLs are refused when registered and when a
delivery is due (the name resolved again, every address checked, the checked address
connected to), unless the operator allows them (TILLPOINT_WEBHOOKS_ALLOW_PRIVATE);
demo mode allows loopback only. An attempt's log says nothing that tells an open port
from a closed one, and keeps only a short printable excerpt of a refusal's body."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.conftest import MASTER_KEY, approved, personal_application
from tests.integration.test_webhooks import receiving
from tillpoint.access.models import Role
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint
from tillpoint.core.settings import Settings
from tillpoint.notify import destinations, webhooks
from tillpoint.notify.models import WebhookEndpoint
from tillpoint.notify.webhooks import ERROR_CHARS, EXCERPT_CHARS, WebhookWorker
from tillpoint.payments.acquirer import simulated

ALIPAY = "284000000000000001"
PUBLIC = destinations.ipaddress.ip_address("93.184.216.34")
LOOPBACK = destinations.ipaddress.ip_address("127.0.0.1")
NOT_ALLOWED = "Not sent: the URL's host resolves to an address webhooks may not reach"
COULD_NOT = "Could not deliver: no answer from the URL"
INSIDE = [
    "http://127.0.0.1:9000/",
    "http://localhost:9000/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://10.1.2.3/",
    "http://192.168.1.1/",
    "http://100.100.100.200/",
    "http://0.0.0.0:8000/",
    "http://224.0.0.1/",
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f.1/",  # and in hex
    "http://[::1]:9000/",
    "http://[::ffff:127.0.0.1]/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # 169.254.169.254 through NAT64
]


@pytest.fixture
def settings(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Settings:
    """``strict`` (the default), ``allow`` (the operator's setting) or ``demo``."""
    mode = getattr(request, "param", "strict")
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        master_key=None if mode == "demo" else SecretStr(MASTER_KEY),
        demo=mode == "demo",
        locale="en",
        webhooks_allow_private=mode == "allow",
    )


@dataclass
class Env:
    tp: Tillpoint
    client: TestClient
    headers: dict[str, str]
    n: int = 0

    def post(self, path: str, json: Any) -> Any:
        self.n += 1
        headers = {**self.headers, "Idempotency-Key": f"k{self.n}"}
        return self.client.post(path, json=json, headers=headers)

    def endpoint(self, url: str) -> Any:
        return self.post("/v1/webhook_endpoints", {"url": url})

    def pay_and_deliver(self) -> None:
        assert self.post("/v1/payments", {"amount_minor": 100, "code": ALIPAY}).status_code == 201
        portal = self.client.portal
        assert portal is not None
        portal.call(WebhookWorker(self.tp).tick)

    def deliveries(self, endpoint_id: int) -> list[Any]:
        path = f"/v1/webhook_endpoints/{endpoint_id}/deliveries"
        data: list[Any] = self.client.get(path, headers=self.headers).json()["data"]
        return data


@pytest.fixture
def env(tp: Tillpoint) -> Iterator[Env]:
    mid = approved(tp, personal_application(1))
    key = tp.access.create_key(Role.MERCHANT_OWNER, "owner", "test", merchant_ref=mid).secret
    acquirer = simulated(tp)
    client = TestClient(create_api(tp, acquirer), raise_server_exceptions=False)
    with client:
        yield Env(tp, client, {"Authorization": f"Bearer {key}"})
    acquirer.close()


def endpoints(env: Env) -> int:
    with env.tp.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """What names resolve to, for the names the test gives (others as usual)."""
    names: dict[str, list[Any]] = {}
    real = destinations.lookup

    def lookup(host: str, port: int) -> list[Any]:
        return names[host] if host in names else real(host, port)

    monkeypatch.setattr(destinations, "lookup", lookup)
    return names


# --- registration --------------------------------------------------------------------------


@pytest.mark.parametrize("url", INSIDE)
def test_inside_addresses_are_refused_at_registration(env: Env, url: str) -> None:
    r = env.endpoint(url)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "webhook_endpoint.url_not_public"
    assert endpoints(env) == 0


def test_a_url_changed_to_an_inside_one_is_refused(env: Env, resolver: dict[str, Any]) -> None:
    resolver["hooks.shop.test"] = [PUBLIC]
    made = env.endpoint("https://hooks.shop.test/tillpoint")
    assert made.status_code == 201, made.text
    path = f"/v1/webhook_endpoints/{made.json()['id']}"
    r = env.post(path, {"url": "http://169.254.169.254/"})
    assert (r.status_code, r.json()["code"]) == (422, "webhook_endpoint.url_not_public")
    assert env.client.get(path, headers=env.headers).json()["url"].startswith("https://hooks.")
    # A name is judged by every address it has: one inside is enough to refuse it.
    resolver["mixed.shop.test"] = [PUBLIC, LOOPBACK]
    assert env.endpoint("https://mixed.shop.test/").status_code == 422


@pytest.mark.parametrize("settings", ["allow"], indirect=True)
def test_the_operator_may_allow_inside_addresses(env: Env) -> None:
    for url in ("http://127.0.0.1:9000/", "http://169.254.169.254/", "http://10.1.2.3/"):
        assert env.endpoint(url).status_code == 201, url


@pytest.mark.parametrize("settings", ["demo"], indirect=True)
def test_demo_mode_allows_loopback_only(env: Env) -> None:
    assert env.endpoint("http://127.0.0.1:9000/").status_code == 201  # docs/api.md's receiver
    assert env.endpoint("http://[::1]:9000/").status_code == 201
    for url in ("http://169.254.169.254/", "http://10.1.2.3/", "http://metadata/"):
        assert env.endpoint(url).json()["code"] == "webhook_endpoint.url_not_public", url


# --- delivery ---------------------------------------------------------------------------------


def test_a_name_that_later_resolves_inside_is_not_delivered_to(
    env: Env, resolver: dict[str, Any]
) -> None:
    with receiving() as receiver:
        port = receiver.server.server_address[1]
        resolver["hooks.shop.test"] = [PUBLIC]
        made = env.endpoint(f"http://hooks.shop.test:{port}/hooks")
        assert made.status_code == 201, made.text
        resolver["hooks.shop.test"] = [LOOPBACK]  # the name's owner points it inside
        env.pay_and_deliver()
    assert receiver.requests == []
    (delivery,) = env.deliveries(made.json()["id"])
    assert (delivery["status"], delivery["attempts"]) == ("pending", 1)
    assert (delivery["last_status_code"], delivery["last_error"]) == (None, NOT_ALLOWED)


@pytest.mark.parametrize("settings", ["allow"], indirect=True)
def test_the_address_checked_is_the_address_connected_to(
    env: Env, resolver: dict[str, Any]
) -> None:
    """No resolver but the test's knows hooks.shop.test: a delivery that arrives went
    to the address the check saw, and kept the name for Host."""
    with receiving() as receiver:
        port = receiver.server.server_address[1]
        resolver["hooks.shop.test"] = [LOOPBACK]
        made = env.endpoint(f"http://hooks.shop.test:{port}/hooks")
        env.pay_and_deliver()
    (request,) = receiver.requests
    assert request.headers["Host"] == f"hooks.shop.test:{port}"
    assert env.deliveries(made.json()["id"])[0]["status"] == "succeeded"


@contextlib.contextmanager
def listening(serve: Callable[[socket.socket], None]) -> Iterator[str]:
    """A loopback port whose connections ``serve`` handles; its URL."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def loop() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except TimeoutError:
                continue
            with conn:
                serve(conn)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hooks"
    finally:
        stop.set()
        thread.join(10)
        server.close()


def hang_up(conn: socket.socket) -> None:
    conn.recv(65536)


def say_nothing(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.settimeout(5)
    with contextlib.suppress(OSError):
        conn.recv(1)  # until the client gives up


def closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hooks"


@pytest.mark.parametrize("settings", ["allow"], indirect=True)
def test_no_answer_reads_the_same_whatever_the_port(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "TIMEOUT_S", 0.5)  # the silent port: not 10 s
    with listening(hang_up) as hanging_up, listening(say_nothing) as silent:
        urls = [closed_port(), hanging_up, silent, "http://no-such-host.invalid/"]
        ids = [env.endpoint(url).json()["id"] for url in urls]
        env.pay_and_deliver()
    errors = {(d["last_status_code"], d["last_error"]) for i in ids for d in env.deliveries(i)}
    assert errors == {(None, COULD_NOT)}
    zh = {**env.headers, "Accept-Language": "zh-CN"}
    shown = env.client.get(f"/v1/webhook_endpoints/{ids[0]}/deliveries", headers=zh).json()
    assert shown["data"][0]["last_error"] != COULD_NOT  # in Chinese


def refuse_with_junk(conn: socket.socket) -> None:
    conn.recv(65536)
    body = b"\x00\x1b[31mdenied\xff\xfe\r\n\x07" + b"A" * 5000
    conn.sendall(b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


@pytest.mark.parametrize("settings", ["allow"], indirect=True)
def test_a_refusals_body_is_kept_short_and_printable(env: Env) -> None:
    with listening(refuse_with_junk) as url:
        made = env.endpoint(url).json()
        env.pay_and_deliver()
    (delivery,) = env.deliveries(made["id"])
    error = delivery["last_error"]
    assert delivery["last_status_code"] == 500
    assert error.startswith("HTTP 500: [31mdenied AAAA") and error.isprintable()
    assert len(error) <= min(ERROR_CHARS, len("HTTP 500: ") + EXCERPT_CHARS)
