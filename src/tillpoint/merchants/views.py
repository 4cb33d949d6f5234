"""What services hand back: plain, immutable, JSON-ready copies of the records."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from tillpoint.merchants.models import (
    DocumentKind,
    MerchantAction,
    MerchantKind,
    MerchantStatus,
    PaymentMethod,
    ShopStatus,
)


class View(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)


class ShopView(View):
    id: int
    number: int
    name: str
    address: str
    region_code: str
    status: ShopStatus
    # Where it is registered to be: degrees with six decimals, both or neither.
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    city: str | None = None


class MerchantView(View):
    id: int
    mid: str | None
    kind: MerchantKind
    status: MerchantStatus
    status_reason: str | None
    legal_name: str
    display_name: str
    mcc: str
    region_code: str
    contact_name: str
    contact_phone: str
    contact_email: str | None
    id_document_masked: str | None
    business_licence_no: str | None
    tax_registration_no: str | None
    bank_name: str
    bank_account_name: str
    bank_account_masked: str
    max_terminals: int | None
    created_at: datetime
    approved_at: datetime | None
    shops: list[ShopView]


class MerchantEventView(View):
    from_status: MerchantStatus | None
    to_status: MerchantStatus
    actor: str
    reason: str | None
    at: datetime
    action: MerchantAction = MerchantAction.STATUS
    detail: str | None = None


class ApplicantStepView(View):
    """A step of an application as its applicant reads it (the portal): never a
    reviewer's note or a member of staff's name, and a message only where a reviewer
    wrote it for the applicant (the documents wanted, the reason for a rejection)."""

    at: datetime
    action: MerchantAction
    from_status: MerchantStatus | None
    to_status: MerchantStatus
    detail: str | None  # the kinds of document asked for, or the kind uploaded
    message: str | None
    by_applicant: bool  # a step the applicant took (an upload), not the review


class DocumentView(View):
    """An application document's description (never its content)."""

    id: int
    kind: DocumentKind
    content_type: str
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class FeeRateView(View):
    method: PaymentMethod
    rate_percent: Decimal
    cap_minor: int | None


class FeePlanView(View):
    id: int
    code: str
    name: str
    currency: str
    default_for: MerchantKind | None
    data_fee_minor: int
    data_fee_free_days: int
    rates: list[FeeRateView]


class FeeAssignmentView(View):
    plan_code: str
    effective_from: date
    actor: str
    reason: str | None
    at: datetime


class KindLimitsView(View):
    kind: MerchantKind
    currency: str
    per_txn_limit_minor: int
    daily_limit_minor: int
    max_terminals: int
    updated_by: str
    updated_at: datetime
