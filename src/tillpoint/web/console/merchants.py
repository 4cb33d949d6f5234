"""The console's merchants: a searchable list, and one merchant's page (profile, shops,
terminals, fee plan, limits, payments, settlements, hold, statements, history) with the
actions on it.

Everyone of the area reads (reviewer, fleet, risk, finance, admin); suspending,
reinstating and closing are for reviewers and risk; moving to another fee plan for
finance and reviewers; opening a shop for reviewers (an admin may do all). Every change
goes through the merchant services, which keep the history under the person's name.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.merchants import validation
from tillpoint.merchants.models import HAS_MID, MerchantKind, MerchantStatus
from tillpoint.merchants.views import MerchantView
from tillpoint.payments.search import PaymentSearch
from tillpoint.web.page import (
    MERCHANTS,
    PAGE,
    R,
    after_action,
    area_guard,
    audit,
    day_of,
    enum_query,
    page,
    page_link,
    query_int,
    query_text,
    read_form,
    speak,
    tp,
    trouble,
)
from tillpoint.web.page import actor as actor_of

router = APIRouter(include_in_schema=False)

Readers = Annotated[SignedIn, area_guard(MERCHANTS)]
Deciders = Annotated[SignedIn, area_guard(MERCHANTS, R.REVIEWER, R.RISK)]
Pricers = Annotated[SignedIn, area_guard(MERCHANTS, R.FINANCE, R.REVIEWER)]
ShopOpeners = Annotated[SignedIn, area_guard(MERCHANTS, R.REVIEWER)]

RECENT_SETTLEMENTS = 10
HOME = "/console/merchants"

# What each lifecycle action does to the merchant, and the message it leaves.
MOVES = {
    "suspend": N_("Merchant {ref} suspended."),
    "reinstate": N_("Merchant {ref} reinstated."),
    "close": N_("Merchant {ref} closed."),
}


def parse_day(text: str, what: str) -> date:
    """A date typed as 2026-12-04; anything else is a clear refusal."""
    day = day_of(text)
    if day is None:
        raise InvalidInput(
            "console.bad_day", N_("Give {what} as a date like 2026-12-04"), what=_(what)
        )
    return day


# --- pages ---------------------------------------------------------------------------------


def ref_of(m: MerchantView) -> str:
    """How the merchant's page is addressed: its MID, or its application number."""
    return m.mid or str(m.id)


@router.get("/console/merchants", response_class=HTMLResponse)
def merchant_list(request: Request, session: Readers) -> Response:
    q = query_text(request, "q")
    state = enum_query(request, "state", MerchantStatus)
    kind = enum_query(request, "kind", MerchantKind)
    rows = tp(request).merchants.search(
        status=state, kind=kind, text=q, after_id=query_int(request, "after"), limit=PAGE
    )
    next_href = page_link(request, after=rows[-1].id) if len(rows) == PAGE else None
    return page(request, session, "console/merchants/list.html", rows=rows, q=q,
                state=state, kind=kind, states=list(MerchantStatus), kinds=list(MerchantKind),
                next_href=next_href, ref_of=ref_of)  # fmt: skip


@router.get("/console/merchants/{ref}", response_class=HTMLResponse)
def merchant_page(request: Request, session: Readers, ref: str) -> Response:
    app = tp(request)
    try:
        m = app.merchants.get(ref[:20])
    except TillpointError as e:
        return trouble(request, session, e, HOME)
    key = ref_of(m)
    has_mid = m.status in HAS_MID
    terminals = app.terminals.search(
        merchant_ref=key, after_id=query_int(request, "tafter"), limit=PAGE
    )
    before = query_int(request, "before") or None
    payments = PaymentSearch(app.ctx).newest(key, before_id=before, limit=PAGE)
    limits = next(x for x in app.limits.list() if x.kind is m.kind)
    mid = m.mid or ""
    return page(
        request, session, "console/merchants/detail.html",
        m=m, key=key,
        history=app.merchants.history(key),
        plan=app.fees.current_plan(key) if has_mid else None,
        plan_history=app.fees.history(key),
        plans=app.fees.list_plans(),
        limits=limits,
        terminals=terminals,
        terminals_next=(page_link(request, tafter=terminals[-1].id)
                        if len(terminals) == PAGE else None),
        payments=payments,
        payments_next=(page_link(request, before=payments[-1].id)
                       if len(payments) == PAGE else None),
        settlements=app.settlement.recent(mid, limit=RECENT_SETTLEMENTS) if mid else [],
        hold=app.settlement.current_hold(mid) if mid else None,
        today=app.ctx.today().isoformat(),
        may_decide=session.account.has(R.REVIEWER, R.RISK),
        may_price=session.account.has(R.FINANCE, R.REVIEWER),
        may_open_shop=session.account.has(R.REVIEWER),
        sees_fleet=session.account.has(R.FLEET),
    )  # fmt: skip


@router.get("/console/merchants/{ref}/statement")
def statement(request: Request, session: Readers, ref: str) -> Response:
    """A day's statement as the merchant gets it, HTML or PDF, as a file to save (its
    own styles are inline, which the console's pages never run)."""
    speak(request, session)
    back = f"{HOME}/{ref[:20]}"
    app = tp(request)
    try:
        day = parse_day(query_text(request, "day", 10), N_("the statement's day"))
        st = app.statements.statement(ref[:20], day)
    except TillpointError as e:
        return trouble(request, session, e, back)
    pdf = query_text(request, "format", 4) == "pdf"
    name = f"statement-{st.mid}-{day:%Y%m%d}.{'pdf' if pdf else 'html'}"
    body: bytes | str = app.statements.pdf(st) if pdf else app.statements.html(st)
    return Response(
        body,
        media_type="application/pdf" if pdf else "text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/console/merchants/{ref}/{move}")
async def lifecycle(request: Request, session: Deciders, ref: str, move: str) -> Response:
    """Suspend, reinstate or close, with a reason."""
    if move not in MOVES:
        raise HTTPException(status_code=404)
    form = await read_form(request, session, "reason")
    back = f"{HOME}/{ref[:20]}"
    service = tp(request).merchants
    act = {"suspend": service.suspend, "reinstate": service.reinstate, "close": service.close}
    try:
        m = act[move](ref[:20], actor_of(session), form["reason"])
    except TillpointError as e:
        return after_action(back, e.localized(), error=True)
    return after_action(back, _(MOVES[move]).format(ref=ref_of(m)))


@router.post("/console/merchants/{ref}/fee-plan/change")
async def change_fee_plan(request: Request, session: Pricers, ref: str) -> Response:
    form = await read_form(request, session, "plan", "effective_from", "reason")
    back = f"{HOME}/{ref[:20]}"
    try:
        start = (
            parse_day(form["effective_from"], N_("the day it takes effect"))
            if form["effective_from"]
            else None
        )
        if not form["plan"]:
            raise InvalidInput("console.fee_plan_missing", N_("Choose a fee plan"))
        a = tp(request).fees.assign(
            ref[:20], form["plan"], actor_of(session), effective_from=start, reason=form["reason"]
        )
    except TillpointError as e:
        return after_action(back, e.localized(), error=True)
    message = _("Fee plan {plan} from {day}.").format(plan=a.plan_code, day=a.effective_from)
    return after_action(back, message)


@router.post("/console/merchants/{ref}/shops/add")
async def add_shop(request: Request, session: ShopOpeners, ref: str) -> Response:
    form = await read_form(request, session, "name", "address", "city", "latitude", "longitude")
    back = f"{HOME}/{ref[:20]}"
    try:
        position = validation.position(form["latitude"], form["longitude"])
        shop = tp(request).merchants.add_shop(
            ref[:20], form["name"], form["address"], actor_of(session),
            position=position, city=form["city"],
        )  # fmt: skip
    except TillpointError as e:
        return after_action(back, e.localized(), error=True)
    audit(request, session, "shop opened", f"merchant {ref[:20]} shop {shop.number}",
          name=shop.name)  # fmt: skip
    return after_action(back, _("Shop {number} ({name}) opened.").format(
        number=shop.number, name=shop.name))  # fmt: skip
