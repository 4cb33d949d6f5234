"""The portal's developers pages (/portal/developers), through the browser's requests:
an owner makes an API key whose secret is shown once and works against the REST API
until it is revoked; adds webhook endpoints (public addresses only, outside demo mode),
rolls their secret, disables them, and reads their deliveries; managers and cashiers
open none of it; another merchant's key, endpoint or delivery is not found; every
change is in the audit log under the owner's name."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi.testclient import TestClient
from markupsafe import escape
from pydantic import SecretStr
from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.conftest import MASTER_KEY, approved, personal_application
from tests.integration.test_webhooks import receiving
from tillpoint.access.models import AccountRole, AuditRecord, Role
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.demo import DEMO_PASSWORD, demo_owner
from tillpoint.notify import destinations
from tillpoint.notify.webhooks import WebhookService, WebhookWorker, verify_signature
from tillpoint.payments.acquirer import simulated

HERE = "/portal/developers"
ALIPAY = "284000000000000001"
PASSWORD = "a good long password"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
SECRET = re.compile(r'id="made-secret">([^<]+)<')
NOT_PUBLIC = "Webhooks go to public addresses only"
PARAM = re.compile(r"\{(\w+)\}")


def sign_in(client: TestClient, login: str, password: str = DEMO_PASSWORD) -> str:
    """Sign in to the portal afresh as ``login``; the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/portal/sign-in?lang=en")
    token = CSRF.search(form.text)
    assert token is not None
    done = client.post("/portal/sign-in", follow_redirects=False,
                       data={"csrf_token": token.group(1), "login": login,
                             "password": password, "next": "/portal"})  # fmt: skip
    assert done.status_code == 303, done.text
    found = CSRF.search(client.get("/portal/password?lang=en").text)
    assert found is not None
    return found.group(1)


def post(client: TestClient, path: str, data: dict[str, Any]) -> httpx.Response:
    return client.post(path, data=data, follow_redirects=False)


def secret_of(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    found = SECRET.search(answer.text)
    assert found is not None
    return found.group(1)


def audit_log(tp: Tillpoint) -> list[AuditRecord]:
    with tp.ctx.db.read() as s:
        records = list(s.scalars(select(AuditRecord).order_by(AuditRecord.id)))
        s.expunge_all()
        return records


def pay_and_deliver(api: ApiEnv, mid: str) -> None:
    online = api.services.online
    api.run(online.pay_with_code, api.merchant_id(mid), Money(1234), ALIPAY)
    api.run(WebhookWorker(api.tp).tick)


def developer_routes(api: ApiEnv) -> list[tuple[str, str]]:
    """(method, path with sample ids) of every route of the developers pages."""
    found = []
    for route in fastapi.routing.iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        if route.methods and route.path.startswith(HERE):
            path = PARAM.sub("1", route.path)
            found += [(m, path) for m in sorted(route.methods) if m != "HEAD"]
    return found


# --- API keys ---------------------------------------------------------------------------


def test_a_key_is_shown_once_and_works_until_revoked(api: ApiEnv) -> None:
    token = sign_in(api.client, demo_owner(1))
    empty = api.client.get(f"{HERE}?lang=en")
    assert empty.status_code == 200 and "No webhook endpoint yet" in empty.text
    theirs = api.keys["owner_b"][:12]
    assert api.keys["owner_a"][:12] in empty.text and theirs not in empty.text
    assert api.keys["owner_a"] not in empty.text  # a prefix, never a secret
    assert "/v1/payments" in empty.text and 'href="/docs"' in empty.text
    assert "http://testserver/v1/payments" in empty.text  # the base URL: as asked
    assert api.client.get(f"{HERE}/keys/new?lang=en").status_code == 200
    refused = post(api.client, f"{HERE}/keys", {"name": "Web shop", "role": "merchant_staff"})
    assert refused.status_code == 403  # without the session's CSRF token
    made = post(api.client, f"{HERE}/keys?lang=en",
                {"csrf_token": token, "name": "Web shop", "role": "merchant_staff"})  # fmt: skip
    secret = secret_of(made)
    assert "shown once" in made.text
    bearer = {"Authorization": f"Bearer {secret}"}
    mine = api.client.get("/v1/payments", headers=bearer)
    assert mine.status_code == 200, mine.text
    (key,) = [k for k in api.tp.access.list_keys(merchant_id=api.merchant_id(api.mid_a))
              if k.name == "Web shop"]  # fmt: skip
    assert key.role is Role.MERCHANT_STAFF
    assert (key.name, key.mid, key.created_by) == (
        "Web shop",
        api.mid_a,
        "console:owner1@demo.test",
    )
    listed = api.client.get(f"{HERE}?lang=en").text
    assert secret not in listed and key.prefix in listed and "Working" in listed
    assert f"Bearer {key.prefix}…" in listed  # the example names the newest working key

    # Revoking asks first; the question changes nothing.
    asked = api.client.get(f"{HERE}/keys/{key.id}/revoke?lang=en")
    assert asked.status_code == 200 and "stops working at once" in asked.text
    assert api.client.get("/v1/payments", headers=bearer).status_code == 200
    assert post(api.client, f"{HERE}/keys/{key.id}/revoke", {}).status_code == 403
    done = post(api.client, f"{HERE}/keys/{key.id}/revoke", {"csrf_token": token})
    assert (done.status_code, done.headers["location"]) == (303, HERE)
    assert api.client.get("/v1/payments", headers=bearer).status_code == 401
    assert "Revoked" in api.client.get(f"{HERE}?lang=en").text
    again = api.client.get(f"{HERE}/keys/{key.id}/revoke?lang=en")
    assert "revoked already" in again.text and 'action="' + HERE not in again.text

    log = audit_log(api.tp)
    mine_log = [r for r in log if r.action.startswith("console api key")]
    assert [(r.action, r.actor, r.merchant_id, r.status_code) for r in mine_log] == [
        ("console api key created", "console:owner1@demo.test", api.merchant_id(api.mid_a), 200),
        ("console api key revoked", "console:owner1@demo.test", api.merchant_id(api.mid_a), 200),
    ]
    assert all(secret not in json.dumps(r.detail) + (r.target or "") for r in log)


def test_a_key_needs_a_name_and_a_merchant_role(api: ApiEnv) -> None:
    token = sign_in(api.client, demo_owner(1))
    before = api.tp.access.list_keys()
    for data, message in (
        ({"name": "", "role": "merchant_owner"}, "Name the key"),
        ({"name": "Ops", "role": "ops_admin"}, "Choose a role from the list"),
        ({"name": "Ops", "role": ""}, "Choose a role from the list"),
    ):
        answer = post(api.client, f"{HERE}/keys?lang=en", {"csrf_token": token, **data})
        assert answer.status_code == 400 and message in answer.text, data
        assert SECRET.search(answer.text) is None
    assert api.tp.access.list_keys() == before
    owner = post(api.client, f"{HERE}/keys", {"csrf_token": token, "name": "Admin tool",
                                              "role": "merchant_owner"})  # fmt: skip
    bearer = {"Authorization": f"Bearer {secret_of(owner)}"}
    # An owner's key manages the merchant's webhooks; a staff key may not.
    assert api.client.get("/v1/webhook_endpoints", headers=bearer).status_code == 200


# --- who may open the pages -------------------------------------------------------------


def test_only_the_owner_opens_the_developers_pages(api: ApiEnv) -> None:
    routes = developer_routes(api)
    assert ("GET", HERE) in routes and ("POST", f"{HERE}/webhooks/1/delete") in routes
    keys = api.tp.access.list_keys()
    api.client.cookies.clear()
    for method, path in routes:
        away = api.client.request(method, path, follow_redirects=False)
        assert away.status_code == 303, (method, path)
        assert away.headers["location"].startswith("/portal/sign-in?next="), (method, path)
    api.tp.accounts.create(name="Manager", roles={AccountRole.MANAGER}, actor="test",
                           email="manager@shop.test", merchant_ref=api.mid_a,
                           password=PASSWORD)  # fmt: skip
    api.tp.accounts.create(name="Cashier", roles={AccountRole.CASHIER}, actor="test",
                           email="cashier@shop.test", merchant_ref=api.mid_a, shop_number=1,
                           password=PASSWORD)  # fmt: skip
    for login in ("manager@shop.test", "cashier@shop.test"):
        token = sign_in(api.client, login, PASSWORD)
        assert f'href="{HERE}"' not in api.client.get("/portal/password").text  # not in the menu
        for method, path in routes:
            answer = api.client.request(method, path, data={"csrf_token": token, "name": "x",
                                        "role": "merchant_owner", "url": "https://x.example/"},
                                        follow_redirects=False)  # fmt: skip
            assert answer.status_code == 403, (login, method, path, answer.status_code)
    assert api.tp.access.list_keys() == keys
    assert WebhookService(api.tp.ctx).list_endpoints() == []
    sign_in(api.client, demo_owner(1))
    assert f'href="{HERE}"' in api.client.get("/portal/password").text


def test_another_merchants_keys_endpoints_and_deliveries_are_not_found(api: ApiEnv) -> None:
    hooks = WebhookService(api.tp.ctx)
    theirs_key = api.tp.access.create_key(Role.MERCHANT_OWNER, "B's", "test",
                                          merchant_ref=api.mid_b)  # fmt: skip
    with receiving() as receiver:
        theirs = hooks.create_endpoint(api.mid_b, receiver.url)
        ours = hooks.create_endpoint(api.mid_a, receiver.url)
        pay_and_deliver(api, api.mid_b)
    (delivery,) = hooks.list_deliveries(theirs.id)
    token = sign_in(api.client, demo_owner(1))
    page = api.client.get(f"{HERE}?lang=en").text
    assert theirs_key.key.prefix not in page and f"webhooks/{theirs.id}" not in page
    assert f"webhooks/{ours.id}" in page
    gets = [f"{HERE}/keys/{theirs_key.key.id}/revoke", f"{HERE}/webhooks/{theirs.id}",
            f"{HERE}/webhooks/{theirs.id}/roll", f"{HERE}/webhooks/{theirs.id}/delete",
            f"{HERE}/webhooks/{theirs.id}/deliveries/{delivery.id}",
            f"{HERE}/webhooks/{ours.id}/deliveries/{delivery.id}",  # theirs, under ours
            f"{HERE}/webhooks/abc", f"{HERE}/webhooks/99999999999999999999",
            f"{HERE}/keys/-1/revoke", f"{HERE}/webhooks/{ours.id}/deliveries/¹",
            f"{HERE}/webhooks/{ours.id}/deliveries/{2**40}"]  # fmt: skip
    for path in gets:
        answer = api.client.get(path + "?lang=en")
        assert answer.status_code == 404 and "Not found" in answer.text, path
        assert receiver.url not in answer.text and "whsec_" not in answer.text
    for path in (f"{HERE}/keys/{theirs_key.key.id}/revoke",
                 f"{HERE}/webhooks/{theirs.id}/disable", f"{HERE}/webhooks/{theirs.id}/enable",
                 f"{HERE}/webhooks/{theirs.id}/roll", f"{HERE}/webhooks/{theirs.id}/delete",
                 f"{HERE}/webhooks/99999999999999999999/delete"):  # fmt: skip
        answer = post(api.client, path, {"csrf_token": token})
        assert answer.status_code == 404, path
        assert "whsec_" not in answer.text
    assert api.tp.access.get_key(theirs_key.key.id).revoked_at is None
    assert hooks.get_endpoint(theirs.id).enabled
    bearer = {"Authorization": f"Bearer {theirs_key.secret}"}
    assert api.client.get("/v1/payments", headers=bearer).status_code == 200
    refused = [r for r in audit_log(api.tp) if r.detail and "refused" in r.detail]
    assert {r.status_code for r in refused} == {404} and len(refused) == 6
    assert {r.actor for r in refused} == {"console:owner1@demo.test"}


# --- webhook endpoints ------------------------------------------------------------------


def test_an_endpoint_is_added_rolled_disabled_and_shows_its_deliveries(api: ApiEnv) -> None:
    token = sign_in(api.client, demo_owner(1))
    assert api.client.get(f"{HERE}/webhooks/new?lang=en").status_code == 200
    for events, message in (([], "Name 1 to"), (["payment.exploded"], "Unknown event type")):
        bad = post(api.client, f"{HERE}/webhooks?lang=en",
                   {"csrf_token": token, "url": "https://shop.example.com/h", "events": events})  # fmt: skip
        assert bad.status_code == 400 and message in bad.text, events
    with receiving(answers=[500]) as receiver:
        made = post(api.client, f"{HERE}/webhooks?lang=en",
                    {"csrf_token": token, "url": receiver.url, "description": "Till sync",
                     "events": ["payment.succeeded", "refund.succeeded"]})  # fmt: skip
        secret = secret_of(made)
        assert secret.startswith("whsec_") and "shown once" in made.text
        (endpoint,) = WebhookService(api.tp.ctx).list_endpoints()
        assert endpoint.events == ["payment.succeeded", "refund.succeeded"]
        path = f"{HERE}/webhooks/{endpoint.id}"
        shown = api.client.get(f"{path}?lang=en").text
        assert secret not in shown and "No delivery yet" in shown and "Till sync" in shown
        assert secret not in api.client.get(f"{HERE}?lang=en").text

        pay_and_deliver(api, api.mid_a)  # answered 500: tried again later
        failing = api.client.get(f"{path}?lang=en").text
        assert "payment.succeeded" in failing and "Still trying" in failing
        assert "HTTP 500: receiver is down for now" in failing  # the excerpt, on one line
        (first,) = WebhookService(api.tp.ctx).list_deliveries(endpoint.id)
        detail = api.client.get(f"{path}/deliveries/{first.id}?lang=en")
        assert detail.status_code == 200 and "HTTP 500" in detail.text
        body = WebhookService(api.tp.ctx).get_delivery(endpoint.id, first.id).body
        assert json.loads(body)["type"] == "payment.succeeded"
        assert str(escape(body)) in detail.text  # the exact bytes sent

        asked = api.client.get(f"{path}/roll?lang=en")
        assert asked.status_code == 200 and "the old one signs nothing more" in asked.text
        rolled = secret_of(post(api.client, f"{path}/roll?lang=en", {"csrf_token": token}))
        assert rolled.startswith("whsec_") and rolled != secret
        pay_and_deliver(api, api.mid_a)
        first_request, second_request = receiver.requests
        now = api.tp.ctx.now().timestamp()
        for request, key in ((first_request, secret), (second_request, rolled)):
            header = request.headers["Tillpoint-Signature"]
            assert verify_signature(key, header, request.body, now=now)
        delivered = api.client.get(f"{path}?lang=en").text
        assert "Delivered" in delivered and ">200<" in delivered
        newer = WebhookService(api.tp.ctx).list_deliveries(endpoint.id)[0]
        older = api.client.get(f"{path}?before={newer.id}&lang=en").text
        assert f"deliveries/{newer.id}" not in older and f"deliveries/{first.id}" in older
        only_done = api.client.get(f"{path}?status=succeeded").text
        assert f"deliveries/{newer.id}" in only_done and f"deliveries/{first.id}" not in only_done

        for position in ("99999999999999999999", "¹", "-1", "x" * 500):  # any: a page
            assert api.client.get(f"{path}?before={position}&status={position}").status_code == 200
            assert api.client.get(f"{HERE}?after={position}").status_code == 200

        off = post(api.client, f"{path}/disable?lang=en", {"csrf_token": token})
        assert (off.status_code, off.headers["location"]) == (303, path)
        assert "Disabled" in api.client.get(f"{path}?lang=en").text
        pay_and_deliver(api, api.mid_a)
        assert len(receiver.requests) == 2  # a disabled endpoint is sent nothing
        on = post(api.client, f"{path}/enable", {"csrf_token": token})
        assert (
            on.status_code == 303 and WebhookService(api.tp.ctx).get_endpoint(endpoint.id).enabled
        )

    asked = api.client.get(f"{path}/delete?lang=en")
    assert asked.status_code == 200 and "deleted for good" in asked.text
    gone = post(api.client, f"{path}/delete", {"csrf_token": token})
    assert (gone.status_code, gone.headers["location"]) == (303, HERE)
    assert api.client.get(path).status_code == 404
    actions = [(r.action, r.actor) for r in audit_log(api.tp) if "webhook" in r.action]
    assert [a for a, _who in actions] == [
        "console webhook endpoint create", "console webhook endpoint create",
        "console webhook endpoint created", "console webhook secret rolled",
        "console webhook endpoint disabled", "console webhook endpoint enabled",
        "console webhook endpoint deleted",
    ]  # fmt: skip
    assert {who for _a, who in actions} == {"console:owner1@demo.test"}
    assert all(secret not in json.dumps(r.detail) for r in audit_log(api.tp))


def test_demo_mode_refuses_private_addresses_as_a_form_error(api: ApiEnv) -> None:
    token = sign_in(api.client, demo_owner(1))
    for url in ("http://10.1.2.3/hooks", "http://169.254.169.254/latest/meta-data/"):
        answer = post(api.client, f"{HERE}/webhooks?lang=en",
                      {"csrf_token": token, "url": url, "events": ["*"]})  # fmt: skip
        assert answer.status_code == 400 and NOT_PUBLIC in answer.text, url
        assert f'value="{url}"' in answer.text  # the form keeps what was typed
    assert WebhookService(api.tp.ctx).list_endpoints() == []


# --- outside demo mode ------------------------------------------------------------------


@pytest.fixture
def settings(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> Settings:
    """Demo mode (for ``api``), or ``strict``: a production-like server."""
    strict = getattr(request, "param", "demo") == "strict"
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        master_key=SecretStr(MASTER_KEY) if strict else None,
        demo=not strict,
        locale="en",
    )


@pytest.fixture
def strict(tp: Tillpoint) -> Iterator[TestClient]:
    """A server outside demo mode, with one approved merchant and its owner."""
    mid = approved(tp, personal_application(1))
    tp.accounts.create(name="Owner", roles={AccountRole.OWNER}, actor="test",
                       email="owner@shop.test", merchant_ref=mid, password=PASSWORD)  # fmt: skip
    acquirer = simulated(tp)
    client = TestClient(create_api(tp, acquirer), raise_server_exceptions=False)
    with client:
        yield client
    acquirer.close()


@pytest.mark.parametrize("settings", ["strict"], indirect=True)
def test_outside_demo_mode_only_public_addresses_are_added(
    strict: TestClient, tp: Tillpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = sign_in(strict, "owner@shop.test", PASSWORD)
    for url in ("http://127.0.0.1:9000/hooks", "http://localhost:9000/", "http://[::1]/",
                "http://192.168.1.1/", "http://metadata.google.internal/"):  # fmt: skip
        answer = post(strict, f"{HERE}/webhooks?lang=en",
                      {"csrf_token": token, "url": url, "events": ["*"]})  # fmt: skip
        assert answer.status_code == 400 and NOT_PUBLIC in answer.text, url
    assert WebhookService(tp.ctx).list_endpoints() == []
    refused = [r for r in audit_log(tp) if r.action == "console webhook endpoint create"]
    assert len(refused) == 5
    assert {(r.status_code, r.detail["refused"]) for r in refused if r.detail} == {
        (422, "webhook_endpoint.url_not_public")
    }
    public = destinations.ipaddress.ip_address("93.184.216.34")
    monkeypatch.setattr(destinations, "lookup", lambda host, port: [public])
    made = post(strict, f"{HERE}/webhooks?lang=en",
                {"csrf_token": token, "url": "https://hooks.shop.test/tillpoint", "events": ["*"]})  # fmt: skip
    assert secret_of(made).startswith("whsec_")
    (endpoint,) = WebhookService(tp.ctx).list_endpoints()
    assert (endpoint.url, endpoint.events) == ("https://hooks.shop.test/tillpoint", ["*"])
    assert "tp_live_" in strict.get(f"{HERE}?lang=en").text  # no key yet: a live one's start
