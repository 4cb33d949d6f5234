"""The console's home: today's figures against yesterday's, the newest payments (live),
open applications, the business days, the payout holds and (for those who work them)
the open risk cases. Every member of staff sees it; the links go only to the areas the
person may open.

The figures come from the payment tallies (payments/tallies.py), never from a scan of
the payments. The live feed, ``GET /console/feed``, streams the REST API's payment
events (http/sse.py, the REST API's stream, and ``EventFeed``) as server-sent events, each
a table row rendered here, for the signed-in staff member's session; the page works
without it (the newest rows on each load)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from tillpoint.access.accounts import SignedIn
from tillpoint.app import Tillpoint
from tillpoint.core.i18n import _, set_locale
from tillpoint.notify.events import EventView
from tillpoint.overview import applications_by_state, day_status, open_holds
from tillpoint.web.charts import bar_chart_by_hour, split_bars
from tillpoint.web.page import (
    APPLICATIONS,
    FEED_MAX_S,
    HOME,
    MONEY,
    RISK,
    area_guard,
    live_events,
    page,
    speak,
    tp,
)
from tillpoint.web.render import choose_locale, environment, money

router = APIRouter(include_in_schema=False)

StaffMember = Annotated[SignedIn, area_guard(HOME)]

FEED_ROWS = 20  # the newest payments on the page; the live feed keeps as many
FEED_ROW = "console/home/_feed_row.html"


@router.get("/console", response_class=HTMLResponse)
def console_home(request: Request, session: StaffMember) -> Response:
    """The dashboard (a password made for the person is changed first: web/auth.py)."""
    speak(request, session)  # the charts are drawn before the page: in its language
    app = tp(request)
    today = app.days.open_date()
    yesterday = today - timedelta(days=1)
    figures = app.tallies.figures([today, yesterday])
    now, before = figures.days[today], figures.days[yesterday]
    methods = sorted(now.by_method.items(), key=lambda mv: (-mv[1], mv[0]))
    return page(
        request,
        session,
        "console/home/home.html",
        account=session.account,
        today=now,
        yesterday=before,
        behind=figures.behind,
        by_hour=bar_chart_by_hour(now.by_hour, before.by_hour,
                                  title=_("Volume by hour, today against yesterday"),
                                  value_format=money),
        by_method=split_bars([(_(m) if m else _("Other"), v) for m, v in methods if v],
                             title=_("Volume by payment method today"), value_format=money),
        feed=app.tallies.newest(FEED_ROWS),
        feed_rows=FEED_ROWS,
        applications=applications_by_state(app.ctx),
        days=day_status(app.ctx, today),
        holds=open_holds(app.ctx),
        sees_applications=APPLICATIONS.open_to(session),
        sees_money=MONEY.open_to(session),
        sees_risk=RISK.open_to(session),
        risk_cases=app.risk.open_counts() if RISK.open_to(session) else {},
    )  # fmt: skip


def _feed_messages(app: Tillpoint, locale: str) -> Callable[[list[EventView]], list[str]]:
    """Server-sent events of the payments the events are about: one ``payment`` event per
    payment, its row as the page draws it (the payment as it is now)."""

    def messages(events: list[EventView]) -> list[str]:
        if not events:
            return []
        set_locale(locale)  # this worker thread's own context: the page's language
        last = {event.data.id: event.id for event in events}
        rows = {r.payment_id: r for r in app.tallies.newest(len(last), payment_ids=last)}
        template = environment().get_template(FEED_ROW)
        out = []
        for payment_id, event_id in sorted(last.items(), key=lambda pe: pe[1]):
            if (row := rows.get(payment_id)) is None:
                continue
            data = json.dumps({"payment": payment_id, "row": template.render(row=row)})
            out.append(f"id: {event_id}\nevent: payment\ndata: {data}\n\n")
        return out

    return messages


@router.get("/console/feed")
async def live_feed(
    request: Request,
    session: StaffMember,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=18)] = None,
    timeout_s: Annotated[float | None, Query(gt=0, le=FEED_MAX_S)] = None,
) -> StreamingResponse:
    """Every merchant's payments as they happen, as server-sent events (``payment``: the
    payment's id and its table row). Without Last-Event-ID it starts with the next."""
    app = tp(request)
    locale, _asked = choose_locale(request, session.account.locale)
    return await live_events(request, None, last_event_id, timeout_s, _feed_messages(app, locale))
