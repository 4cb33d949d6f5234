"""/v1 routes of selling offline (docs/offline.md): a till page made known (or its
blocks of receipt numbers), the sync of what it sold offline, and the list of offline
orders (what needs a look).

- ``POST /v1/tills/pages`` makes a page known: its number, its receipt numbers' form;
- ``POST /v1/tills/receipt-blocks`` takes the next numbers of a till for one page;
- ``POST /v1/orders/sync`` writes a batch of a page's offline cash sales, each exactly
  once, and answers for each: synced, already synced, or refused (its reason). A batch
  that is not of the documented shape is refused whole (422); each order's figures,
  receipt number, shift and products are checked alone;
- ``GET /v1/offline-orders?needs_look=true`` lists them as they arrived.

A merchant's keys reach their own merchant's shops (another's shop is a 404, as one
that does not exist); operations keys name the merchant (``mid``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tillpoint.access.service import Principal
from tillpoint.api.deps import Reader, Svc, Taker
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page
from tillpoint.api.schemas import PROBLEMS
from tillpoint.api.scope import own_or_named, scoped_merchant_id
from tillpoint.core.errors import TillpointError
from tillpoint.http.limits import body_limit
from tillpoint.http.offline import SYNC_BODY_BYTES, OfflineOrderIn, PageRef, TillName
from tillpoint.http.text import Int, Text
from tillpoint.merchants.services import find_merchant
from tillpoint.store.sync import (
    BLOCK_SIZE,
    MAX_BATCH,
    MAX_BLOCK_SIZE,
    OfflineOrderView,
    ReceiptBlockView,
    SyncAnswerView,
    SyncBatch,
    TillPageView,
)

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)

ShopNo = Annotated[int, Field(strict=True, ge=1, le=9999, description="The shop's number")]
Mid = Annotated[Text | None, Field(max_length=15, description="Operations keys only")]


class TillPageIn(BaseModel):
    shop_number: ShopNo
    till: TillName
    page_id: PageRef
    mid: Mid = None


class ReceiptBlockIn(BaseModel):
    shop_number: ShopNo
    till: TillName
    page_id: PageRef
    size: Int = Field(default=BLOCK_SIZE, ge=1, le=MAX_BLOCK_SIZE, description="Numbers wanted")
    mid: Mid = None


class SyncIn(BaseModel):
    shop_number: ShopNo
    till: TillName
    page_id: PageRef = Field(description="The page that made the orders")
    orders: list[OfflineOrderIn] = Field(min_length=1, max_length=MAX_BATCH)
    mid: Mid = None


def _merchant_id(svc: Svc, caller: Principal, mid: str | None, code: str) -> int:
    """The merchant the call is for: the caller's, or the one operations name."""
    ref = own_or_named(caller, mid, code)
    if caller.merchant_id is not None:
        return caller.merchant_id
    with svc.tp.ctx.db.read() as s:
        return find_merchant(s, ref).id


def _localized(error: TillpointError) -> str:
    return error.localized()


@router.post("/v1/tills/pages", tags=["selling"])
def register_till_page(body: TillPageIn, caller: Taker, svc: Svc, _key: Key) -> TillPageView:
    """Make a till page known to the server before it sells offline (or find it again):
    its number within the till (1 to 999, in the order pages first came) and the form of
    the receipt numbers it prints offline, ``<receipt_prefix><n>``, n from 1. Takes none
    of the till's online numbers."""
    merchant_id = _merchant_id(svc, caller, body.mid, "till_page.mid_required")
    return svc.tp.offline.register_page(merchant_id, body.shop_number, body.till, body.page_id)


@router.post("/v1/tills/receipt-blocks", status_code=201, tags=["selling"])
def reserve_receipt_block(
    body: ReceiptBlockIn, caller: Taker, svc: Svc, _key: Key
) -> ReceiptBlockView:
    """Take the next ``size`` receipt numbers of a till for one of its pages to print
    offline (``<shop>-<till>-<n>``, n from ``first_number`` to ``last_number``): they
    come from the sequence the till's online orders number from, so nothing else ever
    prints them. A page takes a new block whenever it is online and has less than half
    a block left; past its blocks it numbers ``<fallback_prefix><n>``, n from 1."""
    merchant_id = _merchant_id(svc, caller, body.mid, "receipt_block.mid_required")
    return svc.tp.offline.reserve_block(
        merchant_id, body.shop_number, body.till, body.page_id, body.size
    )


@router.post("/v1/orders/sync", tags=["selling"], openapi_extra=body_limit(SYNC_BODY_BYTES))
def sync_orders(body: SyncIn, caller: Taker, svc: Svc, _key: Key) -> SyncAnswerView:
    """Write a batch of one page's offline cash sales (up to 500), each exactly once
    (by its ``client_ref``), and answer for each, in the batch's order: ``synced``
    (its id and receipt number), ``already_synced`` (stored before: nothing written),
    or ``refused`` (its ``code`` and ``message``; the others are written all the same).
    ``needs_look`` marks a refusal, or a sale with something to look at (its
    ``flags``: stock below zero, its shift closed, a price of its own...)."""
    merchant_id = _merchant_id(svc, caller, body.mid, "sync.mid_required")
    batch = SyncBatch(body.shop_number, body.till, body.page_id,
                      tuple(o.sale() for o in body.orders))  # fmt: skip
    return svc.tp.offline.sync(batch, merchant_id=merchant_id).view(_localized)


@router.get("/v1/offline-orders", tags=["selling"])
def list_offline_orders(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    needs_look: bool | None = None,
    shop_number: Annotated[int | None, Query(ge=1, le=9999)] = None,
    mid: Annotated[Text | None, Query(max_length=15)] = None,
) -> Page[OfflineOrderView]:
    """Orders made offline, newest first, with what was noted of each when it arrived;
    ``needs_look=true``: those that need a look."""
    items = svc.tp.offline.offline_orders(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        needs_look=needs_look,
        shop_number=shop_number,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda x: x.id)
