"""/v1/webhook_endpoints: a merchant's webhook URLs, their delivery log and replays
(docs/webhooks.md). Operations admins and merchant owners manage them; another
merchant's endpoint is not found."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from tillpoint.api.deps import ObjectId, Owner, Svc
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page
from tillpoint.api.schemas import PROBLEMS
from tillpoint.api.scope import own_or_named, scoped_merchant_id
from tillpoint.http.text import Bool, Note, Text
from tillpoint.notify.models import DeliveryStatus
from tillpoint.notify.webhooks import (
    MAX_DESCRIPTION_CHARS,
    MAX_EVENT_TYPES,
    MAX_URL_CHARS,
    DeletedEndpoint,
    DeliveryDetail,
    DeliveryView,
    EndpointView,
    EndpointWithSecret,
    WebhookService,
)

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
EventTypeName = Annotated[Text, Field(max_length=40, examples=["payment.succeeded"])]
URL_EXAMPLE = "https://shop.example.com/tillpoint/webhooks"


class NewEndpoint(BaseModel):
    """A URL to tell of the merchant's events. Each request is signed with the secret
    that the answer shows (once)."""

    url: Text = Field(max_length=MAX_URL_CHARS, examples=[URL_EXAMPLE])
    events: list[EventTypeName] = Field(
        default=["*"],
        min_length=1,
        max_length=MAX_EVENT_TYPES,
        description='Event types to send, or ["*"] for all (the default)',
    )
    description: Note | None = Field(default=None, max_length=MAX_DESCRIPTION_CHARS)
    mid: Text | None = Field(
        default=None,
        max_length=20,
        description="The merchant (operations keys only; others use their own)",
    )


class EndpointChange(BaseModel):
    """What to change; what is left out stays as it is."""

    url: Text | None = Field(default=None, max_length=MAX_URL_CHARS, examples=[URL_EXAMPLE])
    events: list[EventTypeName] | None = Field(
        default=None, min_length=1, max_length=MAX_EVENT_TYPES
    )
    description: Note | None = Field(
        default=None, max_length=MAX_DESCRIPTION_CHARS, description="An empty one clears it"
    )
    enabled: Bool | None = Field(
        default=None, description="A disabled endpoint is sent nothing (replays aside)"
    )


def webhooks(svc: Svc) -> WebhookService:
    return WebhookService(svc.tp.ctx)


Webhooks = Annotated[WebhookService, Depends(webhooks)]


@router.post("/v1/webhook_endpoints", status_code=201, tags=["webhooks"])
def create_endpoint(
    body: NewEndpoint, caller: Owner, hooks: Webhooks, _key: Key
) -> EndpointWithSecret:
    """Add a webhook endpoint. The answer holds its signing secret: the only time it is
    shown (``roll_secret`` makes a new one)."""
    return hooks.create_endpoint(
        own_or_named(caller, body.mid, "webhook_endpoint.mid_required"),
        body.url,
        body.events,
        body.description,
    )


@router.get("/v1/webhook_endpoints", tags=["webhooks"])
def list_endpoints(
    caller: Owner,
    svc: Svc,
    hooks: Webhooks,
    limit: Limit = 20,
    cursor: Cursor = None,
    mid: Annotated[
        Text | None, Query(max_length=20, description="Operations: one merchant's")
    ] = None,
) -> Page[EndpointView]:
    """Webhook endpoints, newest first."""
    items = hooks.list_endpoints(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda e: e.id)


@router.get("/v1/webhook_endpoints/{endpoint_id}", tags=["webhooks"])
def get_endpoint(endpoint_id: ObjectId, caller: Owner, hooks: Webhooks) -> EndpointView:
    return hooks.get_endpoint(endpoint_id, merchant_id=caller.merchant_id)


@router.post("/v1/webhook_endpoints/{endpoint_id}", tags=["webhooks"])
def update_endpoint(
    endpoint_id: ObjectId, body: EndpointChange, caller: Owner, hooks: Webhooks, _key: Key
) -> EndpointView:
    """Change an endpoint's URL, event types or description; enable or disable it."""
    return hooks.update_endpoint(
        endpoint_id,
        merchant_id=caller.merchant_id,
        url=body.url,
        events=body.events,
        description=body.description,
        enabled=body.enabled,
    )


@router.delete("/v1/webhook_endpoints/{endpoint_id}", tags=["webhooks"])
def delete_endpoint(endpoint_id: ObjectId, caller: Owner, hooks: Webhooks) -> DeletedEndpoint:
    """Delete an endpoint for good, with its delivery log (disable it to pause it)."""
    return hooks.delete_endpoint(endpoint_id, merchant_id=caller.merchant_id)


@router.post("/v1/webhook_endpoints/{endpoint_id}/roll_secret", tags=["webhooks"])
def roll_secret(
    endpoint_id: ObjectId, caller: Owner, hooks: Webhooks, _key: Key
) -> EndpointWithSecret:
    """Replace the signing secret, at once: the answer shows the new one, once."""
    return hooks.roll_secret(endpoint_id, merchant_id=caller.merchant_id)


@router.get("/v1/webhook_endpoints/{endpoint_id}/deliveries", tags=["webhooks"])
def list_deliveries(
    endpoint_id: ObjectId,
    caller: Owner,
    hooks: Webhooks,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: DeliveryStatus | None = None,
) -> Page[DeliveryView]:
    """The events owed to an endpoint, newest first, with their attempts so far."""
    items = hooks.list_deliveries(
        endpoint_id,
        merchant_id=caller.merchant_id,
        status=status,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda d: d.id)


@router.get("/v1/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}", tags=["webhooks"])
def get_delivery(
    endpoint_id: ObjectId, delivery_id: ObjectId, caller: Owner, hooks: Webhooks
) -> DeliveryDetail:
    """A delivery, the exact body it sends, and every attempt."""
    return hooks.get_delivery(endpoint_id, delivery_id, merchant_id=caller.merchant_id)


@router.post(
    "/v1/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}/retry", tags=["webhooks"]
)
async def retry_delivery(
    endpoint_id: ObjectId, delivery_id: ObjectId, caller: Owner, hooks: Webhooks, _key: Key
) -> DeliveryDetail:
    """Send a delivery again now, whatever its status; the attempt is logged as manual.
    Success makes it succeeded; a failure leaves its status and schedule alone."""
    return await hooks.retry(endpoint_id, delivery_id, merchant_id=caller.merchant_id)
