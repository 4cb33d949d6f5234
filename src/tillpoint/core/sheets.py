"""Rows as files to download: CSV and XLSX, written as the rows come, so a file of a
million rows holds a chunk of rows and a buffer, never the whole. The payments' exports
(``payments/exports.py``) and the shop's reports (``store/reports.py``) write through
these, each with its own columns.

- CSV: UTF-8 with a byte-order mark (so Excel reads the Chinese in it), a header row in
  the reader's language, amounts as decimal text (``12.50``), times on Shanghai's clock
  (``2026-12-04 21:30:05``). Sent in pieces as the rows are read.
- XLSX (Office Open XML, as Excel, WPS and LibreOffice read it): a zip written as a
  stream, its sheet's XML compressed as each row is written and sent in pieces as they
  fill; strings inline (no table of them kept in memory). Amounts are numbers shown with
  two decimals, times and dates are the sheet's own (its number formats). A sheet holds
  ``SHEET_ROWS`` rows; more go on in the next sheet.

A column (``Column``) names its header (an English message id), the kind of value it
holds and how a row gives it. Kinds: ``text``, ``label`` (an identifier put in the
reader's words by the writer's ``label``), ``number`` (an integer), ``decimal`` (an exact
``Decimal``: a quantity, a percentage), ``money`` (a ``Decimal`` of major units), ``time``
(an aware ``datetime``, written on Shanghai's clock) and ``date``. ``None`` is an empty
cell. A text a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-`` or
``@``, as a shop's name might) is written with a leading apostrophe in the CSV (the XLSX
writes it as a string).

The XLSX is written here (its few XML parts; the zip is the standard library's, in
streaming mode) because the libraries for it build the whole file before its first
byte can leave: XlsxWriter's constant-memory mode fills a temporary file, and took
about 190 s for a million rows before anything was sent, long past any proxy's
patience; openpyxl's write-only mode does the same. Tests read every file back with
openpyxl.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from xml.sax.saxutils import escape

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.i18n import _

BOM = "\ufeff"
CSV_ROWS_PER_PIECE = 500
XLSX_ROWS_PER_PIECE = 500
SHEET_ROWS = 1_048_575  # Excel's 1,048,576 rows a sheet, less the header
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
KINDS = frozenset({"text", "label", "number", "decimal", "money", "time", "date"})

Label = Callable[[str], str]  # an identifier (a status, a method) in the reader's words


@dataclass(frozen=True)
class Column:
    """A column: its header (an English message id), what kind of value it holds
    (``KINDS``), and how a row gives it."""

    header: str
    kind: str
    value: Callable[[Any], Any]
    width: int = 12  # in the XLSX, characters

    def __post_init__(self) -> None:
        assert self.kind in KINDS, f"a column's kind is one of {sorted(KINDS)}"


def headers(columns: Sequence[Column]) -> list[str]:
    """The header row in the current language."""
    return [_(c.header) for c in columns]


def shanghai(at: datetime) -> datetime:
    """An instant as Shanghai's clock shows it, without its zone (as a sheet keeps it)."""
    return at.astimezone(BUSINESS_TZ).replace(tzinfo=None)


def _text(value: object, label: Label, kind: str) -> str:
    """A value as the CSV writes it."""
    if value is None:
        return ""
    if kind == "label":
        return label(value.value if isinstance(value, StrEnum) else str(value))
    if kind == "time":
        assert isinstance(value, datetime)
        return shanghai(value).strftime(TIME_FORMAT)
    if kind == "date":
        assert isinstance(value, date)
        return value.isoformat()
    text = str(value)  # a Decimal keeps its places: "12.50"
    if kind == "text" and text.startswith(FORMULA_START):
        return "'" + text
    return text


def csv_row(r: Any, label: Label, columns: Sequence[Column]) -> list[str]:
    return [_text(c.value(r), label, c.kind) for c in columns]


def csv_pieces(
    rows: Iterable[Any],
    label: Label,
    titles: list[str],
    columns: Sequence[Column],
    *,
    rows_per_piece: int = CSV_ROWS_PER_PIECE,
) -> Iterator[bytes]:
    """The CSV file in pieces (UTF-8, a byte-order mark first), each a few hundred
    rows, made as the rows come. ``titles``: the header row (``headers()``), and
    ``label`` the words for states and methods, both in the reader's language."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(titles)
    yield (BOM + buffer.getvalue()).encode()
    buffer.seek(0)
    buffer.truncate()
    pending = 0
    for r in rows:
        writer.writerow(csv_row(r, label, columns))
        pending += 1
        if pending == rows_per_piece:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue().encode()


class _Pipe(io.RawIOBase):
    """Where the zip is written: it keeps what was written until taken (not seekable,
    so the zip writes each part's sizes after its data, as a stream must)."""

    def __init__(self) -> None:
        super().__init__()
        self.held = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.held += data
        return len(data)

    def take(self) -> bytes:
        out = bytes(self.held)
        self.held.clear()
        return out


def xlsx_pieces(
    rows: Iterable[Any],
    label: Label,
    titles: list[str],
    columns: Sequence[Column],
    *,
    sheet_name: str,
    sheet_rows: int = SHEET_ROWS,
    rows_per_piece: int = XLSX_ROWS_PER_PIECE,
) -> Iterator[bytes]:
    """The XLSX file in pieces, made as the rows come: a zip written as a stream (each
    part's sizes after its data), its sheets' XML compressed as it is written. The
    workbook's own parts, which name the sheets, come last. ``sheet_name``: the first
    sheet's; the next are numbered (``Payments 2``)."""
    assert 1 <= sheet_rows <= SHEET_ROWS, "a sheet holds 1 to 1,048,575 rows"
    pipe = _Pipe()
    head = _sheet_head(columns)
    header = "<row>" + "".join(_inline(h, _HEADER_STYLE) for h in titles) + "</row>"
    sheets = 0
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        ahead = iter(rows)
        row = next(ahead, None)
        while True:
            sheets += 1
            # A sheet's XML stays under 2 GiB (a zip part's size without zip64): at most
            # 1,048,575 rows of well under 2,000 bytes each.
            with z.open(f"xl/worksheets/sheet{sheets}.xml", "w") as part:
                part.write((head + header).encode())
                for written in range(1, sheet_rows + 1):
                    if row is None:
                        break
                    part.write(_xlsx_row(row, label, columns).encode())
                    if written % rows_per_piece == 0:
                        yield pipe.take()
                    row = next(ahead, None)
                part.write(_SHEET_TAIL.encode())
            if row is None:
                break
        names = [sheet_name if n == 1 else f"{sheet_name} {n}" for n in range(1, sheets + 1)]
        for name, content in _package(names):
            z.writestr(name, content)
    yield pipe.take()


def _inline(text: str, style: int = 0) -> str:
    s = f' s="{style}"' if style else ""
    return f'<c t="inlineStr"{s}><is><t xml:space="preserve">{_xml(text)}</t></is></c>'


def _xml(text: str) -> str:
    """Text for XML: escaped, and without the control characters XML 1.0 forbids."""
    return escape(_NOT_XML.sub("", text))


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_EPOCH = datetime(1899, 12, 30)  # noqa: DTZ001 (a sheet's day 0; its times have no zone)
_DAY_S = Decimal(86_400)
_MONEY_STYLE, _TIME_STYLE, _DATE_STYLE, _HEADER_STYLE = 1, 2, 3, 4


def _serial(at: datetime) -> str:
    """A date and time as a sheet counts it: days since its day 0, the time a fraction."""
    since = at - _EPOCH
    return str(since.days + (Decimal(since.seconds) / _DAY_S).quantize(Decimal("1e-10")))


def _xlsx_row(r: Any, label: Label, columns: Sequence[Column]) -> str:
    cells = []
    for c in columns:
        value = c.value(r)
        if value is None:
            cells.append("<c/>")
        elif c.kind == "money":
            cells.append(f'<c s="{_MONEY_STYLE}"><v>{value}</v></c>')
        elif c.kind == "number":
            cells.append(f"<c><v>{int(value)}</v></c>")
        elif c.kind == "decimal":
            cells.append(f"<c><v>{Decimal(value)}</v></c>")
        elif c.kind == "time":
            cells.append(f'<c s="{_TIME_STYLE}"><v>{_serial(shanghai(value))}</v></c>')
        elif c.kind == "date":
            cells.append(f'<c s="{_DATE_STYLE}"><v>{(value - _EPOCH.date()).days}</v></c>')
        elif c.kind == "label":
            cells.append(_inline(label(value.value if isinstance(value, StrEnum) else str(value))))
        else:
            cells.append(_inline(str(value)))
    return "<row>" + "".join(cells) + "</row>"


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _sheet_head(columns: Sequence[Column]) -> str:
    return (
        f'{_HEAD}<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}"><sheetViews><sheetView '
        'workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
        'state="frozen"/></sheetView></sheetViews><cols>'
        + "".join(
            f'<col min="{n}" max="{n}" width="{c.width}" customWidth="1"/>'
            for n, c in enumerate(columns, 1)
        )
        + "</cols><sheetData>"
    )


_SHEET_TAIL = "</sheetData></worksheet>"
_STYLES = (
    f'{_HEAD}<styleSheet xmlns="{_MAIN}"><numFmts count="2">'
    '<numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"


def _package(sheet_names: list[str]) -> list[tuple[str, str]]:
    """The workbook's parts around its sheets: what each part is, how they link, the
    sheets' names, the styles (money with two decimals, times, dates, a bold header)."""
    n = len(sheet_names)
    types = (
        f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
        'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        + "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_SHEET_TYPE}"/>'
            for i in range(1, n + 1)
        )
        + "</Types>"
    )
    root = (
        f'{_HEAD}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    book = (
        f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        + "".join(
            f'<sheet name="{_xml(name)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(sheet_names, 1)
        )
        + "</sheets></workbook>"
    )
    links = (
        f'{_HEAD}<Relationships xmlns="{_PKG_REL}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        + "</Relationships>"
    )
    return [
        ("xl/styles.xml", _STYLES),
        ("xl/workbook.xml", book),
        ("xl/_rels/workbook.xml.rels", links),
        ("_rels/.rels", root),
        ("[Content_Types].xml", types),
    ]


CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
