"""An offline order as a body carries it, shared by the REST API's sync
(``POST /v1/orders/sync``) and the till page's (``/cashier/api/orders/sync``): one shape,
one set of bounds, turned into the sync service's ``OfflineSale`` in one place."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, Field

from tillpoint.http.text import Int, Note, Text
from tillpoint.store.counters import MAX_COUNTER_NUMBER
from tillpoint.store.models import TenderKind
from tillpoint.store.orders import (
    MAX_BARCODE,
    MAX_CLIENT_REF,
    MAX_LINES,
    MAX_NOTE,
    MAX_ORDER_MINOR,
    MAX_PRICE_MINOR,
    MAX_QUANTITY_MILLI,
    MAX_TENDERS,
)
from tillpoint.store.shifts import TILL
from tillpoint.store.sync import MAX_NAME, MAX_UNIT, PAGE_REF, CashPaid, LineSold, OfflineSale

SYNC_BODY_BYTES = 4 * 1024 * 1024  # 500 orders of a few lines fit in a tenth of it
Id = Annotated[int, Field(strict=True, ge=1, le=2**62)]
AccountId = Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]
# A till's name and a page's id, as the services check them (store/shifts.py, store/sync.py).
TillName = Annotated[Text, Field(pattern=f"^{TILL.pattern}$", examples=["T1"])]
PageRef = Annotated[
    Text,
    Field(
        pattern=f"^{PAGE_REF.pattern}$",
        description="The page's own id (a UUID it makes once and keeps)",
        examples=["3f1c9a52-8d1e-4e0b-9c36-0d5f0b1e7a21"],
    ),
]
Minor = Annotated[int, Field(strict=True, ge=0, le=MAX_ORDER_MINOR, description="In fen")]


class SyncLineIn(BaseModel):
    product_id: Id = Field(description="The product's id in the till's copy of the catalogue")
    barcode: Text | None = Field(default=None, min_length=1, max_length=MAX_BARCODE)
    name: Text = Field(min_length=1, max_length=MAX_NAME, description="As printed")
    unit: Text = Field(min_length=1, max_length=MAX_UNIT, description="As printed")
    quantity_milli: Int = Field(ge=1, le=MAX_QUANTITY_MILLI, description="Thousandths")
    list_price_minor: Int = Field(
        ge=0, le=MAX_PRICE_MINOR, description="The price the till's copy listed"
    )
    unit_price_minor: Int = Field(ge=0, le=MAX_PRICE_MINOR, description="The price sold at")
    discount_minor: Minor = 0
    amount_minor: Minor = Field(
        description="round_half_up(unit price x quantity_milli / 1000) - discount"
    )


class SyncTenderIn(BaseModel):
    kind: TenderKind = Field(default=TenderKind.CASH, description="Offline: cash only")
    amount_minor: Int = Field(ge=1, le=MAX_ORDER_MINOR, description="What it paid")
    received_minor: Int = Field(ge=1, le=MAX_ORDER_MINOR, description="Handed over")
    change_minor: Minor = 0


class OfflineOrderIn(BaseModel):
    client_ref: Text = Field(min_length=1, max_length=MAX_CLIENT_REF, description="A UUID")
    receipt_no: Text = Field(
        min_length=1,
        max_length=40,
        description="In the page's own form (1-T1-P2.7), or from one of its blocks",
    )
    made_at: AwareDatetime = Field(description="The till's clock, with its offset")
    shift_id: Id = Field(description="The shift it was sold under")
    cashier_id: AccountId | None = Field(default=None, description="Default: the shift's")
    counter_number: Int | None = Field(default=None, ge=1, le=MAX_COUNTER_NUMBER)
    lines: list[SyncLineIn] = Field(min_length=1, max_length=MAX_LINES)
    subtotal_minor: Minor = Field(description="The lines' amounts")
    discount_minor: Minor = Field(default=0, description="The order's own discount")
    total_minor: Minor = Field(description="Subtotal less the order's discount")
    tenders: list[SyncTenderIn] = Field(default=[], max_length=MAX_TENDERS)
    note: Note | None = Field(default=None, max_length=MAX_NOTE)
    member_id: Id | None = Field(
        default=None, description="A member's sale (the till's snapshot): earns their points"
    )
    redeem_points: Annotated[int, Field(strict=True, ge=0, le=10**9)] = Field(
        default=0, description="Not offline: any but 0 is refused (sync.member_perks)"
    )
    coupon_codes: list[Annotated[Text, Field(min_length=1, max_length=20)]] = Field(
        default=[], max_length=3, description="Not offline: any is refused (sync.member_perks)"
    )

    def sale(self) -> OfflineSale:
        """The order as the sync service takes it."""
        fields = self.model_dump()
        lines = tuple(LineSold(**x) for x in fields.pop("lines"))
        tenders = tuple(CashPaid(**t) for t in fields.pop("tenders"))
        fields["coupon_codes"] = tuple(fields["coupon_codes"])
        return OfflineSale(lines=lines, tenders=tenders, **fields)
