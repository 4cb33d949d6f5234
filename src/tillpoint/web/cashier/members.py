"""Members at the till (``/cashier/api/...``, the till page's session, as web/cashier/api.py):
find a member by the mobile number typed or scanned, sign one up with their consent, check
a coupon, price the cart for them (the quote), and the snapshot the page keeps to sell
to members offline (docs/members.md, "At the till").

The mobile number travels only in POST bodies, never in an address, a log or the audit
(which names the member by id). What the page gets back shows it masked.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, Field

from tillpoint.core.errors import NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.http.orders import order_discount, order_lines
from tillpoint.store.coupons import CouponView
from tillpoint.store.member_models import Channel
from tillpoint.store.members import MemberIn, MemberView
from tillpoint.store.orders import NewOrder
from tillpoint.store.till_members import SNAPSHOT_LIMIT, TillMembers
from tillpoint.web.cashier.api import At, Body, QuoteIn, _audit, json

router = APIRouter(prefix="/cashier/api", include_in_schema=False)

Mobile = Annotated[str, Field(min_length=1, max_length=24)]


class LookupIn(Body):
    mobile: Mobile


class ConsentIn(Body):
    membership: bool
    marketing: bool = False
    notice_version: str | None = Field(default=None, max_length=40)


class SignUpIn(Body):
    mobile: Mobile
    consent: ConsentIn
    name: str | None = Field(default=None, max_length=100)
    birthday: date | None = None


def coupon_json(c: CouponView) -> dict[str, Any]:
    return {
        "code": c.code, "name": c.name, "kind": c.kind.value, "amount_minor": c.amount_minor,
        "percent": None if c.percent is None else str(c.percent),
        "min_spend_minor": c.min_spend_minor, "valid_until": c.valid_until.isoformat(),
        "member_id": c.member_id, "usable": c.usable, "status": c.status.value,
    }  # fmt: skip


def member_json(m: MemberView) -> dict[str, Any]:
    """What the till shows of a member: never the number, only its masked form."""
    return {
        "id": m.id, "mobile": m.mobile, "name": m.name, "level": m.level,
        "level_percent": m.level_percent, "points": m.points,
        "points_value_minor": m.points_value_minor, "redeem_points": m.redeem_points,
        "redeem_minor": m.redeem_minor, "coupons": [coupon_json(c) for c in m.coupons],
    }  # fmt: skip


def _by(at: At) -> str:
    return f"account {at.account_id}"


@router.post("/members/lookup")
def lookup(at: At, body: LookupIn) -> JSONResponse:
    """The member with the number typed or scanned (the shop's, when members are each
    shop's): ``{"member": ...}``, what the till shows; ``{"member": null}`` when nobody
    has it (an answer, not an error: the page offers to sign them up)."""
    try:
        view = at.tp.members.lookup(at.merchant_id, body.mobile, shop_number=at.shop_number,
                                    by=_by(at))  # fmt: skip
    except NotFound as e:
        if e.code != "member.mobile_not_found":
            raise
        return json({"member": None})
    return json({"member": member_json(view)})


@router.post("/members", status_code=201)
def sign_up(at: At, body: SignUpIn) -> JSONResponse:
    """A new member at the till, with the consent the customer gave there (the notice's
    version, the time and the channel ``till`` are recorded, by the person signed in).
    The page sends the notice version it showed: a notice changed meanwhile is refused,
    so that nobody consents to a text they were not shown."""
    programme = TillMembers(at.tp.ctx).programme(at.merchant_id, at.shop_id)
    if body.consent.notice_version is not None and (
        body.consent.notice_version != programme.notice_version
    ):
        raise Refused(
            "member.notice_changed",
            N_("The privacy notice has changed: show the customer the new one"),
        )
    new = MemberIn(
        mobile=body.mobile, consent_membership=body.consent.membership,
        consent_marketing=body.consent.marketing, name=body.name, birthday=body.birthday,
        shop_number=at.shop_number,
    )  # fmt: skip
    view = at.tp.members.sign_up(at.merchant_id, new, channel=Channel.TILL, by=_by(at))
    _audit(at, "cashier sign up member", f"member {view.id}",
           marketing=body.consent.marketing)  # fmt: skip
    return json(member_json(view), 201)


@router.get("/coupons/{code}")
def coupon(at: At, code: Annotated[str, Field(min_length=1, max_length=20)]) -> JSONResponse:
    """A coupon scanned or typed: its terms and whether it is usable today."""
    return json(coupon_json(at.tp.coupons.get(at.merchant_id, code)))


@router.get("/members/programme")
def programme(at: At) -> JSONResponse:
    """The programme's terms the till prices with and the privacy notice it shows
    before a sign-up, and the member prices (product, price)."""
    tm = TillMembers(at.tp.ctx)
    return json({
        "programme": tm.programme(at.merchant_id, at.shop_id).model_dump(mode="json"),
        "member_prices": [x.model_dump(mode="json") for x in tm.member_prices(at.merchant_id)],
    })  # fmt: skip


@router.get("/members/snapshot")
def snapshot(
    at: At,
    since: Annotated[AwareDatetime | None, Query()] = None,
    after_id: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=SNAPSHOT_LIMIT)] = SNAPSHOT_LIMIT,
) -> JSONResponse:
    """The members the till may sell to offline, without their numbers (masked only);
    ``since``: the changes after an earlier snapshot's ``as_of``; ``after_id``: the next
    page."""
    found = TillMembers(at.tp.ctx).snapshot(
        at.merchant_id, at.shop_id, since=since, after_id=after_id, limit=limit
    )
    return json(found.model_dump(mode="json"))


@router.get("/members/{member_id}")
def get_member(at: At, member_id: int) -> JSONResponse:
    """A member attached to the cart, again (their points and coupons now)."""
    view = at.tp.members.get(member_id, merchant_id=at.merchant_id)
    if view.status.value != "active":
        raise NotFound("member.not_found", N_("No member {id}"), id=member_id)
    return json(member_json(view))


@router.post("/quote")
async def quote(at: At, body: QuoteIn) -> JSONResponse:
    """The cart priced for the till exactly as the order would be made now (a member's
    prices, the discounts, coupons and points), and the points it would earn: nothing
    is written (store/orders.py, ``quote``)."""
    new = NewOrder(
        client_ref="quote", shift_id=body.shift_id, lines=order_lines(body.lines),
        cashier_id=at.account_id, discount=order_discount(body.discount),
        member_id=body.member_id, redeem_points=body.redeem_points,
        coupon_codes=tuple(body.coupon_codes),
    )  # fmt: skip
    shift = await asyncio.to_thread(at.tp.shifts.get, body.shift_id, merchant_id=at.merchant_id)
    at.shift_here(shift)
    found = await asyncio.to_thread(at.tp.orders.quote, new, merchant_id=at.merchant_id)
    return json(found.model_dump(mode="json"))
