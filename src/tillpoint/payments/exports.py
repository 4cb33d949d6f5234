"""Payments as files to download: CSV and XLSX, written as the rows come
(``PaymentSearch.rows`` reads them a chunk at a time) by the streaming writers of
``core/sheets.py`` (its notes say how each file is made), with the columns of
``COLUMNS``, in its order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal

from tillpoint.core import sheets
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.core.sheets import (
    BOM,
    CSV_ROWS_PER_PIECE,
    SHEET_ROWS,
    XLSX_ROWS_PER_PIECE,
    Column,
    Label,
    shanghai,
)
from tillpoint.payments.search import PaymentRow

__all__ = ["BOM", "COLUMNS", "Column", "csv_pieces", "headers", "shanghai", "xlsx_pieces"]


def _money(r: PaymentRow, minor: int) -> Decimal:
    return Money(minor, r.currency).to_decimal()


COLUMNS: tuple[Column, ...] = (
    Column(N_("Payment ID"), "number", lambda r: r.id, 11),
    Column(N_("Time (Shanghai)"), "time", lambda r: r.created_at, 19),
    Column(N_("Business date"), "date", lambda r: r.business_date, 11),
    Column(N_("Kind"), "label", lambda r: r.kind, 10),
    Column(N_("State"), "label", lambda r: r.status, 14),
    Column(N_("Amount"), "money", lambda r: _money(r, r.amount_minor), 12),
    Column(N_("Currency"), "text", lambda r: r.currency, 8),
    Column(N_("Refunded"), "money", lambda r: _money(r, r.refunded_minor), 12),
    Column(N_("Fee"), "money", lambda r: _money(r, r.fee_minor), 10),
    Column(N_("Method"), "label", lambda r: r.method, 12),
    Column(N_("Card"), "text", lambda r: r.pan_masked, 20),
    Column(N_("Shop"), "number", lambda r: r.shop_number, 6),
    Column(N_("Shop name"), "text", lambda r: r.shop_name, 24),
    Column(N_("TID"), "text", lambda r: r.tid, 10),
    Column(N_("RRN"), "text", lambda r: r.rrn, 14),
    Column(N_("Voucher no."), "text", lambda r: r.stan, 10),
    Column(N_("Authorization code"), "text", lambda r: r.auth_code, 10),
    Column(N_("Original payment"), "number", lambda r: r.original_id, 11),
)


def headers() -> list[str]:
    """The header row in the current language."""
    return sheets.headers(COLUMNS)


def csv_pieces(
    rows: Iterable[PaymentRow],
    label: Label,
    titles: list[str],
    *,
    rows_per_piece: int = CSV_ROWS_PER_PIECE,
) -> Iterator[bytes]:
    """The payments as a CSV file in pieces (``core/sheets.py``'s ``csv_pieces``)."""
    return sheets.csv_pieces(rows, label, titles, COLUMNS, rows_per_piece=rows_per_piece)


def xlsx_pieces(
    rows: Iterable[PaymentRow],
    label: Label,
    titles: list[str],
    *,
    sheet_name: str,
    sheet_rows: int = SHEET_ROWS,
    rows_per_piece: int = XLSX_ROWS_PER_PIECE,
) -> Iterator[bytes]:
    """The payments as an XLSX workbook in pieces (``core/sheets.py``'s ``xlsx_pieces``)."""
    return sheets.xlsx_pieces(rows, label, titles, COLUMNS, sheet_name=sheet_name,
                              sheet_rows=sheet_rows, rows_per_piece=rows_per_piece)  # fmt: skip
