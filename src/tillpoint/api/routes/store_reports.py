"""/v1 routes: the shop's reports (docs/store.md, "Reports").

``GET /v1/store/reports/{kind}?from=&to=&shop=&counter=&format=`` gives one report of a
merchant's shops over a range of days (Shanghai's): as JSON (its columns, its rows and
its total, money in minor units, quantities in thousandths), or as a CSV or XLSX file in
the caller's language. A merchant's key reads its own merchant only (``mid`` naming
another is a 404, as a merchant that does not exist); an operations key names the
merchant with ``mid``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from tillpoint.api.deps import Reader, Svc
from tillpoint.api.idempotency import IdempotentRoute
from tillpoint.api.schemas import PROBLEMS
from tillpoint.api.scope import own_or_named
from tillpoint.core.i18n import _
from tillpoint.core.sheets import CSV_TYPE, XLSX_TYPE, csv_pieces, headers, xlsx_pieces
from tillpoint.http.text import Text
from tillpoint.store.reports import (
    Report,
    ReportFilter,
    ReportKind,
    ReportService,
    file_rows,
    file_words,
    sheet_columns,
)

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"


class ReportColumn(BaseModel):
    key: str
    title: str  # in the caller's language
    type: str  # text, label, number, date, money (minor units), quantity (thousandths), percent


class ReportOut(BaseModel):
    kind: ReportKind
    title: str
    mid: str
    date_from: date
    date_to: date
    currency: str
    shops: list[int]  # the shops' numbers
    counter: int | None  # the counter's id, when the report is one counter's
    columns: list[ReportColumn]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None


def _json(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def report_out(r: Report, mid: str) -> ReportOut:
    return ReportOut(
        kind=r.kind, title=_(r.title), mid=mid, date_from=r.filter.date_from,
        date_to=r.filter.date_to, currency=r.currency, shops=[x.number for x in r.shops],
        counter=r.counter.id if r.counter else None,
        columns=[ReportColumn(key=c.key, title=_(c.title), type=c.kind) for c in r.columns],
        rows=[{k: _json(v) for k, v in row.items()} for row in r.rows],
        total=None if r.total is None else {k: _json(v) for k, v in r.total.items()},
    )  # fmt: skip


def report_file(r: Report, mid: str, fmt: ReportFormat) -> StreamingResponse:
    """The report as a CSV or XLSX file (its total the last row), in the current
    language."""
    columns = sheet_columns(r)
    words = file_words()  # fixed now: the file is written elsewhere
    rows, titles = file_rows(r), headers(columns)
    span = f"{r.filter.date_from:%Y%m%d}-{r.filter.date_to:%Y%m%d}"
    name = f"{r.kind.value}-{mid}-{span}.{fmt.value}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"',
                   "Cache-Control": "private, no-store"}  # fmt: skip
    if fmt is ReportFormat.CSV:
        return StreamingResponse(csv_pieces(rows, words.__getitem__, titles, columns),
                                 media_type=CSV_TYPE, headers=disposition)  # fmt: skip
    pieces = xlsx_pieces(rows, words.__getitem__, titles, columns, sheet_name=_(r.title)[:31])
    return StreamingResponse(pieces, media_type=XLSX_TYPE, headers=disposition)


Shops = Annotated[
    list[int] | None, Query(max_length=200, description="Only these shops (their numbers)")
]
CounterId = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="Only this counter (its id)")
]
MaxSold = Annotated[
    int, Query(ge=0, le=10**12, description="Slow movers: sold at most this (thousandths)")
]


@router.get(
    "/v1/store/reports/{kind}",
    tags=["store"],
    summary="A report of the shops",
    response_model=ReportOut,
    responses={
        200: {
            "description": "The report as JSON, or (``format``) a CSV or XLSX file",
            "content": {"text/csv": {}, XLSX_TYPE: {}},
        }
    },
)
def store_report(
    caller: Reader,
    svc: Svc,
    kind: Annotated[ReportKind, Path(description="Which report")],
    date_from: Annotated[date, Query(alias="from", description="First day (Shanghai)")],
    date_to: Annotated[date, Query(alias="to", description="Last day, included")],
    shop: Shops = None,
    counter: CounterId = None,
    max_sold_milli: MaxSold = 0,
    format: Annotated[ReportFormat, Query(description="json, csv or xlsx")] = ReportFormat.JSON,
    mid: Annotated[Text | None, Query(max_length=20, description="The merchant (MID)")] = None,
) -> Any:
    """One report of the merchant's shops over a range of days: sales by hour, day,
    product, category, shop, counter, cashier or tender; returns and discounts; stock
    value; slow movers; a mall's statement per counter. A merchant's key reads its own."""
    named = own_or_named(caller, mid, "report.mid_required")
    merchant = svc.tp.merchants.get(named)
    service = ReportService(svc.tp.ctx)
    shops = service.shop_ids(merchant.id, shop or [])
    f = ReportFilter(date_from, date_to, shops, counter, max_sold_milli)
    r = service.report(merchant.id, kind, f)
    mid_text = merchant.mid or named
    if format is ReportFormat.JSON:
        return report_out(r, mid_text)
    return report_file(r, mid_text, format)
