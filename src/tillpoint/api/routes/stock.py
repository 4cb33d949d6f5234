"""/v1/stock routes: a merchant's stock per shop (docs/store.md, "Stock").

A merchant's keys (owner and staff) receive goods, send and receive transfers between
its shops, count and adjust stock and set reorder levels, for their own merchant's shops
only; every key reads (operations keys every merchant's, or one with ``mid``). Shops are
named by their number within the merchant, products by id; quantities are decimal text
in the product's unit ("1.5", "3"), never a JSON number.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from tillpoint.access.models import Role
from tillpoint.access.service import Principal
from tillpoint.api.deps import ObjectId, Reader, Svc, allow
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page, whole
from tillpoint.api.problems import ApiProblem
from tillpoint.api.schemas import PROBLEMS, Reason
from tillpoint.api.scope import scoped_merchant_id
from tillpoint.core.errors import invariant
from tillpoint.core.i18n import _
from tillpoint.core.ids import is_digits
from tillpoint.http.services import Services
from tillpoint.http.text import Int, Note, Text
from tillpoint.store.models import CountScope, CountStatus, MovementKind, TransferStatus
from tillpoint.store.stock import (
    MAX_COST_MINOR,
    MAX_DOCUMENT,
    MAX_LINES,
    MAX_NOTE,
    MAX_SUPPLIER,
    AdjustmentView,
    AdjustReason,
    CountView,
    EntryMode,
    LevelView,
    Line,
    MovementView,
    ReceiptView,
    StockValueView,
    TransferView,
)

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
# Changes to stock: the merchant's own keys. Operations keys read only.
Keeper = Annotated[Principal, Depends(allow(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF))]

ShopNumber = Annotated[Int, Field(ge=1, le=9999, description="The shop's number", examples=[1])]
ProductId = Annotated[Int, Field(ge=1, le=2**62, description="The product's id", examples=[1])]
Quantity = Annotated[
    Text,
    Field(
        max_length=20,
        description="Decimal text in the product's unit, at most 3 decimals; whole numbers "
        "for a product sold by the piece (never a JSON number)",
        examples=["1.5"],
    ),
]
ShopQuery = Annotated[
    int | None, Query(ge=1, le=9999, description="Only this shop (its number)")
]  # fmt: skip
ProductQuery = Annotated[int | None, Query(ge=1, le=2**62, description="Only this product")]
MidQuery = Annotated[
    Text | None, Query(max_length=20, description="Only this merchant's (operations keys)")
]


class LineIn(BaseModel):
    product_id: ProductId
    quantity: Quantity

    def line(self) -> Line:
        return Line(self.product_id, self.quantity)


class ReceiptLineIn(LineIn):
    unit_cost_minor: Int | None = Field(
        default=None, ge=0, le=MAX_COST_MINOR,
        description="What one unit cost, in fen; none: the product's cost in the catalogue",
        examples=[250],
    )  # fmt: skip

    def line(self) -> Line:
        return Line(self.product_id, self.quantity, self.unit_cost_minor)


class ReceiptIn(BaseModel):
    """Goods in from a supplier: one line per product (the same product twice adds up)."""

    shop: ShopNumber
    supplier: Text = Field(max_length=MAX_SUPPLIER, examples=["华联批发 Hualian Wholesale"])
    document: Text | None = Field(
        default=None, max_length=MAX_DOCUMENT,
        description="The delivery note's number: booked once per supplier and shop",
        examples=["DN-2026-0117"],
    )  # fmt: skip
    lines: list[ReceiptLineIn] = Field(min_length=1, max_length=MAX_LINES)


class AdjustmentIn(BaseModel):
    """Stock put right by hand: quantities below zero take out (``damaged``, ``expired``,
    ``theft``), above zero put in (``found``); ``other`` goes either way and needs a
    ``text``."""

    shop: ShopNumber
    reason: AdjustReason
    text: Note | None = Field(default=None, max_length=150, examples=["摔碎了 dropped"])
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)


class ReorderIn(BaseModel):
    shop: ShopNumber
    product_id: ProductId
    reorder: Quantity | None = Field(
        description="Low at or below this; null: never low (only below zero)", examples=["12"]
    )


class TransferIn(BaseModel):
    """Goods to another shop of the merchant: out of ``from_shop`` at once."""

    from_shop: ShopNumber
    to_shop: ShopNumber
    note: Note | None = Field(default=None, max_length=MAX_NOTE)
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)


class ReceiveIn(BaseModel):
    lines: list[LineIn] | None = Field(
        default=None, max_length=MAX_LINES,
        description="What arrived, every product of the transfer once (0 for none); "
        "leave out when everything arrived as sent",
    )  # fmt: skip


class CancelIn(BaseModel):
    reason: Reason


class CountIn(BaseModel):
    shop: ShopNumber
    note: Note | None = Field(default=None, max_length=MAX_NOTE, examples=["月末盘点 month end"])


class CountLinesIn(BaseModel):
    mode: EntryMode = Field(
        default=EntryMode.ADD,
        description="add: to what was counted of the product already (another shelf); "
        "set: instead of it (a correction)",
    )
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES)


class BookIn(BaseModel):
    scope: CountScope = Field(
        default=CountScope.COUNTED,
        description="counted: only what was counted moves; category (with category_id) or "
        "shop: what holds stock there and was not counted is booked as none",
    )
    category_id: Int | None = Field(default=None, ge=1, le=2**31 - 1)


# --- whose ------------------------------------------------------------------------------


def own(caller: Principal) -> int:
    """The merchant a stock change is for: the calling key's own."""
    invariant(caller.merchant_id is not None, "a keeper's key is a merchant's")
    return caller.merchant_id or 0


def readable(svc: Services, caller: Principal, mid: str | None, shop: int | None) -> int | None:
    """The merchant a read is limited to (None: every merchant's, for operations); a
    shop's number means something only within a merchant."""
    merchant_id = scoped_merchant_id(svc, caller, mid)
    if merchant_id is None and shop is not None:
        raise ApiProblem(422, "stock.mid_required", _("Name the merchant (mid) to name a shop"))
    return merchant_id


def within(caller: Principal) -> int | None:
    return None if caller.operations else caller.merchant_id


def level_cursor(level: LevelView) -> str:
    text = f"lv:{level.shop_id}:{level.product_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def level_after(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:
        text = ""
    kind, _sep, rest = text.partition(":")
    shop, _sep, product = rest.partition(":")
    if kind != "lv" or not all(is_digits(x) and len(x) <= 18 for x in (shop, product)):
        raise ApiProblem(400, "page.cursor", _("The cursor is not one this API handed out"))
    return int(shop), int(product)


# --- reads ------------------------------------------------------------------------------


@router.get("/v1/stock/levels", tags=["stock"], summary="Stock levels")
def levels(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    mid: MidQuery = None,
    shop: ShopQuery = None,
    product_id: ProductQuery = None,
    low: Annotated[
        bool, Query(description="Only at or below the reorder level, or below zero")
    ] = False,
) -> Page[LevelView]:
    """What each shop holds of each product that ever moved there (or has a reorder
    level), in shop and product order: quantity, reorder level, ``low`` and
    ``negative`` flags, the value at the product's cost."""
    rows = svc.tp.stock.levels(readable(svc, caller, mid, shop), shop=shop, product_id=product_id,
                               low=low, after=level_after(cursor), limit=limit + 1)  # fmt: skip
    more = len(rows) > limit
    shown = rows[:limit]
    return Page[LevelView](data=shown, has_more=more,
                           next_cursor=level_cursor(shown[-1]) if more else None)  # fmt: skip


@router.get("/v1/stock/value", tags=["stock"], summary="Stock value at cost")
def value(
    caller: Reader, svc: Svc, mid: MidQuery = None, shop: ShopQuery = None
) -> Page[StockValueView]:
    """Each shop's stock at cost: quantity times the product's cost, summed exactly and
    rounded half up to the fen once; levels below zero count as none."""
    return whole(svc.tp.stock.values(readable(svc, caller, mid, shop), shop=shop))


@router.get("/v1/stock/movements", tags=["stock"], summary="Stock movements (the history)")
def movements(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    mid: MidQuery = None,
    shop: ShopQuery = None,
    product_id: ProductQuery = None,
    kind: Annotated[MovementKind | None, Query(description="Only this kind")] = None,
) -> Page[MovementView]:
    """Every change to stock, newest first: what, how much, who, why (a receipt's
    supplier, an adjustment's reason), and the document (delivery note, order, transfer,
    count)."""
    rows = svc.tp.stock.movements(readable(svc, caller, mid, shop), shop=shop,
                                  product_id=product_id, kind=kind,
                                  before_id=decode_cursor(cursor), limit=limit + 1)  # fmt: skip
    return page(rows, limit, lambda m: m.id)


@router.get("/v1/stock/transfers", tags=["stock"], summary="Transfers between shops")
def transfers(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    mid: MidQuery = None,
    shop: Annotated[
        int | None, Query(ge=1, le=9999, description="Sent from or to this shop")
    ] = None,
    status: Annotated[TransferStatus | None, Query(description="Only this status")] = None,
) -> Page[TransferView]:
    """Transfers newest first, with their lines."""
    rows = svc.tp.stock.transfers(readable(svc, caller, mid, shop), shop=shop, status=status,
                                  before_id=decode_cursor(cursor), limit=limit + 1)  # fmt: skip
    return page(rows, limit, lambda t: t.id)


@router.get("/v1/stock/transfers/{transfer_id}", tags=["stock"], summary="A transfer")
def transfer(transfer_id: ObjectId, caller: Reader, svc: Svc) -> TransferView:
    return svc.tp.stock.transfer(within(caller), transfer_id)


@router.get("/v1/stock/counts", tags=["stock"], summary="Stock counts")
def counts(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    mid: MidQuery = None,
    shop: ShopQuery = None,
    status: Annotated[CountStatus | None, Query(description="Only this status")] = None,
) -> Page[CountView]:
    """Counts newest first, with their lines."""
    rows = svc.tp.stock.counts(readable(svc, caller, mid, shop), shop=shop, status=status,
                               before_id=decode_cursor(cursor), limit=limit + 1)  # fmt: skip
    return page(rows, limit, lambda c: c.id)


@router.get("/v1/stock/counts/{count_id}", tags=["stock"], summary="A stock count")
def count(count_id: ObjectId, caller: Reader, svc: Svc) -> CountView:
    return svc.tp.stock.count(within(caller), count_id)


# --- changes ----------------------------------------------------------------------------


@router.post("/v1/stock/receipts", status_code=201, tags=["stock"], summary="Receive goods")
def receipt(body: ReceiptIn, caller: Keeper, svc: Svc, _key: Key) -> ReceiptView:
    """Goods in from a supplier, with its delivery note's number and each line's quantity
    and unit cost: into the shop's stock at once. The same delivery note of the same
    supplier is refused at the same shop (409 ``stock.receipt_booked``)."""
    return svc.tp.stock.book_receipt(own(caller), body.shop, body.supplier,
                                     [x.line() for x in body.lines], caller.actor,
                                     document=body.document)  # fmt: skip


@router.post("/v1/stock/adjustments", status_code=201, tags=["stock"], summary="Adjust stock")
def adjustment(body: AdjustmentIn, caller: Keeper, svc: Svc, _key: Key) -> AdjustmentView:
    """Stock put right by hand, with a reason; the level may go below zero."""
    return svc.tp.stock.adjust(own(caller), body.shop, body.reason,
                               [x.line() for x in body.lines], caller.actor,
                               text=body.text)  # fmt: skip


@router.put("/v1/stock/reorder_levels", tags=["stock"], summary="Set a reorder level")
def reorder(body: ReorderIn, caller: Keeper, svc: Svc) -> LevelView:
    """The level at or below which a product is low in a shop (``null``: never). No
    ``Idempotency-Key``: the same body again changes nothing more."""
    return svc.tp.stock.set_reorder(own(caller), body.shop, body.product_id, body.reorder,
                                    caller.actor)  # fmt: skip


@router.post("/v1/stock/transfers", status_code=201, tags=["stock"], summary="Send a transfer")
def send(body: TransferIn, caller: Keeper, svc: Svc, _key: Key) -> TransferView:
    """Goods to another shop of the merchant: out of the sender's stock at once, never
    below zero (409 ``stock.transfer_short``); ``sent`` until received or canceled."""
    return svc.tp.stock.send(own(caller), body.from_shop, body.to_shop,
                             [x.line() for x in body.lines], caller.actor,
                             note=body.note)  # fmt: skip


@router.post(
    "/v1/stock/transfers/{transfer_id}/receive", tags=["stock"], summary="Receive a transfer"
)
def receive(
    transfer_id: ObjectId, caller: Keeper, svc: Svc, _key: Key, body: ReceiveIn | None = None
) -> TransferView:
    """What arrived goes into the receiving shop's stock; less than was sent is a
    shortfall, kept on the line; more is refused (book it as found)."""
    lines = None if body is None or body.lines is None else [x.line() for x in body.lines]
    return svc.tp.stock.receive_transfer(own(caller), transfer_id, caller.actor, received=lines)


@router.post(
    "/v1/stock/transfers/{transfer_id}/cancel", tags=["stock"], summary="Cancel a transfer"
)
def cancel_transfer(
    transfer_id: ObjectId, body: CancelIn, caller: Keeper, svc: Svc, _key: Key
) -> TransferView:
    """Before it arrives: what was sent goes back into the sender's stock."""
    return svc.tp.stock.cancel_transfer(own(caller), transfer_id, caller.actor, body.reason)


@router.post("/v1/stock/counts", status_code=201, tags=["stock"], summary="Open a stock count")
def open_count(body: CountIn, caller: Keeper, svc: Svc, _key: Key) -> CountView:
    """A stock count (盘点) of a shop, to enter what is found into."""
    return svc.tp.stock.open_count(own(caller), body.shop, caller.actor, note=body.note)


@router.post(
    "/v1/stock/counts/{count_id}/lines", tags=["stock"], summary="Enter counted quantities"
)
def count_lines(
    count_id: ObjectId, body: CountLinesIn, caller: Keeper, svc: Svc, _key: Key
) -> CountView:
    """What was counted (zero or more): added to or instead of what the count has for
    each product (``mode``)."""
    return svc.tp.stock.enter_count(own(caller), count_id, [x.line() for x in body.lines],
                                    caller.actor, mode=body.mode)  # fmt: skip


@router.post("/v1/stock/counts/{count_id}/book", tags=["stock"], summary="Book a stock count")
def book_count(count_id: ObjectId, body: BookIn, caller: Keeper, svc: Svc, _key: Key) -> CountView:
    """Each counted product's difference against its level now becomes a ``count``
    movement: its level is then what was counted."""
    return svc.tp.stock.book_count(own(caller), count_id, caller.actor, scope=body.scope,
                                   category_id=body.category_id)  # fmt: skip


@router.post("/v1/stock/counts/{count_id}/cancel", tags=["stock"], summary="Cancel a stock count")
def cancel_count(count_id: ObjectId, caller: Keeper, svc: Svc, _key: Key) -> CountView:
    """Give an open count up: nothing of it is booked."""
    return svc.tp.stock.cancel_count(own(caller), count_id, caller.actor)
