"""Events, webhooks and their deliveries at the service layer, against a real local
HTTP receiver and the test clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from tests.conftest import approved, personal_application

from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.models import SystemState
from tillpoint.core.money import Money
from tillpoint.core.outbox import GapTracker
from tillpoint.core.settings import Settings
from tillpoint.notify.events import (
    EVENT_TYPES,
    PAYMENT_EVENT_TYPES,
    EventService,
    event_type,
)
from tillpoint.notify.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tillpoint.notify.webhooks import (
    POSITION_KEY,
    WebhookService,
    WebhookWorker,
    retry_delay,
    signature_header,
    verify_signature,
)
from tillpoint.payments.acquirer import Acquirer, simulated
from tillpoint.payments.checkouts import CHECKOUT_EVENT_TYPES
from tillpoint.payments.models import PaymentKind
from tillpoint.payments.models import PaymentStatus as S
from tillpoint.payments.online import OnlinePayments

T = TypeVar("T")
ALIPAY = "284000000000000001"
DECLINED = "280000000000000002"  # the wallet declines it (51)
WECHAT = "134000000000000003"


# --- a webhook receiver -------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A local HTTP server that records what it is sent and answers with the statuses
    it is given, in turn, then 200."""

    answers: deque[int] = field(default_factory=deque)
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(Received(self.path, dict(self.headers), body))
                status = receiver.answers.popleft() if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"receiver is down\n  for now")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def answer(self, *statuses: int) -> None:
        self.answers.extend(statuses)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.requests]


@contextlib.contextmanager
def receiving(answers: Iterable[int] = ()) -> Iterator[Receiver]:
    receiver = Receiver(deque(answers))
    try:
        yield receiver
    finally:
        receiver.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


# --- two merchants that take wallet payments ------------------------------------------


@dataclass
class Env:
    tp: Tillpoint
    clock: FixedClock
    acquirer: Acquirer
    online: OnlinePayments
    hooks: WebhookService
    events: EventService
    mid_a: str
    mid_b: str

    def pay(self, mid: str, code: str = ALIPAY, amount_minor: int = 1234) -> int:
        merchant_id = self.tp.merchants.get(mid).id
        made = run(self.online.pay_with_code(merchant_id, Money(amount_minor), code))
        return made.payment.id

    def merchant_id(self, mid: str) -> int:
        return self.tp.merchants.get(mid).id

    def tick(self) -> int:
        return run(WebhookWorker(self.tp, service=self.hooks).tick())

    def deliveries(self) -> list[WebhookDelivery]:
        with self.tp.ctx.db.read() as s:
            return list(s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receivers here listen on loopback, which webhooks may reach only when the
    operator allows it (tests/api/test_webhook_destinations.py tests the refusals)."""
    return settings.model_copy(update={"webhooks_allow_private": True})


@pytest.fixture
def env(tp: Tillpoint, clock: FixedClock) -> Iterator[Env]:
    mid_a = approved(tp, personal_application(1))
    mid_b = approved(tp, personal_application(2))
    acquirer = simulated(tp)
    hooks = WebhookService(tp.ctx, jitter=lambda: 0.0)
    yield Env(
        tp, clock, acquirer, OnlinePayments(acquirer), hooks, EventService(tp.ctx), mid_a, mid_b
    )
    acquirer.close()


# --- event types ----------------------------------------------------------------------------


def test_event_types_follow_the_payment_and_the_status_it_reached() -> None:
    sale, preauth = PaymentKind.SALE, PaymentKind.PREAUTH
    completion, refund = PaymentKind.COMPLETION, PaymentKind.REFUND
    assert event_type(sale, S.APPROVED) == "payment.succeeded"
    assert event_type(completion, S.APPROVED) == "payment.succeeded"
    assert event_type(sale, S.DECLINED) == event_type(sale, S.TIMED_OUT) == "payment.failed"
    assert event_type(sale, S.PENDING) == "payment.pending"
    assert event_type(sale, S.EXPIRED) == "payment.expired"
    assert event_type(sale, S.CANCELED) == "payment.canceled"
    assert event_type(sale, S.VOIDED) == "payment.voided"
    assert event_type(sale, S.REVERSED) == "payment.reversed"
    assert event_type(sale, S.PARTLY_REFUNDED) == event_type(sale, S.REFUNDED)
    assert event_type(sale, S.REFUNDED) == "payment.refunded"
    assert event_type(refund, S.APPROVED) == "refund.succeeded"
    assert event_type(refund, S.DECLINED) == "refund.failed"
    assert event_type(refund, S.REVERSED) == "refund.reversed"
    assert event_type(preauth, S.APPROVED) == "payment.authorized"
    assert event_type(preauth, S.COMPLETED) == "payment.captured"
    # every kind reaching every status has a type, and the lists name them all
    assert {event_type(k, st) for k in PaymentKind for st in S} == set(PAYMENT_EVENT_TYPES)
    assert set(EVENT_TYPES) == set(PAYMENT_EVENT_TYPES) | set(CHECKOUT_EVENT_TYPES)


# --- signatures ------------------------------------------------------------------------------


def test_a_signature_verifies_and_nothing_else_does() -> None:
    secret, body, t = "whsec_test", b'{"id":1,"type":"payment.succeeded"}', 1_800_000_000
    header = signature_header(secret, body, t)
    assert header.startswith(f"t={t},v1=")
    assert verify_signature(secret, header, body, now=t + 10)
    assert verify_signature(secret, header, body.decode(), now=t - 10)  # text works too
    assert not verify_signature(secret, header, body.replace(b"1", b"2"), now=t)  # tampered
    assert not verify_signature("whsec_other", header, body, now=t)  # another secret
    assert not verify_signature(secret, header, body, now=t + 301)  # too old: a replay
    assert verify_signature(secret, header, body, tolerance=600, now=t + 301)
    forged = signature_header(secret, body, t + 1000).split(",")[1]  # a v1 for another t
    assert not verify_signature(secret, f"t={t},{forged}", body, now=t)
    assert verify_signature(secret, f"t={t},v1=00ff,{header.split(',')[1]}", body, now=t)
    for malformed in ("", "t=abc,v1=00", f"t={t}", "v1=00", f"t={t},v1=é"):
        assert not verify_signature(secret, malformed, body, now=t)


def test_retries_back_off_from_30_s_doubling_to_an_hour() -> None:
    seconds = [retry_delay(n).total_seconds() for n in range(1, 11)]
    assert seconds == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    assert retry_delay(1, jitter=1.0) == timedelta(seconds=33)  # up to 10% more
    assert retry_delay(10_000) == timedelta(hours=1)


def test_holes_in_event_ids_hold_the_position_until_they_are_old() -> None:
    now = [0.0]
    gaps = GapTracker(wait_s=10, monotonic=lambda: now[0])
    assert gaps.advance(4, [5, 6, 7]) == 7
    assert gaps.advance(7, [8, 10, 11]) == 8  # 9 may still commit
    now[0] = 5
    assert gaps.advance(8, [9, 10, 11]) == 11  # it did
    assert gaps.advance(11, [13]) == 11
    now[0] = 14
    assert gaps.advance(11, [13, 14]) == 11  # first seen at 5: not yet 10 s
    now[0] = 15
    assert gaps.advance(11, [13, 14]) == 14  # rolled back: move on


# --- events ----------------------------------------------------------------------------------


def test_events_list_newest_first_one_merchants_and_by_type(env: Env) -> None:
    first = env.pay(env.mid_a)
    declined = env.pay(env.mid_a, DECLINED)
    env.pay(env.mid_b)
    a = env.merchant_id(env.mid_a)
    listed = env.events.list_events(merchant_id=a)
    assert [(e.type, e.data.id) for e in listed] == [
        ("payment.failed", declined),
        ("payment.succeeded", first),
    ]
    assert {e.mid for e in listed} == {env.mid_a}
    assert listed[0].from_status is None and listed[0].to_status is S.DECLINED
    assert [e.data.id for e in env.events.list_events(merchant_id=a, type="payment.failed")] == [
        declined
    ]
    assert len(env.events.list_events()) == 3  # operations: everyone's
    older = env.events.list_events(merchant_id=a, before_id=listed[0].id)
    assert [e.id for e in older] == [listed[1].id]
    with pytest.raises(InvalidInput, match="Unknown event type"):
        env.events.list_events(type="payment.exploded")


def test_an_event_of_another_merchant_is_not_found(env: Env) -> None:
    env.pay(env.mid_b)
    (event,) = env.events.list_events()
    assert env.events.get(event.id, merchant_id=env.merchant_id(env.mid_b)) == event
    with pytest.raises(NotFound):
        env.events.get(event.id, merchant_id=env.merchant_id(env.mid_a))
    with pytest.raises(NotFound):
        env.events.get(event.id + 1)


def test_a_feed_hands_out_each_new_event_once(env: Env) -> None:
    env.pay(env.mid_a)
    feed = env.events.feed(env.events.latest_id(), env.merchant_id(env.mid_a))
    assert feed.poll() == []
    paid = env.pay(env.mid_a)
    env.pay(env.mid_b)
    assert [e.data.id for e in feed.poll()] == [paid]
    assert feed.poll() == []


# --- endpoints -------------------------------------------------------------------------------


def test_an_endpoint_shows_its_secret_once_and_keeps_it_encrypted(env: Env) -> None:
    made = env.hooks.create_endpoint(env.mid_a, "https://example.com/h", ["payment.succeeded"])
    assert made.secret.startswith("whsec_") and len(made.secret) > 30
    assert made.mid == env.mid_a and made.enabled and made.events == ["payment.succeeded"]
    assert "secret" not in env.hooks.get_endpoint(made.id).model_dump()
    rolled = env.hooks.roll_secret(made.id)
    assert rolled.secret != made.secret
    with env.tp.ctx.db.read() as s:
        sealed = s.get_one(WebhookEndpoint, made.id).secret_enc
    assert rolled.secret.encode() not in sealed
    opened = env.tp.ctx.keystore.open_text(sealed, f"webhook_endpoint:{made.id}:secret")
    assert opened == rolled.secret


@pytest.mark.parametrize(
    ("url", "events"),
    [
        ("ftp://example.com/h", ["*"]),
        ("https:///nohost", ["*"]),
        ("example.com/h", ["*"]),
        ("https://example.com/" + "x" * 500, ["*"]),
        ("https://exa mple.com/h", ["*"]),
        ("https://example.com/h", ["payment.exploded"]),
        ("https://example.com/h", []),
    ],
)
def test_endpoints_need_an_http_url_and_known_event_types(
    env: Env, url: str, events: list[str]
) -> None:
    with pytest.raises(InvalidInput):
        env.hooks.create_endpoint(env.mid_a, url, events)


def test_event_lists_are_cleaned_and_a_merchant_has_at_most_16_endpoints(env: Env) -> None:
    made = env.hooks.create_endpoint(
        env.mid_a, " http://localhost:9/h ", ["payment.failed", "payment.failed"], "  till  1 "
    )
    assert (made.url, made.events, made.description) == (
        "http://localhost:9/h",
        ["payment.failed"],
        "till 1",
    )
    assert env.hooks.create_endpoint(env.mid_a, made.url, ["payment.failed", "*"]).events == ["*"]
    for _ in range(14):
        env.hooks.create_endpoint(env.mid_a, made.url)
    with pytest.raises(Refused, match="at most 16"):
        env.hooks.create_endpoint(env.mid_a, made.url)
    env.hooks.create_endpoint(env.mid_b, made.url)  # another merchant's count


def test_endpoints_change_and_stay_their_merchants(env: Env) -> None:
    made = env.hooks.create_endpoint(env.mid_a, "https://example.com/h", description="till")
    a, b = env.merchant_id(env.mid_a), env.merchant_id(env.mid_b)
    changed = env.hooks.update_endpoint(
        made.id, merchant_id=a, url="https://example.com/2", enabled=False, description=""
    )
    assert (changed.url, changed.enabled, changed.description) == (
        "https://example.com/2",
        False,
        None,
    )
    for call in (
        lambda: env.hooks.get_endpoint(made.id, merchant_id=b),
        lambda: env.hooks.update_endpoint(made.id, merchant_id=b, enabled=True),
        lambda: env.hooks.roll_secret(made.id, merchant_id=b),
        lambda: env.hooks.delete_endpoint(made.id, merchant_id=b),
        lambda: env.hooks.list_deliveries(made.id, merchant_id=b),
    ):
        with pytest.raises(NotFound, match="No webhook endpoint"):
            call()
    assert [e.id for e in env.hooks.list_endpoints(merchant_id=a)] == [made.id]
    assert env.hooks.list_endpoints(merchant_id=b) == []


# --- fan-out ---------------------------------------------------------------------------------


def test_fan_out_makes_one_delivery_per_event_and_endpoint_once(env: Env) -> None:
    env.pay(env.mid_a)  # before any endpoint: never delivered
    env.clock.advance(timedelta(seconds=1))
    every = env.hooks.create_endpoint(env.mid_a, "http://127.0.0.1:9/all")
    failures = env.hooks.create_endpoint(env.mid_a, "http://127.0.0.1:9/f", ["payment.failed"])
    off = env.hooks.create_endpoint(env.mid_a, "http://127.0.0.1:9/off")
    env.hooks.update_endpoint(off.id, enabled=False)
    paid = env.pay(env.mid_a)
    env.pay(env.mid_a, DECLINED)
    env.pay(env.mid_b)  # B has no endpoint
    assert env.hooks.fan_out() == 3
    assert env.hooks.fan_out() == 0
    with env.tp.ctx.db.transaction() as s:  # even read again from the start...
        s.get_one(SystemState, POSITION_KEY).value = "0"
    assert env.hooks.fan_out() == 0  # ...nothing is delivered twice
    made = [(d.endpoint_id, d.event_type) for d in env.deliveries()]
    assert made == [
        (every.id, "payment.succeeded"),
        (every.id, "payment.failed"),
        (failures.id, "payment.failed"),
    ]
    first = env.deliveries()[0]
    body = json.loads(first.body)
    assert (body["object"], body["type"], body["mid"]) == ("event", "payment.succeeded", env.mid_a)
    assert body["data"]["id"] == paid and body["data"]["amount_minor"] == 1234
    assert first.status is DeliveryStatus.PENDING and first.next_attempt_at == env.clock.now()


def test_an_endpoint_that_never_existed_costs_the_fan_out_nothing(env: Env) -> None:
    env.pay(env.mid_a)
    assert env.hooks.fan_out() == 0
    with env.tp.ctx.db.read() as s:
        assert s.get(SystemState, POSITION_KEY) is None


# --- delivery ---------------------------------------------------------------------------------


def test_a_delivery_is_signed_and_succeeds_on_a_2xx(env: Env) -> None:
    with receiving() as receiver:
        endpoint = env.hooks.create_endpoint(env.mid_a, receiver.url)
        paid = env.pay(env.mid_a, WECHAT)
        assert env.tick() == 1
        assert env.tick() == 0  # nothing more is due
    (request,) = receiver.requests
    assert request.path == "/hooks"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Tillpoint-Webhooks/1"
    header = request.headers["Tillpoint-Signature"]
    assert verify_signature(endpoint.secret, header, request.body, now=env.clock.now().timestamp())
    event = json.loads(request.body)
    assert request.headers["Tillpoint-Event-Id"] == str(event["id"])
    assert (event["type"], event["data"]["id"], event["data"]["card_org"]) == (
        "payment.succeeded",
        paid,
        "WXP",
    )
    (delivery,) = env.hooks.list_deliveries(endpoint.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        DeliveryStatus.SUCCEEDED,
        1,
        200,
    )
    assert delivery.delivered_at == env.clock.now() and delivery.next_attempt_at is None
    detail = env.hooks.get_delivery(endpoint.id, delivery.id)
    assert detail.body.encode() == request.body
    (attempt,) = detail.attempt_log
    assert (attempt.status_code, attempt.error, attempt.manual) == (200, None, False)


def test_failures_are_retried_with_back_off_and_given_up_after_24_hours(env: Env) -> None:
    with receiving(answers=[500] * 1000) as receiver:
        endpoint = env.hooks.create_endpoint(env.mid_a, receiver.url)
        env.pay(env.mid_a)
        start = env.clock.now()
        waits = []
        while env.tick():
            (delivery,) = env.hooks.list_deliveries(endpoint.id)
            if delivery.next_attempt_at is None:
                break
            waits.append((delivery.next_attempt_at - env.clock.now()).total_seconds())
            env.clock.advance(timedelta(seconds=waits[-1] - 1))
            assert env.tick() == 0  # not due yet
            env.clock.advance(timedelta(seconds=1))
    assert waits[:9] == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert set(waits[7:]) == {3600}
    (delivery,) = env.hooks.list_deliveries(endpoint.id)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.attempts == len(receiver.requests) == len(waits) + 1
    assert env.clock.now() - start <= timedelta(hours=24)
    assert env.clock.now() + timedelta(hours=1) - start > timedelta(hours=24)
    assert delivery.last_status_code == 500
    assert delivery.last_error == "HTTP 500: receiver is down for now"
    assert len({r.body for r in receiver.requests}) == 1  # the same bytes every time
    assert len({r.headers["Tillpoint-Signature"] for r in receiver.requests}) == len(waits) + 1


def test_a_receiver_that_comes_back_gets_the_delivery(env: Env) -> None:
    with receiving(answers=[503, 404]) as receiver:
        endpoint = env.hooks.create_endpoint(env.mid_a, receiver.url)
        env.pay(env.mid_a)
        env.tick()
        env.clock.advance(timedelta(seconds=30))
        env.tick()
        env.clock.advance(timedelta(seconds=60))
        env.tick()
    (delivery,) = env.hooks.list_deliveries(endpoint.id)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 3)
    log = env.hooks.get_delivery(endpoint.id, delivery.id).attempt_log
    assert [a.status_code for a in log] == [503, 404, 200]


def test_no_answer_is_a_failed_attempt_with_the_reason(env: Env) -> None:
    endpoint = env.hooks.create_endpoint(env.mid_a, closed_port_url())
    env.pay(env.mid_a)
    assert env.tick() == 1
    (delivery,) = env.hooks.list_deliveries(endpoint.id)
    assert delivery.status is DeliveryStatus.PENDING and delivery.last_status_code is None
    assert delivery.last_error == "Could not deliver: no answer from the URL"
    assert delivery.next_attempt_at == env.clock.now() + timedelta(seconds=30)


def test_a_disabled_endpoint_is_sent_nothing_until_enabled_again(env: Env) -> None:
    with receiving() as receiver:
        endpoint = env.hooks.create_endpoint(env.mid_a, receiver.url)
        env.pay(env.mid_a)
        env.hooks.fan_out()
        env.hooks.update_endpoint(endpoint.id, enabled=False)
        assert env.tick() == 0
        env.hooks.update_endpoint(endpoint.id, enabled=True)
        assert env.tick() == 1
    assert len(receiver.requests) == 1


def test_a_replay_sends_again_now_whatever_the_status(env: Env) -> None:
    with receiving(answers=[500, 500]) as receiver:
        endpoint = env.hooks.create_endpoint(env.mid_a, receiver.url)
        env.pay(env.mid_a)
        env.tick()  # 500: pending, again in 30 s
        (delivery,) = env.hooks.list_deliveries(endpoint.id)
        due = delivery.next_attempt_at
        replayed = run(env.hooks.retry(endpoint.id, delivery.id))  # 500 again
        assert (replayed.status, replayed.attempts, replayed.next_attempt_at) == (
            DeliveryStatus.PENDING,
            2,
            due,  # a failed replay leaves the schedule alone
        )
        replayed = run(env.hooks.retry(endpoint.id, delivery.id))  # 200
        assert replayed.status is DeliveryStatus.SUCCEEDED and replayed.next_attempt_at is None
        again = run(env.hooks.retry(endpoint.id, delivery.id))  # even a delivered one
    assert [a.manual for a in again.attempt_log] == [False, True, True, True]
    assert again.status is DeliveryStatus.SUCCEEDED and len(receiver.requests) == 4
    with pytest.raises(NotFound, match="No webhook delivery"):
        run(env.hooks.retry(endpoint.id, delivery.id + 1))
    other = env.hooks.create_endpoint(env.mid_a, receiver.url)
    with pytest.raises(NotFound, match="No webhook delivery"):
        run(env.hooks.retry(other.id, delivery.id))  # not that endpoint's
    with pytest.raises(NotFound, match="No webhook endpoint"):
        env.hooks.get_delivery(endpoint.id, delivery.id, merchant_id=env.merchant_id(env.mid_b))


def test_a_replay_brings_a_failed_delivery_back(env: Env) -> None:
    endpoint = env.hooks.create_endpoint(env.mid_a, closed_port_url())
    env.pay(env.mid_a)
    env.tick()
    with env.tp.ctx.db.transaction() as s:
        s.execute(select(WebhookDelivery)).scalar_one().status = DeliveryStatus.FAILED
    with receiving() as receiver:
        env.hooks.update_endpoint(endpoint.id, url=receiver.url)
        (delivery,) = env.hooks.list_deliveries(endpoint.id, status=DeliveryStatus.FAILED)
        assert run(env.hooks.retry(endpoint.id, delivery.id)).status is DeliveryStatus.SUCCEEDED


def test_deleting_an_endpoint_deletes_its_deliveries_and_their_log(env: Env) -> None:
    endpoint = env.hooks.create_endpoint(env.mid_a, closed_port_url())
    env.pay(env.mid_a)
    env.tick()
    assert env.hooks.delete_endpoint(endpoint.id).deleted
    assert env.deliveries() == []
    with env.tp.ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(WebhookAttempt)) == 0
    with pytest.raises(NotFound):
        env.hooks.get_endpoint(endpoint.id)


def test_the_worker_keeps_going_after_a_failed_round_and_stops_when_cancelled(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds = []

    def flaky() -> int:
        rounds.append(1)
        if len(rounds) == 1:
            raise RuntimeError("database went away")
        return 0

    monkeypatch.setattr(env.hooks, "fan_out", flaky)
    worker = WebhookWorker(env.tp, every_s=0.01, service=env.hooks)

    async def main() -> None:
        task = asyncio.create_task(worker.run())
        while len(rounds) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert len(rounds) >= 3
