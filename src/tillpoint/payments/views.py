"""A payment as the API, webhooks and live streams show it: no card data but the mask."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tillpoint.merchants.models import Merchant, PaymentMethod, Shop
from tillpoint.payments.models import (
    Channel,
    Payment,
    PaymentKind,
    PaymentSignature,
    PaymentStatus,
    QrFlow,
)
from tillpoint.terminals.models import Terminal, TerminalBatch

# The API's status of a payment: fewer words than the host's, the ones integrators know.
_API_STATUS = {
    PaymentStatus.PENDING: "pending",
    PaymentStatus.APPROVED: "succeeded",
    PaymentStatus.PARTLY_REFUNDED: "succeeded",
    PaymentStatus.REFUNDED: "succeeded",
    PaymentStatus.DECLINED: "failed",
    PaymentStatus.TIMED_OUT: "failed",
    PaymentStatus.EXPIRED: "expired",
    PaymentStatus.CANCELED: "canceled",
    PaymentStatus.VOIDED: "voided",
    PaymentStatus.REVERSED: "reversed",
    PaymentStatus.COMPLETED: "captured",
}


def api_status(kind: PaymentKind, status: PaymentStatus) -> str:
    if kind is PaymentKind.PREAUTH and status is PaymentStatus.APPROVED:
        return "authorized"
    return _API_STATUS[status]


class SignatureLink(BaseModel):
    """The cardholder's signature attached to a payment (by its terminal, or over the API)."""

    model_config = ConfigDict(frozen=True)

    captured_at: datetime = Field(description="When the host kept it")
    url: str = Field(
        description="The image (PNG), a path under the API: a key that may read the payment "
        "may read it"
    )


class PaymentView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    object: str = Field(description="payment, or refund for money given back")
    kind: PaymentKind
    status: str = Field(
        description="pending, succeeded, failed, expired, canceled, voided, reversed, "
        "authorized (a pre-authorisation), captured (a completed pre-authorisation)"
    )
    host_status: PaymentStatus = Field(description="The host's own, finer status")
    amount_minor: int
    currency: str
    amount_refunded_minor: int
    fee_minor: int
    method: PaymentMethod | None
    card_org: str | None = Field(description="CUP, VIS, MCC, JCB, AMX; ALP, WXP, UPQ")
    pan_masked: str | None = Field(description="First six and last four digits only")
    response_code: str
    rrn: str
    auth_code: str | None
    channel: Channel
    qr_flow: QrFlow | None
    reference: str | None = Field(description="The merchant's own order number")
    mid: str
    shop_number: int | None
    tid: str | None
    original_id: int | None = Field(description="For a refund or completion: the payment")
    business_date: date
    expires_at: datetime | None = Field(description="A pending QR code's deadline")
    qr_code: str | None = Field(
        description="Merchant-presented: what the customer scans (a link), while pending"
    )
    created_at: datetime
    updated_at: datetime
    signature: SignatureLink | None = Field(
        default=None, description="The cardholder's signature (电签), once one is attached"
    )


def payment_views(s: Session, payments: Iterable[Payment]) -> list[PaymentView]:
    """Views of payments, with their MID, shop number and TID looked up in one go."""
    rows = list(payments)
    merchants = {p.merchant_id for p in rows}
    terminals = {p.terminal_id for p in rows if p.terminal_id is not None}
    mids = dict(
        s.execute(select(Merchant.id, Merchant.mid).where(Merchant.id.in_(merchants))).all()
    )
    shops = dict(
        s.execute(select(Shop.id, Shop.number).where(Shop.merchant_id.in_(merchants))).all()
    )
    tids = (
        dict(s.execute(select(Terminal.id, Terminal.tid).where(Terminal.id.in_(terminals))).all())
        if terminals
        else {}
    )
    ids = [p.id for p in rows]
    signed = (
        dict(
            s.execute(
                select(PaymentSignature.payment_id, PaymentSignature.created_at).where(
                    PaymentSignature.payment_id.in_(ids)
                )
            ).all()
        )
        if ids
        else {}
    )
    return [
        PaymentView(
            id=p.id,
            object="refund" if p.kind is PaymentKind.REFUND else "payment",
            kind=p.kind,
            status=api_status(p.kind, p.status),
            host_status=p.status,
            amount_minor=p.amount_minor,
            currency=p.currency,
            amount_refunded_minor=p.refunded_minor,
            fee_minor=p.fee_minor,
            method=p.method,
            card_org=p.card_org,
            pan_masked=p.pan_masked,
            response_code=p.response_code,
            rrn=p.rrn,
            auth_code=p.auth_code,
            channel=p.channel,
            qr_flow=p.qr_flow,
            reference=p.reference,
            mid=mids.get(p.merchant_id) or "",
            shop_number=shops.get(p.shop_id),
            tid=tids.get(p.terminal_id) if p.terminal_id is not None else None,
            original_id=p.original_id,
            business_date=p.business_date,
            expires_at=p.expires_at,
            qr_code=p.qr_code if p.status is PaymentStatus.PENDING else None,
            created_at=p.created_at,
            updated_at=p.updated_at,
            signature=SignatureLink(captured_at=signed[p.id], url=f"/v1/payments/{p.id}/signature")
            if p.id in signed
            else None,
        )
        for p in rows
    ]


def payment_view(s: Session, payment: Payment) -> PaymentView:
    return payment_views(s, [payment])[0]


def last_payments(s: Session, terminal_ids: list[int]) -> dict[int, datetime]:
    """When each terminal last took a payment: the newest payment of its latest batch
    that holds any. The batch narrows it to one index range of payments (terminal,
    batch), so this costs a page of terminals a few reads and the payments themselves
    nothing. Payments over the REST API are in no batch and are not counted."""
    if not terminal_ids:
        return {}
    latest = (
        select(TerminalBatch.terminal_id, func.max(TerminalBatch.id).label("batch_id"))
        .where(TerminalBatch.terminal_id.in_(terminal_ids), TerminalBatch.txn_count > 0)
        .group_by(TerminalBatch.terminal_id)
        .subquery()
    )
    rows = s.execute(
        select(latest.c.terminal_id, func.max(Payment.created_at))
        .join(
            Payment,
            (Payment.terminal_id == latest.c.terminal_id) & (Payment.batch_id == latest.c.batch_id),
        )
        .group_by(latest.c.terminal_id)
    ).all()
    return {terminal_id: at for terminal_id, at in rows if at is not None}
