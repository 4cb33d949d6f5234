"""Server-sent events of the payment events: the REST API's ``/v1/events/stream`` and
the pages' live parts (the console's feed, the portal's 收款到账) write them the same
way, each with its own messages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from fastapi import Request

from tillpoint.notify.events import EventFeed, EventView

POLL_S = 0.5  # how often a stream looks for new events (the table: works across processes)
KEEP_ALIVE_S = 15.0  # a comment after this long without a message keeps proxies from closing
RETRY_MS = 3000  # how long a browser's EventSource waits before reconnecting
STREAM_BATCH = 100


def sse_message(event: EventView) -> str:
    """One server-sent event: its id (for Last-Event-ID), type and JSON."""
    return f"id: {event.id}\nevent: {event.type}\ndata: {event.model_dump_json()}\n\n"


def sse_messages(events: list[EventView]) -> list[str]:
    return [sse_message(event) for event in events]


async def event_stream(
    request: Request,
    feed: EventFeed,
    timeout_s: float | None,
    messages: Callable[[list[EventView]], list[str]] = sse_messages,
) -> AsyncIterator[str]:
    """A feed's events as server-sent events while the client listens: ``messages``
    writes them (in a worker thread: it may read the database), a comment keeps a quiet
    stream open. The console's live feed (web/console/home.py) writes its own."""
    loop = asyncio.get_running_loop()
    end = None if timeout_s is None else loop.time() + timeout_s
    yield f"retry: {RETRY_MS}\n\n"  # also tells the client at once that it is connected
    quiet_since = loop.time()
    while not await request.is_disconnected():
        events = await asyncio.to_thread(lambda: messages(feed.poll(STREAM_BATCH)))
        for event in events:
            yield event
        now = loop.time()
        if events:
            quiet_since = now
        elif now - quiet_since >= KEEP_ALIVE_S:
            yield ": keep-alive\n\n"
            quiet_since = now
        if end is not None and now >= end:
            return
        await asyncio.sleep(POLL_S)
