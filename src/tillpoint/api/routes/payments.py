"""/v1/payments and /v1/refunds: wallet payments both ways, every payment read, refunds.

Card payments only ever come from terminals (ISO 8583): they can be read and refunded
here, never created, and no card number ever crosses this API.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Annotated

import segno
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, model_validator

from tillpoint.access.service import Principal
from tillpoint.api.deps import ObjectId, Reader, Svc, Taker
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page
from tillpoint.api.problems import PROBLEM_RESPONSES, ApiProblem
from tillpoint.api.scope import own_or_named, scoped_merchant_id
from tillpoint.core.errors import NotFound
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.http.text import Int, Text
from tillpoint.merchants.services import find_merchant
from tillpoint.payments.models import Channel, PaymentKind, PaymentStatus, QrFlow
from tillpoint.payments.online import QR_EXPIRY_DEFAULT
from tillpoint.payments.views import PaymentView

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEM_RESPONSES)
MAX_AMOUNT = 10**11  # 1,000,000,000.00: far above any merchant limit, well inside int64


class NewPayment(BaseModel):
    """A wallet payment. ``customer_presented`` (被扫): send the customer's payment
    ``code`` as scanned; the answer is final. ``merchant_presented`` (主扫): no code; the
    payment is pending with a ``qr_code`` for the customer to scan."""

    amount_minor: Int = Field(gt=0, le=MAX_AMOUNT, examples=[1234], description="In fen")
    currency: Text = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    flow: QrFlow = QrFlow.CUSTOMER_PRESENTED
    code: Text | None = Field(
        default=None,
        pattern=r"^[0-9]{18,19}$",
        examples=["284000000000000001"],
        description="The customer's Alipay / WeChat Pay / UnionPay QR payment code",
    )
    mid: Text | None = Field(
        default=None, description="The merchant (operations keys only; others use their own)"
    )
    shop_number: Int | None = Field(default=None, ge=1, le=9999)
    tid: Text | None = Field(
        default=None, pattern=r"^[0-9A-Za-z]{8}$", description="A smart-POS terminal"
    )
    reference: Text | None = Field(default=None, min_length=1, max_length=64)
    expires_in_s: Int | None = Field(
        default=None,
        ge=60,
        le=7200,
        description="Merchant-presented: seconds the QR code lives (default 300)",
    )

    @model_validator(mode="after")
    def _flow_fields(self) -> NewPayment:
        if self.flow is QrFlow.CUSTOMER_PRESENTED and self.code is None:
            raise ValueError("a customer-presented payment needs the scanned code")
        if self.flow is QrFlow.MERCHANT_PRESENTED and self.code is not None:
            raise ValueError("a merchant-presented payment has no code")
        if self.flow is QrFlow.CUSTOMER_PRESENTED and self.expires_in_s is not None:
            raise ValueError("expires_in_s is for merchant-presented payments")
        return self


class NewRefund(BaseModel):
    payment_id: Int = Field(ge=1, le=2**62)
    amount_minor: Int | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, description="In fen; all that is left if absent"
    )
    reference: Text | None = Field(default=None, min_length=1, max_length=64)


def _merchant_of(svc: Svc, caller: Principal, mid: str | None) -> int:
    """The merchant a new payment is for: the caller's own, or (operations) the named."""
    ref = own_or_named(caller, mid, "payment.mid_required")
    if caller.merchant_id is not None:
        return caller.merchant_id
    with svc.tp.ctx.db.read() as s:
        return find_merchant(s, ref).id


@router.post("/v1/payments", status_code=201, tags=["payments"])
async def create_payment(body: NewPayment, caller: Taker, svc: Svc, _key: Key) -> PaymentView:
    """Take a wallet payment (customer- or merchant-presented QR code)."""
    merchant_id = _merchant_of(svc, caller, body.mid)
    amount = Money(body.amount_minor, body.currency)
    if body.flow is QrFlow.CUSTOMER_PRESENTED:
        assert body.code is not None  # checked by the model
        made = await svc.online.pay_with_code(
            merchant_id,
            amount,
            body.code,
            shop_number=body.shop_number,
            tid=body.tid,
            reference=body.reference,
        )
    else:
        made = await svc.online.create_qr(
            merchant_id,
            amount,
            shop_number=body.shop_number,
            tid=body.tid,
            reference=body.reference,
            expires_in=timedelta(seconds=body.expires_in_s)
            if body.expires_in_s
            else QR_EXPIRY_DEFAULT,
        )
    return made.payment


@router.get("/v1/payments", tags=["payments"])
def list_payments(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[PaymentStatus | None, Query(description="The host's status")] = None,
    kind: PaymentKind | None = None,
    channel: Channel | None = None,
    business_date: date | None = None,
    mid: Annotated[Text | None, Query(max_length=15)] = None,
) -> Page[PaymentView]:
    """Payments (refunds included), newest first."""
    merchant_id = scoped_merchant_id(svc, caller, mid)
    items = svc.online.search(
        merchant_id=merchant_id,
        status=status,
        kind=kind,
        channel=channel,
        business_date=business_date,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda p: p.id)


@router.get("/v1/payments/{payment_id}", tags=["payments"])
def get_payment(payment_id: ObjectId, caller: Reader, svc: Svc) -> PaymentView:
    return svc.online.get(payment_id, merchant_id=caller.merchant_id)


@router.post("/v1/payments/{payment_id}/cancel", tags=["payments"])
async def cancel_payment(payment_id: ObjectId, caller: Taker, svc: Svc, _key: Key) -> PaymentView:
    """Close a pending merchant-presented QR payment before the customer pays."""
    return await svc.online.cancel(payment_id, merchant_id=caller.merchant_id)


def _pending_qr(svc: Svc, caller: Principal, payment_id: int) -> segno.QRCode:
    view = svc.online.get(payment_id, merchant_id=caller.merchant_id)
    if view.qr_code is None:
        raise ApiProblem(
            404, "payment.no_qr_code", _("This payment has no QR code to show (not pending)")
        )
    return segno.make_qr(view.qr_code, error="m")


@router.get(
    "/v1/payments/{payment_id}/qr.svg",
    tags=["payments"],
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The QR code"}},
)
def payment_qr_svg(payment_id: ObjectId, caller: Reader, svc: Svc) -> Response:
    """The QR code of a pending merchant-presented payment, as SVG."""
    out = io.BytesIO()  # a document of its own: with its namespace, unlike svg_inline
    _pending_qr(svc, caller, payment_id).save(out, kind="svg", scale=8, border=2)
    return Response(out.getvalue(), media_type="image/svg+xml")


@router.get(
    "/v1/payments/{payment_id}/qr.png",
    tags=["payments"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The QR code"}},
)
def payment_qr_png(payment_id: ObjectId, caller: Reader, svc: Svc) -> Response:
    """The same QR code as PNG (for a customer display or a printer)."""
    out = io.BytesIO()
    _pending_qr(svc, caller, payment_id).save(out, kind="png", scale=8, border=2)
    return Response(out.getvalue(), media_type="image/png")


# --- refunds ------------------------------------------------------------------------------


@router.post("/v1/refunds", status_code=201, tags=["refunds"])
async def create_refund(body: NewRefund, caller: Taker, svc: Svc, _key: Key) -> PaymentView:
    """Give money back on a captured payment (wallet or card), partly or in full, as
    many times as needed up to what was captured."""
    original = svc.online.get(body.payment_id, merchant_id=caller.merchant_id)
    amount = Money(body.amount_minor, original.currency) if body.amount_minor else None
    return await svc.online.refund(
        body.payment_id, amount, merchant_id=caller.merchant_id, reference=body.reference
    )


@router.get("/v1/refunds", tags=["refunds"])
def list_refunds(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    payment_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Page[PaymentView]:
    """Refunds, newest first; ``payment_id`` keeps one payment's."""
    items = svc.online.search(
        merchant_id=caller.merchant_id,
        refunds=True,
        original_id=payment_id,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda p: p.id)


@router.get("/v1/refunds/{refund_id}", tags=["refunds"])
def get_refund(refund_id: ObjectId, caller: Reader, svc: Svc) -> PaymentView:
    view = svc.online.get(refund_id, merchant_id=caller.merchant_id)
    if view.kind is not PaymentKind.REFUND:  # a payment's id: as for no payment at all
        raise NotFound("payment.not_found", N_("No payment {id}"), id=refund_id)
    return view
