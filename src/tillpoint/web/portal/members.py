"""The portal's members (``/portal/members``), for the merchant's owner and managers:
the members with a search by mobile number (its keyed hash), name or tag and a sign-up
form; a member's page (details, consents, points ledger, coupons, history with a
chart); the segments by recency, frequency and value with charts and lists to
download; the coupons (kinds, bearer coupons); the loyalty programme and member prices.

Everything is the signed-in person's merchant's: another merchant's member is answered
404 as one that does not exist. Every change, and every refusal of one, is audited
(the mobile number never: the audit names the member by id).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.store import crm
from tillpoint.store.catalogue import KEEP, parse_yuan
from tillpoint.store.coupons import CouponValue
from tillpoint.store.crm import SEGMENT_LABELS, Segment
from tillpoint.store.imports import CSV_TYPE, XLSX_TYPE
from tillpoint.store.loyalty import LevelIn, LoyaltyIn
from tillpoint.store.member_models import Channel, ConsentPurpose, CouponKind, MemberScope
from tillpoint.store.members import MemberChanges, MemberIn
from tillpoint.web.charts import bar_chart_by_day, split_bars
from tillpoint.web.page import (
    P_MEMBERS,
    PAGE,
    actor,
    after_action,
    audit,
    page,
    page_link,
    portal_guard,
    query_int,
    query_text,
    read_form,
    speak,
    tp,
    trouble,
)
from tillpoint.web.portal.products import merchant_of, yuan
from tillpoint.web.render import money, number

router = APIRouter(include_in_schema=False)

MembersUser = Annotated[SignedIn, portal_guard(P_MEMBERS)]

HERE = P_MEMBERS.href  # /portal/members
SEGMENTS = HERE + "/segments"
LOYALTY = "/portal/loyalty"
COUPONS = "/portal/coupons"
LEVEL_ROWS = 4  # the programme's form offers this many level rows
# Words the pages show for values.
SHOWN = (N_("membership"), N_("marketing"), N_("till"), N_("portal"), N_("api"),
         N_("erased"), N_("earned"), N_("redeemed"), N_("restored"), N_("taken_back"),
         N_("adjusted"), N_("forfeited"), N_("void"), N_("amount"), N_("percent"),
         N_("manual"), N_("signup"), N_("birthday"), N_("merchant"), N_("shop"))  # fmt: skip


def _id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise InvalidInput("portal.member_id", N_("A member number is a whole number"))
    return int(text)


def _day(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            "member.birthday", N_("A birthday is a day from 1900 to today")
        ) from None


def _decimal(text: str, what: str) -> Decimal:
    try:
        return Decimal(text.strip() or "0")
    except InvalidOperation:
        raise InvalidInput(
            "portal.decimal", N_("{what}: a number such as 1 or 1.5"), what=what
        ) from None


def _int(text: str, what: str) -> int:
    cleaned = text.strip().lstrip("-")
    if not (cleaned.isascii() and cleaned.isdigit() and len(cleaned) <= 12):
        raise InvalidInput("portal.whole_number", N_("{what}: a whole number"), what=what)
    return int(text.strip())


def _act(
    request: Request, session: SignedIn, back: str, what: str, target: str,
    change: Callable[[], str],
) -> Response:  # fmt: skip
    """One change: its message (or why it was refused: nothing changed), back to
    ``back``; audited either way."""
    merchant_id = merchant_of(session)
    try:
        done = change()
    except TillpointError as e:
        audit(request, session, what, target, e, merchant_id=merchant_id)
        if e.code == "member.not_found":
            return trouble(request, session, e, HERE)
        return after_action(back, e.localized(), error=True)
    audit(request, session, what, target, merchant_id=merchant_id)
    return after_action(back, done)


# --- the list ------------------------------------------------------------------------------------


@router.get(HERE, response_class=HTMLResponse)
def members_page(request: Request, session: MembersUser) -> Response:
    """The members, newest first (by a tag); a search by number or name is posted, so
    that neither ever sits in an address (nor in an access log)."""
    return _list(request, session, "", query_text(request, "tag", 30))


@router.post(HERE, response_class=HTMLResponse)
async def search_members(request: Request, session: MembersUser) -> Response:
    form = await read_form(request, session, "q", "tag", max_chars=100)
    return _list(request, session, form["q"], form["tag"][:30])


def _list(request: Request, session: SignedIn, q: str, tag: str) -> Response:
    merchant_id = merchant_of(session)
    app = tp(request)
    digits = q.replace(" ", "").replace("-", "").removeprefix("+86")
    by_mobile = len(digits) == 11 and digits.isdigit()
    error = ""
    rows = []
    try:
        rows = app.members.search(
            merchant_id, name=None if by_mobile else (q or None),
            mobile=digits if by_mobile else None, tag=tag or None,
            before_id=None if q else (query_int(request, "after") or None), limit=PAGE + 1,
        )  # fmt: skip
    except TillpointError as e:
        error = e.localized()
    more, rows = len(rows) > PAGE, rows[:PAGE]
    programme = app.loyalty.get(merchant_id)
    return page(request, session, "portal/members/list.html", rows=rows, error=error,
                values={"q": q, "tag": tag}, tags=app.members.tags(merchant_id),
                total=app.members.count(merchant_id), programme=programme,
                shops=app.merchants.list_shops(str(merchant_id)),
                next_href=page_link(request, after=rows[-1].id) if more and not q else "",
                tab="members")  # fmt: skip


@router.post(HERE + "/add")
async def add_member(request: Request, session: MembersUser) -> Response:
    form = await read_form(request, session, "mobile", "name", "birthday", "tags", "consent",
                           "marketing", "shop")  # fmt: skip
    merchant_id = merchant_of(session)
    made: list[int] = []

    def change() -> str:
        shop = form["shop"]
        m = tp(request).members.sign_up(merchant_id, MemberIn(
            mobile=form["mobile"], consent_membership=form["consent"] == "yes",
            consent_marketing=form["marketing"] == "yes", name=form["name"] or None,
            birthday=_day(form["birthday"]), tags=tuple(form["tags"].replace("，", ",").split(",")
                                                        if form["tags"] else ()),
            shop_number=int(shop) if shop.isascii() and shop.isdigit() and len(shop) < 5
            else None,
        ), channel=Channel.PORTAL, by=actor(session))  # fmt: skip
        made.append(m.id)
        return _("Member {mobile} signed up.").format(mobile=m.mobile)

    response = _act(request, session, HERE, "member signed up", f"merchant {merchant_id}", change)
    if made:
        response.headers["location"] = f"{HERE}/{made[0]}"
    return response


@router.get(HERE + "/export")
def export(request: Request, session: MembersUser) -> Response:
    merchant_id = merchant_of(session)
    speak(request, session)
    fmt = "xlsx" if query_text(request, "format", 5) == "xlsx" else "csv"
    wanted = query_text(request, "segment", 20)
    segment = Segment(wanted) if wanted in {s.value for s in Segment} else None
    tag = query_text(request, "tag", 30) or None
    app = tp(request)
    table = app.crm.member_list(merchant_id, segment_=segment, tag=tag)
    name = crm.file_name(session.account.mid or str(merchant_id), fmt, app.ctx.today())
    audit(request, session, "members exported", f"merchant {merchant_id}",
          merchant_id=merchant_id, segment=wanted or None, tag=tag)  # fmt: skip
    pieces = crm.csv_file(table) if fmt == "csv" else crm.xlsx_file(table, _("Members"))
    return StreamingResponse(pieces, media_type=CSV_TYPE if fmt == "csv" else XLSX_TYPE,
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store, private"})  # fmt: skip


# --- segments ---------------------------------------------------------------------------------


@router.get(SEGMENTS, response_class=HTMLResponse)
def segments_page(request: Request, session: MembersUser) -> Response:
    merchant_id = merchant_of(session)
    speak(request, session)  # the charts are drawn before the page: in its language
    counts = tp(request).crm.segments(merchant_id)
    labels = {c.segment: _(SEGMENT_LABELS[c.segment]) for c in counts}
    members_chart = split_bars([(labels[c.segment], c.members) for c in counts],
                               title=_("Members by segment"), value_format=number)  # fmt: skip
    spend_chart = split_bars([(labels[c.segment], c.spend_365d_minor) for c in counts],
                             title=_("Spend by segment, the last 365 days"),
                             value_format=money)  # fmt: skip
    return page(request, session, "portal/members/segments.html", counts=counts, labels=labels,
                members_chart=members_chart, spend_chart=spend_chart, rfm=crm,
                tab="segments")  # fmt: skip


# --- one member ---------------------------------------------------------------------------------


@router.get(HERE + "/{member_id}", response_class=HTMLResponse)
def member_page(request: Request, session: MembersUser, member_id: str) -> Response:
    merchant_id = merchant_of(session)
    speak(request, session)
    app = tp(request)
    try:
        m = app.members.get(_id(member_id), merchant_id=merchant_id)
    except TillpointError as e:
        return trouble(request, session, e, HERE)
    history = app.crm.history(m.id, merchant_id=merchant_id)
    months = bar_chart_by_day([(label[2:], v) for label, v in history.months],
                              title=_("Spend by month, the last 12 months"),
                              value_format=money)  # fmt: skip
    return page(request, session, "portal/members/member.html", m=m, h=history, months=months,
                ledger=app.members.points(m.id, merchant_id=merchant_id, limit=PAGE),
                coupons=app.coupons.search(merchant_id, member_id=m.id, limit=PAGE),
                templates=[t for t in app.coupons.templates(merchant_id) if t.active],
                segment_label=_(SEGMENT_LABELS[history.segment]), yuan=yuan,
                tab="members")  # fmt: skip


@router.post(HERE + "/{member_id}")
async def change_member(request: Request, session: MembersUser, member_id: str) -> Response:
    form = await read_form(request, session, "name", "birthday", "tags")
    merchant_id = merchant_of(session)

    def change() -> str:
        tags = tuple(t for t in form["tags"].replace("，", ",").split(",") if t.strip())
        m = tp(request).members.update(_id(member_id), MemberChanges(
            name=form["name"] or None, birthday=_day(form["birthday"]), tags=tags,
            mobile=KEEP,
        ), merchant_id=merchant_id, by=actor(session))  # fmt: skip
        return _("Member {id} saved.").format(id=m.id)

    return _act(request, session, f"{HERE}/{member_id[:18]}", "member changed",
                f"member {member_id[:18]}", change)  # fmt: skip


@router.post(HERE + "/{member_id}/consents")
async def consents(request: Request, session: MembersUser, member_id: str) -> Response:
    form = await read_form(request, session, "purpose", "action")
    merchant_id = merchant_of(session)

    def change() -> str:
        purpose = ConsentPurpose(form["purpose"]) if form["purpose"] in {
            p.value for p in ConsentPurpose} else ConsentPurpose.MARKETING  # fmt: skip
        svc, mid = tp(request).members, _id(member_id)
        if form["action"] == "withdraw":
            svc.withdraw(mid, purpose, merchant_id=merchant_id, channel=Channel.PORTAL,
                         by=actor(session))  # fmt: skip
            return _("The consent is withdrawn.")
        svc.grant(mid, purpose, merchant_id=merchant_id, channel=Channel.PORTAL,
                  by=actor(session))  # fmt: skip
        return _("The consent is recorded.")

    return _act(request, session, f"{HERE}/{member_id[:18]}#consents", "member consent",
                f"member {member_id[:18]}", change)  # fmt: skip


@router.post(HERE + "/{member_id}/points")
async def adjust(request: Request, session: MembersUser, member_id: str) -> Response:
    form = await read_form(request, session, "points", "note")
    merchant_id = merchant_of(session)

    def change() -> str:
        e = tp(request).members.adjust(_id(member_id), _int(form["points"], _("Points")),
                                       form["note"], merchant_id=merchant_id,
                                       by=actor(session))  # fmt: skip
        return _("Points adjusted: the balance is {balance}.").format(balance=e.balance)

    return _act(request, session, f"{HERE}/{member_id[:18]}#points", "member points",
                f"member {member_id[:18]}", change)  # fmt: skip


@router.post(HERE + "/{member_id}/coupons")
async def give_coupon(request: Request, session: MembersUser, member_id: str) -> Response:
    form = await read_form(request, session, "template")
    merchant_id = merchant_of(session)

    def change() -> str:
        (c,) = tp(request).coupons.issue(merchant_id, template_id=_id(form["template"] or "0"),
                                         member_id=_id(member_id), by=actor(session))  # fmt: skip
        return _("Coupon {code} issued.").format(code=c.code)

    return _act(request, session, f"{HERE}/{member_id[:18]}#coupons", "coupon issued",
                f"member {member_id[:18]}", change)  # fmt: skip


@router.get(HERE + "/{member_id}/export")
def member_file(request: Request, session: MembersUser, member_id: str) -> Response:
    """The member's own data, for them: a JSON file."""
    merchant_id = merchant_of(session)
    try:
        data = tp(request).members.export(_id(member_id), merchant_id=merchant_id)
    except TillpointError as e:
        audit(request, session, "member data exported", f"member {member_id[:18]}", e,
              merchant_id=merchant_id)  # fmt: skip
        return trouble(request, session, e, HERE)
    audit(request, session, "member data exported", f"member {member_id[:18]}",
          merchant_id=merchant_id)  # fmt: skip
    return Response(json.dumps(data, ensure_ascii=False, indent=1), media_type="application/json",
                    headers={"Content-Disposition":
                             f'attachment; filename="member-{member_id[:18]}.json"',
                             "Cache-Control": "no-store, private"})  # fmt: skip


@router.post(HERE + "/{member_id}/erase")
async def erase(request: Request, session: MembersUser, member_id: str) -> Response:
    form = await read_form(request, session, "confirm")
    merchant_id = merchant_of(session)

    def change() -> str:
        if form["confirm"] != "yes":
            raise InvalidInput("portal.confirm", N_("Tick the box to confirm"))
        tp(request).members.erase(_id(member_id), merchant_id=merchant_id,
                                  channel=Channel.PORTAL, by=actor(session))  # fmt: skip
        return _("The member's personal data is erased.")

    return _act(request, session, f"{HERE}/{member_id[:18]}", "member erased",
                f"member {member_id[:18]}", change)  # fmt: skip


# --- coupons --------------------------------------------------------------------------------------


@router.get(COUPONS, response_class=HTMLResponse)
def coupons_page(request: Request, session: MembersUser) -> Response:
    merchant_id = merchant_of(session)
    app = tp(request)
    rows = app.coupons.search(merchant_id, before_id=query_int(request, "after") or None,
                              limit=PAGE + 1)  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "portal/members/coupons.html",
                templates=app.coupons.templates(merchant_id), rows=rows, yuan=yuan,
                next_href=page_link(request, after=rows[-1].id) if more else "",
                tab="coupons")  # fmt: skip


@router.post(COUPONS + "/templates")
async def add_template(request: Request, session: MembersUser) -> Response:
    form = await read_form(request, session, "name", "kind", "value", "min_spend", "days",
                           "uses")  # fmt: skip
    merchant_id = merchant_of(session)

    def change() -> str:
        percent = form["kind"] == "percent"
        t = tp(request).coupons.create_template(merchant_id, CouponValue(
            name=form["name"], kind=CouponKind.PERCENT if percent else CouponKind.AMOUNT,
            amount_minor=None if percent else parse_yuan(form["value"], "amount"),
            percent=_decimal(form["value"], _("Percentage")) if percent else None,
            min_spend_minor=parse_yuan(form["min_spend"] or "0", "min_spend"),
            valid_days=_int(form["days"] or "30", _("Days")),
            uses=_int(form["uses"] or "1", _("Uses")),
        ))  # fmt: skip
        return _("Coupon kind {name} added.").format(name=t.name)

    return _act(request, session, COUPONS, "coupon kind added", f"merchant {merchant_id}",
                change)  # fmt: skip


@router.post(COUPONS + "/templates/{template_id}")
async def toggle_template(request: Request, session: MembersUser, template_id: str) -> Response:
    form = await read_form(request, session, "active")
    merchant_id = merchant_of(session)

    def change() -> str:
        t = tp(request).coupons.set_template_active(merchant_id, _id(template_id),
                                                    form["active"] == "yes")  # fmt: skip
        return (_("Coupons of {name} are issued again.") if t.active
                else _("Coupons of {name} are no longer issued.")).format(name=t.name)  # fmt: skip

    return _act(request, session, COUPONS, "coupon kind switched", f"template {template_id[:18]}",
                change)  # fmt: skip


@router.post(COUPONS + "/issue")
async def issue_bearer(request: Request, session: MembersUser) -> Response:
    form = await read_form(request, session, "template", "count")
    merchant_id = merchant_of(session)

    def change() -> str:
        made = tp(request).coupons.issue(merchant_id, template_id=_id(form["template"] or "0"),
                                         count=_int(form["count"] or "1", _("How many")),
                                         by=actor(session))  # fmt: skip
        return _("{n} coupons issued.").format(n=len(made))

    return _act(request, session, COUPONS, "coupons issued", f"merchant {merchant_id}", change)


@router.post(COUPONS + "/{coupon_id}/void")
async def void_coupon(request: Request, session: MembersUser, coupon_id: str) -> Response:
    await read_form(request, session)
    merchant_id = merchant_of(session)

    def change() -> str:
        c = tp(request).coupons.void(merchant_id, _id(coupon_id))
        return _("Coupon {code} withdrawn.").format(code=c.code)

    return _act(request, session, COUPONS, "coupon voided", f"coupon {coupon_id[:18]}", change)


# --- the programme ------------------------------------------------------------------------------


@router.get(LOYALTY, response_class=HTMLResponse)
def loyalty_page(request: Request, session: MembersUser) -> Response:
    merchant_id = merchant_of(session)
    app = tp(request)
    programme = app.loyalty.get(merchant_id)
    levels = list(programme.levels) + [None] * (LEVEL_ROWS - len(programme.levels))
    return page(request, session, "portal/members/loyalty.html", p=programme, levels=levels,
                shops=app.merchants.list_shops(str(merchant_id)),
                shop_rates={x.shop_number: x.points_per_yuan for x in programme.shop_rates},
                categories=app.catalogue.categories(merchant_id),
                multiples={x.category_id: x.multiplier for x in programme.category_multipliers},
                templates=app.coupons.templates(merchant_id),
                prices=app.loyalty.member_prices(merchant_id), yuan=yuan,
                tab="loyalty")  # fmt: skip


@router.post(LOYALTY)
async def save_loyalty(request: Request, session: MembersUser) -> Response:
    app = tp(request)
    merchant_id = merchant_of(session)
    shops = app.merchants.list_shops(str(merchant_id))
    categories = app.catalogue.categories(merchant_id)
    fields = ["scope", "points_per_yuan", "redeem_points", "redeem_yuan", "signup", "birthday",
              "notice_version", "notice_text"]  # fmt: skip
    fields += [f"level_{i}_{k}" for i in range(LEVEL_ROWS) for k in ("name", "spend", "percent")]
    fields += [f"shop_{x.number}" for x in shops] + [f"category_{c.id}" for c in categories]
    form = await read_form(request, session, *fields, max_chars=2000)

    def change() -> str:
        levels = tuple(
            LevelIn(form[f"level_{i}_name"], parse_yuan(form[f"level_{i}_spend"] or "0", "spend"),
                    _decimal(form[f"level_{i}_percent"], _("Percentage off")))
            for i in range(LEVEL_ROWS) if form[f"level_{i}_name"]
        )  # fmt: skip
        template = {t.id for t in app.coupons.templates(merchant_id)}
        signup, birthday = form["signup"], form["birthday"]
        app.loyalty.update(merchant_id, LoyaltyIn(
            scope=MemberScope.SHOP if form["scope"] == "shop" else MemberScope.MERCHANT,
            points_per_yuan=_decimal(form["points_per_yuan"], _("Points per yuan")),
            shop_rates=tuple((x.number, _decimal(form[f"shop_{x.number}"], _("Points per yuan")))
                             for x in shops if form[f"shop_{x.number}"]),
            category_multipliers=tuple(
                (c.id, _decimal(form[f"category_{c.id}"], _("Multiple")))
                for c in categories if form[f"category_{c.id}"]),
            redeem_points=_int(form["redeem_points"] or "100", _("Points")),
            redeem_minor=parse_yuan(form["redeem_yuan"] or "1", "redeem"),
            levels=levels,
            signup_template_id=int(signup) if signup.isdigit() and int(signup) in template
            else None,
            birthday_template_id=int(birthday) if birthday.isdigit() and int(birthday) in template
            else None,
            notice_version=form["notice_version"], notice_text=form["notice_text"],
        ), actor(session))  # fmt: skip
        return _("The loyalty programme is saved.")

    return _act(request, session, LOYALTY, "loyalty saved", f"merchant {merchant_id}", change)


@router.post(LOYALTY + "/member-prices")
async def member_price(request: Request, session: MembersUser) -> Response:
    form = await read_form(request, session, "sku", "price")
    merchant_id = merchant_of(session)

    def change() -> str:
        app = tp(request)
        product_id = app.loyalty.product_by_sku(merchant_id, form["sku"])
        price = parse_yuan(form["price"]) if form["price"] else None
        app.loyalty.set_member_price(merchant_id, product_id, price)
        if price is None:
            return _("{sku} has no member price now.").format(sku=form["sku"][:40])
        return _("{sku}'s member price is saved.").format(sku=form["sku"][:40])

    return _act(request, session, f"{LOYALTY}#prices", "member price set",
                f"merchant {merchant_id}", change)  # fmt: skip
