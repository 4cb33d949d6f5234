"""The portal's home: the merchant's takings today (a cashier's: its shop's), split by
payment method, shop and terminal; the last 7 and 30 days as charts; the next payout;
and "payment received" (收款到账) as each payment lands.

The live part, ``GET /portal/feed``, streams the merchant's payment events (the event
stream the REST API serves too, http/sse.py, scoped to the merchant) as server-sent
events: for each payment received, the notice and the row of the received list, and
with every batch the day's figures drawn anew. An applicant has no takings: their home
is their application. The page works without script (figures as of loading)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import AccountRole
from tillpoint.app import Tillpoint
from tillpoint.core.i18n import _, set_locale
from tillpoint.notify.events import EventView
from tillpoint.payments.models import PaymentKind, PaymentStatus
from tillpoint.payments.takings import DayTakings, Received, Split
from tillpoint.web.auth import Member
from tillpoint.web.charts import bar_chart_by_day, split_bars
from tillpoint.web.page import (
    FEED_MAX_S,
    P_APPLICATION,
    P_HOME,
    cashier_shop,
    live_events,
    page,
    portal_guard,
    speak,
    tp,
)
from tillpoint.web.render import choose_locale, environment, money, page_text

router = APIRouter(include_in_schema=False)

Seller = Annotated[SignedIn, portal_guard(P_HOME)]

FIGURES = "portal/home/_figures.html"
RECEIVED_ROW = "portal/home/_received_row.html"
RECEIVED_ROWS = 8
RECEIVED = (PaymentKind.SALE, PaymentKind.COMPLETION)


@router.get("/portal", response_class=HTMLResponse)
def portal_home(request: Request, session: Member) -> Response:
    """An applicant goes to their application; a merchant's user sees the takings."""
    if AccountRole.APPLICANT in session.account.roles:
        return RedirectResponse(P_APPLICATION.href, status_code=303)
    return _home(request, session)


def _scope(session: SignedIn) -> tuple[int, int | None]:
    """The merchant, and the shop for a cashier (None: all the merchant's shops)."""
    assert session.account.merchant_id is not None  # a merchant's user (web/auth.py member)
    return session.account.merchant_id, cashier_shop(session)


def _figures(app: Tillpoint, session: SignedIn, today: date) -> Markup:
    """The day's figures and their splits, drawn in the current language."""
    merchant_id, shop_id = _scope(session)
    takings = app.takings.day(merchant_id, today, shop_id=shop_id)
    html = environment().get_template(FIGURES).render(
        t=takings, by_method=_split_chart(takings, "method"),
        by_shop=_split_chart(takings, "shop"), by_terminal=_split_chart(takings, "terminal"),
        cashier=shop_id is not None,
    )  # fmt: skip
    return Markup(html)  # noqa: S704 (a template of ours, autoescaped)


def _split_chart(t: DayTakings, by: str) -> Markup:
    def label(x: Split) -> str:
        if by == "method":
            return page_text(x.key) if x.key else _("Other")
        if by == "shop":
            return _("Shop {number} {name}").format(number=x.key, name=x.label).strip()
        return x.key or _("Online (API)")

    splits = {"method": t.by_method, "shop": t.by_shop, "terminal": t.by_terminal}[by]
    title = {
        "method": _("Takings today by payment method"),
        "shop": _("Takings today by shop"),
        "terminal": _("Takings today by terminal"),
    }[by]
    return split_bars([(label(x), x.volume_minor) for x in splits], title=title,
                      value_format=lambda v: money(v, t.currency))  # fmt: skip


def _home(request: Request, session: SignedIn) -> Response:
    speak(request, session)  # the charts are drawn before the page: in its language
    app = tp(request)
    merchant_id, shop_id = _scope(session)
    today = app.days.open_date()
    merchant = app.merchants.get(str(merchant_id))
    month = app.takings.daily(merchant_id, today, 30, shop_id=shop_id)

    def chart(days: int, title: str) -> Markup:
        totals = [(f"{t.day:%m-%d}", t.volume_minor) for t in month[-days:]]
        return bar_chart_by_day(totals, title=title, value_format=money)

    payout: dict[str, object] = {}
    if shop_id is None and merchant.mid:  # a cashier sees no money but its shop's takings
        payout = {
            "upcoming": app.settlement.next_payout(merchant.mid),
            "hold": app.settlement.hold_notice(merchant.mid),
            "bank_account": f"{merchant.bank_name} {merchant.bank_account_masked}",
        }
    return page(
        request,
        session,
        "portal/home/home.html",
        payout=payout,
        account=session.account,
        merchant=merchant,
        today=today,
        figures=_figures(app, session, today),
        week=chart(7, _("Takings, the last 7 days")),
        month=chart(30, _("Takings, the last 30 days")),
        received=app.takings.received(merchant_id, today, shop_id=shop_id, limit=RECEIVED_ROWS),
        received_rows=RECEIVED_ROWS,
        cashier=shop_id is not None,
    )


def _feed_messages(
    app: Tillpoint, session: SignedIn, locale: str
) -> Callable[[list[EventView]], list[str]]:
    """Server-sent events: ``received`` for each payment that landed (its notice and its
    row), then ``figures`` once per batch (the day's figures drawn anew)."""
    merchant_id, shop_id = _scope(session)
    shop_number = None
    if shop_id is not None:
        shop_number = next(
            (x.number for x in app.merchants.list_shops(str(merchant_id)) if x.id == shop_id), -1
        )

    def messages(events: list[EventView]) -> list[str]:
        mine = [e for e in events if shop_number is None or e.data.shop_number == shop_number]
        if not mine:
            return []
        set_locale(locale)  # this worker thread's own context: the page's language
        out = []
        row = environment().get_template(RECEIVED_ROW)
        seen: set[int] = set()
        for event in mine:
            p = event.data
            landed = (
                p.kind in RECEIVED
                and event.to_status is PaymentStatus.APPROVED
                and event.from_status in (None, PaymentStatus.PENDING)
            )
            if not landed or p.id in seen:
                continue
            seen.add(p.id)
            amount = money(p.amount_minor, p.currency)
            data = {
                "payment": p.id,
                "notice": _("Payment received: {amount}").format(amount=amount),
                "speech": _("Payment received, {amount}").format(amount=amount),
                "row": row.render(r=Received(p.id, p.created_at, p.amount_minor, p.currency,
                                             p.method.value if p.method else "", p.tid or "")),
            }  # fmt: skip
            out.append(f"id: {event.id}\nevent: received\ndata: {json.dumps(data)}\n\n")
        today = app.days.open_date()
        figures = json.dumps({"html": str(_figures(app, session, today))})
        out.append(f"id: {mine[-1].id}\nevent: figures\ndata: {figures}\n\n")
        return out

    return messages


@router.get("/portal/feed")
async def live_feed(
    request: Request,
    session: Seller,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=18)] = None,
    timeout_s: Annotated[float | None, Query(gt=0, le=FEED_MAX_S)] = None,
) -> StreamingResponse:
    """The merchant's payments as they land (a cashier's: its shop's), as server-sent
    events. Without Last-Event-ID it starts with the next."""
    app = tp(request)
    merchant_id, _shop = _scope(session)
    locale, _asked = choose_locale(request, session.account.locale)
    return await live_events(request, merchant_id, last_event_id, timeout_s,
                             _feed_messages(app, session, locale))  # fmt: skip
