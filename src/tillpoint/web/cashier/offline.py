"""The till page's side of selling offline (docs/offline.md, "The browser's side"): its
service worker, and what it asks of the server around an outage, over the signed-in
person's session as the rest of ``/cashier/api`` (web/cashier/api.py):

- ``GET /cashier/sw.js``: the service worker that keeps the page, its scripts and its
  styles in the browser, so that the till opens again without the network. Its cache is
  named after the package's version and the digests of the files it keeps: a release
  that changes any of them is a new worker, which replaces the old cache;
- ``GET /cashier/api/ping``: is the server there (and the session good)?
- ``POST /cashier/api/receipt-blocks``: a block of the till's receipt numbers for the
  page to print offline (the service of ``POST /v1/tills/receipt-blocks``);
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
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from tillpoint import __version__
from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import TillpointError
from tillpoint.http.limits import body_limit
from tillpoint.http.offline import offline_sale
from tillpoint.store.counters import MAX_COUNTER_NUMBER
from tillpoint.store.models import TenderKind
from tillpoint.store.orders import (
    MAX_BARCODE,
    MAX_CLIENT_REF,
    MAX_LINES,
    MAX_NOTE,
    MAX_ORDER_MINOR,
    MAX_PRICE_MINOR,
    MAX_QUANTITY_MILLI,
    MAX_TENDERS,
)
from tillpoint.store.sync import (
    BLOCK_SIZE,
    MAX_BATCH,
    MAX_BLOCK_SIZE,
    MAX_NAME,
    MAX_UNIT,
    OfflineSale,
    SyncBatch,
)
from tillpoint.web.auth import member
from tillpoint.web.cashier.api import NO_STORE, SELLERS, At, Till_, seller
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
SYNC_BODY_BYTES = 4 * 1024 * 1024  # as /v1/orders/sync: 500 orders fit in a tenth of it


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


# --- bodies: the shape /v1/orders/sync takes -------------------------------------------------

Id = Annotated[int, Field(strict=True, ge=1, le=2**62)]
Int = Annotated[int, Field(strict=True)]
Minor = Annotated[int, Field(strict=True, ge=0, le=MAX_ORDER_MINOR)]
PageRef = Annotated[str, Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z_-]{7,39}$")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BlockIn(Body):
    till: Till_
    page_id: PageRef
    size: int = Field(default=BLOCK_SIZE, strict=True, ge=1, le=MAX_BLOCK_SIZE)


class LineIn(Body):
    product_id: Id
    barcode: str | None = Field(default=None, min_length=1, max_length=MAX_BARCODE)
    name: str = Field(min_length=1, max_length=MAX_NAME)
    unit: str = Field(min_length=1, max_length=MAX_UNIT)
    quantity_milli: int = Field(strict=True, ge=1, le=MAX_QUANTITY_MILLI)
    list_price_minor: int = Field(strict=True, ge=0, le=MAX_PRICE_MINOR)
    unit_price_minor: int = Field(strict=True, ge=0, le=MAX_PRICE_MINOR)
    discount_minor: Minor = 0
    amount_minor: Minor


class CashIn(Body):
    kind: TenderKind = TenderKind.CASH
    amount_minor: int = Field(strict=True, ge=1, le=MAX_ORDER_MINOR)
    received_minor: int = Field(strict=True, ge=1, le=MAX_ORDER_MINOR)
    change_minor: Minor = 0


class SaleIn(Body):
    client_ref: str = Field(min_length=1, max_length=MAX_CLIENT_REF)
    receipt_no: str = Field(min_length=1, max_length=40)
    made_at: AwareDatetime
    shift_id: Id
    cashier_id: int | None = Field(default=None, strict=True, ge=1, le=2**31 - 1)
    counter_number: int | None = Field(default=None, strict=True, ge=1, le=MAX_COUNTER_NUMBER)
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)
    subtotal_minor: Minor
    discount_minor: Minor = 0
    total_minor: Minor
    tenders: list[CashIn] = Field(default=[], max_length=MAX_TENDERS)
    note: str | None = Field(default=None, max_length=MAX_NOTE)
    # A member's sale (the till's snapshot found them): it earns their points once
    # synced. Offline a till redeems no points and uses no coupons (store/sync.py).
    member_id: int | None = Field(default=None, strict=True, ge=1, le=2**62)

    def sale(self) -> OfflineSale:
        return offline_sale(self)


class SyncIn(Body):
    till: Till_
    page_id: PageRef
    orders: list[SaleIn] = Field(min_length=1, max_length=MAX_BATCH)


# --- the routes -----------------------------------------------------------------------------


@router.post("/cashier/api/receipt-blocks", status_code=201)
def receipt_block(at: At, body: BlockIn) -> JSONResponse:
    """The next ``size`` receipt numbers of the till for this page to print offline."""
    view = at.tp.offline.reserve_block(at.merchant_id, at.shop_number, body.till,
                                       body.page_id, body.size)  # fmt: skip
    return JSONResponse(view.model_dump(mode="json"), status_code=201, headers=NO_STORE)


@router.post("/cashier/api/orders/sync", openapi_extra=body_limit(SYNC_BODY_BYTES))
def sync_orders(at: At, body: SyncIn) -> JSONResponse:
    """A batch of the page's offline sales (up to 500), each written once: answered
    synced, already synced, or refused (its reason, in the page's language)."""
    batch = SyncBatch(at.shop_number, body.till, body.page_id,
                      tuple(o.sale() for o in body.orders))  # fmt: skip
    answer = at.tp.offline.sync(batch, merchant_id=at.merchant_id)
    data: dict[str, Any] = answer.view(TillpointError.localized).model_dump(mode="json")
    return JSONResponse(data, headers=NO_STORE)
