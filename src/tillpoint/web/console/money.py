"""Days and money (finance, admin): the business days and their state, the cut-off
(日切), reconciliation with the networks' files and the settlement run (一清) of a day,
its settlements, payout file and statements, and the merchants whose payouts are held.

Each action does what ``tillpoint settle ...`` does, through the same services and their
checks: ``cutoff`` closes the open day, ``reconcile`` matches a closed day with the
networks' clearing files (a difference holds the merchant), ``run`` settles a closed day
(refused while it is open or an earlier day is not settled), ``hold``/``release``.
The actions run on a worker thread: a day's settlement may take a while, and the event
loop serves everyone else meanwhile.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.clearing.days import DayState
from tillpoint.clearing.models import SettlementStatus
from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.web.page import (
    MONEY,
    PAGE,
    actor,
    after_action,
    area_guard,
    audit,
    day_of,
    page,
    page_link,
    query_int,
    query_text,
    read_form,
    tp,
)
from tillpoint.web.render import money

router = APIRouter(include_in_schema=False)
Finance = Annotated[SignedIn, area_guard(MONEY)]

DAYS = MONEY.href  # /console/days
HOLDS = "/console/holds"
# A day's state as shown: its label, and the colour class of the label (the text says
# it; the colour only repeats it).
STATE_LABELS = {
    DayState.OPEN: N_("Open: taking payments"),
    DayState.CLOSED: N_("Closed, not reconciled"),
    DayState.RECONCILED: N_("Reconciled, not settled"),
    DayState.SETTLED: N_("Settled"),
}
STATE_CLASSES = {
    DayState.OPEN: "open",
    DayState.CLOSED: "closed_day",
    DayState.RECONCILED: "reconciled",
    DayState.SETTLED: "settled",
}
MID_CHARS = 15


def _missing(request: Request, session: SignedIn, what: str) -> HTMLResponse:
    return page(request, session, "console/money/missing.html", status_code=404, what=what)


def _states() -> dict[str, Any]:
    return {"state_labels": STATE_LABELS, "state_classes": STATE_CLASSES}


# --- the days ---------------------------------------------------------------------------


@router.get("/console/days", response_class=HTMLResponse)
def days_page(request: Request, session: Finance) -> HTMLResponse:
    """Business days newest first, a page of 50 at a time (``before=<date>``)."""
    before = day_of(query_text(request, "before", 10))
    rows = tp(request).days.history(before=before, limit=PAGE + 1)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    next_href = page_link(request, before=rows[-1].business_date.isoformat()) if more else ""
    open_day = next((d for d in rows if d.state is DayState.OPEN), None)
    return page(request, session, "console/money/days.html", days=rows, next_href=next_href,
                open_day=open_day, first_page=before is None, **_states())  # fmt: skip


@router.post("/console/days/cut-off")
async def cut_off(request: Request, session: Finance) -> Response:
    """日切 now, as ``tillpoint settle cutoff``: only the open day the page showed."""
    form = await read_form(request, session, "day")
    expected = day_of(form["day"])
    if expected is None:
        return after_action(DAYS, _("Give the business day to close (YYYY-MM-DD)"), error=True)
    try:
        day = await asyncio.to_thread(tp(request).days.cut_off, actor(session), expected)
    except TillpointError as e:
        audit(request, session, "cut-off", f"business day {expected}", e)
        return after_action(DAYS, e.localized(), error=True)
    audit(request, session, "cut-off", f"business day {day}")
    return after_action(
        f"{DAYS}/{day.isoformat()}",
        _("Business day {day} is closed; payments now belong to the next one.").format(day=day),
    )


@router.get("/console/days/{day}", response_class=HTMLResponse)
def day_page(request: Request, session: Finance, day: str) -> HTMLResponse:
    """One day: its state and totals, the reconciliation's differences, the settlement
    of each merchant (each list paged on its own), the payout file, the statements."""
    when = day_of(day)
    app = tp(request)
    if when is None:
        return _missing(request, session, day)
    try:
        summary = app.days.summary(when)
    except TillpointError:
        return _missing(request, session, day)
    mid = query_text(request, "mid", MID_CHARS)
    items = app.reconciliation.items(when, after_id=query_int(request, "items_after"),
                                     limit=PAGE + 1)  # fmt: skip
    items_next = page_link(request, items_after=items[PAGE - 1].id) if len(items) > PAGE else ""
    after = query_int(request, "after")
    rows = app.settlement.settlements(business_date=when, mid=mid or None, after_id=after,
                                      limit=PAGE + 1)  # fmt: skip
    rows_next = page_link(request, after=rows[PAGE - 1].id) if len(rows) > PAGE else ""
    items, rows = items[:PAGE], rows[:PAGE]
    held = app.settlement.held_mids([r.mid for r in rows])
    unsettled = app.days.unsettled()
    earlier = next((d for d in unsettled if d < when), None)
    return page(request, session, "console/money/day.html", day=summary, items=items,
                items_next=items_next, rows=rows, rows_next=rows_next, held=held, mid=mid,
                earlier=earlier, **_states())  # fmt: skip


@router.post("/console/days/{day}/reconcile")
async def reconcile(request: Request, session: Finance, day: str) -> Response:
    """As ``tillpoint settle reconcile``: refused while the day is open; a second run
    reports what the first found."""
    await read_form(request, session)
    when = day_of(day)
    if when is None:
        return after_action(DAYS, _("{value} is not a date (YYYY-MM-DD)").format(value=day),
                            error=True)  # fmt: skip
    back = f"{DAYS}/{when.isoformat()}"
    try:
        result = await asyncio.to_thread(tp(request).reconciliation.run, when)
    except TillpointError as e:
        audit(request, session, "reconcile", f"business day {when}", e)
        return after_action(back, e.localized(), error=True)
    audit(request, session, "reconcile", f"business day {when}", matched=result.matched,
           problems=len(result.problems), held=len(result.held))  # fmt: skip
    message = _("{day}: references matched: {matched}; not matched: {problems}.").format(
        day=when, matched=result.matched, problems=result.unmatched
    )
    if result.held:
        message += " " + _("Payouts held for the differences: {n} merchants.").format(
            n=len(result.held)
        )
    return after_action(back, message, error=bool(result.problems))


@router.post("/console/days/{day}/settle")
async def settle(request: Request, session: Finance, day: str) -> Response:
    """As ``tillpoint settle run``: refused while the day is open or an earlier closed
    day is not settled; running it again settles only who is left."""
    await read_form(request, session)
    when = day_of(day)
    if when is None:
        return after_action(DAYS, _("{value} is not a date (YYYY-MM-DD)").format(value=day),
                            error=True)  # fmt: skip
    back = f"{DAYS}/{when.isoformat()}"
    try:
        rows = await asyncio.to_thread(tp(request).settlement.run, when)
    except TillpointError as e:
        audit(request, session, "settle", f"business day {when}", e)
        return after_action(back, e.localized(), error=True)
    paid = sum(r.payout_minor for r in rows if r.status is SettlementStatus.PAID)
    audit(request, session, "settle", f"business day {when}", merchants=len(rows),
           paid_minor=paid)  # fmt: skip
    return after_action(
        back,
        _("Business day {day} is settled: {n} merchants, payouts {amount}.").format(
            day=when, n=len(rows), amount=money(paid)
        ),
    )


@router.get("/console/days/{day}/payout-file")
def payout_file(request: Request, session: Finance, day: str) -> Response:
    """The bank's payout file of the day, as ``tillpoint settle export`` writes it: it
    holds account numbers in clear, so it is only ever a download, never kept."""
    when = day_of(day)
    if when is None:
        return _missing(request, session, day)
    text = tp(request).settlement.payout_file(when)
    # Account numbers in clear leave the database here: who took them, and when.
    audit(request, session, "payout file", f"business day {when}",
           payouts=max(text.count("\n") - 1, 0))  # fmt: skip
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="payouts-{when.isoformat()}.csv"',
            "Cache-Control": "no-store",
        },
    )


def _statement(request: Request, session: SignedIn, day: str, mid: str, fmt: str) -> Response:
    when = day_of(day)
    if when is None or len(mid) > MID_CHARS:
        return _missing(request, session, day)
    app = tp(request)
    try:
        st = app.statements.statement(mid, when)
    except TillpointError:
        return _missing(request, session, mid)
    name = f"statement-{st.mid}-{when.isoformat()}.{fmt}"
    audit(request, session, f"statement {fmt}", f"merchant {st.mid} day {when}")
    # A download: the statement is the merchant's own self-contained page (its styles
    # are inline, which the console's pages never allow), or its PDF.
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if fmt == "pdf":
        return Response(app.statements.pdf(st), media_type="application/pdf", headers=headers)
    return Response(app.statements.html(st).encode("utf-8"), media_type="text/html; charset=utf-8",
                    headers=headers)  # fmt: skip


@router.get("/console/days/{day}/statements/{mid}.html")
def statement_html(request: Request, session: Finance, day: str, mid: str) -> Response:
    return _statement(request, session, day, mid, "html")


@router.get("/console/days/{day}/statements/{mid}.pdf")
def statement_pdf(request: Request, session: Finance, day: str, mid: str) -> Response:
    return _statement(request, session, day, mid, "pdf")


# --- holds ------------------------------------------------------------------------------


@router.get("/console/holds", response_class=HTMLResponse)
def holds_page(request: Request, session: Finance) -> HTMLResponse:
    """The merchants whose payouts are held, in the order they were held."""
    mid = query_text(request, "mid", MID_CHARS)
    rows = tp(request).settlement.holds(mid=mid or None, after_id=query_int(request, "after"),
                                        limit=PAGE + 1)  # fmt: skip
    next_href = page_link(request, after=rows[PAGE - 1].id) if len(rows) > PAGE else ""
    return page(request, session, "console/money/holds.html", holds=rows[:PAGE],
                next_href=next_href, mid=mid)  # fmt: skip


@router.post("/console/holds")
async def hold(request: Request, session: Finance) -> Response:
    """As ``tillpoint settle hold MID --reason``: from the merchant's next settlement on."""
    form = await read_form(request, session, "mid", "reason")
    try:
        await asyncio.to_thread(
            tp(request).settlement.hold, form["mid"], form["reason"], actor(session)
        )
    except TillpointError as e:
        audit(request, session, "hold", f"merchant {form['mid']}", e)
        return after_action(HOLDS, e.localized(), error=True)
    audit(request, session, "hold", f"merchant {form['mid']}", reason=form["reason"])
    return after_action(HOLDS, _("Payouts of {mid} are held.").format(mid=form["mid"]))


@router.post("/console/holds/release")
async def release(request: Request, session: Finance) -> Response:
    """As ``tillpoint settle release MID``: what the hold kept back is paid out."""
    form = await read_form(request, session, "mid")
    try:
        rows = await asyncio.to_thread(tp(request).settlement.release, form["mid"], actor(session))
    except TillpointError as e:
        audit(request, session, "release", f"merchant {form['mid']}", e)
        return after_action(HOLDS, e.localized(), error=True)
    audit(request, session, "release", f"merchant {form['mid']}",
           paid_minor=sum(r.payout_minor for r in rows))  # fmt: skip
    return after_action(
        HOLDS,
        _("Payouts of {mid} are released: {amount} is paid out.").format(
            mid=form["mid"], amount=money(sum(r.payout_minor for r in rows))
        ),
    )
