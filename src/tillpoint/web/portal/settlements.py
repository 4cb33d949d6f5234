"""The portal's settlements (owner and manager): the merchant's settled days newest
first with each day's gross, refunds, fees, data fees, net, payout, payout date and
payout state; on top, the next payout and any hold in force; and a day's statement, in
the page and as a file to save (HTML or PDF, the statements the console gives).

Everything is read for the signed-in account's own merchant (``session.account.mid``):
a day on which only another merchant was settled answers 404, as does a day that is no
business day; a day not settled yet says when it will be. The figures and their rules
are the clearing package's (``SettlementService``, ``StatementService``), as in the
console.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.clearing.days import DayState
from tillpoint.clearing.payouts import payout_state
from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import _
from tillpoint.web.page import (
    P_SETTLEMENTS,
    PAGE,
    audit,
    day_of,
    page,
    page_link,
    portal_guard,
    query_int,
    speak,
    tp,
)

router = APIRouter(include_in_schema=False)

Payees = Annotated[SignedIn, portal_guard(P_SETTLEMENTS)]

HOME = P_SETTLEMENTS.href  # /portal/settlements
FORMATS = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _missing(request: Request, session: SignedIn, message: str) -> HTMLResponse:
    speak(request, session)
    return page(request, session, "console/trouble.html", status_code=404, message=message,
                back=HOME)  # fmt: skip


def _not_settled(request: Request, session: SignedIn, when: date, *, status_code: int) -> Response:
    """A day without this merchant's settlement: not a business day yet (404), open or
    closed and waiting for its run (said, with when the money comes), or settled with
    nothing for this merchant (404: what another merchant had that day is not shown)."""
    speak(request, session)
    try:
        day = tp(request).days.summary(when)
    except TillpointError:
        return _missing(request, session, _("There is no business day {day}.").format(day=when))
    if day.state is DayState.SETTLED:
        return _missing(request, session,
                        _("You have no settlement for {day}: nothing was booked for you that "
                          "day.").format(day=when))  # fmt: skip
    if day.state is DayState.OPEN:
        message = _("{day} is today's business day and still taking payments. It is settled "
                    "after its cut-off, and its net is paid the next business day.")  # fmt: skip
    else:
        message = _("{day} is closed and waiting for its settlement, which comes shortly. Its "
                    "statement is here once it is settled.")  # fmt: skip
    return page(request, session, "portal/settlements/unsettled.html", status_code=status_code,
                day=when, message=message.format(day=when))  # fmt: skip


@router.get("/portal/settlements", response_class=HTMLResponse)
def settlements_page(request: Request, session: Payees) -> Response:
    """The next payout, any hold, and the settled days newest first, 50 a page
    (``before=<settlement id>``)."""
    mid = session.account.mid
    if not mid:
        return _missing(request, session, _("Your merchant has no MID yet."))
    app = tp(request)
    before = query_int(request, "before") or None
    rows = app.settlement.recent(mid, before_id=before, limit=PAGE + 1)
    next_href = page_link(request, before=rows[PAGE - 1].id) if len(rows) > PAGE else ""
    rows = rows[:PAGE]
    today = app.ctx.today()
    merchant = app.merchants.get(mid)
    return page(
        request, session, "portal/settlements/list.html",
        rows=rows, next_href=next_href, first_page=before is None,
        states={r.id: payout_state(r.status, r.payout_date, today) for r in rows},
        upcoming=app.settlement.next_payout(mid),
        hold=app.settlement.hold_notice(mid),
        account=f"{merchant.bank_name} {merchant.bank_account_masked}",
    )  # fmt: skip


@router.get("/portal/settlements/{day}", response_class=HTMLResponse)
def day_page(request: Request, session: Payees, day: str) -> Response:
    """One settled day's statement in the page (its transactions 50 at a time,
    ``from=<n>``), with the links to save it as HTML or PDF."""
    mid, when = session.account.mid, day_of(day)
    if not mid or when is None:
        speak(request, session)
        return _missing(request, session, _("{value} is not a date (YYYY-MM-DD)").format(
            value=day[:20]))  # fmt: skip
    app = tp(request)
    rows = app.settlement.show(when, mid)
    if not rows:
        return _not_settled(request, session, when, status_code=200)
    st = app.statements.statement(mid, when)
    start = min(query_int(request, "from"), len(st.lines))
    lines = st.lines[start : start + PAGE]
    more = start + PAGE < len(st.lines)
    row = rows[0]
    return page(
        request, session, "portal/settlements/day.html",
        st=st, row=row, state=payout_state(row.status, row.payout_date, app.ctx.today()),
        lines=lines, first_line=start + 1,
        lines_next=page_link(request, **{"from": start + PAGE}) if more else "",
        lines_back=page_link(request, **{"from": None}) if start else "",
        iso=when.isoformat(),
    )  # fmt: skip


@router.get("/portal/settlements/{day}/statement.{fmt}")
def statement_file(request: Request, session: Payees, day: str, fmt: str) -> Response:
    """The day's statement as a file to save: the merchant's own self-contained HTML
    page (its styles inline, which the portal's pages never allow) or its PDF, whose
    font is embedded."""
    mid, when = session.account.mid, day_of(day)
    if not mid or when is None or fmt not in FORMATS:
        speak(request, session)
        return _missing(request, session, _("There is no statement at this address."))
    app = tp(request)
    if not app.settlement.show(when, mid):
        return _not_settled(request, session, when, status_code=404)
    st = app.statements.statement(mid, when)
    body = app.statements.pdf(st) if fmt == "pdf" else app.statements.html(st).encode("utf-8")
    audit(request, session, f"statement {fmt}", f"merchant {mid} day {when}",
          merchant_id=session.account.merchant_id)  # fmt: skip
    name = f"statement-{mid}-{when.isoformat()}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    return Response(body, media_type=FORMATS[fmt], headers=headers)
