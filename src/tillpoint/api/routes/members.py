"""/v1/members, /v1/coupons, /v1/coupon-templates, /v1/loyalty and /v1/member-prices: a
merchant's members, their points and coupons, and its loyalty programme
(docs/members.md).

A member's data is their merchant's alone: only the merchant's own keys (owner, staff)
reach these routes; the acquirer's keys are refused (403), and another merchant's
member is answered 404 as one that does not exist. The till (a staff key) signs members
up, finds them by mobile number, shows their points and coupons, and names them on its
orders (``POST /v1/orders`` with ``member_id``, ``redeem_points``, ``coupon_codes``);
the owner runs the programme, issues coupons, adjusts points, exports and erases.

The mobile number travels only in request bodies (never in a URL, so never in an
access log or the audit log's target): the till looks a member up with
``POST /v1/members/lookup``, which changes nothing but a birthday coupon and is not
kept under an idempotency key.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from tillpoint.access.models import Role
from tillpoint.access.service import Principal
from tillpoint.api.deps import ApiRoute, ObjectId, Svc, allow
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page, whole
from tillpoint.api.schemas import PROBLEMS
from tillpoint.api.scope import scoped_mid
from tillpoint.core.i18n import _
from tillpoint.http.text import Bool, Int, Note, Text
from tillpoint.store import crm
from tillpoint.store.catalogue import KEEP
from tillpoint.store.coupons import CouponValue, CouponView, TemplateView
from tillpoint.store.crm import History, Segment, SegmentCount
from tillpoint.store.imports import CSV_TYPE, XLSX_TYPE
from tillpoint.store.loyalty import LevelIn, LoyaltyIn, LoyaltyView, MemberPriceView
from tillpoint.store.member_models import (
    Channel,
    ConsentPurpose,
    CouponKind,
    MemberScope,
    MemberStatus,
)
from tillpoint.store.members import (
    MemberChanges,
    MemberIn,
    MemberRow,
    MemberView,
    PointsEntryView,
)

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
# Reads that carry the mobile number in their body: no idempotency key (nothing is
# kept of the request, not even its fingerprint).
lookups = APIRouter(route_class=ApiRoute, responses=PROBLEMS)
TAGS: list[str | Enum] = ["members"]

# The merchant's own keys only: a member's data is visible to its merchant alone.
Till = Annotated[Principal, Depends(allow(Role.MERCHANT_OWNER, Role.MERCHANT_STAFF))]
Owner = Annotated[Principal, Depends(allow(Role.MERCHANT_OWNER))]

Mobile = Annotated[
    Text,
    Field(
        min_length=11, max_length=20, examples=["13812345678"],
        description="A mainland China mobile number (spaces, dashes, +86 allowed)",
    ),
]  # fmt: skip
Tag = Annotated[Text, Field(min_length=1, max_length=30)]
ShopNo = Annotated[int, Field(strict=True, ge=1, le=9999, description="The shop's number")]
Minor = Annotated[int, Field(strict=True, ge=0, le=10**10, description="In fen")]
Rate = Annotated[
    Text,
    Field(pattern=r"^[0-9]{1,4}(\.[0-9]{1,2})?$", examples=["1.5"],
          description="A decimal string, to two places"),
]  # fmt: skip
CouponCode = Annotated[Text, Field(min_length=1, max_length=20, examples=["7K3M9Q2XW4HD"])]


def _merchant(caller: Principal, mid: str | None = None) -> int:
    """The caller's merchant (the merchant's own keys only); a create may name its own
    MID, and naming another's is a 404."""
    if mid is not None:
        scoped_mid(caller, mid)
    assert caller.merchant_id is not None
    return caller.merchant_id


MidField = Annotated[
    Text | None, Field(max_length=15, description="The caller's own MID (optional)")
]


def _by(caller: Principal) -> str:
    return f"api key {caller.key_id}"


# --- bodies ------------------------------------------------------------------------------


class ConsentBody(BaseModel):
    membership: Bool = Field(description="The member agreed to the privacy notice (required: true)")
    marketing: Bool = Field(default=False, description="The member agreed to receive offers")


class NewMemberIn(BaseModel):
    mobile: Mobile
    consent: ConsentBody
    name: Text | None = Field(default=None, max_length=100)
    birthday: date | None = None
    tags: list[Tag] = Field(default=[], max_length=20)
    shop_number: ShopNo | None = Field(
        default=None, description="Where they join (required when members are each shop's)"
    )
    channel: Literal["till", "api"] = Field(
        default="till", description="Where they gave their consent"
    )
    mid: MidField = None


class LookupIn(BaseModel):
    mobile: Mobile
    shop_number: ShopNo | None = Field(
        default=None, description="The till's shop (required when members are each shop's)"
    )


class MemberPatchIn(BaseModel):
    """The fields present change; ``null`` clears a name or a birthday."""

    mobile: Mobile | None = None
    name: Text | None = Field(default=None, max_length=100)
    birthday: date | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)


class GrantIn(BaseModel):
    purpose: ConsentPurpose
    channel: Literal["till", "api"] = "till"


class WithdrawIn(BaseModel):
    channel: Literal["till", "api"] = "till"


class AdjustIn(BaseModel):
    points: Int = Field(ge=-(10**8), le=10**8, description="+ gives, - takes (never below 0)")
    note: Note = Field(min_length=1, max_length=200, description="Why: kept in the ledger")


class CouponValueIn(BaseModel):
    name: Text = Field(min_length=1, max_length=60, examples=["满50减10"])
    kind: CouponKind
    amount_minor: Int | None = Field(default=None, ge=1, le=10**9)
    percent: Rate | None = None
    min_spend_minor: Minor = 0
    valid_days: Int = Field(default=30, ge=1, le=3660)
    uses: Int = Field(default=1, ge=1, le=1000)

    def value(self) -> CouponValue:
        pct = None if self.percent is None else Decimal(self.percent)
        return CouponValue(self.name, self.kind, self.amount_minor, pct, self.min_spend_minor,
                           self.valid_days, self.uses)  # fmt: skip


class IssueIn(BaseModel):
    template_id: Int | None = Field(default=None, ge=1, le=2**31 - 1)
    coupon: CouponValueIn | None = Field(default=None, description="Or the coupon's own terms")
    member_id: Int | None = Field(default=None, ge=1, le=2**62, description="None: bearer")
    valid_from: date | None = Field(default=None, description="Default: today")
    count: Int = Field(default=1, ge=1, le=500, description="Bearer coupons: how many")
    mid: MidField = None


class TemplateIn(CouponValueIn):
    mid: MidField = None


class TemplatePatchIn(BaseModel):
    active: Bool


class LevelBody(BaseModel):
    name: Text = Field(min_length=1, max_length=40, examples=["金卡 Gold"])
    min_spend_minor: Minor = Field(description="Spent over the last 365 days")
    discount_percent: Rate = Field(default="0", description="Off the list prices")


class ShopRateBody(BaseModel):
    shop_number: ShopNo
    points_per_yuan: Rate


class CategoryRateBody(BaseModel):
    category_id: Int = Field(ge=1, le=2**31 - 1)
    multiplier: Rate


class LoyaltyIn_(BaseModel):
    scope: MemberScope = MemberScope.MERCHANT
    points_per_yuan: Rate = "1"
    shop_rates: list[ShopRateBody] = Field(default=[], max_length=500)
    category_multipliers: list[CategoryRateBody] = Field(default=[], max_length=500)
    redeem_points: Int = Field(default=100, ge=1, le=10**6)
    redeem_minor: Int = Field(default=100, ge=1, le=10**6)
    levels: list[LevelBody] = Field(default=[], max_length=10)
    signup_template_id: Int | None = Field(default=None, ge=1, le=2**31 - 1)
    birthday_template_id: Int | None = Field(default=None, ge=1, le=2**31 - 1)
    notice_version: Text = Field(default="1", min_length=1, max_length=40)
    notice_text: Note | None = Field(default=None, max_length=2000)

    def loyalty(self) -> LoyaltyIn:
        base = LoyaltyIn()
        return LoyaltyIn(
            scope=self.scope,
            points_per_yuan=Decimal(self.points_per_yuan),
            shop_rates=tuple((x.shop_number, Decimal(x.points_per_yuan)) for x in self.shop_rates),
            category_multipliers=tuple(
                (x.category_id, Decimal(x.multiplier)) for x in self.category_multipliers
            ),
            redeem_points=self.redeem_points,
            redeem_minor=self.redeem_minor,
            levels=tuple(
                LevelIn(x.name, x.min_spend_minor, Decimal(x.discount_percent)) for x in self.levels
            ),
            signup_template_id=self.signup_template_id,
            birthday_template_id=self.birthday_template_id,
            notice_version=self.notice_version,
            notice_text=self.notice_text or base.notice_text,
        )


class MemberPriceIn(BaseModel):
    price_minor: Minor


# --- members -----------------------------------------------------------------------------------


@router.post("/v1/members", status_code=201, tags=TAGS, summary="Sign a member up")
def create_member(body: NewMemberIn, caller: Till, svc: Svc, _key: Key) -> MemberView:
    """A new member by mobile number, with their consent to the merchant's privacy
    notice (``consent.membership`` must be true; ``consent.marketing`` is optional): the
    notice's version, the time and the channel are recorded. The number is kept
    encrypted and shown masked (138****5678). A number already a member: 409."""
    new = MemberIn(
        mobile=body.mobile, consent_membership=body.consent.membership,
        consent_marketing=body.consent.marketing, name=body.name, birthday=body.birthday,
        tags=tuple(body.tags), shop_number=body.shop_number,
    )  # fmt: skip
    return svc.tp.members.sign_up(
        _merchant(caller, body.mid), new, channel=Channel(body.channel), by=_by(caller)
    )


@lookups.post("/v1/members/lookup", tags=TAGS, summary="Find a member by mobile number")
def lookup_member(body: LookupIn, caller: Till, svc: Svc) -> MemberView:
    """The member with this number (its keyed hash is looked up; the number is not
    kept), with their points, level and usable coupons: what the till shows. Their first
    visit in their birthday month issues their birthday coupon. None: 404."""
    return svc.tp.members.lookup(
        _merchant(caller), body.mobile, shop_number=body.shop_number, by=_by(caller)
    )


@router.get("/v1/members", tags=TAGS, summary="List members")
def list_members(
    caller: Till,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    name: Annotated[Text | None, Query(max_length=100, description="Starts with")] = None,
    tag: Annotated[Text | None, Query(max_length=30)] = None,
    status: MemberStatus | None = None,
) -> Page[MemberRow]:
    """Members, newest first; by the start of a name, by a tag. (By mobile number:
    ``POST /v1/members/lookup``.)"""
    items = svc.tp.members.search(
        _merchant(caller), name=name, tag=tag, status=status,
        before_id=decode_cursor(cursor), limit=limit + 1,
    )  # fmt: skip
    return page(items, limit, lambda x: x.id)


@router.get("/v1/members/segments", tags=TAGS, summary="Members by RFM segment")
def member_segments(caller: Owner, svc: Svc) -> Page[SegmentCount]:
    """How many members are in each segment by recency, frequency and value, and their
    spend over the last 365 days (the thresholds: docs/members.md)."""
    return whole(svc.tp.crm.segments(_merchant(caller)))


@router.get(
    "/v1/members/export",
    tags=TAGS,
    summary="Download a list of members",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV_TYPE: {}, XLSX_TYPE: {}}}},
)
def export_members(
    caller: Owner,
    svc: Svc,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv or xlsx")] = "csv",
    segment: Segment | None = None,
    tag: Annotated[Text | None, Query(max_length=30)] = None,
) -> StreamingResponse:
    """The active members (a segment's, a tag's) as a file, written as it is read:
    masked numbers, tags, level, points, segment, last sale, sales and spend over 365
    days, marketing consent."""
    merchant_id = _merchant(caller)
    table = svc.tp.crm.member_list(merchant_id, segment_=segment, tag=tag)
    name = crm.file_name(str(merchant_id), format, svc.tp.ctx.today())
    pieces = crm.csv_file(table) if format == "csv" else crm.xlsx_file(table, _("Members"))
    return StreamingResponse(
        pieces,
        media_type=CSV_TYPE if format == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


@router.get("/v1/members/{member_id}", tags=TAGS, summary="Show a member")
def get_member(member_id: ObjectId, caller: Till, svc: Svc) -> MemberView:
    return svc.tp.members.get(member_id, merchant_id=_merchant(caller))


@router.patch("/v1/members/{member_id}", tags=TAGS, summary="Change a member")
def update_member(member_id: ObjectId, body: MemberPatchIn, caller: Till, svc: Svc) -> MemberView:
    """The fields present change: the number (409 if another member has it), name,
    birthday, tags (the whole list)."""
    sent = body.model_fields_set
    changes = MemberChanges(
        mobile=body.mobile if "mobile" in sent and body.mobile is not None else KEEP,
        name=body.name if "name" in sent else KEEP,
        birthday=body.birthday if "birthday" in sent else KEEP,
        tags=tuple(body.tags) if "tags" in sent and body.tags is not None else KEEP,
    )
    return svc.tp.members.update(member_id, changes, merchant_id=_merchant(caller), by=_by(caller))


@router.post("/v1/members/{member_id}/consents", tags=TAGS, summary="Record a consent")
def grant_consent(
    member_id: ObjectId, body: GrantIn, caller: Till, svc: Svc, _key: Key
) -> MemberView:
    """The member's consent to ``purpose`` under the current notice (one given and not
    withdrawn stands as it is)."""
    return svc.tp.members.grant(
        member_id, body.purpose, merchant_id=_merchant(caller),
        channel=Channel(body.channel), by=_by(caller),
    )  # fmt: skip


@router.post(
    "/v1/members/{member_id}/consents/{purpose}/withdraw",
    tags=TAGS,
    summary="Withdraw a consent",
)
def withdraw_consent(
    member_id: ObjectId,
    purpose: ConsentPurpose,
    body: WithdrawIn,
    caller: Till,
    svc: Svc,
    _key: Key,
) -> MemberView:
    """Withdraw the member's consent to ``purpose``: recorded with the time and the
    channel. Withdrawing ``membership`` erases the member's personal data."""
    return svc.tp.members.withdraw(
        member_id, purpose, merchant_id=_merchant(caller),
        channel=Channel(body.channel), by=_by(caller),
    )  # fmt: skip


@router.get(
    "/v1/members/{member_id}/export",
    tags=TAGS,
    summary="A member's own data, as a file",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "JSON"}},
)
def export_member(member_id: ObjectId, caller: Owner, svc: Svc) -> Response:
    """Everything kept about the member, for the member (their number in clear):
    details, consents, points ledger, coupons, purchases."""
    data = svc.tp.members.export(member_id, merchant_id=_merchant(caller))
    return Response(
        json.dumps(data, ensure_ascii=False, indent=1),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="member-{member_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.delete("/v1/members/{member_id}", tags=TAGS, summary="Erase a member")
def erase_member(member_id: ObjectId, caller: Owner, svc: Svc) -> MemberView:
    """Erase the member's personal data on request: number, name, birthday and tags
    go, consents are withdrawn, coupons voided, points forfeited. The anonymous member
    and its sales' figures stay."""
    return svc.tp.members.erase(
        member_id, merchant_id=_merchant(caller), channel=Channel.API, by=_by(caller)
    )


@router.get("/v1/members/{member_id}/points", tags=TAGS, summary="A member's points ledger")
def member_points(
    member_id: ObjectId, caller: Till, svc: Svc, limit: Limit = 20, cursor: Cursor = None
) -> Page[PointsEntryView]:
    """Every movement of the member's points, newest first, with the balance after it."""
    items = svc.tp.members.points(
        member_id, merchant_id=_merchant(caller), before_id=decode_cursor(cursor),
        limit=limit + 1,
    )  # fmt: skip
    return page(items, limit, lambda x: x.id)


@router.post("/v1/members/{member_id}/points", status_code=201, tags=TAGS,
             summary="Adjust a member's points")  # fmt: skip
def adjust_points(
    member_id: ObjectId, body: AdjustIn, caller: Owner, svc: Svc, _key: Key
) -> PointsEntryView:
    return svc.tp.members.adjust(
        member_id, body.points, body.note, merchant_id=_merchant(caller), by=_by(caller)
    )


@router.get("/v1/members/{member_id}/history", tags=TAGS, summary="A member's history")
def member_history(member_id: ObjectId, caller: Till, svc: Svc) -> History:
    """Purchases, visits, favourite products, spend by month, and the RFM segment."""
    return svc.tp.crm.history(member_id, merchant_id=_merchant(caller))


# --- coupons ------------------------------------------------------------------------------------


@router.post("/v1/coupons", status_code=201, tags=TAGS, summary="Issue coupons")
def issue_coupons(body: IssueIn, caller: Owner, svc: Svc, _key: Key) -> Page[CouponView]:
    """Coupons of a template (``template_id``) or of their own terms (``coupon``): to a
    member, or ``count`` bearer coupons for whoever shows the code. They are used by
    naming their codes on an order (``coupon_codes``)."""
    made = svc.tp.coupons.issue(
        _merchant(caller, body.mid), template_id=body.template_id,
        value=body.coupon.value() if body.coupon else None, member_id=body.member_id,
        valid_from=body.valid_from, count=body.count, by=_by(caller),
    )  # fmt: skip
    return whole(made)


@router.get("/v1/coupons", tags=TAGS, summary="List coupons")
def list_coupons(
    caller: Till,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    member_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    usable: bool | None = None,
) -> Page[CouponView]:
    items = svc.tp.coupons.search(
        _merchant(caller), member_id=member_id, usable=usable,
        before_id=decode_cursor(cursor), limit=limit + 1,
    )  # fmt: skip
    return page(items, limit, lambda x: x.id)


@router.get("/v1/coupons/{coupon_code}", tags=TAGS, summary="Check a coupon")
def get_coupon(coupon_code: CouponCode, caller: Till, svc: Svc) -> CouponView:
    """A coupon by its code, as scanned at the till, with whether it is usable today."""
    return svc.tp.coupons.get(_merchant(caller), coupon_code)


@router.post("/v1/coupons/{coupon_id}/void", tags=TAGS, summary="Withdraw a coupon")
def void_coupon(coupon_id: ObjectId, caller: Owner, svc: Svc, _key: Key) -> CouponView:
    return svc.tp.coupons.void(_merchant(caller), coupon_id)


@router.get("/v1/coupon-templates", tags=TAGS, summary="List the kinds of coupon")
def list_templates(caller: Till, svc: Svc) -> Page[TemplateView]:
    return whole(svc.tp.coupons.templates(_merchant(caller)))


@router.post("/v1/coupon-templates", status_code=201, tags=TAGS, summary="Add a kind of coupon")
def create_template(body: TemplateIn, caller: Owner, svc: Svc, _key: Key) -> TemplateView:
    return svc.tp.coupons.create_template(_merchant(caller, body.mid), body.value())


@router.patch("/v1/coupon-templates/{template_id}", tags=TAGS,
              summary="Switch a kind of coupon on or off")  # fmt: skip
def update_template(
    template_id: ObjectId, body: TemplatePatchIn, caller: Owner, svc: Svc
) -> TemplateView:
    return svc.tp.coupons.set_template_active(_merchant(caller), template_id, body.active)


# --- the programme ---------------------------------------------------------------------------


@router.get("/v1/loyalty", tags=TAGS, summary="The loyalty programme")
def get_loyalty(caller: Till, svc: Svc) -> LoyaltyView:
    """Points per yuan (per shop, per category), redemption, levels, the coupons of
    sign-up and birthdays, the privacy notice, whose members they are."""
    return svc.tp.loyalty.get(_merchant(caller))


@router.put("/v1/loyalty", tags=TAGS, summary="Set the loyalty programme")
def put_loyalty(body: LoyaltyIn_, caller: Owner, svc: Svc) -> LoyaltyView:
    """The whole programme, replaced (what is not listed goes). ``scope`` changes only
    while there are no members."""
    return svc.tp.loyalty.update(_merchant(caller), body.loyalty(), _by(caller))


@router.get("/v1/member-prices", tags=TAGS, summary="List member prices")
def list_member_prices(caller: Till, svc: Svc) -> Page[MemberPriceView]:
    return whole(svc.tp.loyalty.member_prices(_merchant(caller)))


@router.put("/v1/member-prices/{product_id}", tags=TAGS, summary="Set a member price")
def put_member_price(
    product_id: ObjectId, body: MemberPriceIn, caller: Owner, svc: Svc
) -> MemberPriceView:
    """The product's price for members (they pay the lowest of it, the list price and
    their level's percentage off)."""
    found = svc.tp.loyalty.set_member_price(_merchant(caller), product_id, body.price_minor)
    assert found is not None
    return found


@router.delete(
    "/v1/member-prices/{product_id}", tags=TAGS, summary="Remove a member price",
    status_code=204, response_class=Response,
)  # fmt: skip
def delete_member_price(product_id: ObjectId, caller: Owner, svc: Svc) -> Response:
    svc.tp.loyalty.set_member_price(_merchant(caller), product_id, None)
    return Response(status_code=204)
