"""The till page's side of selling offline (docs/offline.md, "The browser's side"): its
service worker, and what it asks of the server around an outage, over the signed-in
person's session as the rest of ``/cashier/api`` (web/cashier/api.py):

- ``GET /cashier/sw.js``: the service worker that keeps the page, its scripts and its
  styles in the browser, so that the till opens again without the network. Its cache is
  named after the package's version and the digests of the files it keeps: a release
  that changes any of them is a new worker, which replaces the old cache;
- ``GET /cashier/api/ping``: is the server there (and the session good)?
- ``POST /cashier/api/till-pages``: the page makes itself known to the server, and
  learns the form of the receipt numbers it prints offline (the service of
  ``POST /v1/tills/pages``);
- ``POST /cashier/api/orders/sync``: the page's offline cash sales, each written once by
  its ``client_ref`` (the service of ``POST /v1/orders/sync``), answered one by one.

The orders' shape is the one ``/v1/orders/sync`` takes; the cashier sold them, so each
names who sold it (``cashier_id``, checked by the service to be the merchant's).
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tillpoint import __version__
from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import TillpointError
from tillpoint.http.limits import body_limit
from tillpoint.http.offline import SYNC_BODY_BYTES, OfflineOrderIn, PageRef, TillName
from tillpoint.store.sync import MAX_BATCH, SyncBatch
from tillpoint.web.auth import member
from tillpoint.web.cashier.api import NO_STORE, SELLERS, At, seller
from tillpoint.web.render import STATIC, static_url

router = APIRouter(include_in_schema=False)

WORKER = "/cashier/sw.js"
SCOPE = "/cashier"  # the till (/cashier?shop=1&till=T1), its display, its JSON
# What the worker keeps: every file the till's page loads (system fonts only: no font).
KEPT = (
    "cashier.css", "favicon.svg", "cashier-core.js", "cashier-cart.js",
    "cashier-catalogue.js", "cashier-orders.js", "cashier-outbox.js", "cashier-offline.js",
    "cashier.js", "cashier-sync.js", "cashier-display.js",
)  # fmt: skip
Seller = Annotated[SignedIn, Depends(member(*SELLERS))]


@cache
def worker_script() -> tuple[str, str]:
    """The worker (web/static/cashier-sw.js) with its version and what it keeps, and the
    version: the package's and a digest of every file kept, so a release that changes
    one is a new worker (the browser compares the script byte by byte)."""
    urls = [static_url(name) for name in KEPT]
    digest = hashlib.sha256("\n".join(urls).encode()).hexdigest()[:12]
    version = f"{__version__}-{digest}"
    head = f'var VERSION = "{version}";\nvar KEEP = {json_list(urls)};\n'
    return head + (STATIC / "cashier-sw.js").read_text(encoding="utf-8"), version


def json_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{x}"' for x in items) + "]"


@router.get(WORKER)
def service_worker(session: Seller) -> Response:
    """The till's service worker, allowed the scope ``/cashier`` (above its own folder:
    the till's address itself). Never cached by HTTP: the browser checks it for a new
    release each time the till opens online."""
    script, _version = worker_script()
    headers = {"Service-Worker-Allowed": SCOPE, "Cache-Control": "no-cache"}
    return Response(script, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/cashier/api/ping")
def ping(request: Request) -> JSONResponse:
    """The page's cheap question while it thinks it is offline: the server is there,
    and the session still good (401 if not)."""
    seller(request)
    return JSONResponse({"ok": True}, headers=NO_STORE)


# --- bodies: each order is the one /v1/orders/sync takes (http/offline.py) -------------------


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PageIn(Body):
    till: TillName
    page_id: PageRef


class SyncIn(Body):
    till: TillName
    page_id: PageRef
    orders: list[OfflineOrderIn] = Field(min_length=1, max_length=MAX_BATCH)


# --- the routes -----------------------------------------------------------------------------


@router.post("/cashier/api/till-pages")
def till_page(at: At, body: PageIn) -> JSONResponse:
    """This page, known to the server: its number within the till, and the form of the
    receipt numbers it prints offline."""
    view = at.tp.offline.register_page(at.merchant_id, at.shop_number, body.till, body.page_id)
    return JSONResponse(view.model_dump(mode="json"), headers=NO_STORE)


@router.post("/cashier/api/orders/sync", openapi_extra=body_limit(SYNC_BODY_BYTES))
def sync_orders(at: At, body: SyncIn) -> JSONResponse:
    """A batch of the page's offline sales (up to 500), each written once: answered
    synced, already synced, or refused (its reason, in the page's language)."""
    batch = SyncBatch(at.shop_number, body.till, body.page_id,
                      tuple(o.sale() for o in body.orders))  # fmt: skip
    answer = at.tp.offline.sync(batch, merchant_id=at.merchant_id)
    data: dict[str, Any] = answer.view(TillpointError.localized).model_dump(mode="json")
    return JSONResponse(data, headers=NO_STORE)
