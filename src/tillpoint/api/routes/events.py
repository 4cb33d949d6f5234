"""/v1/events: what happened to a merchant's payments, as a list and as a live stream of
server-sent events (docs/webhooks.md). Any key reads its own merchant's; operations
keys read every merchant's, or one's with ``?mid=``."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from tillpoint.api.deps import ObjectId, Reader, Svc
from tillpoint.api.idempotency import IdempotentRoute
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page
from tillpoint.api.schemas import PROBLEMS
from tillpoint.api.scope import scoped_merchant_id
from tillpoint.http.sse import event_stream
from tillpoint.http.text import Text
from tillpoint.notify.events import PAYMENT_EVENT_TYPES, EventService, EventView

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)

Mid = Annotated[
    Text | None, Query(max_length=20, description="Operations: one merchant's (its MID)")
]


def _events(svc: Svc) -> EventService:
    return EventService(svc.tp.ctx)


@router.get("/v1/events", tags=["events"])
def list_events(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    type_: Annotated[
        Text | None,
        Query(
            alias="type", max_length=40, description="One type: " + ", ".join(PAYMENT_EVENT_TYPES)
        ),
    ] = None,
    mid: Mid = None,
) -> Page[EventView]:
    """Events, newest first. ``data`` is each payment as it is now."""
    items = _events(svc).list_events(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        type=type_,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda e: e.id)


@router.get(
    "/v1/events/stream",
    tags=["events"],
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Server-sent events: `id:` the event id, `event:` its type, "
            "`data:` the event as JSON; a `: keep-alive` comment when quiet for 15 s",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def stream_events(
    request: Request,
    caller: Reader,
    svc: Svc,
    mid: Mid = None,
    last_event_id: Annotated[
        Text | None,
        Header(
            alias="Last-Event-ID",
            pattern=r"^[0-9]{1,18}$",
            description="Resume after this event (browsers send it when they reconnect); "
            "without it the stream starts with the next event",
        ),
    ] = None,
    timeout_s: Annotated[
        float | None,
        Query(gt=0, le=86400, description="Close the stream after this long (tools, tests)"),
    ] = None,
) -> StreamingResponse:
    """The caller's merchant's events as they happen (operations: every merchant's, or
    one's with ``mid``), as server-sent events (``text/event-stream``)."""
    merchant_id = await asyncio.to_thread(scoped_merchant_id, svc, caller, mid)
    events = _events(svc)
    position = (
        int(last_event_id)
        if last_event_id is not None
        else await asyncio.to_thread(events.latest_id)
    )
    return StreamingResponse(
        event_stream(request, events.feed(position, merchant_id), timeout_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/v1/events/{event_id}", tags=["events"])
def get_event(event_id: ObjectId, caller: Reader, svc: Svc) -> EventView:
    """One event; ``data`` is the payment as it is now."""
    return _events(svc).get(event_id, merchant_id=caller.merchant_id)
