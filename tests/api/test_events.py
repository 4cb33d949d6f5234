"""/v1/events: the list, one event, and the live stream of server-sent events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_webhooks import pay
from tillpoint.http import sse as routes

DECLINED = "280000000000000002"
UNIONPAY = "6200000000000000003"


def messages(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Server-sent events as dicts of their fields; a comment as {"comment": ...}."""
    fields: dict[str, Any] = {}
    for line in lines:
        if line.startswith(":"):
            yield {"comment": line[1:].strip()}
        elif line:
            name, _sep, value = line.partition(": ")
            fields[name] = value
        elif fields:
            if "data" in fields:
                fields["data"] = json.loads(fields["data"])
            yield fields
            fields = {}


def take(api: ApiEnv, who: str, n: int, query: str = "", **headers: str) -> list[dict[str, Any]]:
    """The first ``n`` events of a stream (which closes by itself within 10 s anyway)."""
    got: list[dict[str, Any]] = []
    url = f"/v1/events/stream?timeout_s=10{query}"
    with api.client.stream("GET", url, headers={**api.headers(who), **headers}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for message in messages(r.iter_lines()):
            if "event" in message:
                got.append(message)
            if len(got) == n:
                break
    return got


def test_events_are_listed_newest_first_for_the_callers_merchant(api: ApiEnv) -> None:
    paid = pay(api, api.mid_a)
    declined = pay(api, api.mid_a, DECLINED)
    pay(api, api.mid_b)
    listed = api.get("owner_a", "/v1/events").json()
    assert [(e["type"], e["data"]["id"]) for e in listed["data"]] == [
        ("payment.failed", declined),
        ("payment.succeeded", paid),
    ]
    event = listed["data"][0]
    assert (event["object"], event["mid"], event["from_status"], event["to_status"]) == (
        "event",
        api.mid_a,
        None,
        "declined",
    )
    assert api.get("staff_a", "/v1/events").json() == listed  # any key of the merchant
    failed = api.get("owner_a", "/v1/events?type=payment.failed").json()["data"]
    assert [e["data"]["id"] for e in failed] == [declined]
    assert len(api.get("ops", "/v1/events").json()["data"]) == 3
    assert len(api.get("reviewer", f"/v1/events?mid={api.mid_b}").json()["data"]) == 1
    page = api.get("owner_a", "/v1/events?limit=1").json()
    assert page["has_more"]
    rest = api.get("owner_a", f"/v1/events?limit=1&cursor={page['next_cursor']}").json()
    assert [e["data"]["id"] for e in rest["data"]] == [paid] and not rest["has_more"]


def test_one_event_and_its_tenancy(api: ApiEnv) -> None:
    pay(api, api.mid_a)
    (event,) = api.get("owner_a", "/v1/events").json()["data"]
    assert api.get("owner_a", f"/v1/events/{event['id']}").json() == event
    assert api.get("ops", f"/v1/events/{event['id']}").json() == event
    for path in (f"/v1/events/{event['id']}", f"/v1/events/{event['id'] + 1}"):
        r = api.get("owner_b", path)
        assert (r.status_code, r.json()["code"]) == (404, "event.not_found")
    assert api.get("owner_b", "/v1/events").json()["data"] == []
    assert api.get("owner_b", f"/v1/events?mid={api.mid_a}").status_code == 404
    r = api.get("owner_a", "/v1/events?type=payment.exploded")
    assert (r.status_code, r.json()["code"]) == (422, "event.type_unknown")
    assert api.get("owner_a", "/v1/events/0").status_code == 422


def test_a_stream_resumes_after_last_event_id_with_the_merchants_events(api: ApiEnv) -> None:
    first = pay(api, api.mid_a)
    pay(api, api.mid_b)
    second = pay(api, api.mid_a, UNIONPAY)
    got = take(api, "owner_a", 2, **{"Last-Event-ID": "0"})
    assert [(m["event"], m["data"]["data"]["id"]) for m in got] == [
        ("payment.succeeded", first),
        ("payment.succeeded", second),
    ]
    assert [m["id"] for m in got] == [str(m["data"]["id"]) for m in got]
    resumed = take(api, "owner_a", 1, **{"Last-Event-ID": got[0]["id"]})
    assert resumed[0]["data"]["data"]["id"] == second
    only_b = take(api, "ops", 1, f"&mid={api.mid_b}", **{"Last-Event-ID": "0"})
    assert only_b[0]["data"]["mid"] == api.mid_b


def test_a_stream_tells_of_new_events_as_they_happen(api: ApiEnv) -> None:
    url = "/v1/events/stream?timeout_s=10"
    with api.client.stream("GET", url, headers=api.headers("staff_a")) as r:
        lines = r.iter_lines()
        assert next(lines) == f"retry: {routes.RETRY_MS}"  # connected
        pay(api, api.mid_b)  # not A's
        paid = pay(api, api.mid_a)
        event = next(m for m in messages(lines) if "event" in m)
    assert (event["event"], event["data"]["data"]["id"]) == ("payment.succeeded", paid)


def test_a_quiet_stream_sends_keep_alive_comments_and_can_end(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes, "KEEP_ALIVE_S", 0.05)
    monkeypatch.setattr(routes, "POLL_S", 0.02)
    r = api.client.get("/v1/events/stream?timeout_s=0.3", headers=api.headers("owner_a"))
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-cache"
    assert ": keep-alive\n\n" in r.text and "event:" not in r.text


def test_a_stream_checks_who_asks_before_it_starts(api: ApiEnv) -> None:
    assert api.client.get("/v1/events/stream").status_code == 401
    r = api.get("owner_a", f"/v1/events/stream?mid={api.mid_b}")
    assert (r.status_code, r.json()["code"]) == (404, "merchant.not_found")
    r = api.client.get(
        "/v1/events/stream", headers={**api.headers("owner_a"), "Last-Event-ID": "soon"}
    )
    assert r.status_code == 422
