"""/v1/webhook_endpoints: managing endpoints, the delivery log and replays, tenancy."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import ApiEnv
from tests.integration.test_webhooks import receiving
from tillpoint.core.money import Money
from tillpoint.notify.webhooks import WebhookWorker, verify_signature

ALIPAY = "284000000000000001"
URL = "https://shop.example.com/hooks"


def pay(api: ApiEnv, mid: str, code: str = ALIPAY) -> int:
    online = api.services.online
    made = api.run(online.pay_with_code, api.merchant_id(mid), Money(1234), code)
    payment_id: int = made.payment.id
    return payment_id


def tick(api: ApiEnv) -> int:
    attempts: int = api.run(WebhookWorker(api.tp).tick)
    return attempts


def create(api: ApiEnv, who: str = "owner_a", **body: Any) -> Any:
    r = api.post(who, "/v1/webhook_endpoints", json={"url": URL, **body})
    assert r.status_code == 201, r.text
    return r.json()


def test_an_owner_makes_an_endpoint_and_sees_its_secret_once(api: ApiEnv) -> None:
    made = create(api, events=["payment.succeeded", "refund.succeeded"], description="Shop")
    assert made["object"] == "webhook_endpoint" and made["mid"] == api.mid_a
    assert made["secret"].startswith("whsec_") and made["enabled"] is True
    assert made["events"] == ["payment.succeeded", "refund.succeeded"]
    shown = api.get("owner_a", f"/v1/webhook_endpoints/{made['id']}").json()
    assert "secret" not in shown and shown["url"] == URL
    listed = api.get("owner_a", "/v1/webhook_endpoints").json()
    assert [e["id"] for e in listed["data"]] == [made["id"]] and not listed["has_more"]
    rolled = api.post("owner_a", f"/v1/webhook_endpoints/{made['id']}/roll_secret").json()
    assert rolled["secret"].startswith("whsec_") and rolled["secret"] != made["secret"]


def test_operations_name_the_merchant_and_owners_use_their_own(api: ApiEnv) -> None:
    made = create(api, "ops", mid=api.mid_b)
    assert made["mid"] == api.mid_b
    r = api.post("ops", "/v1/webhook_endpoints", json={"url": URL})
    assert (r.status_code, r.json()["code"]) == (422, "webhook_endpoint.mid_required")
    r = api.post("owner_a", "/v1/webhook_endpoints", json={"url": URL, "mid": api.mid_b})
    assert (r.status_code, r.json()["code"]) == (404, "merchant.not_found")
    assert create(api, "owner_a", mid=api.mid_a)["mid"] == api.mid_a
    everyone = api.get("ops", "/v1/webhook_endpoints").json()["data"]
    assert len(everyone) == 2
    only_b = api.get("ops", f"/v1/webhook_endpoints?mid={api.mid_b}").json()["data"]
    assert [e["id"] for e in only_b] == [made["id"]]


def test_bad_urls_and_event_types_are_422_problems(api: ApiEnv) -> None:
    for body, code in (
        ({"url": "ftp://example.com/h"}, "webhook_endpoint.url"),
        ({"url": "not a url"}, "webhook_endpoint.url"),
        ({"url": URL, "events": ["payment.exploded"]}, "event.type_unknown"),
        ({"url": URL, "events": []}, "request.invalid"),
        ({"url": "https://x.example/" + "x" * 500}, "request.invalid"),
    ):
        r = api.post("owner_a", "/v1/webhook_endpoints", json=body)
        assert (r.status_code, r.json()["code"]) == (422, code), body
    assert api.get("owner_a", "/v1/webhook_endpoints").json()["data"] == []


def test_staff_and_reviewers_may_not_manage_endpoints(api: ApiEnv) -> None:
    made = create(api)
    for who in ("staff_a", "reviewer"):
        assert api.post(who, "/v1/webhook_endpoints", json={"url": URL}).status_code == 403
        assert api.get(who, "/v1/webhook_endpoints").status_code == 403
        assert api.get(who, f"/v1/webhook_endpoints/{made['id']}").status_code == 403
        assert api.get(who, f"/v1/webhook_endpoints/{made['id']}/deliveries").status_code == 403


def test_another_merchants_endpoint_is_not_found(api: ApiEnv) -> None:
    made = create(api)
    path = f"/v1/webhook_endpoints/{made['id']}"
    headers = api.headers("owner_b")
    for r in (
        api.get("owner_b", path),
        api.post("owner_b", path, json={"enabled": False}),
        api.client.delete(path, headers=headers),
        api.post("owner_b", f"{path}/roll_secret"),
        api.get("owner_b", f"{path}/deliveries"),
        api.get("owner_b", f"{path}/deliveries/1"),
        api.post("owner_b", f"{path}/deliveries/1/retry"),
    ):
        assert (r.status_code, r.json()["code"]) == (404, "webhook_endpoint.not_found")
    assert api.get("owner_b", "/v1/webhook_endpoints").json()["data"] == []
    assert api.get("owner_b", f"/v1/webhook_endpoints?mid={api.mid_a}").status_code == 404
    assert api.get("owner_a", path).json()["enabled"] is True  # untouched


def test_endpoints_change_and_are_deleted(api: ApiEnv) -> None:
    made = create(api)
    path = f"/v1/webhook_endpoints/{made['id']}"
    changed = api.post(
        "owner_a", path, json={"enabled": False, "events": ["payment.failed"], "description": "x"}
    ).json()
    assert (changed["enabled"], changed["events"], changed["description"], changed["url"]) == (
        False,
        ["payment.failed"],
        "x",
        URL,
    )
    gone = api.client.delete(path, headers=api.headers("owner_a"))
    assert gone.json() == {"id": made["id"], "object": "webhook_endpoint", "deleted": True}
    assert api.get("owner_a", path).status_code == 404


def test_lists_are_paged_newest_first(api: ApiEnv) -> None:
    ids = [create(api)["id"] for _ in range(3)]
    first = api.get("owner_a", "/v1/webhook_endpoints?limit=2").json()
    assert [e["id"] for e in first["data"]] == ids[:0:-1] and first["has_more"]
    rest = api.get("owner_a", f"/v1/webhook_endpoints?limit=2&cursor={first['next_cursor']}")
    assert [e["id"] for e in rest.json()["data"]] == ids[:1]


def test_a_creation_replayed_with_its_key_makes_one_endpoint(api: ApiEnv) -> None:
    headers = api.headers("owner_a", idempotency="make-hook")
    first = api.client.post("/v1/webhook_endpoints", json={"url": URL}, headers=headers)
    again = api.client.post("/v1/webhook_endpoints", json={"url": URL}, headers=headers)
    assert first.content == again.content and again.headers["Idempotent-Replayed"] == "true"
    assert len(api.get("owner_a", "/v1/webhook_endpoints").json()["data"]) == 1


def test_a_payment_reaches_the_merchants_endpoint_signed_and_can_be_replayed(
    api: ApiEnv,
) -> None:
    with receiving(answers=[500]) as receiver:
        made = create(api, url=receiver.url)
        create(api, "owner_b", url=receiver.url)  # B's endpoint hears nothing of A
        paid = pay(api, api.mid_a)
        assert tick(api) == 1
        path = f"/v1/webhook_endpoints/{made['id']}/deliveries"
        listed = api.get("owner_a", path).json()["data"]
        assert [(d["status"], d["attempts"], d["last_status_code"]) for d in listed] == [
            ("pending", 1, 500)
        ]
        delivery = listed[0]
        assert api.get("owner_a", f"{path}?status=succeeded").json()["data"] == []
        replayed = api.post("owner_a", f"{path}/{delivery['id']}/retry")
        assert replayed.status_code == 200, replayed.text
    done = replayed.json()
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("succeeded", 2, 200)
    assert [(a["status_code"], a["manual"]) for a in done["attempt_log"]] == [
        (500, False),
        (200, True),
    ]
    assert api.get("owner_a", f"{path}/{delivery['id']}").json() == done
    assert len(receiver.requests) == 2
    now = api.tp.ctx.now().timestamp()
    for request in receiver.requests:
        signature = request.headers["Tillpoint-Signature"]
        assert verify_signature(made["secret"], signature, request.body, now=now)
        event = json.loads(request.body)
        assert (event["type"], event["mid"], event["data"]["id"]) == (
            "payment.succeeded",
            api.mid_a,
            paid,
        )
    assert done["body"].encode() == receiver.requests[0].body
    other = api.get("owner_b", f"{path}/{delivery['id']}")
    assert other.status_code == 404
    missing = api.get("owner_a", f"{path}/{delivery['id'] + 99}")
    assert (missing.status_code, missing.json()["code"]) == (404, "webhook_delivery.not_found")
