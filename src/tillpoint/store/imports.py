"""The catalogue as a file: import a CSV or XLSX of products, all or nothing, and
export the catalogue in the same columns (docs/store.md, "Import and export").

An import goes in three steps, and writes only in the last:

1. the file is read and every row checked on its own (no database): each bad row is
   noted with its line number and the reason;
2. in a read of the database (no write lock), the rows are checked against the
   catalogue (a barcode or PLU another product keeps, a shop that does not exist) and
   compared with it: what is new, what changes, what is the same;
3. only if no row is bad, one unit of work writes the changes: the products created
   and changed, each with a revision of its own from one raise of the counter, their
   barcodes and shop prices. If the catalogue changed between steps 2 and 3 (its
   revision moved), step 2 runs again.

A file with any bad row imports nothing. Importing the same file again changes nothing:
no row is written, no revision taken. Rows match products by ``sku``.

A column absent from the file leaves that field of existing products as it is (and new
products take its default); a column present but empty in a row clears the field (no
category, no cost, no PLU, no barcodes, no price in that shop).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, Refused, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import DEFAULT_CURRENCY, Money
from tillpoint.core.sheets import FORMULA_START
from tillpoint.merchants.models import Shop
from tillpoint.store import barcodes as bc

if TYPE_CHECKING:
    from tillpoint.core.sheets import Column
from tillpoint.store.catalogue import (
    BARCODES,
    CATEGORIES,
    DEFAULT_UNITS,
    MAX_BARCODES,
    PRODUCTS,
    SHOP_PRICES,
    CatalogueService,
    check_category_name,
    check_name,
    check_plu,
    check_sku,
    check_unit,
    current_revision,
    parse_yuan,
    take_revisions,
)
from tillpoint.store.models import (
    ProductBarcode,
    ProductCategory,
    ShopPrice,
    SoldBy,
)

MAX_IMPORT_BYTES = 40 * 1024 * 1024
MAX_IMPORT_ROWS = 200_000
MAX_PROBLEMS_LISTED = 1_000  # every bad row is counted; the first thousand are listed
MAX_CELL_CHARS = 1_000
WRITE_BATCH = 5_000  # rows per executemany
ATTEMPTS = 3  # of steps 2-3, when the catalogue changes meanwhile

CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The columns, by the name an export gives them (English), with the other names an
# import accepts (Chinese first: what the Chinese export writes).
COLUMNS: dict[str, tuple[str, ...]] = {
    "sku": ("货号", "商品编码", "编码"),
    "name": ("名称", "商品名称", "品名"),
    "category": ("分类", "类别", "商品分类"),
    "unit": ("单位",),
    "sold_by": ("销售方式", "计价方式", "sold by"),
    "plu": ("PLU", "秤码"),
    "price": ("售价", "零售价", "价格"),
    "cost": ("进价", "成本价", "成本"),
    "barcodes": ("条码", "条形码", "barcode"),
    "active": ("启用", "状态", "在售"),
}
SHOP_PRICE = ("price@", "售价@")  # price@2: the price in shop 2
REQUIRED = ("sku", "name", "price")
BARCODE_SEPARATORS = str.maketrans({";": " ", ",": " ", "|": " ", "，": " ", "；": " ", "、": " "})
SOLD_BY = {"piece": SoldBy.PIECE, "计件": SoldBy.PIECE, "件": SoldBy.PIECE, "": SoldBy.PIECE,
           "weight": SoldBy.WEIGHT, "称重": SoldBy.WEIGHT, "计重": SoldBy.WEIGHT}  # fmt: skip
YES = {"", "yes", "y", "true", "1", "是", "启用", "在售", "active"}
NO = {"no", "n", "false", "0", "否", "停用", "下架", "inactive"}


def _names() -> dict[str, str]:
    names: dict[str, str] = {}
    for canonical, others in COLUMNS.items():
        for name in (canonical, *others):
            names[_header_key(name)] = canonical
    return names


def _header_key(text: str) -> str:
    return "_".join(text.replace("\ufeff", "").strip().lower().split())


HEADER_NAMES = _names()


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A bad row: its line in the file (the header is line 1) and why."""

    line: int
    error: TillpointError

    @property
    def code(self) -> str:
        return self.error.code

    def localized(self) -> str:
        return self.error.localized()


@dataclass(frozen=True)
class ImportReport:
    """What an import did, or why it did nothing: ``problems`` lists the first
    ``MAX_PROBLEMS_LISTED`` bad rows, ``problem_count`` counts them all."""

    rows: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    problem_count: int = 0
    revision: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


class ImportRefused(Refused):
    """An import with bad rows: nothing was imported (``report`` lists them)."""

    http_status = 422
    exit_code = 1

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            "product_import.bad_rows",
            N_("{n} row(s) of the file are bad: nothing was imported"),
            n=report.problem_count,
        )
        self.report = report


# --- reading the file ------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A spreadsheet's cell as the text a CSV would hold. Numbers exactly as typed: a
    float's shortest form (12.5, never 12.4999...), a whole number without ``.0``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e18 else repr(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _xlsx_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise InvalidInput(
            "product_import.unreadable",
            N_("The file is neither a CSV nor an XLSX workbook that can be read ({why})"),
            why=type(e).__name__,
        ) from None
    try:
        sheet = book.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), 1):
            yield number, [_cell(v) for v in values]
    finally:
        book.close()


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in Chinese saves CSV as GBK
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("product_import.encoding", N_("The CSV file is neither UTF-8 nor GBK text"))


def _csv_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    text = _decode(content)
    if "\x00" in text:
        raise InvalidInput(
            "product_import.unreadable",
            N_("The file is neither a CSV nor an XLSX workbook that can be read ({why})"),
            why="NUL",
        )
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    try:
        for values in reader:
            yield line, values
            line = reader.line_num + 1
    except csv.Error as e:
        raise InvalidInput(
            "product_import.csv",
            N_("Line {line} of the CSV file cannot be read: {why}"),
            line=line,
            why=str(e),
        ) from None


def file_rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    """The file's rows with their line numbers: an XLSX workbook's first sheet, or CSV
    text (comma or tab separated)."""
    if content.startswith(b"PK\x03\x04"):
        return _xlsx_rows(content)
    return _csv_rows(content)


# --- checking rows on their own --------------------------------------------------------


@dataclass(slots=True)
class Row:
    """A good row, its values checked; a field is None when its column is absent."""

    line: int
    sku: str
    name: str
    price_minor: int
    category: str | bool | None = False  # False: no such column
    unit: str | None = None  # None: no such column or empty (the default unit)
    sold_by: SoldBy | None = None
    plu: int | bool | None = False
    cost_minor: int | bool | None = False
    barcodes: list[bc.Barcode] | None = None
    active: bool | None = None
    shop_prices: dict[int, int | None] = field(default_factory=dict)


@dataclass
class Layout:
    """Which column holds what."""

    at: dict[str, int]
    shops: dict[int, int]  # shop number -> column


def layout(header: list[str]) -> Layout:
    at: dict[str, int] = {}
    shops: dict[int, int] = {}
    for index, title in enumerate(header):
        key = _header_key(title)
        if not key:
            continue
        canonical = HEADER_NAMES.get(key)
        shop = next((key[len(p) :] for p in SHOP_PRICE if key.startswith(p)), None)
        if canonical is None and shop is not None and shop.isascii() and shop.isdigit():
            number = int(shop[:6])
            if number in shops:
                raise _header_problem(title)
            shops[number] = index
            continue
        if canonical is None:
            raise InvalidInput(
                "product_import.unknown_column",
                N_(
                    "Column {title!r} is not one of sku, name, category, unit, sold_by, plu, "
                    "price, cost, barcodes, active, price@<shop number>"
                ),
                title=title[:40],
            )
        if canonical in at:
            raise _header_problem(title)
        at[canonical] = index
    missing = [c for c in REQUIRED if c not in at]
    if missing:
        raise InvalidInput(
            "product_import.missing_columns",
            N_("The file has no column {names} (the first row names the columns)"),
            names=", ".join(missing),
        )
    return Layout(at, shops)


def _header_problem(title: str) -> InvalidInput:
    return InvalidInput(
        "product_import.duplicate_column",
        N_("Column {title!r} is in the file twice"),
        title=title[:40],
    )


def _value(text: str) -> str:
    text = text.strip()
    if text[:1] == "'" and text[1:2] in FORMULA_START:  # as an export writes them
        return text[1:]
    return text


def check_row(line: int, values: list[str], cols: Layout) -> Row:  # noqa: PLR0912
    """One row's values, checked on their own (InvalidInput says what is wrong)."""
    at = cols.at

    def get(name: str) -> str:
        index = at[name]
        if index >= len(values):
            return ""
        text = values[index]
        if len(text) > MAX_CELL_CHARS:
            raise InvalidInput(
                "product_import.cell_too_long",
                N_("A cell holds at most {n} characters"),
                n=MAX_CELL_CHARS,
            )
        return _value(text)

    sku = check_sku(get("sku"))
    name = check_name(get("name"))
    price = parse_yuan(get("price"))
    row = Row(line, sku, name, price)
    if "category" in at:
        category = get("category")
        row.category = check_category_name(category) if category else None
    if "sold_by" in at:
        text = get("sold_by").lower()
        if text not in SOLD_BY:
            raise InvalidInput(
                "product.sold_by",
                N_("Sold by is piece (计件) or weight (称重), not {value!r}"),
                value=text[:20],
            )
        row.sold_by = SOLD_BY[text]
    if "unit" in at:
        unit = get("unit")
        row.unit = check_unit(unit) if unit else None
    if "plu" in at:
        text = get("plu")
        if text and not (text.isascii() and text.isdigit() and len(text) <= 6):
            raise InvalidInput("product.plu", N_("A PLU is a whole number from 1 to 999999"))
        row.plu = check_plu(int(text)) if text else None
    if "cost" in at:
        text = get("cost")
        row.cost_minor = parse_yuan(text, "cost") if text else None
    if "barcodes" in at:
        codes: dict[str, bc.Barcode] = {}
        for code in get("barcodes").translate(BARCODE_SEPARATORS).split():
            barcode = bc.parse(code)
            codes.setdefault(barcode.code, barcode)
        if len(codes) > MAX_BARCODES:
            raise InvalidInput(
                "product.too_many_barcodes",
                N_("A product has at most {n} barcodes"),
                n=MAX_BARCODES,
            )
        row.barcodes = list(codes.values())
    if "active" in at:
        text = get("active").lower()
        if text not in YES and text not in NO:
            raise InvalidInput(
                "product.active",
                N_("Active is yes or no (是/否), not {value!r}"),
                value=text[:20],
            )
        row.active = text in YES
    for number, index in cols.shops.items():
        text = _value(values[index]) if index < len(values) else ""
        row.shop_prices[number] = parse_yuan(text) if text else None
    return row


@dataclass
class Parsed:
    rows: list[Row]
    problems: list[RowProblem]
    problem_count: int = 0
    shops: tuple[int, ...] = ()
    columns: frozenset[str] = frozenset()

    def bad(self, line: int, error: TillpointError) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS_LISTED:
            self.problems.append(RowProblem(line, error))


def parse_file(content: bytes) -> Parsed:  # noqa: PLR0912
    """Every row of the file checked on its own, and against the file's other rows (a
    SKU, barcode or PLU twice). A file that cannot be read at all raises."""
    if len(content) > MAX_IMPORT_BYTES:
        raise InvalidInput(
            "product_import.too_large",
            N_("An import file is at most {mb} MB"),
            mb=MAX_IMPORT_BYTES // (1024 * 1024),
        )
    rows_in = file_rows(content)
    header: list[str] | None = None
    for _line, values in rows_in:
        if any(v.strip() for v in values):
            header = values
            break
    if header is None:
        raise InvalidInput("product_import.empty", N_("The file has no rows"))
    cols = layout(header)
    parsed = Parsed([], [], shops=tuple(sorted(cols.shops)), columns=frozenset(cols.at))
    skus: dict[str, int] = {}
    codes: dict[str, int] = {}
    plus: dict[int, int] = {}
    count = 0
    for line, values in rows_in:
        if not any(v.strip() for v in values):
            continue  # blank lines (a spreadsheet's trailing ones) are no rows
        count += 1
        if count > MAX_IMPORT_ROWS:
            raise InvalidInput(
                "product_import.too_many_rows",
                N_("An import file has at most {n} rows: split it"),
                n=MAX_IMPORT_ROWS,
            )
        try:
            row = check_row(line, values, cols)
        except TillpointError as e:
            parsed.bad(line, e)
            continue
        if row.sku in skus:
            parsed.bad(line, InvalidInput("product_import.sku_twice",
                                          N_("SKU {sku} is also on line {other}"),
                                          sku=row.sku, other=skus[row.sku]))  # fmt: skip
            continue
        clash = next((codes[c.code] for c in row.barcodes or () if c.code in codes), None)
        if clash is not None:
            parsed.bad(line, InvalidInput("product_import.barcode_twice",
                                          N_("A barcode of this row is also on line {other}"),
                                          other=clash))  # fmt: skip
            continue
        if isinstance(row.plu, int) and not isinstance(row.plu, bool) and row.plu in plus:
            parsed.bad(line, InvalidInput("product_import.plu_twice",
                                          N_("PLU {plu} is also on line {other}"),
                                          plu=row.plu, other=plus[row.plu]))  # fmt: skip
            continue
        skus[row.sku] = line
        for c in row.barcodes or ():
            codes[c.code] = line
        if isinstance(row.plu, int) and not isinstance(row.plu, bool):
            plus[row.plu] = line
        parsed.rows.append(row)
    if count == 0:
        raise InvalidInput("product_import.empty", N_("The file has no rows"))
    return parsed


# --- against the catalogue ----------------------------------------------------------------


@dataclass
class Existing:
    id: int
    name: str
    category_id: int | None
    unit: str
    sold_by: SoldBy
    plu: int | None
    price_minor: int
    cost_minor: int | None
    active: bool
    codes: dict[str, str] = field(default_factory=dict)  # code -> kind
    prices: dict[int, int] = field(default_factory=dict)  # shop id -> price


@dataclass
class Plan:
    """What the import writes."""

    revision: int  # the catalogue's when it was read
    new: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)  # to create
    # (sku, code, kind) to add; (product id, code) to remove
    codes_in: list[tuple[str, str, str]] = field(default_factory=list)
    codes_out: list[tuple[int, str]] = field(default_factory=list)
    # (sku, shop id, price) to set (insert or update); (product id, shop id) to remove
    prices_in: list[tuple[str, int, int]] = field(default_factory=list)
    prices_out: list[tuple[int, int]] = field(default_factory=list)
    plus_freed: list[int] = field(default_factory=list)  # product ids whose PLU moves
    unchanged: int = 0

    @property
    def writes(self) -> bool:
        return bool(self.new or self.changed)


class ImportService:
    """Imports and exports of a merchant's catalogue."""

    def __init__(self, ctx: Context, catalogue: CatalogueService) -> None:
        self.ctx = ctx
        self.catalogue = catalogue

    def import_file(self, merchant_id: int, content: bytes) -> ImportReport:
        """Import the file, all or nothing (``ImportRefused`` lists the bad rows)."""
        parsed = parse_file(content)
        rows = len(parsed.rows) + parsed.problem_count
        for _attempt in range(ATTEMPTS):
            with self.ctx.db.read() as s:
                self.catalogue._merchant(s, merchant_id, changing=True)
                plan = self._plan(s, merchant_id, parsed)
            if parsed.problem_count:
                problems = sorted(parsed.problems, key=lambda p: p.line)[:MAX_PROBLEMS_LISTED]
                raise ImportRefused(ImportReport(rows=rows, problems=problems,
                                                 problem_count=parsed.problem_count,
                                                 revision=plan.revision))  # fmt: skip
            if not plan.writes:
                return ImportReport(rows=rows, unchanged=plan.unchanged, revision=plan.revision)
            with self.ctx.db.transaction() as s:
                if current_revision(s, merchant_id) != plan.revision:
                    continue  # changed meanwhile: read it again
                revision = self._write(s, merchant_id, plan)
            return ImportReport(rows=rows, created=len(plan.new), updated=len(plan.changed),
                                unchanged=plan.unchanged, revision=revision)  # fmt: skip
        raise Refused(
            "product_import.busy",
            N_("The catalogue kept changing during the import: try again"),
        )

    def _plan(self, s: Session, merchant_id: int, parsed: Parsed) -> Plan:
        plan = Plan(revision=current_revision(s, merchant_id))
        shops = dict(
            s.execute(select(Shop.number, Shop.id).where(Shop.merchant_id == merchant_id)).all()
        )
        missing_shops = [n for n in parsed.shops if n not in shops]
        if missing_shops:
            error = InvalidInput(
                "product_import.unknown_shop",
                N_("Column price@{number}: the merchant has no shop {number}"),
                number=missing_shops[0],
            )
            parsed.bad(1, error)
            return plan
        categories = dict(
            s.execute(
                select(ProductCategory.name, ProductCategory.id).where(
                    ProductCategory.merchant_id == merchant_id
                )
            ).all()
        )
        p = PRODUCTS.c
        existing: dict[str, Existing] = {}
        by_id: dict[int, str] = {}
        plu_owner: dict[int, str] = {}
        for pid, sku, name, cat, unit, sold_by, plu, price, cost, active in s.execute(
            select(p.id, p.sku, p.name, p.category_id, p.unit, p.sold_by, p.plu,
                   p.price_minor, p.cost_minor, p.active).where(p.merchant_id == merchant_id)
        ):  # fmt: skip
            existing[sku] = Existing(pid, name, cat, unit, SoldBy(sold_by), plu, price, cost,
                                     bool(active))  # fmt: skip
            by_id[pid] = sku
            if plu is not None:
                plu_owner[plu] = sku
        code_owner: dict[str, str] = {}
        for pid, code, kind in s.execute(
            select(ProductBarcode.product_id, ProductBarcode.code, ProductBarcode.kind).where(
                ProductBarcode.merchant_id == merchant_id
            )
        ):
            sku = by_id[pid]
            existing[sku].codes[code] = str(kind.value if hasattr(kind, "value") else kind)
            code_owner[code] = sku
        if parsed.shops:
            for pid, shop_id, price in s.execute(
                select(ShopPrice.product_id, ShopPrice.shop_id, ShopPrice.price_minor).where(
                    ShopPrice.merchant_id == merchant_id
                )
            ):
                existing[by_id[pid]].prices[shop_id] = price
        self._compare(parsed, plan, existing, categories, shops, code_owner, plu_owner)
        return plan

    @staticmethod
    def _compare(  # noqa: PLR0912, PLR0915
        parsed: Parsed,
        plan: Plan,
        existing: dict[str, Existing],
        categories: dict[str, int],
        shops: dict[int, int],
        code_owner: dict[str, str],
        plu_owner: dict[int, str],
    ) -> None:
        in_file = {row.sku for row in parsed.rows}
        names = {v: k for k, v in categories.items()}
        has_codes = "barcodes" in parsed.columns
        has_plu = "plu" in parsed.columns
        for row in parsed.rows:
            old = existing.get(row.sku)
            # A barcode or PLU another product keeps: one not in the file, or in it
            # without that column (so it keeps its own).
            clash = next(
                (
                    (c.code, code_owner[c.code])
                    for c in row.barcodes or ()
                    if code_owner.get(c.code, row.sku) != row.sku
                    and (code_owner[c.code] not in in_file or not has_codes)
                ),
                None,
            )
            if clash is not None:
                parsed.bad(row.line, InvalidInput(
                    "product_import.barcode_taken",
                    N_("Barcode {code} is product {sku}'s, which this file does not change"),
                    code=clash[0], sku=clash[1]))  # fmt: skip
                continue
            plu = row.plu if isinstance(row.plu, int) and not isinstance(row.plu, bool) else None
            owner = plu_owner.get(plu) if plu is not None else None
            if owner is not None and owner != row.sku and (owner not in in_file or not has_plu):
                parsed.bad(row.line, InvalidInput(
                    "product_import.plu_taken",
                    N_("PLU {plu} is product {sku}'s, which this file does not change"),
                    plu=plu, sku=owner))  # fmt: skip
                continue
            if parsed.problem_count:
                continue  # nothing will be written: only look for more bad rows
            sold_by = row.sold_by or (old.sold_by if old and "sold_by" not in parsed.columns
                                      else SoldBy.PIECE)  # fmt: skip
            wanted: dict[str, Any] = {
                "name": row.name,
                "price_minor": row.price_minor,
                "sold_by": sold_by,
            }
            if "unit" in parsed.columns or old is None:
                wanted["unit"] = row.unit or DEFAULT_UNITS[sold_by]
            if row.category is not False:
                wanted["category"] = row.category
            elif old is None:
                wanted["category"] = None
            if row.plu is not False:
                wanted["plu"] = plu
            elif old is None:
                wanted["plu"] = None
            if row.cost_minor is not False:
                wanted["cost_minor"] = row.cost_minor
            elif old is None:
                wanted["cost_minor"] = None
            if row.active is not None:
                wanted["active"] = row.active
            elif old is None:
                wanted["active"] = True
            if wanted.get("category"):
                category = str(wanted["category"])
                if category not in categories:
                    plan.categories.add(category)
            if old is None:
                plan.new.append({"sku": row.sku, **wanted})
                for c in row.barcodes or ():
                    plan.codes_in.append((row.sku, c.code, c.kind.value))
                for number, price in row.shop_prices.items():
                    if price is not None:
                        plan.prices_in.append((row.sku, shops[number], price))
                continue
            current = {
                "name": old.name, "price_minor": old.price_minor, "sold_by": old.sold_by,
                "unit": old.unit, "category": names.get(old.category_id or 0),
                "plu": old.plu, "cost_minor": old.cost_minor, "active": old.active,
            }  # fmt: skip
            fields = {k: v for k, v in wanted.items() if current[k] != v}
            dirty = bool(fields)
            if row.barcodes is not None:
                want = {c.code: c.kind.value for c in row.barcodes}
                for code in old.codes.keys() - want.keys():
                    plan.codes_out.append((old.id, code))
                    dirty = True
                for code in want.keys() - old.codes.keys():
                    plan.codes_in.append((row.sku, code, want[code]))
                    dirty = True
            for number, price in row.shop_prices.items():
                shop_id = shops[number]
                had = old.prices.get(shop_id)
                if price is None and had is not None:
                    plan.prices_out.append((old.id, shop_id))
                    dirty = True
                elif price is not None and price != had:
                    plan.prices_in.append((row.sku, shop_id, price))
                    dirty = True
            if "plu" in fields:
                plan.plus_freed.append(old.id)
            if dirty:
                plan.changed.append({"id": old.id, "sku": row.sku, **current, **wanted})
            else:
                plan.unchanged += 1

    def _write(self, s: Session, merchant_id: int, plan: Plan) -> int:
        """Write the plan; the catalogue's new revision."""
        now = self.ctx.now()
        for name in sorted(plan.categories):
            s.add(ProductCategory(merchant_id=merchant_id, name=name, created_at=now))
        s.flush()
        category_ids = dict(
            s.execute(
                select(ProductCategory.name, ProductCategory.id).where(
                    ProductCategory.merchant_id == merchant_id
                )
            ).all()
        )
        count = len(plan.new) + len(plan.changed)
        first = take_revisions(s, merchant_id, count)
        t = PRODUCTS
        # Barcodes and PLUs that move leave their old product first (unique per merchant).
        for chunk in _chunks(plan.codes_out):
            s.execute(
                delete(BARCODES).where(
                    BARCODES.c.merchant_id == merchant_id,
                    BARCODES.c.product_id == bindparam("pid"),
                    BARCODES.c.code == bindparam("old_code"),
                ),
                [{"pid": pid, "old_code": code} for pid, code in chunk],
            )
        for chunk in _chunks(plan.plus_freed):
            s.execute(
                update(t).where(t.c.id == bindparam("pid")).values(plu=None),
                [{"pid": pid} for pid in chunk],
            )
        revision = first

        def values(item: dict[str, Any]) -> dict[str, Any]:
            nonlocal revision
            category = item["category"]
            out = {
                "name": item["name"], "price_minor": item["price_minor"],
                "sold_by": item["sold_by"], "unit": item["unit"],
                "category_id": category_ids[category] if category else None,
                "plu": item["plu"], "cost_minor": item["cost_minor"], "active": item["active"],
                "revision": revision, "updated_at": now,
            }  # fmt: skip
            revision += 1
            return out

        for chunk in _chunks(plan.changed):
            s.execute(
                update(t)
                .where(t.c.id == bindparam("pid"))
                .values({k: bindparam(k) for k in (
                    "name", "price_minor", "sold_by", "unit", "category_id", "plu",
                    "cost_minor", "active", "revision", "updated_at")}),
                [{"pid": item["id"], **values(item)} for item in chunk],
            )  # fmt: skip
        for chunk in _chunks(plan.new):
            s.execute(
                insert(t),
                [{"merchant_id": merchant_id, "sku": item["sku"], "currency": DEFAULT_CURRENCY,
                  "created_at": now, **values(item)} for item in chunk],
            )  # fmt: skip
        ids = dict(
            s.execute(
                select(t.c.sku, t.c.id).where(
                    t.c.merchant_id == merchant_id, t.c.revision >= first, t.c.revision < revision
                )
            ).all()
        )
        for chunk in _chunks(plan.codes_in):
            s.execute(
                insert(BARCODES),
                [{"merchant_id": merchant_id, "code": code, "product_id": ids[sku], "kind": kind}
                 for sku, code, kind in chunk],
            )  # fmt: skip
        sp = SHOP_PRICES
        for chunk in _chunks(plan.prices_out):
            s.execute(
                delete(sp).where(sp.c.product_id == bindparam("pid"),
                                 sp.c.shop_id == bindparam("sid")),
                [{"pid": pid, "sid": shop_id} for pid, shop_id in chunk],
            )  # fmt: skip
        if plan.prices_in:
            wanted = {(ids[sku], shop_id): price for sku, shop_id, price in plan.prices_in}
            have = set()
            changed_ids = sorted({pid for pid, _ in wanted})
            for chunk in _chunks(changed_ids):
                have |= {
                    (pid, sid)
                    for pid, sid in s.execute(
                        select(sp.c.product_id, sp.c.shop_id).where(sp.c.product_id.in_(chunk))
                    )
                }
            updates = [(k, v) for k, v in wanted.items() if k in have]
            inserts = [(k, v) for k, v in wanted.items() if k not in have]
            for chunk in _chunks(updates):
                s.execute(
                    update(sp)
                    .where(sp.c.product_id == bindparam("pid"), sp.c.shop_id == bindparam("sid"))
                    .values(price_minor=bindparam("price")),
                    [{"pid": pid, "sid": sid, "price": price} for (pid, sid), price in chunk],
                )
            for chunk in _chunks(inserts):
                s.execute(
                    insert(sp),
                    [{"product_id": pid, "shop_id": sid, "merchant_id": merchant_id,
                      "price_minor": price} for (pid, sid), price in chunk],
                )  # fmt: skip
        return revision - 1

    # --- export -------------------------------------------------------------------------

    def export_rows(self, merchant_id: int, *, chinese: bool = False) -> ExportTable:
        """The catalogue in the import's columns, read a chunk at a time as the file is
        written (``ExportTable.rows``)."""
        with self.ctx.db.read() as s:
            shops = list(
                s.execute(
                    select(Shop.number, Shop.id)
                    .where(Shop.merchant_id == merchant_id,
                           Shop.id.in_(select(ShopPrice.shop_id)
                                       .where(ShopPrice.merchant_id == merchant_id)
                                       .distinct()))
                    .order_by(Shop.number)
                )
            )  # fmt: skip
        return ExportTable(self.ctx, merchant_id, [(n, i) for n, i in shops], chinese)


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), WRITE_BATCH):
        yield items[start : start + WRITE_BATCH]


EXPORT_CHUNK = 2_000


class ExportTable:
    """The rows of an export: a header, then one list of cells per product (amounts as
    ``Decimal`` yuan, flags as yes/no), read in id order a chunk at a time."""

    def __init__(
        self, ctx: Context, merchant_id: int, shops: list[tuple[int, int]], chinese: bool
    ) -> None:
        self.ctx, self.merchant_id, self.shops, self.chinese = ctx, merchant_id, shops, chinese

    def header(self) -> list[str]:
        names = [COLUMNS[c][0] if self.chinese else c for c in COLUMNS]
        prefix = SHOP_PRICE[1] if self.chinese else SHOP_PRICE[0]
        return names + [f"{prefix}{number}" for number, _id in self.shops]

    def _words(self, sold_by: str, active: bool) -> tuple[str, str]:
        if self.chinese:
            return ("称重" if sold_by == SoldBy.WEIGHT else "计件"), ("是" if active else "否")
        return str(sold_by), ("yes" if active else "no")

    def rows(self) -> Iterator[list[Any]]:
        after = 0
        p, c = PRODUCTS.c, CATEGORIES.c
        b, sp = BARCODES.c, SHOP_PRICES.c
        shop_index = {shop_id: n for n, (_number, shop_id) in enumerate(self.shops)}
        while True:
            with self.ctx.db.read() as s:
                chunk = s.execute(
                    select(p.id, p.sku, p.name, c.name, p.unit, p.sold_by, p.plu,
                           p.price_minor, p.cost_minor, p.active, p.currency)
                    .select_from(PRODUCTS.outerjoin(CATEGORIES,
                                                             c.id == p.category_id))
                    .where(p.merchant_id == self.merchant_id, p.id > after)
                    .order_by(p.id)
                    .limit(EXPORT_CHUNK)
                ).all()  # fmt: skip
                if not chunk:
                    return
                first, last = chunk[0][0], chunk[-1][0]
                codes: dict[int, list[str]] = {}
                for pid, code in s.execute(
                    select(b.product_id, b.code)
                    .where(b.product_id >= first, b.product_id <= last)
                    .order_by(b.product_id, b.code)
                ):
                    codes.setdefault(pid, []).append(code)
                prices: dict[int, dict[int, int]] = {}
                if self.shops:
                    for pid, shop_id, price in s.execute(
                        select(sp.product_id, sp.shop_id, sp.price_minor).where(
                            sp.product_id >= first, sp.product_id <= last
                        )
                    ):
                        prices.setdefault(pid, {})[shop_id] = price
            for pid, sku, name, cat, unit, sold_by, plu, price, cost, active, cur in chunk:
                sold, on = self._words(sold_by, bool(active))
                shop_cells: list[Any] = [None] * len(self.shops)
                for shop_id, shop_price in prices.get(pid, {}).items():
                    if shop_id in shop_index:
                        shop_cells[shop_index[shop_id]] = _yuan(shop_price, cur)
                yield [
                    sku, name, cat, unit, sold, plu, _yuan(price, cur),
                    None if cost is None else _yuan(cost, cur),
                    " ".join(codes.get(pid, [])), on, *shop_cells,
                ]  # fmt: skip
            after = chunk[-1][0]


def _yuan(minor: int, currency: str) -> Decimal:
    return Money(minor, currency).to_decimal()


# --- the files ------------------------------------------------------------------------------


def csv_file(table: ExportTable) -> Iterator[bytes]:
    """The export as CSV (UTF-8 with a byte-order mark, as Excel reads Chinese), made
    as the rows come; a text a spreadsheet would run as a formula gets an apostrophe."""
    from tillpoint.core.sheets import csv_pieces

    return csv_pieces(table.rows(), str, table.header(), _columns(table))


def xlsx_file(table: ExportTable, sheet_name: str) -> Iterator[bytes]:
    """The export as an XLSX workbook written as a stream; amounts are numbers shown
    with two decimals, codes and SKUs are text (no digit lost)."""
    from tillpoint.core.sheets import xlsx_pieces

    return xlsx_pieces(table.rows(), str, table.header(), _columns(table), sheet_name=sheet_name)


# What each cell of an export row is, and its width in the XLSX (characters): sku, name,
# category, unit, sold by, PLU, price, cost, barcodes, active, then the shops' prices.
_KINDS = ("text", "text", "text", "text", "text", "number", "money", "money", "text", "text")
_WIDTHS = (16, 30, 14, 6, 9, 8, 10, 10, 30, 7)


def _columns(table: ExportTable) -> list[Column]:
    from tillpoint.core.sheets import Column

    header = table.header()
    kinds = list(_KINDS) + ["money"] * (len(header) - len(_KINDS))
    widths = list(_WIDTHS) + [10] * (len(header) - len(_WIDTHS))
    return [
        Column(title, kind, itemgetter(n), width)
        for n, (title, kind, width) in enumerate(zip(header, kinds, widths, strict=True))
    ]


def file_name(merchant_label: str, fmt: str, today: str) -> str:
    return f"products-{merchant_label}-{today}.{fmt}"


def problems_text(report: ImportReport) -> Iterable[str]:
    """The bad rows as lines a person reads (the CLI prints them)."""
    for problem in report.problems:
        yield _("Line {line}: {reason}").format(line=problem.line, reason=problem.localized())
    hidden = report.problem_count - len(report.problems)
    if hidden > 0:
        yield _("... and {n} more bad rows").format(n=hidden)
