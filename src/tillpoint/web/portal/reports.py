"""The portal's reports (``/portal/reports``): the shop's sales by hour, day, product,
category, shop, counter, cashier and tender, with the gross margin; returns and
discounts; stock value and slow movers; a mall's statement per counter. Each with its
chart (server-side SVG, ``web/charts.py``), its table, and the same report as a CSV or
XLSX file (``/portal/reports/<kind>.csv``).

Filters come in the address (a GET form: a report is a link to share): ``kind``,
``from`` and ``to`` (Shanghai's days; the last 30 by default), ``shop`` (a shop's
number), ``counter`` (a counter's id), ``max_sold`` (slow movers: units). A wrong one is
left out and said so. Owners and managers see every shop of their merchant; a cashier
sees its own shop only, whatever the address says. The figures and their rules are
``store/reports.py``'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from markupsafe import Markup

from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import _
from tillpoint.core.sheets import CSV_TYPE, XLSX_TYPE, csv_pieces, headers, xlsx_pieces
from tillpoint.store.models import MILLI
from tillpoint.store.reports import (
    MAX_DAYS,
    TITLES,
    CounterRef,
    Report,
    ReportFilter,
    ReportKind,
    ReportService,
    ShopRef,
    file_rows,
    file_words,
    label,
    sheet_columns,
)
from tillpoint.web.charts import bar_chart_by_day, split_bars
from tillpoint.web.page import (
    P_REPORTS,
    audit,
    cashier_shop,
    day_of,
    page,
    page_link,
    portal_guard,
    query_int,
    query_text,
    speak,
    tp,
)
from tillpoint.web.render import money, number

router = APIRouter(include_in_schema=False)

Viewer = Annotated[SignedIn, portal_guard(P_REPORTS)]

HOME = P_REPORTS.href
DEFAULT_DAYS = 30
SHOWN_ROWS = 100  # a table's rows in the page; the files have them all
CHART_ITEMS = 10
FILTERS = ("kind", "from", "to", "shop", "counter", "max_sold")
PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
# What each report's chart draws: (the rows' column to show, its label's column).
SALES_CHART = "net_minor"
SPLIT_LABEL = {
    ReportKind.PRODUCTS: "product",
    ReportKind.CATEGORIES: "category",
    ReportKind.SHOPS: "shop_name",
    ReportKind.COUNTER_SALES: "counter_name",
    ReportKind.CASHIERS: "cashier",
    ReportKind.TENDERS: "tender",
    ReportKind.STOCK: "shop_name",
    ReportKind.COUNTERS: "counter_name",
}
SPLIT_VALUE = {ReportKind.STOCK: "value_minor", ReportKind.COUNTERS: "takings_minor"}
BY_TIME = (ReportKind.HOURS, ReportKind.DAYS, ReportKind.REFUNDS)  # a wide chart of bars


@dataclass
class Asked:
    """The filters as the address gives them: the values to show back, what is wrong
    with any (left out), the filter itself."""

    values: dict[str, str]
    kind: ReportKind
    problems: list[str] = field(default_factory=list)
    filter: ReportFilter | None = None
    shops: list[ShopRef] = field(default_factory=list)
    counters: list[CounterRef] = field(default_factory=list)


def _merchant(session: SignedIn) -> int:
    merchant_id = session.account.merchant_id
    if merchant_id is None:
        raise HTTPException(status_code=404)  # (the door lets in only a merchant's users)
    return merchant_id


def read_filters(request: Request, session: SignedIn) -> Asked:
    merchant_id = _merchant(session)
    service = ReportService(tp(request).ctx)
    values = {name: query_text(request, name, 40) for name in FILTERS}
    kinds = {k.value: k for k in ReportKind}
    kind = kinds.get(values["kind"], ReportKind.DAYS)
    values["kind"] = kind.value
    asked = Asked(values, kind)
    first, last = _dates(values, asked.problems, tp(request).ctx.today())
    values.update({"from": first.isoformat(), "to": last.isoformat()})
    shops = service.shops(merchant_id)
    held = cashier_shop(session)
    if held is not None:
        shops = [x for x in shops if x.id == held]
        if not shops:
            raise HTTPException(status_code=404)  # a cashier without a shop sees nothing
    asked.shops = shops
    chosen: tuple[int, ...] = (held,) if held is not None else ()
    if values["shop"] and held is None:
        number_ = query_int(request, "shop")
        found = next((x.id for x in shops if x.number == number_), None)
        if found is None:
            asked.problems.append(_("There is no such shop: that filter is left out."))
            values["shop"] = ""
        else:
            chosen = (found,)
    in_scope = {x.id for x in shops} if not chosen else set(chosen)
    asked.counters = [c for c in service.counters(merchant_id) if c.shop_id in in_scope]
    counter = None
    if values["counter"]:
        counter = next((c.id for c in asked.counters if str(c.id) == values["counter"]), None)
        if counter is None:
            asked.problems.append(_("There is no such counter: that filter is left out."))
            values["counter"] = ""
    slow = _slow(values, asked.problems)
    try:
        asked.filter = ReportFilter(first, last, chosen, counter, slow)
    except InvalidInput as e:  # days past what a report may name
        asked.problems.append(e.localized())
        today = tp(request).ctx.today()
        first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
        values.update({"from": first.isoformat(), "to": last.isoformat()})
        asked.filter = ReportFilter(first, last, chosen, counter, slow)
    return asked


def _dates(values: dict[str, str], problems: list[str], today: date) -> tuple[date, date]:
    """The first and last days asked for (the last 30 days by default)."""
    first, last = day_of(values["from"]), day_of(values["to"])
    if (values["from"] and first is None) or (values["to"] and last is None):
        problems.append(_("A date is written 2026-12-04: that filter is left out."))
    last = last or today
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        problems.append(_("The last day is before the first: that filter is left out."))
        first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    if (last - first).days >= MAX_DAYS:
        problems.append(_("A report covers at most {days} days: the first day is moved "
                                "up.").format(days=MAX_DAYS))  # fmt: skip
        first = last - timedelta(days=MAX_DAYS - 1)
    return first, last


def _slow(values: dict[str, str], problems: list[str]) -> int:
    """The most a slow mover may have sold, in thousandths (typed in units)."""
    slow = 0
    if values["max_sold"]:
        try:
            units = Decimal(values["max_sold"])
            if not (units.is_finite() and 0 <= units <= 10**9):
                raise InvalidOperation
            slow = int(units * MILLI)
        except InvalidOperation:
            problems.append(_("Type a quantity like 2 or 0.5: that filter is left out."))
            values["max_sold"] = ""
    return slow


# --- what the page shows --------------------------------------------------------------------


def cell(kind: str, value: Any, currency: str) -> str:
    """A report's value as the page shows it; unknown (None) as a dash."""
    if value is None:
        return "—"
    if kind == "money":
        return money(value, currency)
    if kind == "quantity":
        return number((Decimal(value) / MILLI).normalize() if value % MILLI else value // MILLI)
    if kind == "percent":
        return f"{number(value)}%"
    if kind == "number":
        return number(value)
    if kind == "date":
        return str(value.isoformat())
    if kind == "label":
        return label(value)
    return str(value)


def table(r: Report) -> tuple[list[list[tuple[str, bool]]], list[tuple[str, bool]] | None]:
    """The rows and the total as (text, is a number) cells."""
    numeric = ("money", "quantity", "percent", "number")

    def cells(row: dict[str, Any]) -> list[tuple[str, bool]]:
        return [(cell(c.kind, row.get(c.key), r.currency) if c.key in row else "",
                 c.kind in numeric) for c in r.columns]  # fmt: skip

    rows = [cells(row) for row in r.rows[:SHOWN_ROWS]]
    total = None
    if r.total is not None:
        total = cells(r.total)
        first = next((i for i, c in enumerate(r.columns) if c.kind in ("text", "label", "date")),
                     0)  # fmt: skip
        total[first] = (_("Total"), False)
    return rows, total


def chart(r: Report) -> Markup | None:
    """The report's chart: net sales by hour or by day as bars, or the largest items of
    the others as horizontal bars; none for slow movers."""

    def fmt(v: int) -> str:
        return money(v, r.currency)

    title = _(TITLES[r.kind])
    if r.kind is ReportKind.HOURS:
        bars = [(f"{row['hour']:02d}:00", row[SALES_CHART]) for row in r.rows]
        return bar_chart_by_day(bars, title=title, value_format=fmt)
    if r.kind in (ReportKind.DAYS, ReportKind.REFUNDS):
        key = SALES_CHART if r.kind is ReportKind.DAYS else "refund_minor"
        bars = [(f"{row['day']:%m-%d}", row[key]) for row in r.rows]
        return bar_chart_by_day(bars, title=title, value_format=fmt)
    if r.kind not in SPLIT_LABEL:
        return None
    name, value = SPLIT_LABEL[r.kind], SPLIT_VALUE.get(r.kind, SALES_CHART)
    items = sorted(r.rows, key=lambda row: -(row.get(value) or 0))[:CHART_ITEMS]
    shown = [
        (label(row[name]) if r.kind is ReportKind.TENDERS else str(row[name]), row.get(value) or 0)
        for row in items
    ]
    return split_bars(shown, title=title, value_format=fmt)


FIGURES = (  # the sales reports' totals above the chart: key, title
    ("gross_minor", "Gross sales"),
    ("discount_minor", "Discounts"),
    ("refund_minor", "Refunds"),
    ("net_minor", "Net sales"),
    ("margin_minor", "Gross margin"),
)


def figures(r: Report) -> list[tuple[str, str]]:
    if r.total is None or "margin_minor" not in r.total:
        return []
    out = [(_(title), cell("money", r.total[key], r.currency)) for key, title in FIGURES]
    if r.total["margin_percent"] is not None:
        out.append((_("Margin %"), cell("percent", r.total["margin_percent"], r.currency)))
    return out


def query_of(request: Request, **changes: str | None) -> str:
    """The filters for a link (a tab, a file), without page or language."""
    link = page_link(request, **changes)
    return link[link.index("?") :] if "?" in link else ""


@router.get(HOME, response_class=HTMLResponse)
def reports_page(request: Request, session: Viewer) -> Response:
    speak(request, session)  # the charts are drawn before the page: in its language
    asked = read_filters(request, session)
    assert asked.filter is not None
    merchant_id = _merchant(session)
    r = ReportService(tp(request).ctx).report(merchant_id, asked.kind, asked.filter)
    rows, total = table(r)
    return page(
        request, session, "portal/reports/report.html",
        r=r, title=_(TITLES[r.kind]), kinds=[(k, _(TITLES[k])) for k in ReportKind],
        values=asked.values, problems=asked.problems, shops=asked.shops,
        counters=asked.counters, cashier=cashier_shop(session) is not None,
        columns=[_(c.title) for c in r.columns],
        numeric=[c.kind in ("money", "quantity", "percent", "number") for c in r.columns],
        rows=rows, total=total, more=max(0, len(r.rows) - SHOWN_ROWS), chart=chart(r),
        figures=figures(r), tab_query={k: query_of(request, kind=k.value) for k in ReportKind},
        files=query_of(request, kind=None), stock=r.kind is ReportKind.STOCK,
        wide=r.kind in BY_TIME,
    )  # fmt: skip


def _file(request: Request, session: SignedIn, kind_text: str, fmt: str) -> Response:
    speak(request, session)
    kinds = {k.value: k for k in ReportKind}
    if kind_text not in kinds:
        return page(request, session, "console/trouble.html", status_code=404,
                    message=_("There is no such report."), back=HOME)  # fmt: skip
    asked = read_filters(request, session)
    assert asked.filter is not None
    if asked.problems:
        return page(request, session, "portal/payments/refused.html", status_code=400,
                    problems=asked.problems, back=HOME + query_of(request))  # fmt: skip
    merchant_id = _merchant(session)
    r = ReportService(tp(request).ctx).report(merchant_id, kinds[kind_text], asked.filter)
    columns = sheet_columns(r)
    words = file_words()  # fixed now: the file is written elsewhere
    rows = file_rows(r)
    mid = session.account.mid or str(merchant_id)
    span = f"{r.filter.date_from:%Y%m%d}-{r.filter.date_to:%Y%m%d}"
    name = f"{r.kind.value}-{mid}-{span}.{fmt}"
    audit(request, session, "report exported", f"merchant {mid}", merchant_id=merchant_id,
          report=r.kind.value, format=fmt, filters=query_of(request))  # fmt: skip
    disposition = {"Content-Disposition": f'attachment; filename="{name}"', **PRIVATE}
    if fmt == "csv":
        return StreamingResponse(csv_pieces(rows, words.__getitem__, headers(columns), columns),
                                 media_type=CSV_TYPE, headers=disposition)  # fmt: skip
    pieces = xlsx_pieces(rows, words.__getitem__, headers(columns), columns,
                         sheet_name=_(TITLES[r.kind])[:31])  # fmt: skip
    return StreamingResponse(pieces, media_type=XLSX_TYPE, headers=disposition)


@router.get(HOME + "/{kind}.csv")
def report_csv(request: Request, session: Viewer, kind: str) -> Response:
    """The report as CSV (UTF-8 with a byte-order mark), its total the last row."""
    return _file(request, session, kind, "csv")


@router.get(HOME + "/{kind}.xlsx")
def report_xlsx(request: Request, session: Viewer, kind: str) -> Response:
    """The report as an XLSX workbook, its total the last row."""
    return _file(request, session, kind, "xlsx")
