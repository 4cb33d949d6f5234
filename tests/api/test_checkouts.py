"""/v1/terminals/{tid}/checkouts and /v1/checkout_events: who may do what, what a body
may hold, replays, pages, refusals; the housekeeping that expires them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.api.conftest import ApiEnv
from tillpoint.api.worker import housekeeping
from tillpoint.core.clock import FixedClock

PATH = "/v1/terminals/10000001/checkouts"


def made(api: ApiEnv, amount: int = 1_000, reference: str = "R-1", **more: object) -> dict:  # type: ignore[type-arg]
    r = api.post("staff_a", PATH, {"amount_minor": amount, "reference": reference, **more})
    assert r.status_code == 201, r.text
    body: dict = r.json()  # type: ignore[type-arg]
    return body


def test_staff_hand_an_amount_to_their_terminal(api: ApiEnv) -> None:
    body = made(api, 1_234, "T1-0001", shop_number=1, expires_in_s=120)
    assert body["object"] == "checkout" and body["status"] == "pending"
    assert (body["amount_minor"], body["currency"], body["tid"], body["mid"]) == (
        1_234, "CNY", api.tid_a, api.mid_a,
    )  # fmt: skip
    assert body["attempts"] == 0 and body["payment_id"] is None
    got = api.get("owner_a", f"{PATH}/{body['id']}")
    assert got.status_code == 200 and got.json() == body
    # The reference is the till's: the same one again is the same checkout.
    again = api.post("staff_a", PATH, {"amount_minor": 1_234, "reference": "T1-0001"})
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    clash = api.post("staff_a", PATH, {"amount_minor": 999, "reference": "T1-0001"})
    assert clash.status_code == 409 and clash.json()["code"] == "checkout.reference_used"
    # Reviewers read; they do not take payments.
    assert api.get("reviewer", f"{PATH}/{body['id']}").status_code == 200
    refused = api.post("reviewer", PATH, {"amount_minor": 1, "reference": "x"})
    assert refused.status_code == 403
    # Operations name any merchant's terminal.
    ops = api.post("ops", "/v1/terminals/10000002/checkouts",
                   {"amount_minor": 10, "reference": "T1-0001"})  # fmt: skip
    assert ops.status_code == 201 and ops.json()["mid"] == api.mid_b


def test_a_replayed_post_is_the_first_answer(api: ApiEnv) -> None:
    headers = api.headers("staff_a", idempotency="till-42")
    body = {"amount_minor": 300, "reference": "R-42"}
    first = api.client.post(PATH, json=body, headers=headers)
    replay = api.client.post(PATH, json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.content == first.content


def test_bodies_are_checked(api: ApiEnv) -> None:
    for body in (
        {"amount_minor": 0, "reference": "x"},
        {"amount_minor": "100", "reference": "x"},
        {"amount_minor": 100},
        {"amount_minor": 100, "reference": ""},
        {"amount_minor": 100, "reference": "x" * 65},
        {"amount_minor": 100, "reference": "a\nb"},
        {"amount_minor": 100, "reference": "x", "expires_in_s": 59},
        {"amount_minor": 100, "reference": "x", "expires_in_s": 7201},
        {"amount_minor": 100, "reference": "x", "currency": "cny"},
    ):
        r = api.post("staff_a", PATH, body)
        assert r.status_code == 422, (body, r.text)
    wrong_shop = api.post("staff_a", PATH, {"amount_minor": 1, "reference": "x", "shop_number": 7})
    assert (wrong_shop.status_code, wrong_shop.json()["code"]) == (422, "payment.shop_terminal")
    usd = api.post("staff_a", PATH, {"amount_minor": 1, "reference": "x", "currency": "USD"})
    assert (usd.status_code, usd.json()["code"]) == (422, "payment.currency")
    over = api.post("staff_a", PATH, {"amount_minor": 50_000_001, "reference": "x"})
    assert (over.status_code, over.json()["code"]) == (409, "checkout.over_limit")
    assert api.get("owner_a", PATH).json()["data"] == []


def test_lists_page_newest_first_and_filter_by_status(api: ApiEnv) -> None:
    ids = [made(api, 100 + n, f"L-{n}")["id"] for n in range(3)]
    first = api.get("owner_a", PATH, params={"limit": 2}).json()
    assert [c["id"] for c in first["data"]] == ids[:0:-1] and first["has_more"]
    rest = api.get("owner_a", PATH, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in rest["data"]] == ids[:1] and not rest["has_more"]
    api.post("staff_a", f"{PATH}/{ids[1]}/cancel")
    canceled = api.get("owner_a", PATH, params={"status": "canceled"}).json()["data"]
    assert [c["id"] for c in canceled] == [ids[1]]
    assert api.get("owner_a", PATH, params={"status": "nonsense"}).status_code == 422


def test_cancel_only_what_waits(api: ApiEnv) -> None:
    body = made(api)
    first = api.post("staff_a", f"{PATH}/{body['id']}/cancel")
    assert first.status_code == 200 and first.json()["status"] == "canceled"
    second = api.post("staff_a", f"{PATH}/{body['id']}/cancel")
    assert (second.status_code, second.json()["code"]) == (409, "checkout.not_pending")
    # Under another terminal's path it is not found.
    elsewhere = api.post("ops", f"/v1/terminals/10000002/checkouts/{body['id']}/cancel")
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "checkout.not_found")


def test_checkout_events_have_their_own_list(api: ApiEnv) -> None:
    body = made(api)
    api.post("staff_a", f"{PATH}/{body['id']}/cancel")
    events = api.get("owner_a", "/v1/checkout_events").json()["data"]
    assert [(e["object"], e["type"], e["status"]) for e in events] == [
        ("checkout_event", "checkout.canceled", "canceled")
    ]
    assert events[0]["data"]["id"] == body["id"]
    one = api.get("owner_a", f"/v1/checkout_events/{events[0]['id']}").json()
    assert one == events[0]
    by_type = api.get("owner_a", "/v1/checkout_events", params={"type": "checkout.paid"})
    assert by_type.json()["data"] == []
    unknown = api.get("owner_a", "/v1/checkout_events", params={"type": "payment.succeeded"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "event.type_unknown")
    # Payment events are listed at /v1/events: a checkout type there says where to look.
    elsewhere = api.get("owner_a", "/v1/events", params={"type": "checkout.paid"})
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (422, "event.checkout_type")
    # A webhook endpoint may ask for checkout events.
    hook = api.post("owner_a", "/v1/webhook_endpoints",
                    {"url": "https://till.example.com/h", "events": ["checkout.expired"]})  # fmt: skip
    assert hook.status_code == 201, hook.text


def test_housekeeping_expires_checkouts_past_their_time(api: ApiEnv, clock: FixedClock) -> None:
    body = made(api, expires_in_s=60)
    clock.advance(timedelta(seconds=61))
    # As the till sees it at once; written (and announced) by the next round.
    assert api.get("owner_a", f"{PATH}/{body['id']}").json()["status"] == "expired"
    assert api.get("owner_a", "/v1/checkout_events").json()["data"] == []

    async def one_round() -> None:
        task = asyncio.ensure_future(housekeeping(api.services, every_s=3600))
        for _ in range(200):
            await asyncio.sleep(0.01)
            if api.tp.checkouts.list_events():
                break
        task.cancel()

    api.run(one_round)
    events = api.get("owner_a", "/v1/checkout_events").json()["data"]
    assert [e["type"] for e in events] == ["checkout.expired"]
