"""What the till page asks of the server (``/cashier/api/...``): JSON over the signed-in
person's session (the page's cookie, and its CSRF token in the ``X-CSRF-Token`` header
of every POST) rather than an API key, which a browser at a shop's counter must never
hold.

Each route is one call of the store's services (the same ones the REST API's
``/v1/shifts``, ``/v1/orders`` and ``/v1/products/lookup`` call): nothing of selling is
decided here. What is decided here is who may do it where:

- the person is a merchant's owner, manager or cashier (staff and applicants: 403);
- every route names its shop (``?shop=<number>``): one of the person's merchant's
  shops, and for a cashier their own one; any other answers 404, exactly as a shop that
  does not exist;
- an order or a shift read or changed here must be of that shop (else 404, as one that
  does not exist); every order and return is sold by the signed-in person
  (``cashier_id``), which the services check may sell in the shift's shop.

Errors are the API's problem documents (``code``, ``detail`` in the language the page
asks for with ``Accept-Language``); not signed in (or the session ran out) is 401, so
the page can send the person to sign in again with the cart kept.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tillpoint.access.accounts import AccountService, SignedIn, console_actor
from tillpoint.access.models import AccountRole
from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, NotFound
from tillpoint.core.i18n import N_
from tillpoint.http.orders import order_discount, order_lines
from tillpoint.http.services import Services, client_ip
from tillpoint.merchants.models import ShopStatus
from tillpoint.receipts.orders import OrderReceipts
from tillpoint.receipts.service import qr_svg
from tillpoint.store.catalogue import CHANGES_LIMIT, SEARCH_LIMIT, Found
from tillpoint.store.counters import MAX_COUNTER_NUMBER
from tillpoint.store.coupons import MAX_COUPONS
from tillpoint.store.models import OrderKind, OrderStatus, TenderKind
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
    OrderView,
    ReturnLineIn,
    TenderIn,
)
from tillpoint.store.shifts import MAX_CASH_MINOR, TILL, ShiftView
from tillpoint.store.tenders import MAX_WAIT_S, Tenders
from tillpoint.web.auth import CSRF_HEADER, signed_in
from tillpoint.web.cashier.views import order_json, report_html, slip_html

router = APIRouter(prefix="/cashier/api", include_in_schema=False)

SELLERS = (AccountRole.OWNER, AccountRole.MANAGER, AccountRole.CASHIER)
NO_STORE = {"Cache-Control": "no-store"}
MAX_HELD = 50  # held orders listed for recall
MAX_COUNTERS = 500

# --- who is at the till -------------------------------------------------------------------


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def seller(request: Request) -> SignedIn:
    """The signed-in merchant person who may sell (owner, manager, cashier); a POST must
    carry the session's CSRF token in its header. 401 without a good session."""
    session = signed_in(request)
    if session is None:
        raise HTTPException(status_code=401)
    account = session.account
    if not account.portal or not account.has(*SELLERS) or account.merchant_id is None:
        raise HTTPException(status_code=403)
    if account.must_change_password:
        raise HTTPException(status_code=403)
    if request.method != "GET" and not AccountService.csrf_ok(
        session, request.headers.get(CSRF_HEADER)
    ):
        raise HTTPException(status_code=403)
    return session


def own_shop_id(session: SignedIn) -> int | None:
    """The one shop a cashier sells in (a cashier who is not also an owner or manager);
    None: every shop of the merchant."""
    account = session.account
    if AccountRole.CASHIER in account.roles and not account.has(
        AccountRole.OWNER, AccountRole.MANAGER
    ):
        return account.shop_id
    return None


@dataclass(frozen=True)
class Till:
    """The person at the till and the shop it is in (checked: theirs to sell in)."""

    tp: Tillpoint
    svc: Services
    session: SignedIn
    merchant_id: int
    shop_number: int
    shop_id: int
    address: str

    @property
    def account_id(self) -> int:
        return self.session.account.id

    @property
    def tenders(self) -> Tenders:
        return self.svc.tenders

    def here(self, view: OrderView) -> OrderView:
        """The order, if it is this shop's (else as one that does not exist)."""
        if view.shop_number != self.shop_number:
            raise NotFound("order.not_found", N_("No order {id}"), id=view.id)
        return view

    def shift_here(self, view: ShiftView) -> ShiftView:
        if view.shop_number != self.shop_number:
            raise NotFound("shift.not_found", N_("No shift {id}"), id=view.id)
        return view

    async def order(self, order_id: int, wait_s: float = 0) -> OrderView:
        return self.here(
            await self.tenders.wait(order_id, merchant_id=self.merchant_id, wait_s=wait_s)
        )


def till(
    request: Request, shop: Annotated[int, Query(ge=1, le=9999, description="The shop")]
) -> Till:
    session = seller(request)
    svc = services(request)
    merchant_id = session.account.merchant_id
    assert merchant_id is not None  # seller() refuses a person without a merchant
    shop_id = svc.tp.catalogue.shop_id(merchant_id, shop)
    own = own_shop_id(session)
    if own is not None and own != shop_id:
        raise NotFound("shop.not_found", N_("No shop {number} of this merchant"), number=shop)
    return Till(svc.tp, svc, session, merchant_id, shop, shop_id, client_ip(request))


At = Annotated[Till, Depends(till)]
ObjectId = Annotated[int, Query(ge=1, le=2**62)]
PathId = Annotated[int, Field(ge=1, le=2**62)]


def json(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status_code, headers=NO_STORE)


def order_answer(view: OrderView, status_code: int = 200) -> JSONResponse:
    return json(order_json(view), status_code)


def shift_answer(view: ShiftView | None) -> dict[str, Any] | None:
    return None if view is None else view.model_dump(mode="json")


# --- bodies ------------------------------------------------------------------------------------

Percent = Annotated[
    str, Field(pattern=r"^(100(\.0{1,2})?|[0-9]{1,2}(\.[0-9]{1,2})?)$", max_length=6)
]
Minor = Annotated[int, Field(strict=True, ge=0, le=MAX_ORDER_MINOR)]
Till_ = Annotated[str, Field(pattern=f"^{TILL.pattern}$")]  # as store/shifts.py checks it
Redeem = Annotated[int, Field(strict=True, ge=0, le=10**9)] | Literal["max"]
CouponCode = Annotated[str, Field(min_length=1, max_length=20)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShiftIn(Body):
    till: Till_
    float_minor: int = Field(strict=True, ge=0, le=MAX_CASH_MINOR)


class CloseIn(Body):
    counted_cash_minor: int = Field(strict=True, ge=0, le=MAX_CASH_MINOR)


class LineBody(Body):
    product_id: PathId | None = None
    barcode: str | None = Field(default=None, min_length=1, max_length=MAX_BARCODE)
    quantity_milli: int = Field(default=1000, strict=True, ge=1, le=MAX_QUANTITY_MILLI)
    unit_price_minor: int | None = Field(default=None, strict=True, ge=0, le=MAX_PRICE_MINOR)
    discount_minor: Minor | None = None
    discount_percent: Percent | None = None
    expected_amount_minor: Minor | None = None


class DiscountBody(Body):
    amount_minor: Minor | None = None
    percent: Percent | None = None


class TenderBody(Body):
    kind: TenderKind
    amount_minor: int | None = Field(default=None, strict=True, ge=1, le=MAX_ORDER_MINOR)
    received_minor: int | None = Field(default=None, strict=True, ge=1, le=MAX_ORDER_MINOR)
    code: str | None = Field(default=None, pattern=r"^[0-9]{10,24}$")
    tid: str | None = Field(default=None, pattern=r"^[0-9A-Za-z]{8}$")

    def tender(self) -> TenderIn:
        return TenderIn(self.kind, self.amount_minor, self.received_minor, self.code, self.tid)


class ApprovalBody(Body):
    login: str = Field(min_length=1, max_length=254)
    password: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, pattern=r"^[0-9]{6}$")

    def approval(self) -> Approval:
        return Approval(self.login.strip(), self.password, self.code)


class OrderIn(Body):
    client_ref: str = Field(min_length=1, max_length=MAX_CLIENT_REF)
    shift_id: PathId
    lines: list[LineBody] = Field(min_length=1, max_length=MAX_LINES)
    counter_number: int | None = Field(default=None, strict=True, ge=1, le=MAX_COUNTER_NUMBER)
    discount: DiscountBody | None = None
    expected_total_minor: Minor | None = None
    note: str | None = Field(default=None, max_length=MAX_NOTE)
    hold: bool = False
    tenders: list[TenderBody] = Field(default=[], max_length=MAX_TENDERS)
    approval: ApprovalBody | None = None
    member_id: PathId | None = None
    redeem_points: Redeem = 0
    coupon_codes: list[CouponCode] = Field(default=[], max_length=MAX_COUPONS)


class QuoteIn(Body):
    """A cart to price for the till (web/cashier/members.py): no order is made."""

    shift_id: PathId
    lines: list[LineBody] = Field(min_length=1, max_length=MAX_LINES)
    discount: DiscountBody | None = None
    member_id: PathId | None = None
    redeem_points: Redeem = 0
    coupon_codes: list[CouponCode] = Field(default=[], max_length=MAX_COUPONS)


class RecallIn(Body):
    shift_id: PathId


class ReturnLineBody(Body):
    line_id: PathId
    quantity_milli: int = Field(strict=True, ge=1, le=MAX_QUANTITY_MILLI)


class ReturnIn(Body):
    client_ref: str = Field(min_length=1, max_length=MAX_CLIENT_REF)
    shift_id: PathId
    lines: list[ReturnLineBody] = Field(min_length=1, max_length=MAX_LINES)
    approval: ApprovalBody
    note: str | None = Field(default=None, max_length=MAX_NOTE)


def new_order(body: OrderIn, account_id: int) -> NewOrder:
    return NewOrder(
        client_ref=body.client_ref,
        shift_id=body.shift_id,
        lines=order_lines(body.lines),
        counter_number=body.counter_number,
        cashier_id=account_id,
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


# --- the till's state, shifts ------------------------------------------------------------


def state(at: Till, till_name: str | None) -> dict[str, Any]:
    """What the page needs to start selling at a till of the shop: the shops the person
    may sell in, the till's open shift (with its X report), the shop's counters (a
    mall's) and the terminals that take its cards."""
    tp, account = at.tp, at.session.account
    merchant = tp.merchants.get(account.mid or "")
    own = own_shop_id(at.session)
    shops = [
        {"number": x.number, "name": x.name}
        for x in merchant.shops
        if x.status is ShopStatus.OPEN and own in (None, x.id)
    ]
    shift = None
    if till_name:
        found = tp.shifts.search(merchant_id=at.merchant_id, shop_number=at.shop_number,
                                 till=till_name, status=None, limit=1)  # fmt: skip
        if found and found[0].status.value == "open":
            shift = tp.shifts.get(found[0].id, merchant_id=at.merchant_id)
    open_tills = [
        {"till": x.till, "shift_id": x.id, "number": x.number, "cashier_id": x.cashier_id}
        for x in tp.shifts.search(
            merchant_id=at.merchant_id, shop_number=at.shop_number, status=None, limit=100
        )
        if x.status.value == "open"
    ]
    counters = [
        {"number": c.number, "name": c.name}
        for c in sorted(
            tp.counters.search(
                merchant_id=at.merchant_id,
                shop_number=at.shop_number,
                active=True,
                limit=MAX_COUNTERS,
            ),
            key=lambda c: c.number,
        )
    ]
    return {
        "account": {"id": account.id, "name": account.name, "login": account.login},
        "merchant": {"id": at.merchant_id, "mid": merchant.mid, "name": merchant.display_name},
        "shops": shops,
        "shop": next((x for x in shops if x["number"] == at.shop_number), None),
        "till": till_name,
        "shift": shift_answer(shift),
        "open_tills": open_tills,
        "counters": counters,
        "terminals": [
            {"tid": x.tid, "model": x.model, "serial_no": x.serial_no}
            for x in tp.orders.card_terminals(at.merchant_id, at.shop_number)
        ],
        "revision": tp.catalogue.revision(at.merchant_id),
    }


@router.get("/state")
def get_state(
    at: At, till_name: Annotated[Till_ | None, Query(alias="till")] = None
) -> JSONResponse:
    return json(state(at, till_name))


@router.post("/shifts", status_code=201)
def open_shift(at: At, body: ShiftIn) -> JSONResponse:
    """Open a shift at the till with the float counted into its drawer, for the person
    signed in."""
    view = at.tp.shifts.open(at.merchant_id, at.shop_number, body.till, body.float_minor,
                             at.account_id)  # fmt: skip
    _audit(at, "cashier open shift", f"shift {view.id}", till=view.till, float=view.float_minor)
    return json(shift_answer(view), 201)


@router.get("/shifts/{shift_id}")
def get_shift(at: At, shift_id: int) -> JSONResponse:
    """The shift and its X report (Z once closed)."""
    view = at.tp.shifts.get(_id(shift_id), merchant_id=at.merchant_id)
    return json(shift_answer(at.shift_here(view)))


@router.get("/shifts/{shift_id}/report")
def shift_report(at: At, shift_id: int) -> Response:
    """The X (or Z) report laid out for the till's printer and screen (HTML)."""
    view = at.shift_here(at.tp.shifts.get(_id(shift_id), merchant_id=at.merchant_id))
    shop = next(x for x in at.tp.merchants.get(at.session.account.mid or "").shops
                if x.number == at.shop_number)  # fmt: skip
    return Response(report_html(view, shop.name, _cashier_name(at, view.cashier_id)),
                    media_type="text/html; charset=utf-8", headers=NO_STORE)  # fmt: skip


@router.post("/shifts/{shift_id}/close")
def close_shift(at: At, shift_id: int, body: CloseIn) -> JSONResponse:
    """Close the shift with the cash counted: the Z report."""
    at.shift_here(at.tp.shifts.get(_id(shift_id), merchant_id=at.merchant_id))
    view = at.tp.shifts.close(_id(shift_id), body.counted_cash_minor,
                              merchant_id=at.merchant_id, closed_by=at.account_id)  # fmt: skip
    report = view.report
    _audit(at, "cashier close shift", f"shift {view.id}", counted=body.counted_cash_minor,
           over_short=report.over_short_minor if report else None)  # fmt: skip
    return json(shift_answer(view))


# --- the catalogue ---------------------------------------------------------------------------


@router.get("/lookup")
def lookup(at: At, code: Annotated[str, Query(min_length=1, max_length=64)]) -> Found:
    """What a scanned code names, priced for the shop (the scale's labels too)."""
    return at.tp.catalogue.lookup(at.merchant_id, at.shop_id, code)


@router.get("/search")
def search(
    at: At,
    q: Annotated[str, Query(max_length=120)],
    limit: Annotated[int, Query(ge=1, le=SEARCH_LIMIT)] = 20,
) -> list[Found]:
    """The search box: barcode, SKU or name prefix, priced for the shop."""
    return at.tp.catalogue.search(at.merchant_id, q, limit, shop_id=at.shop_id)


@router.get("/changes")
def changes(
    at: At,
    since: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=CHANGES_LIMIT)] = 10_000,
) -> Response:
    """The products changed after ``since``, for the till's copy of the catalogue."""
    found = at.tp.catalogue.changes_since(at.merchant_id, at.shop_id, since, limit)
    return Response(found.json(at.merchant_id, at.shop_number), media_type="application/json",
                    headers=NO_STORE)  # fmt: skip


# --- orders ------------------------------------------------------------------------------------


@router.post("/orders", status_code=201)
async def create_order(at: At, body: OrderIn) -> JSONResponse:
    """Ring the cart up at the till's open shift, sold by the person signed in; its
    tenders taken with it (cash in full: paid at once). The same ``client_ref`` again
    answers with the order already made."""
    view = await at.tenders.create(new_order(body, at.account_id), merchant_id=at.merchant_id)
    return order_answer(at.here(view), 201)


@router.get("/orders")
async def list_orders(
    at: At,
    status: Literal["held"] | None = None,
    receipt_no: Annotated[str | None, Query(max_length=32)] = None,
) -> JSONResponse:
    """The shop's held orders (to recall), or the sale a receipt number names."""
    if status is None and not receipt_no:
        raise InvalidInput("cashier.list", N_("Ask for the held orders or a receipt number"))
    found = await asyncio.to_thread(
        at.tp.orders.search, merchant_id=at.merchant_id, shop_number=at.shop_number,
        status=OrderStatus.HELD if status else None, kind=None if status else OrderKind.SALE,
        receipt_no=(receipt_no or "").strip().upper() or None, limit=MAX_HELD,
    )  # fmt: skip
    return json([order_json(x) for x in found])


@router.get("/orders/{order_id}")
async def get_order(
    at: At,
    order_id: int,
    wait_s: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> JSONResponse:
    """The order; with ``wait_s``, one request that answers as soon as no tender is
    pending any more (the terminal took the card, the customer paid the QR code)."""
    return order_answer(await at.order(_id(order_id), wait_s))


@router.post("/orders/{order_id}/tenders")
async def add_tender(at: At, order_id: int, body: TenderBody) -> JSONResponse:
    """Cash, a card at the shop's terminal, the customer's wallet code, or a QR code for
    the customer display."""
    await at.order(_id(order_id))
    view = await at.tenders.tender(_id(order_id), body.tender(), merchant_id=at.merchant_id)
    return order_answer(view)


@router.post("/orders/{order_id}/tenders/{tender_id}/cancel")
async def cancel_tender(at: At, order_id: int, tender_id: int) -> JSONResponse:
    await at.order(_id(order_id))
    view = await at.tenders.cancel_tender(_id(order_id), _id(tender_id),
                                          merchant_id=at.merchant_id)  # fmt: skip
    return order_answer(view)


@router.get("/orders/{order_id}/tenders/{tender_id}/qr.svg")
async def tender_qr(at: At, order_id: int, tender_id: int) -> Response:
    """A pending QR tender's code as an image, for the customer display."""
    view = await at.order(_id(order_id))
    code = next((t.qr_code for t in view.tenders if t.id == tender_id), None)
    if not code:
        raise NotFound("tender.not_found", N_("No tender {id}"), id=tender_id)
    return Response(qr_svg(code), media_type="image/svg+xml", headers=NO_STORE)


@router.post("/orders/{order_id}/hold")
async def hold(at: At, order_id: int) -> JSONResponse:
    await at.order(_id(order_id))
    view = await asyncio.to_thread(at.tp.orders.hold, _id(order_id), merchant_id=at.merchant_id)
    return order_answer(view)


@router.post("/orders/{order_id}/recall")
async def recall(at: At, order_id: int, body: RecallIn) -> JSONResponse:
    await at.order(_id(order_id))
    shift = await asyncio.to_thread(at.tp.shifts.get, body.shift_id, merchant_id=at.merchant_id)
    at.shift_here(shift)
    view = await asyncio.to_thread(at.tp.orders.recall, _id(order_id), body.shift_id,
                                   merchant_id=at.merchant_id)  # fmt: skip
    return order_answer(view)


@router.post("/orders/{order_id}/cancel")
async def cancel(at: At, order_id: int) -> JSONResponse:
    """Give an order up: money taken by card, wallet or QR is refunded, cash goes back."""
    await at.order(_id(order_id))
    view = await at.tenders.cancel(_id(order_id), merchant_id=at.merchant_id)
    _audit(at, "cashier cancel order", f"order {view.id}", status=view.status.value)
    return order_answer(view)


@router.post("/orders/{order_id}/returns", status_code=201)
async def create_return(at: At, order_id: int, body: ReturnIn) -> JSONResponse:
    """Take lines of a paid sale of this shop back, with a manager's approval: the money
    goes back the way it was paid (the services decide), the stock comes back."""
    await at.order(_id(order_id))
    new = NewReturn(
        client_ref=body.client_ref,
        shift_id=body.shift_id,
        lines=tuple(ReturnLineIn(x.line_id, x.quantity_milli) for x in body.lines),
        approval=body.approval.approval(),
        cashier_id=at.account_id,
        note=body.note,
    )
    view = await at.tenders.create_return(_id(order_id), new, merchant_id=at.merchant_id)
    _audit(at, "cashier return", f"order {view.id}", sale=order_id, total=view.total_minor)
    return order_answer(at.here(view), 201)


@router.get("/orders/{order_id}/receipt")
async def receipt(at: At, request: Request, order_id: int) -> JSONResponse:
    """A paid order's receipt laid out for the till's printer (the browser prints it),
    and the e-receipt's link for the customer's phone."""
    await at.order(_id(order_id))
    receipts = OrderReceipts(at.tp.ctx)
    r = await asyncio.to_thread(receipts.receipt, _id(order_id), merchant_id=at.merchant_id)
    base = at.tp.ctx.settings.public_url or str(request.base_url)
    url = receipts.url(r.order.id, base)
    return json({"order_id": r.order.id, "receipt_no": r.order.receipt_no, "url": url,
                 "qr_svg_url": receipts.path(r.order.id) + "/qr.svg",
                 "html": slip_html(r, url)})  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def _id(value: int) -> int:
    """A path's id, within what ids can be (else not found, as no such object)."""
    if not 0 < value < 2**62:
        raise NotFound("cashier.not_found", N_("Not found"))
    return value


def _cashier_name(at: Till, account_id: int) -> str:
    if account_id == at.account_id:
        return at.session.account.name
    return f"#{account_id}"


def _audit(at: Till, action: str, target: str, **detail: object) -> None:
    at.tp.access.audit(
        principal=None, action=action, target=target, status_code=200,
        client_ip=at.address, detail=detail or None,
        actor=console_actor(at.session.account), merchant_id=at.merchant_id,
    )  # fmt: skip
