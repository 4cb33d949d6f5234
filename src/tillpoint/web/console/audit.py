"""``/console/audit``: the audit log (admins only), newest first, a page at a time:
every change asked for over the API and every sign-in, lock, reset and role change of
the console. Filters: who (the actor, exactly), what (the action, exactly), the days
(Shanghai's calendar) and how it ended (2xx, 4xx, 5xx)."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.i18n import _
from tillpoint.web.page import (
    AUDIT,
    PAGE,
    area_guard,
    day_of,
    page,
    page_link,
    query_int,
    query_text,
    tp,
)

router = APIRouter(include_in_schema=False)
Admin = Annotated[SignedIn, area_guard(AUDIT)]
DETAIL_CHARS = 300
STATUS_CLASSES = ("2", "3", "4", "5")


def _start_of(day: date) -> datetime:
    """Midnight in Shanghai, the start of a business day."""
    return datetime.combine(day, time(0), BUSINESS_TZ)


def detail_text(detail: object) -> str:
    if not detail:
        return ""
    text = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "…"


@router.get(AUDIT.href, response_class=HTMLResponse)
def audit_log(request: Request, session: Admin) -> Response:
    who, what = query_text(request, "actor"), query_text(request, "action", 200)
    since_text, until_text = query_text(request, "from", 10), query_text(request, "to", 10)
    status = query_text(request, "status", 1)
    since, until = day_of(since_text), day_of(until_text)
    problems = []
    if (since_text and since is None) or (until_text and until is None):
        problems.append(_("A date is written 2026-12-04: that filter is left out."))
    if since and until and until < since:
        problems.append(_("The last day is before the first: no record can match."))
    before = query_int(request, "before") or None
    rows = tp(request).access.audit_log(
        before_id=before, limit=PAGE + 1, actor=who or None, action=what or None,
        since=_start_of(since) if since else None,
        until=_start_of(until + timedelta(days=1)) if until else None,
        status_class=int(status) if status in STATUS_CLASSES else None,
    )  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "console/audit/list.html", rows=rows, detail_text=detail_text,
                actor=who, action=what, since=since_text, until=until_text,
                status=status if status in STATUS_CLASSES else "", problems=problems,
                next_href=page_link(request, before=rows[-1].id) if more else "")  # fmt: skip
