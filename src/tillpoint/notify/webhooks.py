"""Webhooks: a merchant's URLs, told of each of its events, signed, until they answer.

- An endpoint is a URL, the event types it wants (or ``*``) and a signing secret
  (``whsec_...``), stored encrypted under the master key and shown only when made or
  rolled.
- ``fan_out`` reads the events of each outbox (payment events, notify/events.py; checkout
  events, payments/checkouts.py) after a position of its own kept in ``system_state``
  and makes one delivery per event and matching enabled endpoint of the event's
  merchant, with its body fixed then: every attempt and replay sends the same bytes.
  An endpoint gets only events from after it was made.
- ``deliver_due`` POSTs the deliveries that are due, at most ``CONCURRENCY`` at a time.
  A 2xx answer within ``TIMEOUT_S`` is success; anything else (redirects included) is
  tried again after 30 s, 1, 2, 4 ... minutes, at most an hour apart, plus up to 10%
  jitter, until 24 hours after the delivery was made; then it has failed. Every
  attempt is logged. A replay (``retry``) sends a delivery again at once, whatever
  its status.
- Webhooks reach public addresses only (notify/destinations.py): checked when a URL is
  registered, and on every attempt, which connects to the very address it checked.
  An attempt's log keeps the answer's status and a short printable excerpt of a
  refusal's body; an attempt without an answer says only that it could not deliver,
  so the log cannot tell an open port from a closed one.
- Each request is signed as Stripe signs: ``Tillpoint-Signature: t=<unix time>,v1=<hex
  HMAC-SHA256 of "<t>.<body>" keyed with the secret>``. ``verify_signature`` checks it.

All times come from the context's clock, so tests can move them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound, Refused, invariant
from tillpoint.core.i18n import N_, _
from tillpoint.core.ids import is_digits
from tillpoint.core.models import SystemState
from tillpoint.core.outbox import GapTracker
from tillpoint.merchants.models import Merchant
from tillpoint.merchants.services import find_merchant
from tillpoint.notify.destinations import NotAllowed, Reach, check_registered, pin
from tillpoint.notify.events import check_event_type, heads_after, load_events
from tillpoint.notify.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tillpoint.payments.checkouts import checkout_heads_after, load_checkout_events
from tillpoint.payments.models import CheckoutEvent, PaymentEvent


class HasContext(Protocol):
    """The application, as the webhook worker sees it: its context."""

    @property
    def ctx(self) -> Context: ...


log = logging.getLogger("tillpoint.webhooks")

SECRET_PREFIX = "whsec_"  # noqa: S105 - the start of every secret, not one
ALL_EVENTS = "*"
MAX_ENDPOINTS = 16  # per merchant
MAX_URL_CHARS = 500
MAX_DESCRIPTION_CHARS = 200
MAX_EVENT_TYPES = 20
TIMEOUT_S = 10.0  # for the whole request: connect, send, answer
CONCURRENCY = 10
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
JITTER = 0.1  # up to 10% more
GIVE_UP_AFTER = timedelta(hours=24)
LEASE = timedelta(minutes=1)  # a claimed delivery is not claimed again for this long
FAN_OUT_BATCH = 500  # events read at a time
FAN_OUT_BATCHES = 10  # per round, at most
DELIVER_BATCH = 100  # deliveries claimed per round
ERROR_CHARS = 300  # WebhookDelivery.last_error, WebhookAttempt.error
ANSWER_BYTES = 1024  # of a refusing answer's body, read
EXCERPT_CHARS = 200  # of those, kept (printable characters only) in the error
# What an attempt without an answer says, whatever happened: refused, reset, timed out,
# no such name. Telling them apart would tell an open port from a closed one.
COULD_NOT_DELIVER = N_("Could not deliver: no answer from the URL")
NOT_ALLOWED = N_("Not sent: the URL's host resolves to an address webhooks may not reach")
TOLERANCE_S = 300
USER_AGENT = "Tillpoint-Webhooks/1"
POSITION_KEY = "webhooks.event_position"  # system_state: events up to it are fanned out
CHECKOUT_POSITION_KEY = "webhooks.checkout_event_position"  # the same, of checkout events
PAYMENT, CHECKOUT = "payment", "checkout"  # a delivery's source: the outbox of its event


# --- signatures ----------------------------------------------------------------------


def _hmac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Tillpoint-Signature`` of ``body`` sent at ``timestamp`` (unix seconds)."""
    return f"t={timestamp},v1={_hmac(secret, timestamp, body)}"


def verify_signature(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance: int = TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (a ``Tillpoint-Signature``) signs ``body`` (the raw bytes
    received, before any JSON parsing) with ``secret``, and was made within
    ``tolerance`` seconds of ``now`` (unix seconds; default: this machine's clock),
    which stops old requests being replayed. Compares in constant time."""
    raw = body.encode() if isinstance(body, str) else body
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _sep, value = part.strip().partition("=")
        if key == "t" and is_digits(value) and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _hmac(secret, timestamp, raw).encode()
    return any(hmac.compare_digest(expected, s.encode()) for s in signatures)


def retry_delay(failures: int, jitter: float = 0.0) -> timedelta:
    """How long to wait after the ``failures``-th failed attempt: 30 s, doubling, at
    most an hour; ``jitter`` (0 to 1) adds up to 10% so that a receiver coming back up
    is not hit by every delivery at once."""
    invariant(failures >= 1 and 0.0 <= jitter <= 1.0, "retry_delay of a failure")
    delay = min(FIRST_RETRY * (1 << min(failures - 1, 20)), LONGEST_RETRY)
    return delay * (1 + JITTER * jitter)


# --- what the service hands back ----------------------------------------------------


class EndpointView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    mid: str
    url: str
    description: str | None
    events: list[str] = Field(description='Event types sent here, or ["*"] for all')
    enabled: bool
    created_at: datetime


class EndpointWithSecret(EndpointView):
    """An endpoint and its signing secret: shown when the endpoint is made and when
    the secret is rolled, never otherwise."""

    secret: str = Field(description="whsec_...: the key of the signatures' HMAC. Keep it safe")


class DeletedEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    deleted: Literal[True] = True


class DeliveryView(BaseModel):
    """One event owed to one endpoint."""

    model_config = ConfigDict(frozen=True)

    id: int
    object: Literal["webhook_delivery"] = "webhook_delivery"
    endpoint_id: int
    event_id: int = Field(description="The event's id in the outbox ``source`` names")
    source: Literal["payment", "checkout"] = Field(
        description="payment: a payment event (/v1/events); checkout: a checkout event "
        "(/v1/checkout_events), numbered apart"
    )
    event_type: str
    status: DeliveryStatus = Field(
        description="pending (next_attempt_at says when), succeeded, or failed (gave up "
        "24 hours after it was made)"
    )
    attempts: int = Field(description="Attempts so far, replays included")
    next_attempt_at: datetime | None
    last_status_code: int | None = Field(description="The last attempt's HTTP status, if any")
    last_error: str | None = Field(description="What went wrong in the last attempt")
    created_at: datetime
    delivered_at: datetime | None = Field(description="When an attempt last succeeded")


class AttemptView(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: int
    at: datetime
    status_code: int | None = Field(description="The answer's HTTP status; none: no answer")
    error: str | None = Field(description="No answer, or the start of a refusing answer's body")
    duration_ms: int
    manual: bool = Field(description="A replay asked for, not a scheduled attempt")


class DeliveryDetail(DeliveryView):
    body: str = Field(description="The exact bytes sent (and signed): the event as JSON")
    attempt_log: list[AttemptView] = Field(description="Every attempt, oldest first")


def _endpoint_view(e: WebhookEndpoint, mid: str | None) -> EndpointView:
    return EndpointView(
        id=e.id,
        mid=mid or "",
        url=e.url,
        description=e.description,
        events=list(e.events),
        enabled=e.enabled,
        created_at=e.created_at,
    )


def _delivery_view(d: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=d.id,
        endpoint_id=d.endpoint_id,
        event_id=d.event_id,
        source=CHECKOUT if d.source == CHECKOUT else PAYMENT,
        event_type=d.event_type,
        status=d.status,
        attempts=d.attempts,
        next_attempt_at=d.next_attempt_at,
        last_status_code=d.last_status_code,
        last_error=_(d.last_error) if d.last_error else None,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )


# --- checking what callers send ----------------------------------------------------------


def check_url(url: str, reach: Reach | None = None) -> str:
    """An absolute http(s) URL of at most 500 characters, whose host is not (and does
    not resolve to) an address ``reach`` forbids: see docs/webhooks.md on SSRF."""
    url = url.strip()
    problem = len(url) > MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 for c in url)
    if not problem:
        try:
            parsed = httpx.URL(url)
            problem = parsed.scheme not in ("http", "https") or not parsed.host
        except (httpx.InvalidURL, ValueError):
            problem = True
    if problem:
        raise InvalidInput(
            "webhook_endpoint.url",
            N_("The URL must be an absolute http:// or https:// URL of at most {max} characters"),
            max=MAX_URL_CHARS,
        )
    try:
        check_registered(url, reach or Reach())
    except NotAllowed:
        raise InvalidInput(
            "webhook_endpoint.url_not_public",
            N_(
                "Webhooks go to public addresses only: this URL's host is or resolves to a "
                "loopback, private, link-local or cloud metadata address"
            ),
        ) from None
    return url


def check_events(events: Sequence[str]) -> list[str]:
    """Known event types without repeats, or ``["*"]`` (all, now and to come)."""
    if not 1 <= len(events) <= MAX_EVENT_TYPES:
        raise InvalidInput(
            "webhook_endpoint.events",
            N_('Name 1 to {max} event types, or ["*"] for all'),
            max=MAX_EVENT_TYPES,
        )
    if ALL_EVENTS in events:
        return [ALL_EVENTS]
    return list(dict.fromkeys(check_event_type(e) for e in events))


def check_description(description: str | None) -> str | None:
    cleaned = " ".join((description or "").split())
    if len(cleaned) > MAX_DESCRIPTION_CHARS:
        raise InvalidInput(
            "webhook_endpoint.description",
            N_("A description is at most {max} characters"),
            max=MAX_DESCRIPTION_CHARS,
        )
    return cleaned or None


def _secret_context(endpoint_id: int) -> str:
    return f"webhook_endpoint:{endpoint_id}:secret"


def _wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return ALL_EVENTS in endpoint.events or event_type in endpoint.events


# --- sending ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """A delivery to send: everything the request needs, read in one go."""

    delivery_id: int
    event_id: int
    url: str
    secret: str
    body: str
    source: str = PAYMENT

    @property
    def event_ref(self) -> str:
        """``Tillpoint-Event-Id``: a payment event's id, or ``checkout_event_<id>``."""
        return str(self.event_id) if self.source == PAYMENT else f"checkout_event_{self.event_id}"


class _Event(Protocol):
    """An event of either outbox, as a delivery's body is made of it."""

    @property
    def id(self) -> int: ...
    @property
    def type(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    def model_dump_json(self) -> str: ...


@dataclass(frozen=True)
class _Outbox:
    """Where one kind of event is read from, and how far fan-out has gone in it."""

    source: str
    position_key: str
    newest: Callable[[Session], int]
    heads: Callable[[Session, int, int], list[tuple[int, int]]]
    load: Callable[[Session, list[int]], Sequence[_Event]]
    gaps: GapTracker = field(default_factory=GapTracker)


@dataclass(frozen=True)
class _Result:
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status_code is not None


def _shorten(text: str, most: int = ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "…"


def _printable(text: str) -> str:
    """``text`` with every character that is not printable (controls, escapes, what
    undecodable bytes became) as a space."""
    return "".join(c if c.isprintable() and c != "\ufffd" else " " for c in text)


async def _start_of(response: httpx.Response) -> str:
    """The first bytes of an answer's body, as text (a refusal's reason, often)."""
    taken = b""
    async for chunk in response.aiter_raw():  # as sent: no decompressing a bomb
        taken += chunk
        if len(taken) >= ANSWER_BYTES:
            break
    return taken[:ANSWER_BYTES].decode("utf-8", "replace")


class WebhookService:
    def __init__(
        self,
        ctx: Context,
        *,
        jitter: Callable[[], float] = random.random,
        reach: Reach | None = None,
    ) -> None:
        self.ctx = ctx
        self._jitter = jitter
        self.reach = reach or Reach.of(ctx.settings)
        # For fan_out: each outbox, with the holes in its event ids it has seen.
        self.outboxes = (
            _Outbox(PAYMENT, POSITION_KEY,
                    lambda s: int(s.scalar(select(func.max(PaymentEvent.id))) or 0),
                    heads_after, load_events),
            _Outbox(CHECKOUT, CHECKOUT_POSITION_KEY,
                    lambda s: int(s.scalar(select(func.max(CheckoutEvent.id))) or 0),
                    checkout_heads_after, lambda s, ids: load_checkout_events(s, ids, ctx.now())),
        )  # fmt: skip

    # --- endpoints --------------------------------------------------------------------

    def create_endpoint(
        self,
        merchant_ref: str,
        url: str,
        events: Sequence[str] = (ALL_EVENTS,),
        description: str | None = None,
    ) -> EndpointWithSecret:
        """A new endpoint of the merchant (MID or application number), enabled, with a
        new signing secret: this answer is the only one that shows it."""
        url, wanted, description = (
            check_url(url, self.reach),
            check_events(events),
            check_description(description),
        )
        secret = SECRET_PREFIX + secrets.token_urlsafe(24)
        with self.ctx.db.transaction() as s:
            merchant = find_merchant(s, merchant_ref)
            count = s.scalar(
                select(func.count())
                .select_from(WebhookEndpoint)
                .where(WebhookEndpoint.merchant_id == merchant.id)
            )
            if (count or 0) >= MAX_ENDPOINTS:
                raise Refused(
                    "webhook_endpoint.too_many",
                    N_("A merchant has at most {max} webhook endpoints"),
                    max=MAX_ENDPOINTS,
                )
            endpoint = WebhookEndpoint(
                merchant_id=merchant.id,
                url=url,
                description=description,
                events=wanted,
                secret_enc=b"",  # sealed under the id it gets on insert, below
                enabled=True,
                created_at=self.ctx.now(),
            )
            s.add(endpoint)
            s.flush()
            endpoint.secret_enc = self.ctx.keystore.seal_text(secret, _secret_context(endpoint.id))
            self._start_position(s)
            view = _endpoint_view(endpoint, merchant.mid)
        return EndpointWithSecret(**view.model_dump(), secret=secret)

    def list_endpoints(
        self, *, merchant_id: int | None = None, before_id: int | None = None, limit: int = 20
    ) -> list[EndpointView]:
        """Newest first; ``merchant_id`` keeps one merchant's."""
        query = (
            select(WebhookEndpoint, Merchant.mid)
            .join(Merchant, Merchant.id == WebhookEndpoint.merchant_id)
            .order_by(WebhookEndpoint.id.desc())
            .limit(limit)
        )
        if merchant_id is not None:
            query = query.where(WebhookEndpoint.merchant_id == merchant_id)
        if before_id is not None:
            query = query.where(WebhookEndpoint.id < before_id)
        with self.ctx.db.read() as s:
            return [_endpoint_view(e, mid) for e, mid in s.execute(query)]

    def get_endpoint(self, endpoint_id: int, *, merchant_id: int | None = None) -> EndpointView:
        with self.ctx.db.read() as s:
            return self._view(s, _endpoint(s, endpoint_id, merchant_id))

    def update_endpoint(
        self,
        endpoint_id: int,
        *,
        merchant_id: int | None = None,
        url: str | None = None,
        events: Sequence[str] | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> EndpointView:
        """Change what is given (None: keep; an empty description clears it). Disabling
        keeps the pending deliveries: they go out if the endpoint is enabled again
        within their 24 hours."""
        checked_url = None if url is None else check_url(url, self.reach)
        checked_events = None if events is None else check_events(events)
        with self.ctx.db.transaction() as s:
            endpoint = _endpoint(s, endpoint_id, merchant_id)
            if checked_url is not None:
                endpoint.url = checked_url
            if checked_events is not None:
                endpoint.events = checked_events
            if description is not None:
                endpoint.description = check_description(description)
            if enabled is not None:
                endpoint.enabled = enabled
            return self._view(s, endpoint)

    def roll_secret(
        self, endpoint_id: int, *, merchant_id: int | None = None
    ) -> EndpointWithSecret:
        """A new signing secret, in force at once (the old one signs nothing more)."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(24)
        with self.ctx.db.transaction() as s:
            endpoint = _endpoint(s, endpoint_id, merchant_id)
            endpoint.secret_enc = self.ctx.keystore.seal_text(secret, _secret_context(endpoint.id))
            view = self._view(s, endpoint)
        return EndpointWithSecret(**view.model_dump(), secret=secret)

    def delete_endpoint(
        self, endpoint_id: int, *, merchant_id: int | None = None
    ) -> DeletedEndpoint:
        """Delete the endpoint for good, with its deliveries and their log (to stop
        deliveries for a while, disable it instead)."""
        with self.ctx.db.transaction() as s:
            endpoint = _endpoint(s, endpoint_id, merchant_id)
            deliveries = select(WebhookDelivery.id).where(
                WebhookDelivery.endpoint_id == endpoint.id
            )
            s.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
            s.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id))
            s.delete(endpoint)
        return DeletedEndpoint(id=endpoint_id)

    @staticmethod
    def _view(s: Session, endpoint: WebhookEndpoint) -> EndpointView:
        mid = s.scalar(select(Merchant.mid).where(Merchant.id == endpoint.merchant_id))
        return _endpoint_view(endpoint, mid)

    # --- the delivery log ------------------------------------------------------------------

    def list_deliveries(
        self,
        endpoint_id: int,
        *,
        merchant_id: int | None = None,
        status: DeliveryStatus | None = None,
        before_id: int | None = None,
        limit: int = 20,
    ) -> list[DeliveryView]:
        """An endpoint's deliveries, newest first."""
        query = (
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        if before_id is not None:
            query = query.where(WebhookDelivery.id < before_id)
        with self.ctx.db.read() as s:
            _endpoint(s, endpoint_id, merchant_id)
            return [_delivery_view(d) for d in s.scalars(query)]

    def get_delivery(
        self, endpoint_id: int, delivery_id: int, *, merchant_id: int | None = None
    ) -> DeliveryDetail:
        """A delivery, what it sends and every attempt."""
        with self.ctx.db.read() as s:
            d = _delivery(s, endpoint_id, delivery_id, merchant_id)
            attempts = s.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == d.id)
                .order_by(WebhookAttempt.id)
            )
            return DeliveryDetail(
                **_delivery_view(d).model_dump(),
                body=d.body,
                attempt_log=[AttemptView.model_validate(a) for a in attempts],
            )

    async def retry(
        self, endpoint_id: int, delivery_id: int, *, merchant_id: int | None = None
    ) -> DeliveryDetail:
        """Send a delivery again now, whatever its status (and even to a disabled
        endpoint: it was asked for). Success makes it succeeded; a failure changes
        neither its status nor its schedule."""
        job = await asyncio.to_thread(self._job, endpoint_id, delivery_id, merchant_id)
        async with _client() as client:
            result = await self._post(client, job)
        await asyncio.to_thread(self._record, job.delivery_id, result, True)
        return await asyncio.to_thread(
            self.get_delivery, endpoint_id, delivery_id, merchant_id=merchant_id
        )

    # --- fan-out ------------------------------------------------------------------------

    def _start_position(self, s: Session) -> None:
        """Start fanning out from the newest event of each outbox when the first endpoint
        is made, so that a new installation's history is not read for nothing."""
        for outbox in self.outboxes:
            if s.get(SystemState, outbox.position_key) is None:
                s.add(SystemState(key=outbox.position_key, value=str(outbox.newest(s))))

    def fan_out(self) -> int:
        """Deliveries for the events since the last round; how many were made."""
        made = 0
        for outbox in self.outboxes:
            for _batch in range(FAN_OUT_BATCHES):
                batch_made, read = self._fan_out_batch(outbox, FAN_OUT_BATCH)
                made += batch_made
                if read < FAN_OUT_BATCH:
                    break
        return made

    def _fan_out_batch(self, outbox: _Outbox, limit: int) -> tuple[int, int]:
        """(deliveries made, events read). Idempotent: an event already delivered to an
        endpoint is not delivered again (and the database has a unique key on it)."""
        now = self.ctx.now()
        with self.ctx.db.transaction(invalidate=False) as s:
            state = s.execute(
                select(SystemState).where(SystemState.key == outbox.position_key).with_for_update()
            ).scalar_one_or_none()
            if state is None:
                return 0, 0  # no endpoint was ever made
            position = int(state.value)
            heads = outbox.heads(s, position, limit)
            if not heads:
                return 0, 0
            merchant_of = dict(heads)
            endpoints: defaultdict[int, list[WebhookEndpoint]] = defaultdict(list)
            for endpoint in s.scalars(
                select(WebhookEndpoint).where(
                    WebhookEndpoint.merchant_id.in_(set(merchant_of.values())),
                    WebhookEndpoint.enabled.is_(True),
                )
            ):
                endpoints[endpoint.merchant_id].append(endpoint)
            wanted = [i for i, m in heads if m in endpoints]
            done = {
                (endpoint_id, event_id)
                for endpoint_id, event_id in s.execute(
                    select(WebhookDelivery.endpoint_id, WebhookDelivery.event_id).where(
                        WebhookDelivery.source == outbox.source,
                        WebhookDelivery.event_id.in_(wanted),
                    )
                )
            }
            made = 0
            for event in outbox.load(s, wanted):
                body = event.model_dump_json()
                for endpoint in endpoints[merchant_of[event.id]]:
                    if (
                        (endpoint.id, event.id) in done
                        or event.created_at < endpoint.created_at
                        or not _wants(endpoint, event.type)
                    ):
                        continue
                    s.add(
                        WebhookDelivery(
                            endpoint_id=endpoint.id,
                            event_id=event.id,
                            source=outbox.source,
                            event_type=event.type,
                            body=body,
                            status=DeliveryStatus.PENDING,
                            attempts=0,
                            next_attempt_at=now,
                            created_at=now,
                        )
                    )
                    made += 1
            state.value = str(outbox.gaps.advance(position, [i for i, _m in heads]))
            return made, len(heads)

    # --- delivering ---------------------------------------------------------------------

    async def deliver_due(self, limit: int = DELIVER_BATCH) -> int:
        """Send the deliveries that are due (at most ``limit``); how many were tried."""
        jobs = await asyncio.to_thread(self._claim, limit)
        if not jobs:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def attempt(job: _Job) -> None:
            async with gate:
                result = await self._post(client, job)
            await asyncio.to_thread(self._record, job.delivery_id, result, False)

        async with _client() as client:
            results = await asyncio.gather(*(attempt(j) for j in jobs), return_exceptions=True)
        for job, outcome in zip(jobs, results, strict=True):
            if isinstance(outcome, BaseException):  # its lease runs out; it is tried again
                log.error("webhook delivery %s not recorded: %r", job.delivery_id, outcome)
        return len(jobs)

    def _claim(self, limit: int) -> list[_Job]:
        """Take due deliveries of enabled endpoints, and hold them for ``LEASE`` so that
        no other worker sends them meanwhile (a crashed worker's come back after it)."""
        now = self.ctx.now()
        with self.ctx.db.transaction(invalidate=False) as s:
            rows = s.execute(
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                    WebhookEndpoint.enabled.is_(True),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )
            jobs = []
            for delivery, endpoint in rows:
                delivery.next_attempt_at = now + LEASE
                jobs.append(self._job_of(delivery, endpoint))
            return jobs

    def _job(self, endpoint_id: int, delivery_id: int, merchant_id: int | None) -> _Job:
        with self.ctx.db.read() as s:
            delivery = _delivery(s, endpoint_id, delivery_id, merchant_id)
            return self._job_of(delivery, s.get_one(WebhookEndpoint, endpoint_id))

    def _job_of(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> _Job:
        secret = self.ctx.keystore.open_text(endpoint.secret_enc, _secret_context(endpoint.id))
        return _Job(
            delivery.id, delivery.event_id, endpoint.url, secret, delivery.body, delivery.source
        )

    async def _post(self, client: httpx.AsyncClient, job: _Job) -> _Result:
        """One attempt. Never raises for what the receiver does (no answer, a refusal)."""
        at = self.ctx.now()
        body = job.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Accept-Encoding": "identity",
            "Tillpoint-Event-Id": job.event_ref,
            "Tillpoint-Signature": signature_header(job.secret, body, int(at.timestamp())),
        }
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(TIMEOUT_S):
                target = await pin(job.url, self.reach)  # the address checked is the one used
                async with client.stream(
                    "POST",
                    target.url,
                    content=body,
                    headers={**headers, **target.headers},
                    extensions=target.extensions,
                ) as r:
                    status_code = r.status_code
                    if not 200 <= status_code < 300:
                        answer = _shorten(_printable(await _start_of(r)), EXCERPT_CHARS)
                        error = f"HTTP {status_code}" + (f": {answer}" if answer else "")
        except NotAllowed:
            error = NOT_ALLOWED
        except (TimeoutError, OSError, httpx.HTTPError):
            # An answer that stopped half-way: its status is all there is to say.
            error = COULD_NOT_DELIVER if status_code is None else f"HTTP {status_code}"
        duration_ms = int((time.monotonic() - started) * 1000)
        return _Result(at, status_code, _shorten(error) if error else None, duration_ms)

    def _record(self, delivery_id: int, result: _Result, manual: bool) -> None:
        """Log an attempt and decide what comes next."""
        with self.ctx.db.transaction(invalidate=False) as s:
            d = s.get(WebhookDelivery, delivery_id, with_for_update=True)
            if d is None:
                return  # its endpoint was deleted meanwhile
            s.add(
                WebhookAttempt(
                    delivery_id=d.id,
                    at=result.at,
                    status_code=result.status_code,
                    error=result.error,
                    duration_ms=result.duration_ms,
                    manual=manual,
                )
            )
            d.attempts += 1
            d.last_status_code, d.last_error = result.status_code, result.error
            now = self.ctx.now()
            if result.delivered:
                d.status, d.delivered_at, d.next_attempt_at = DeliveryStatus.SUCCEEDED, now, None
            elif not manual and d.status is DeliveryStatus.PENDING:
                # The schedule counts scheduled attempts only: replays do not stretch it.
                failures = s.scalar(
                    select(func.count())
                    .select_from(WebhookAttempt)
                    .where(WebhookAttempt.delivery_id == d.id, WebhookAttempt.manual.is_(False))
                )
                after = now + retry_delay(int(failures or 1), self._jitter())
                if after > d.created_at + GIVE_UP_AFTER:
                    d.status, d.next_attempt_at = DeliveryStatus.FAILED, None
                else:
                    d.next_attempt_at = after


def _client() -> httpx.AsyncClient:
    # Redirects are not followed: a 3xx is a failed attempt, as a moved URL should be
    # updated on the endpoint rather than followed blindly.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(TIMEOUT_S),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=CONCURRENCY),
    )


def _endpoint(s: Session, endpoint_id: int, merchant_id: int | None) -> WebhookEndpoint:
    """An endpoint, if the caller may see it (another merchant's is not found)."""
    endpoint = s.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or merchant_id not in (None, endpoint.merchant_id):
        raise NotFound("webhook_endpoint.not_found", N_("No webhook endpoint {id}"), id=endpoint_id)
    return endpoint


def _delivery(
    s: Session, endpoint_id: int, delivery_id: int, merchant_id: int | None
) -> WebhookDelivery:
    _endpoint(s, endpoint_id, merchant_id)
    delivery = s.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise NotFound("webhook_delivery.not_found", N_("No webhook delivery {id}"), id=delivery_id)
    return delivery


class WebhookWorker:
    """Webhooks under ``tillpoint serve``: about every second, make deliveries of the
    new events, then send those that are due. A failed round is logged and the next
    one tries again; cancelling the task stops it. Several workers (processes) may
    run at once: the position is row-locked and deliveries are leased."""

    def __init__(
        self,
        tp: HasContext,
        *,
        every_s: float = 1.0,
        service: WebhookService | None = None,
    ) -> None:
        self.every_s = every_s
        self.service = service or WebhookService(tp.ctx)

    async def tick(self) -> int:
        """One round; how many delivery attempts it made."""
        await asyncio.to_thread(self.service.fan_out)
        return await self.service.deliver_due()

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("webhook round failed; the next one tries again")
            await asyncio.sleep(self.every_s)
