"""The HTTP side of ``tillpoint serve`` (the API, the browser pages, uvicorn) and the
background workers of the serving process. A host process never imports this module
(cli/serve.py): building the routes costs seconds of CPU it has no use for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from tillpoint.api.app import create_api
from tillpoint.api.worker import housekeeping
from tillpoint.app import Tillpoint
from tillpoint.clearing.worker import DayWorker
from tillpoint.cli.networks import NetworksChild
from tillpoint.notify.webhooks import WebhookWorker
from tillpoint.payments.acquirer import Acquirer
from tillpoint.payments.tallies import TallyWorker

GRACEFUL_S = 5


class _Http(uvicorn.Server):
    """uvicorn's server, telling ``on_exit`` at once when a signal asks it to stop."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.on_exit: Callable[[], None] = lambda: None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.on_exit()
        super().handle_exit(sig, frame)


def http_server(tp: Tillpoint, acquirer: Acquirer) -> tuple[FastAPI, _Http]:
    api = create_api(tp, acquirer)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; the API
    # reads it itself, from TILLPOINT_TRUSTED_PROXIES only (http/services.py).
    # Live streams (the console's feed, /v1/events/stream) stay open as long as their
    # browsers do: a stop waits for them 5 s at most, then ends them.
    config = uvicorn.Config(api, log_level="warning", proxy_headers=False,
                            timeout_graceful_shutdown=GRACEFUL_S)  # fmt: skip
    return api, _Http(config)


def background(
    tp: Tillpoint, acquirer: Acquirer, api: FastAPI, child: NetworksChild | None
) -> list[asyncio.Task[None]]:
    return [
        # Calls a network approved that are not on our books (the last run stopped
        # between the two, or a host process died there) are reversed there: at once,
        # then every few seconds.
        asyncio.create_task(acquirer.intents.run()),
        asyncio.create_task(DayWorker(tp).run()),
        asyncio.create_task(housekeeping(api.state.services)),
        asyncio.create_task(WebhookWorker(tp).run()),
        # The dashboard's figures, folded from the payment events off the payment path.
        asyncio.create_task(TallyWorker(tp.tallies).run()),
        *([asyncio.create_task(child.watch())] if child else []),  # restarted if it dies
    ]
