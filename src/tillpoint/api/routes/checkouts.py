"""/v1/terminals/{tid}/checkouts and /v1/checkout_events: the cashier link (收银联动).

A shop's till hands an amount to one of the merchant's terminals; the terminal, idle and
signed on, finds it with its next poll (protocol 4.13), takes the card and pays it. The
till follows it here or by webhooks (``checkout.*`` events). A merchant's keys reach
their own terminals only; operations keys reach every merchant's.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from tillpoint.api.deps import ObjectId, Reader, Svc, Taker
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page
from tillpoint.api.schemas import PROBLEMS, Tid
from tillpoint.api.scope import scoped_merchant_id
from tillpoint.core.money import Money
from tillpoint.http.text import Int, Text
from tillpoint.payments.checkouts import (
    CHECKOUT_EVENT_TYPES,
    DEFAULT_EXPIRY,
    EXPIRY_RANGE,
    MAX_REFERENCE_CHARS,
    CheckoutEventView,
    CheckoutView,
)
from tillpoint.payments.models import CheckoutStatus

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
MAX_AMOUNT = 10**11  # far above any merchant's limit per payment, well inside int64
_LOW, _HIGH = (int(d.total_seconds()) for d in EXPIRY_RANGE)


class NewCheckout(BaseModel):
    """An amount for the terminal to take."""

    amount_minor: Int = Field(gt=0, le=MAX_AMOUNT, examples=[1234], description="In fen")
    currency: Text = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    reference: Text = Field(
        min_length=1,
        max_length=MAX_REFERENCE_CHARS,
        examples=["T1-20261206-0042"],
        description="The till's own (its order number), one checkout each: the same "
        "reference again, for the same terminal and amount, gives the same checkout back",
    )
    shop_number: Int | None = Field(
        default=None, ge=1, le=9999, description="The terminal's shop (checked when given)"
    )
    expires_in_s: Int = Field(
        default=int(DEFAULT_EXPIRY.total_seconds()),
        ge=_LOW,
        le=_HIGH,
        description="Seconds the checkout waits for the terminal",
    )


@router.post("/v1/terminals/{tid}/checkouts", status_code=201, tags=["checkouts"])
def create_checkout(
    tid: Tid, body: NewCheckout, caller: Taker, svc: Svc, _key: Key
) -> CheckoutView:
    """Hand an amount to a terminal of the merchant: it waits (pending) until the terminal
    pays it, the till cancels it, or it expires. At most the merchant's limit per payment."""
    return svc.tp.checkouts.create(
        tid,
        Money(body.amount_minor, body.currency),
        body.reference,
        merchant_id=caller.merchant_id,
        shop_number=body.shop_number,
        expires_in=timedelta(seconds=body.expires_in_s),
    )


@router.get("/v1/terminals/{tid}/checkouts", tags=["checkouts"])
def list_checkouts(
    tid: Tid,
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[CheckoutStatus | None, Query(description="Only this status")] = None,
) -> Page[CheckoutView]:
    """A terminal's checkouts, newest first."""
    items = svc.tp.checkouts.search(
        tid,
        merchant_id=caller.merchant_id,
        status=status,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda c: c.id)


@router.get("/v1/terminals/{tid}/checkouts/{checkout_id}", tags=["checkouts"])
def get_checkout(tid: Tid, checkout_id: ObjectId, caller: Reader, svc: Svc) -> CheckoutView:
    return svc.tp.checkouts.get(tid, checkout_id, merchant_id=caller.merchant_id)


@router.post("/v1/terminals/{tid}/checkouts/{checkout_id}/cancel", tags=["checkouts"])
def cancel_checkout(
    tid: Tid, checkout_id: ObjectId, caller: Taker, svc: Svc, _key: Key
) -> CheckoutView:
    """Take back a checkout that still waits (409 once a sale naming it is under way,
    or it is paid, failed, canceled or expired)."""
    return svc.tp.checkouts.cancel(tid, checkout_id, merchant_id=caller.merchant_id)


@router.get("/v1/checkout_events", tags=["checkouts"])
def list_checkout_events(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    type_: Annotated[
        Text | None,
        Query(
            alias="type", max_length=40, description="One type: " + ", ".join(CHECKOUT_EVENT_TYPES)
        ),
    ] = None,
    mid: Annotated[
        Text | None, Query(max_length=20, description="Operations: one merchant's (its MID)")
    ] = None,
) -> Page[CheckoutEventView]:
    """What the tills were told of their checkouts, newest first: the events webhooks
    send (``checkout.paid``, ``checkout.failed``, ``checkout.canceled``,
    ``checkout.expired``). ``data`` is each checkout as it is now."""
    items = svc.tp.checkouts.list_events(
        merchant_id=scoped_merchant_id(svc, caller, mid),
        type=type_,
        before_id=decode_cursor(cursor),
        limit=limit + 1,
    )
    return page(items, limit, lambda e: e.id)


@router.get("/v1/checkout_events/{event_id}", tags=["checkouts"])
def get_checkout_event(event_id: ObjectId, caller: Reader, svc: Svc) -> CheckoutEventView:
    return svc.tp.checkouts.get_event(event_id, merchant_id=caller.merchant_id)
