"""A receipt and a signature as services hand them out: no card data but the mask."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tillpoint.merchants.models import PaymentMethod
from tillpoint.networks.connector import CardOrg
from tillpoint.payments.models import PaymentKind, PaymentStatus

CARD_ORGS = frozenset(o.value for o in CardOrg)  # the wallets (ALP, WXP, UPQ) are not cards


class ReceiptView(BaseModel):
    """What a payment's receipt shows."""

    model_config = ConfigDict(frozen=True)

    payment_id: int
    kind: PaymentKind
    status: PaymentStatus
    merchant_name: str
    mid: str
    shop_number: int
    shop_name: str
    shop_address: str
    tid: str | None
    batch_no: str | None
    voucher_no: str | None = Field(description="The terminal's trace number (STAN)")
    method: PaymentMethod | None
    card_org: str | None = Field(description="CUP, VIS, MCC, JCB, AMX; ALP, WXP, UPQ")
    pan_masked: str | None = Field(description="First six and last four digits only")
    amount_minor: int
    currency: str
    refunded_minor: int
    rrn: str
    auth_code: str | None
    original_rrn: str | None = Field(description="For a refund: the payment's RRN")
    reference: str | None = Field(description="The merchant's own order number")
    at: datetime
    signed: bool = Field(description="The cardholder's signature is attached")
    needs_signature: bool = Field(
        default=True,
        description="A card payment is signed, except a contactless sale up to 1,000.00 "
        "(免密免签); a wallet payment never is",
    )

    @property
    def is_card(self) -> bool:
        return self.card_org in CARD_ORGS


class SignatureView(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: int
    content_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
