"""Request bodies and response shapes of the resource routes (merchants, shops,
terminals, operators, fee plans, settlements, API keys, the audit log).

Bodies only bound and type what arrives; the services check the rest and answer with
their own error codes. Amounts are integer minor units (fen) and rates decimal strings:
a JSON number with a fraction is never accepted for either.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from tillpoint.access.models import Role
from tillpoint.access.service import CreatedKey
from tillpoint.api.problems import MEDIA_TYPE, PROBLEM_RESPONSES, TITLES, Problem
from tillpoint.core.money import Money
from tillpoint.http.text import Int, Note, Text
from tillpoint.iso8583.mac import MacMethod
from tillpoint.merchants.fees import Rate
from tillpoint.merchants.models import DocumentKind, MerchantKind, PaymentMethod
from tillpoint.merchants.services import Application
from tillpoint.terminals.models import Capability
from tillpoint.terminals.services import DEFAULT_CAPABILITIES
from tillpoint.terminals.views import Bound, Provisioned

# --- text and numbers as they may arrive: tillpoint/http/text.py (the pages share them) ---

# The problems these routes answer with: the API's usual ones, a malformed cursor (400)
# and a role that may not do it (403).
PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    **{
        status: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": TITLES[status]}
        for status in (400, 403)
    },
}

MerchantRef = Annotated[
    Text, Path(max_length=20, description="MID (15 digits) or application number")
]
Tid = Annotated[Text, Path(max_length=8, description="Terminal ID (8 characters)")]
OperatorCode = Annotated[Text, Path(max_length=3, description="00 supervisor, 001-999 cashiers")]
MAX_MINOR = 10**11  # 1,000,000,000.00: above any fee or cap, well inside int64
Reason = Annotated[
    Note, Field(max_length=2000, description="Why: kept in the history", examples=["Fraud review"])
]


# --- merchants -----------------------------------------------------------------------


class ApplicationIn(BaseModel):
    """A merchant's application, submitted by operations on its behalf. Personal
    merchants give ``id_number``; business merchants ``business_licence_no`` (and
    ``tax_registration_no`` if different). The bank account and identity numbers are
    stored encrypted and never returned in clear: merchants show them masked."""

    kind: MerchantKind = Field(examples=["personal"])
    legal_name: Text = Field(max_length=200, examples=["李四 Li Si"])
    display_name: Text | None = Field(
        default=None, max_length=200, description="Name on receipts (default: legal name)"
    )
    mcc: Text = Field(max_length=8, description="Merchant category code", examples=["5812"])
    region_code: Text = Field(max_length=8, description="UnionPay region", examples=["3100"])
    contact_name: Text = Field(max_length=200, examples=["李四 Li Si"])
    contact_phone: Text = Field(max_length=40, examples=["13912345678"])
    contact_email: Text | None = Field(default=None, max_length=254)
    bank_name: Text = Field(max_length=200, examples=["工商银行 ICBC"])
    bank_account_name: Text = Field(
        max_length=200,
        description="Account holder: a personal merchant's own legal name",
        examples=["李四 Li Si"],
    )
    bank_account_no: Text = Field(
        max_length=40,
        description="Settlement account number: stored encrypted, shown masked only",
        examples=["6212340000000000012"],
    )
    id_number: Text | None = Field(
        default=None,
        max_length=40,
        description="Personal: resident identity number; stored encrypted, shown masked only",
        examples=["310101199001010012"],
    )
    business_licence_no: Text | None = Field(
        default=None,
        max_length=40,
        description="Business: unified social credit code (18 characters)",
        examples=["91310104MA1FL0001Q"],
    )
    tax_registration_no: Text | None = Field(default=None, max_length=40)
    shop_name: Text | None = Field(
        default=None, max_length=200, description="First shop (default: display name)"
    )
    shop_address: Text = Field(max_length=400, examples=["上海市黄浦区南京东路1号"])

    def application(self) -> Application:
        return Application(**self.model_dump())


class ApproveIn(BaseModel):
    mid: Text | None = Field(
        default=None,
        max_length=20,
        description="A MID the merchant brings along; by default the next free one",
    )
    reason: Note | None = Field(default=None, max_length=2000, description="A note for history")
    fee_plan: Text | None = Field(
        default=None, max_length=32, description="The fee plan's code; by default the kind's"
    )
    max_terminals: Int | None = Field(
        default=None, ge=0, le=10_000, description="The merchant's own terminal limit"
    )
    shop_name: Text | None = Field(
        default=None, max_length=100, description="The first shop's name, as confirmed"
    )
    shop_address: Text | None = Field(
        default=None, max_length=300, description="The first shop's address, as confirmed"
    )


class DocumentsAskedIn(BaseModel):
    kinds: list[DocumentKind] = Field(
        min_length=1, max_length=8, description="The kinds of document wanted"
    )
    note: Reason


class ReasonIn(BaseModel):
    reason: Reason


class NoteIn(BaseModel):
    note: Note | None = Field(
        default=None, max_length=2000, description="Carrier, tracking number...", examples=["SF123"]
    )


Degrees = Annotated[
    Text,
    Field(
        max_length=12,
        pattern=r"^[+-]?[0-9]{1,3}(\.[0-9]{1,6})?$",
        description="Degrees as a decimal string (not a JSON number), at most 6 decimals",
    ),
]


class ShopIn(BaseModel):
    name: Text = Field(max_length=200, examples=["李记面馆 徐汇店"])
    address: Text = Field(max_length=400, examples=["上海市徐汇区漕溪北路88号"])
    region_code: Text | None = Field(
        default=None, max_length=8, description="Default: the merchant's region"
    )
    latitude: Degrees | None = Field(
        default=None, description="Where the shop is: -90 to 90 (with longitude)",
        examples=["31.2304"],
    )  # fmt: skip
    longitude: Degrees | None = Field(
        default=None, description="-180 to 180 (with latitude)", examples=["121.4737"]
    )
    city: Text | None = Field(default=None, max_length=50, examples=["上海 Shanghai"])


class ShopUpdateIn(BaseModel):
    """Where a shop is registered to be. Only the fields present change: latitude and
    longitude together (both null: no position), city (null: none)."""

    latitude: Degrees | None = Field(default=None, examples=["31.2304"])
    longitude: Degrees | None = Field(default=None, examples=["121.4737"])
    city: Text | None = Field(default=None, max_length=50, examples=["上海 Shanghai"])


# --- terminals and operators ---------------------------------------------------------


class TerminalIn(BaseModel):
    serial_no: Text = Field(max_length=40, examples=["SN-P2-000123"])
    model: Text = Field(max_length=60, examples=["Sunmi P2"])
    capabilities: list[Capability] = Field(
        default=list(DEFAULT_CAPABILITIES), max_length=len(Capability)
    )
    mac_method: MacMethod = MacMethod.ECB
    tid: Text | None = Field(
        default=None, max_length=8, description="Use this TID instead of allocating one"
    )


class ProvisionedTerminal(Provisioned):
    """A terminal taken into stock with a new master key. ``tmk_hex`` is that key in
    clear, in this response only: inject it into the device now. Tillpoint keeps it
    only encrypted and never returns it again."""

    tmk_hex: str = Field(
        description="The clear terminal master key (TMK), 32 hex digits: shown once, never again"
    )
    tmk_kcv: str = Field(description="The TMK's check value, to verify the injection")


class BindIn(BaseModel):
    mid: Text = Field(
        max_length=20, description="An approved merchant", examples=["898310058120001"]
    )
    shop_number: Int | None = Field(
        default=None, ge=1, le=9999, description="Needed when the merchant has several open shops"
    )


class BoundTerminal(Bound):
    """A terminal bound to one merchant and shop (一机一户). The supervisor (00) has a
    new random password, in this response only: give it to the merchant."""

    supervisor_password: str = Field(
        description="The supervisor's (00) 6-digit password: shown once, never again"
    )


class OperatorIn(BaseModel):
    """A cashier of a terminal. The role follows from the code: 00 is the supervisor
    (made when the terminal is bound), 001-999 are cashiers. The password is stored
    hashed and never returned."""

    code: Text = Field(max_length=3, examples=["001"])
    password: Text = Field(max_length=6, description="A cashier's is 4 digits", examples=["1234"])
    name: Text | None = Field(default=None, max_length=100, examples=["王芳 Wang Fang"])


class PasswordIn(BaseModel):
    password: Text = Field(
        max_length=6,
        description="4 digits (6 for the supervisor); also unlocks a locked operator",
        examples=["4321"],
    )


# --- fee plans -----------------------------------------------------------------------


class RateIn(BaseModel):
    rate_percent: Text = Field(
        pattern=r"^[0-9]{1,3}(\.[0-9]{1,10})?$",
        description="A percentage as a decimal string (not a JSON number): 0-10, "
        "at most 4 decimal places",
        examples=["0.38"],
    )
    cap_minor: Int | None = Field(
        default=None,
        strict=True,
        le=MAX_MINOR,
        description="The most one transaction pays, in fen; none: uncapped",
        examples=[2000],
    )

    def rate(self, currency: str) -> Rate:
        cap = None if self.cap_minor is None else Money(self.cap_minor, currency)
        return Rate(Decimal(self.rate_percent), cap)


class FeePlanIn(BaseModel):
    """A new fee plan. Plans never change: create a new one for new prices and move
    merchants to it from a date on."""

    code: Text = Field(
        max_length=32, description="2-32 capitals, digits, - or _", examples=["BIZ-2027"]
    )
    name: Text = Field(max_length=200, examples=["Business 2027"])
    currency: Text = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    rates: dict[PaymentMethod, RateIn] = Field(
        description="A rate for every payment method",
        examples=[
            {
                "debit": {"rate_percent": "0.50", "cap_minor": 2000},
                "credit": {"rate_percent": "0.60"},
                "contactless": {"rate_percent": "0.38"},
                "foreign": {"rate_percent": "1.50"},
                "alipay": {"rate_percent": "0.38"},
                "wechat": {"rate_percent": "0.38"},
                "unionpay_qr": {"rate_percent": "0.38"},
            }
        ],
    )
    data_fee_minor: Int = Field(
        default=3600, strict=True, le=MAX_MINOR, description="Annual terminal data fee, in fen"
    )
    data_fee_free_days: Int = Field(
        default=30, strict=True, description="Days after activation free of the data fee"
    )
    default_for: MerchantKind | None = Field(
        default=None, description="Make it the default plan of this kind of merchant"
    )

    def rates_by_method(self) -> dict[PaymentMethod, Rate]:
        return {method: r.rate(self.currency) for method, r in self.rates.items()}


class AssignPlanIn(BaseModel):
    plan_code: Text = Field(max_length=32, examples=["BIZ-2027"])
    effective_from: date | None = Field(
        default=None, description="First day on the plan: today (the default) or later"
    )
    reason: Reason


# --- API keys and the audit log ------------------------------------------------------


class ApiKeyIn(BaseModel):
    """A new API key. Operations keys (ops_admin, reviewer) name no merchant; merchant
    keys (merchant_owner, merchant_staff) name one. A merchant owner makes keys for
    its own merchant only (``mid`` may be left out)."""

    role: Role = Field(examples=["merchant_staff"])
    name: Text = Field(max_length=200, examples=["Front desk tablet"])
    mid: Text | None = Field(default=None, max_length=20, examples=["898310058120001"])


class NewApiKey(CreatedKey):
    """A new API key. ``secret`` is the key itself, in this response only: Tillpoint
    keeps only its hash and never returns it again."""

    secret: str = Field(description="Authorization: Bearer <secret>. Shown once, never again")


class AuditEntry(BaseModel):
    """One change asked for over the API."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str = Field(description="The key that asked (api:<prefix>), or anonymous")
    api_key_id: int | None
    merchant_id: int | None = Field(
        description="The asking key's merchant (its application number); none for operations"
    )
    action: str = Field(description="Method and route, e.g. POST /v1/merchants/{ref}/suspend")
    target: str | None = Field(description="The path asked for")
    status_code: int = Field(description="How it ended")
    client_ip: str | None
    detail: dict[str, Any] | None
