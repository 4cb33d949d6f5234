"""/v1/shifts, /v1/orders and /v1/counters: selling at a shop's own tills (docs/store.md).

One request per action of the till, each answering with the whole order (or shift):
open a shift; send the cart (``POST /v1/orders``, with its cash it is paid at once:
stock out, receipt number); add a tender (cash, card at the shop's terminal, a wallet
code, a QR code); wait for the terminal or the wallet (``GET /v1/orders/{id}?wait_s=``
answers as soon as nothing is pending); hold, recall, cancel; take back (returns);
print (``receipt.escpos``) or show the e-receipt (``/o/<id>-<token>``); close the
shift (the Z report). A merchant's keys reach their own merchant's shops; operations
keys read every merchant's. Who sells: the account that opened the shift (its
``cashier_id``), unless an order names another of the merchant's sellers.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from tillpoint.access.service import Principal
from tillpoint.api.deps import ApiRoute, ObjectId, Owner, Reader, Svc, Taker
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page
from tillpoint.api.routes.receipts import PAGE, PRIVATE, PUBLIC, BaseUrl
from tillpoint.api.schemas import PROBLEMS
from tillpoint.api.scope import own_or_named, scoped_merchant_id
from tillpoint.core.errors import NotFound
from tillpoint.http.offline import TillName
from tillpoint.http.orders import order_discount, order_lines
from tillpoint.http.text import Bool, Int, Note, Text
from tillpoint.merchants.services import find_merchant
from tillpoint.receipts.escpos import Columns
from tillpoint.receipts.orders import OrderReceipt, OrderReceipts
from tillpoint.receipts.service import ReceiptService, qr_svg
from tillpoint.receipts.shifts import ShiftPrintouts
from tillpoint.store.counters import MAX_COUNTER_NUMBER, CounterView
from tillpoint.store.models import OrderKind, OrderStatus, ShiftStatus, TenderKind
from tillpoint.store.orders import (
    MAX_BARCODE,
    MAX_CLIENT_REF,
    MAX_LINES,
    MAX_NOTE,
    MAX_ORDER_MINOR,
    MAX_PRICE_MINOR,
    MAX_QUANTITY_MILLI,
    MAX_TENDERS,
    Approval,
    NewOrder,
    NewReturn,
    OrderQuote,
    OrderView,
    ReturnLineIn,
    TenderIn,
)
from tillpoint.store.shifts import MAX_CASH_MINOR, ShiftView
from tillpoint.store.tenders import MAX_WAIT_S

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
quotes = APIRouter(route_class=ApiRoute, responses=PROBLEMS)  # a POST that writes nothing

Id = Annotated[int, Field(strict=True, ge=1, le=2**62)]
AccountId = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]
ShopNo = Annotated[int, Field(strict=True, ge=1, le=9999, description="The shop's number")]
Percent = Annotated[
    Text,
    Field(
        pattern=r"^(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)$",
        examples=["9.5"],
        description="A percentage, 0 to 100, as a decimal string",
    ),
]
Minor = Annotated[int, Field(strict=True, ge=0, le=MAX_ORDER_MINOR, description="In fen")]


# --- bodies ------------------------------------------------------------------------------------


class NewShiftIn(BaseModel):
    shop_number: ShopNo
    till: TillName
    float_minor: Int = Field(ge=0, le=MAX_CASH_MINOR, description="Cash counted into the drawer")
    cashier_id: AccountId = Field(
        description="The account that sells: the merchant's cashier of this shop, a manager "
        "or the owner"
    )
    mid: Text | None = Field(default=None, max_length=15, description="Operations keys only")


class CloseShiftIn(BaseModel):
    counted_cash_minor: Int = Field(ge=0, le=MAX_CASH_MINOR, description="Cash counted out")
    closed_by: AccountId | None = Field(default=None, description="Default: who opened it")


class LineBody(BaseModel):
    product_id: Id | None = None
    barcode: Text | None = Field(
        default=None, min_length=1, max_length=MAX_BARCODE, examples=["6901234567892"]
    )
    quantity_milli: Int = Field(
        default=1000,
        ge=1,
        le=MAX_QUANTITY_MILLI,
        description="Thousandths of the unit: 1000 is one, 455 is 0.455 kg",
    )
    unit_price_minor: Int | None = Field(
        default=None, ge=0, le=MAX_PRICE_MINOR, description="A price of its own: a manager approves"
    )
    discount_minor: Minor | None = None
    discount_percent: Percent | None = None
    expected_amount_minor: Minor | None = Field(
        default=None, description="The till's own figure: refused (409) when it differs"
    )


class DiscountBody(BaseModel):
    amount_minor: Minor | None = None
    percent: Percent | None = None


class TenderBody(BaseModel):
    kind: TenderKind
    amount_minor: Int | None = Field(
        default=None, ge=1, le=MAX_ORDER_MINOR, description="Default: what is left to pay"
    )
    received_minor: Int | None = Field(
        default=None, ge=1, le=MAX_ORDER_MINOR, description="Cash handed over (change: the rest)"
    )
    code: Text | None = Field(
        default=None,
        pattern=r"^[0-9]{10,24}$",
        description="A wallet tender: the customer's payment code",
    )
    tid: Text | None = Field(
        default=None,
        pattern=r"^[0-9A-Za-z]{8}$",
        description="A card tender: the terminal (default: the shop's)",
    )

    def tender(self) -> TenderIn:
        return TenderIn(self.kind, self.amount_minor, self.received_minor, self.code, self.tid)


class ApprovalBody(BaseModel):
    login: Text = Field(min_length=1, max_length=254, description="A manager's email or mobile")
    password: Text | None = Field(default=None, max_length=200)
    code: Text | None = Field(
        default=None, pattern=r"^[0-9]{6}$", description="A code of the manager's second factor"
    )

    def approval(self) -> Approval:
        return Approval(self.login, self.password, self.code)


class NewOrderIn(BaseModel):
    client_ref: Text = Field(
        min_length=1,
        max_length=MAX_CLIENT_REF,
        description="The till's own id (a UUID): the same order sent "
        "again is answered with the order made",
    )
    shift_id: Id = Field(description="The open shift of the till")
    lines: list[LineBody] = Field(min_length=1, max_length=MAX_LINES)
    counter_number: Int | None = Field(
        default=None, ge=1, le=MAX_COUNTER_NUMBER, description="Required in a shop with counters"
    )
    cashier_id: AccountId | None = Field(default=None, description="Default: the shift's")
    discount: DiscountBody | None = None
    expected_total_minor: Minor | None = Field(
        default=None, description="The till's own total: refused (409) when it differs"
    )
    note: Note | None = Field(default=None, max_length=MAX_NOTE)
    hold: Bool = Field(default=False, description="Park it (no tenders)")
    tenders: list[TenderBody] = Field(default=[], max_length=MAX_TENDERS)
    approval: ApprovalBody | None = Field(
        default=None, description="A manager's, for a changed price or a large discount"
    )
    member_id: Id | None = Field(
        default=None, description="The customer, a member: member prices, points earned when paid"
    )
    redeem_points: Annotated[int, Field(strict=True, ge=0, le=10**9)] | Literal["max"] = Field(
        default=0,
        description="Points the member spends on it (whole steps), or max: the most it takes",
    )
    coupon_codes: list[Annotated[Text, Field(min_length=1, max_length=20)]] = Field(
        default=[], max_length=3, description="Coupons used on it, applied in this order"
    )


class QuoteIn(BaseModel):
    shift_id: Id = Field(description="The open shift of the till")
    lines: list[LineBody] = Field(min_length=1, max_length=MAX_LINES)
    discount: DiscountBody | None = None
    member_id: Id | None = Field(default=None, description="The customer, a member")
    redeem_points: Annotated[int, Field(strict=True, ge=0, le=10**9)] | Literal["max"] = Field(
        default=0, description="Points to spend (whole steps), or max: the most it takes"
    )
    coupon_codes: list[Annotated[Text, Field(min_length=1, max_length=20)]] = Field(
        default=[], max_length=3, description="Coupons, applied in this order"
    )


class ReturnLineBody(BaseModel):
    line_id: Id = Field(description="The sale's line")
    quantity_milli: Int = Field(ge=1, le=MAX_QUANTITY_MILLI)


class NewReturnIn(BaseModel):
    client_ref: Text = Field(min_length=1, max_length=MAX_CLIENT_REF)
    shift_id: Id = Field(description="The open shift of the till taking it back")
    lines: list[ReturnLineBody] = Field(min_length=1, max_length=MAX_LINES)
    approval: ApprovalBody
    cashier_id: AccountId | None = None
    note: Note | None = Field(default=None, max_length=MAX_NOTE)


class RecallIn(BaseModel):
    shift_id: Id = Field(description="The open shift of the till that takes it up")


class NewCounterIn(BaseModel):
    shop_number: ShopNo
    number: Int = Field(ge=1, le=MAX_COUNTER_NUMBER)
    name: Text = Field(min_length=1, max_length=100, examples=["老王茶叶 Wang's Tea"])
    mid: Text | None = Field(default=None, max_length=15, description="Operations keys only")


class CounterPatchIn(BaseModel):
    name: Text | None = Field(default=None, min_length=1, max_length=100)
    active: Bool | None = None


class OrderReceiptLinks(BaseModel):
    order_id: int
    url: str = Field(description="The e-receipt page: anyone who has this link can open it")
    qr_svg_url: str = Field(description="The QR code of the link, as SVG")
    escpos_url: str = Field(description="The receipt as ESC/POS bytes (needs a key)")
    receipt: OrderReceipt


# --- helpers -------------------------------------------------------------------------------------


def _merchant_id(svc: Svc, caller: Principal, mid: str | None, code: str) -> int:
    """The merchant a new object is for: the caller's, or the one operations name."""
    ref = own_or_named(caller, mid, code)
    if caller.merchant_id is not None:
        return caller.merchant_id
    with svc.tp.ctx.db.read() as s:
        return find_merchant(s, ref).id


def _new_order(body: NewOrderIn) -> NewOrder:
    return NewOrder(
        client_ref=body.client_ref,
        shift_id=body.shift_id,
        lines=order_lines(body.lines),
        counter_number=body.counter_number,
        cashier_id=body.cashier_id,
        discount=order_discount(body.discount),
        expected_total_minor=body.expected_total_minor,
        note=body.note,
        hold=body.hold,
        tenders=tuple(t.tender() for t in body.tenders),
        approval=body.approval.approval() if body.approval else None,
        member_id=body.member_id,
        redeem_points=body.redeem_points,
        coupon_codes=tuple(body.coupon_codes),
    )


def quote_order(body: QuoteIn) -> NewOrder:
    """A cart to price: an order's lines, discount and member's perks, nothing more."""
    return NewOrder(
        client_ref="quote",
        shift_id=body.shift_id,
        lines=order_lines(body.lines),
        discount=order_discount(body.discount),
        member_id=body.member_id,
        redeem_points=body.redeem_points,
        coupon_codes=tuple(body.coupon_codes),
    )


def order_receipts(svc: Svc) -> OrderReceipts:
    return OrderReceipts(svc.tp.ctx)


Receipts = Annotated[OrderReceipts, Depends(order_receipts)]


# --- shifts ---------------------------------------------------------------------------------


@router.post("/v1/shifts", status_code=201, tags=["selling"])
def open_shift(body: NewShiftIn, caller: Taker, svc: Svc, _key: Key) -> ShiftView:
    """Open a shift at a till of one of the merchant's shops, with the float counted
    into its drawer (one open shift per till). Orders are rung up under it."""
    merchant_id = _merchant_id(svc, caller, body.mid, "shift.mid_required")
    return svc.tp.shifts.open(
        merchant_id, body.shop_number, body.till, body.float_minor, body.cashier_id
    )


@router.get("/v1/shifts", tags=["selling"])
def list_shifts(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    shop_number: Annotated[int | None, Query(ge=1, le=9999)] = None,
    till: Annotated[Text | None, Query(max_length=20)] = None,
    status: ShiftStatus | None = None,
    mid: Annotated[Text | None, Query(max_length=15)] = None,
) -> Page[ShiftView]:
    """Shifts, newest first (without their reports)."""
    items = svc.tp.shifts.search(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        shop_number=shop_number,
        till=till,
        status=status,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda x: x.id)


@router.get("/v1/shifts/{shift_id}", tags=["selling"])
def get_shift(shift_id: ObjectId, caller: Reader, svc: Svc) -> ShiftView:
    """A shift and its report: the X report while it is open (takings by tender,
    orders, returns, discounts, the cash the drawer should hold), the Z report once
    it is closed (with the cash counted, over or short)."""
    return svc.tp.shifts.get(shift_id, merchant_id=caller.merchant_id)


@router.get(
    "/v1/shifts/{shift_id}/report.escpos",
    tags=["selling"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "ESC/POS"}},
)
def get_shift_report_escpos(
    shift_id: ObjectId, caller: Reader, svc: Svc, columns: Columns = Columns.NARROW
) -> Response:
    """The shift's X report (open) or Z report (closed) as ESC/POS bytes for the till's
    printer (32 or 48 columns), in both languages, with a cut."""
    data = ShiftPrintouts(svc.tp.ctx, svc.tp.shifts).printout(
        shift_id, merchant_id=caller.merchant_id, columns=columns
    )
    return Response(
        data,
        media_type="application/octet-stream",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="shift-{shift_id}.bin"'},
    )


@router.post("/v1/shifts/{shift_id}/close", tags=["selling"])
def close_shift(
    shift_id: ObjectId, body: CloseShiftIn, caller: Taker, svc: Svc, _key: Key
) -> ShiftView:
    """Close the shift with the cash counted: the Z report. Refused while a tender is
    under way or an order is part paid; orders not paid are held, for the next shift."""
    return svc.tp.shifts.close(
        shift_id,
        body.counted_cash_minor,
        merchant_id=caller.merchant_id,
        closed_by=body.closed_by,
    )


# --- orders ---------------------------------------------------------------------------------


@router.post("/v1/orders", status_code=201, tags=["selling"])
async def create_order(body: NewOrderIn, caller: Taker, svc: Svc, _key: Key) -> OrderView:
    """Ring up the till's cart at its open shift: priced from the catalogue (the shop's
    prices), discounts applied and spread over the lines exactly, the till's own
    figures checked. Its cash tenders pay it at once (in full: stock out, receipt
    number, status paid); a card tender waits for the shop's terminal, a wallet code is
    charged at once, a QR tender shows its ``qr_code``. The same ``client_ref`` again
    answers with the order already made."""
    return await svc.tenders.create(_new_order(body), merchant_id=caller.merchant_id)


@quotes.post("/v1/orders/quote", tags=["selling"], summary="Price a cart, writing nothing")
def quote_order_route(body: QuoteIn, caller: Taker, svc: Svc) -> OrderQuote:
    """What the cart would come to as an order made now, by the very arithmetic that
    makes it: the shop's prices, a member's prices, the discounts, the coupons (checked:
    a refusal is the order's own refusal) and the points redeemed, spread over the
    lines; and the points it would earn once paid. Nothing is written or held (no
    Idempotency-Key): send the order itself with the figures quoted
    (``expected_total_minor``) to make it."""
    return svc.tp.orders.quote(quote_order(body), merchant_id=caller.merchant_id)


@router.get("/v1/orders", tags=["selling"])
def list_orders(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    shop_number: Annotated[int | None, Query(ge=1, le=9999)] = None,
    shift_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    till: Annotated[Text | None, Query(max_length=20)] = None,
    status: OrderStatus | None = None,
    kind: OrderKind | None = None,
    receipt_no: Annotated[Text | None, Query(max_length=40)] = None,
    client_ref: Annotated[Text | None, Query(max_length=MAX_CLIENT_REF)] = None,
    mid: Annotated[Text | None, Query(max_length=15)] = None,
) -> Page[OrderView]:
    """Orders, newest first: a shop's, a till's, a shift's; ``status=held`` lists the
    held ones to recall; ``receipt_no`` finds the sale a receipt names."""
    items = svc.tp.orders.search(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        shop_number=shop_number,
        shift_id=shift_id,
        till=till,
        status=status,
        kind=kind,
        receipt_no=receipt_no,
        client_ref=client_ref,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda x: x.id)


@router.get("/v1/orders/{order_id}", tags=["selling"])
async def get_order(
    order_id: ObjectId,
    caller: Reader,
    svc: Svc,
    wait_s: Annotated[
        float,
        Query(
            ge=0,
            le=MAX_WAIT_S,
            description="Wait up to this long while a tender is "
            "pending: the answer comes as soon as the terminal or the wallet answers",
        ),
    ] = 0,
) -> OrderView:
    """The order; pending tenders are brought up to date from their checkouts and
    payments. With ``wait_s``, one request waits for them (the till's spinner)."""
    return await svc.tenders.wait(order_id, merchant_id=caller.merchant_id, wait_s=wait_s)


@router.post("/v1/orders/{order_id}/tenders", tags=["selling"])
async def add_tender(
    order_id: ObjectId, body: TenderBody, caller: Taker, svc: Svc, _key: Key
) -> OrderView:
    """Pay (part of) an open order: cash (``received_minor``: the change is the rest),
    a card at the shop's terminal (pending until the terminal's sale pays it), a wallet
    code (paid or failed at once) or a QR code (pending until the customer pays). A
    return takes cash paid back here, for a part its refund could not give back."""
    return await svc.tenders.tender(order_id, body.tender(), merchant_id=caller.merchant_id)


@router.post("/v1/orders/{order_id}/tenders/{tender_id}/cancel", tags=["selling"])
async def cancel_tender(
    order_id: ObjectId, tender_id: ObjectId, caller: Taker, svc: Svc, _key: Key
) -> OrderView:
    """Cancel a pending card or QR tender at its network (if it was paid meanwhile, it
    stands), or hand back a cash tender of an order not yet paid."""
    return await svc.tenders.cancel_tender(order_id, tender_id, merchant_id=caller.merchant_id)


@router.post("/v1/orders/{order_id}/hold", tags=["selling"])
def hold_order(order_id: ObjectId, caller: Taker, svc: Svc, _key: Key) -> OrderView:
    """Park an open order with nothing tendered."""
    return svc.tp.orders.hold(order_id, merchant_id=caller.merchant_id)


@router.post("/v1/orders/{order_id}/recall", tags=["selling"])
def recall_order(
    order_id: ObjectId, body: RecallIn, caller: Taker, svc: Svc, _key: Key
) -> OrderView:
    """Take a held order up again at an open shift of its shop."""
    return svc.tp.orders.recall(order_id, body.shift_id, merchant_id=caller.merchant_id)


@router.post("/v1/orders/{order_id}/cancel", tags=["selling"])
async def cancel_order(order_id: ObjectId, caller: Taker, svc: Svc, _key: Key) -> OrderView:
    """Give up an order not paid: money taken by card, wallet or QR is refunded, cash
    goes back to the customer."""
    return await svc.tenders.cancel(order_id, merchant_id=caller.merchant_id)


@router.post("/v1/orders/{order_id}/returns", status_code=201, tags=["selling"])
async def create_return(
    order_id: ObjectId, body: NewReturnIn, caller: Taker, svc: Svc, _key: Key
) -> OrderView:
    """Take lines of a paid sale back, at an open shift of its shop, with a manager's
    approval: never more than was sold less earlier returns. The money goes back the
    way it came: card, wallet and QR parts first (refunds), then cash from this shift's
    drawer; the stock comes back. The return is an order of kind ``return``."""
    new = NewReturn(
        client_ref=body.client_ref,
        shift_id=body.shift_id,
        lines=tuple(ReturnLineIn(x.line_id, x.quantity_milli) for x in body.lines),
        approval=body.approval.approval(),
        cashier_id=body.cashier_id,
        note=body.note,
    )
    return await svc.tenders.create_return(order_id, new, merchant_id=caller.merchant_id)


@router.get("/v1/orders/{order_id}/receipt", tags=["selling"])
def get_order_receipt(
    order_id: ObjectId, caller: Reader, receipts: Receipts, base: BaseUrl
) -> OrderReceiptLinks:
    """A paid order's receipt and its links (404 before it is paid)."""
    r = receipts.receipt(order_id, merchant_id=caller.merchant_id)
    url = receipts.url(order_id, base)
    return OrderReceiptLinks(
        order_id=order_id,
        url=url,
        qr_svg_url=f"{url}/qr.svg",
        escpos_url=f"{base.rstrip('/')}/v1/orders/{order_id}/receipt.escpos",
        receipt=r,
    )


@router.get(
    "/v1/orders/{order_id}/receipt.escpos",
    tags=["selling"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "ESC/POS"}},
)
def get_order_receipt_escpos(
    order_id: ObjectId,
    caller: Reader,
    receipts: Receipts,
    base: BaseUrl,
    columns: Columns = Columns.NARROW,
) -> Response:
    """The receipt as ESC/POS bytes for the till's printer (32 or 48 columns), with the
    e-receipt's QR code and a cut. Send it to the printer as it is."""
    data = receipts.printout(order_id, base, columns=columns, merchant_id=caller.merchant_id)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={**PRIVATE, "Content-Disposition": f'attachment; filename="order-{order_id}.bin"'},
    )


# --- counters ------------------------------------------------------------------------------------


@router.post("/v1/counters", status_code=201, tags=["selling"])
def create_counter(body: NewCounterIn, caller: Owner, svc: Svc, _key: Key) -> CounterView:
    """A counter of a shop (a mall's tenant): every order of a shop with active
    counters names one."""
    merchant_id = _merchant_id(svc, caller, body.mid, "counter.mid_required")
    return svc.tp.counters.create(merchant_id, body.shop_number, body.number, body.name)


@router.get("/v1/counters", tags=["selling"])
def list_counters(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    shop_number: Annotated[int | None, Query(ge=1, le=9999)] = None,
    active: bool | None = None,
    mid: Annotated[Text | None, Query(max_length=15)] = None,
) -> Page[CounterView]:
    items = svc.tp.counters.search(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        shop_number=shop_number,
        active=active,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda x: x.id)


@router.get("/v1/counters/{counter_id}", tags=["selling"])
def get_counter(counter_id: ObjectId, caller: Reader, svc: Svc) -> CounterView:
    return svc.tp.counters.get(counter_id, merchant_id=caller.merchant_id)


@router.patch("/v1/counters/{counter_id}", tags=["selling"])
def update_counter(
    counter_id: ObjectId, body: CounterPatchIn, caller: Owner, svc: Svc
) -> CounterView:
    """Rename a counter or switch it off (on again): the fields present change."""
    return svc.tp.counters.update(
        counter_id, merchant_id=caller.merchant_id, name=body.name, active=body.active
    )


# --- the e-receipt pages -------------------------------------------------------------------------


def _not_found() -> HTMLResponse:
    return HTMLResponse(ReceiptService.not_found_html(), status_code=404, headers=PAGE)


@router.get("/o/{ref}", response_class=HTMLResponse, include_in_schema=False)
def order_receipt_page(ref: Text, receipts: Receipts, base: BaseUrl) -> HTMLResponse:
    """The e-receipt of the link ``/o/<order id>-<token>``."""
    try:
        r = receipts.public_receipt(ref)
    except NotFound:
        return _not_found()
    return HTMLResponse(receipts.html(r, receipts.url(r.order.id, base)), headers=PAGE)


@router.get("/o/{ref}/qr.svg", include_in_schema=False)
def order_receipt_qr(ref: Text, receipts: Receipts, base: BaseUrl) -> Response:
    try:
        r = receipts.public_receipt(ref)
    except NotFound:
        return _not_found()
    return Response(
        qr_svg(receipts.url(r.order.id, base)), media_type="image/svg+xml", headers=PUBLIC
    )
