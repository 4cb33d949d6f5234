"""Importing and exporting the catalogue (store/imports.py): all or nothing, every bad
row reported with its line, idempotent, and an export that imports back unchanged."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from tests.api.test_tenant_matrix import database_rows

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import set_locale
from tillpoint.store.barcodes import make_scale_code, with_check_digit
from tillpoint.store.imports import ImportRefused, csv_file, xlsx_file
from tillpoint.store.models import Product, SoldBy

from .test_store_catalogue import merchant

HEADER = ["sku", "name", "category", "unit", "sold_by", "plu", "price", "cost", "barcodes",
          "active", "price@2"]  # fmt: skip


def ean(n: int) -> str:
    return with_check_digit(f"690{n:09d}")


def good_row(n: int) -> list[str]:
    weighed = n % 50 == 0
    return [
        f"SKU{n:06d}", f"商品 {n} Item", f"类 {n % 20}", "kg" if weighed else "个",
        "weight" if weighed else "piece", str(n // 50 + 1) if weighed else "",
        f"{n % 1000}.{n % 100:02d}", f"{n % 500}.5", ean(n) if n % 3 else f"{ean(n)}|OWN{n}",
        "yes" if n % 7 else "no", f"{n % 900}.90" if n % 4 == 0 else "",
    ]  # fmt: skip


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def xlsx_bytes(rows: list[list[object]], header: list[str] = HEADER) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def products(tp: Tillpoint) -> int:
    with tp.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Product)) or 0)


# Ten ways a row goes wrong, at lines spread through the file (line = index + 2).
BAD: dict[int, tuple[str, list[str] | None]] = {
    17: ("product.price_places", None),
    1_000: ("barcode.check_digit", None),
    9_999: ("product.sku", None),
    20_000: ("product.name", None),
    33_333: ("product_import.sku_twice", None),
    50_001: ("product.sold_by", None),
    64_000: ("product.active", None),
    77_777: ("product.plu", None),
    88_888: ("product_import.barcode_twice", None),
    99_998: ("product.price", None),
}


def spoil(rows: list[list[str]], index: int, code: str) -> None:
    row = rows[index]
    if code == "product.price_places":
        row[6] = "12.345"
    elif code == "barcode.check_digit":
        row[8] = ean(index)[:-1] + str((int(ean(index)[-1]) + 1) % 10)
    elif code == "product.sku":
        row[0] = ""
    elif code == "product.name":
        row[1] = "  "
    elif code == "product_import.sku_twice":
        row[0] = rows[5][0]
    elif code == "product.sold_by":
        row[4] = "litre"
    elif code == "product.active":
        row[9] = "maybe"
    elif code == "product.plu":
        row[5] = "1234567"
    elif code == "product_import.barcode_twice":
        row[8] = rows[3][8]
    else:
        row[6] = "-3"


def test_a_hundred_thousand_rows_all_or_nothing_then_all_then_nothing(tp: Tillpoint) -> None:
    """The issue's file of 100,000 rows on SQLite; on PostgreSQL (the CI's second pass,
    the same import code) 10,000 rows show the same all-or-nothing and idempotence."""
    size = 100_000 if tp.ctx.db.engine.dialect.name == "sqlite" else 10_000
    merchant_id, _s1, _s2 = merchant(tp)
    rows = [good_row(n) for n in range(size)]
    bad = {index * size // 100_000: what for index, what in BAD.items()}  # spread the same
    for index, (code, _fix) in bad.items():
        spoil(rows, index, code)
    before = database_rows(tp)
    with pytest.raises(ImportRefused) as refused:
        tp.catalogue_files.import_file(merchant_id, csv_bytes(rows))
    report = refused.value.report
    assert report.problem_count == 10 and report.rows == size
    assert [(p.line, p.code) for p in report.problems] == [
        (index + 2, code) for index, (code, _fix) in sorted(bad.items())
    ]
    assert database_rows(tp) == before  # nothing imported, not even a category

    fixed = [good_row(n) for n in range(size)]
    done = tp.catalogue_files.import_file(merchant_id, csv_bytes(fixed))
    assert (done.created, done.updated, done.unchanged) == (size, 0, 0), done
    assert products(tp) == size
    assert done.revision == tp.catalogue.revision(merchant_id) == size
    after = database_rows(tp)

    again = tp.catalogue_files.import_file(merchant_id, csv_bytes(fixed))
    assert (again.created, again.updated, again.unchanged) == (0, 0, size)
    assert again.revision == done.revision
    assert database_rows(tp) == after  # no row rewritten, no revision raised


def test_changes_are_written_with_newer_revisions_and_the_rest_left(tp: Tillpoint) -> None:
    merchant_id, shop1, _s2 = merchant(tp)
    rows = [good_row(n) for n in range(1, 31)]
    first = tp.catalogue_files.import_file(merchant_id, csv_bytes(rows))
    assert first.created == 30
    rows[0][6] = "99.99"  # a new price
    rows[1][8] = ""  # its barcodes gone
    rows[2][10] = "1.00"  # a price in shop 2
    rows[3][10] = ""  # no more price in shop 2 (it had one)
    second = tp.catalogue_files.import_file(merchant_id, csv_bytes(rows))
    assert (second.created, second.updated, second.unchanged) == (0, 4, 26), second
    changed = tp.catalogue.changes_since(merchant_id, shop1, first.revision)
    assert [r[1] for r in changed.rows] == ["SKU000001", "SKU000002", "SKU000003", "SKU000004"]
    assert changed.revision == second.revision == first.revision + 4
    assert changed.rows[0][7] == 9_999 and changed.rows[1][9] == []
    view = tp.catalogue.products(merchant_id, search="SKU000004")[0]
    assert view.shop_prices == []


def test_columns_left_out_keep_their_values(tp: Tillpoint) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    tp.catalogue_files.import_file(merchant_id, csv_bytes([good_row(n) for n in range(1, 4)]))
    slim = csv_bytes([[f"SKU{n:06d}", f"新名 {n}", "8.00"] for n in range(1, 4)],
                     ["货号", "名称", "售价"])  # fmt: skip
    report = tp.catalogue_files.import_file(merchant_id, slim)
    assert report.updated == 3
    p = tp.catalogue.products(merchant_id, search="SKU000001")[0]
    assert (p.name, p.price_minor, p.cost_minor, p.category) == ("新名 1", 800, 150, "类 1")
    assert [b.code for b in p.barcodes] == [ean(1)]


def test_a_barcode_or_plu_kept_by_a_product_not_in_the_file(tp: Tillpoint) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    tp.catalogue_files.import_file(merchant_id, csv_bytes([good_row(n) for n in range(1, 4)]
                                                          + [good_row(50)]))  # fmt: skip
    other = good_row(200)
    other[8] = ean(1)
    other[5] = "2"  # product 50's PLU
    with pytest.raises(ImportRefused) as e:
        tp.catalogue_files.import_file(merchant_id, csv_bytes([other]))
    assert [p.code for p in e.value.report.problems] == ["product_import.barcode_taken"]
    other[8] = ""
    with pytest.raises(ImportRefused) as e:
        tp.catalogue_files.import_file(merchant_id, csv_bytes([other]))
    assert [p.code for p in e.value.report.problems] == ["product_import.plu_taken"]
    # Moving a barcode and a PLU between two products of the same file is fine.
    one, fifty = good_row(1), good_row(50)
    one[8], fifty[8] = fifty[8], one[8]
    one[4], one[3], one[5], fifty[5] = "weight", "kg", fifty[5], "7"
    report = tp.catalogue_files.import_file(merchant_id, csv_bytes([one, fifty]))
    assert report.updated == 2


def test_an_unknown_shop_column_or_bad_header(tp: Tillpoint) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    with pytest.raises(ImportRefused) as e:
        tp.catalogue_files.import_file(
            merchant_id,
            csv_bytes([["A", "a", "1.00", "2.00"]], ["sku", "name", "price", "price@9"]),
        )
    assert [(p.line, p.code) for p in e.value.report.problems] == [
        (1, "product_import.unknown_shop")
    ]
    for header, code in (
        (["sku", "name"], "product_import.missing_columns"),
        (["sku", "name", "price", "colour"], "product_import.unknown_column"),
        (["sku", "name", "price", "售价"], "product_import.duplicate_column"),
    ):
        with pytest.raises(InvalidInput) as bad:
            tp.catalogue_files.import_file(merchant_id, csv_bytes([["A", "a", "1"]], header))
        assert bad.value.code == code
    for content in (b"", b"\x00\x01binary", b"PK\x03\x04 not a zip"):
        with pytest.raises(InvalidInput):
            tp.catalogue_files.import_file(merchant_id, content)
    assert products(tp) == 0


def test_chinese_headers_gbk_csv_and_xlsx(tp: Tillpoint) -> None:
    merchant_id, _s1, shop2 = merchant(tp)
    header = ["货号", "名称", "分类", "单位", "销售方式", "PLU", "售价", "进价", "条码", "启用",
              "售价@2"]  # fmt: skip
    rows = [["APPLE", "苹果", "水果", "kg", "称重", "42", "12.80", "", "", "是", "13.80"]]
    gbk = csv_bytes(rows, header).decode().encode("gb18030")
    report = tp.catalogue_files.import_file(merchant_id, gbk)
    assert report.created == 1
    found = tp.catalogue.lookup(merchant_id, shop2, make_scale_code(42, weight_milli=500, flag=5))
    assert (found.sold_by, found.price_minor, found.quantity_milli) == (SoldBy.WEIGHT, 1_380, 500)
    # XLSX, its numbers as a spreadsheet keeps them (floats, whole numbers).
    book = xlsx_bytes([["PEAR", "梨", "水果", "kg", "称重", 43, 9.9, 6.5, None, True, None],
                       ["MILK", "牛奶", None, None, None, None, 5, None, int(ean(5)), "否",
                        12.5]], header)  # fmt: skip
    report = tp.catalogue_files.import_file(merchant_id, book)
    assert report.created == 2
    pear, milk = (
        tp.catalogue.products(merchant_id, search="PEAR")[0],
        tp.catalogue.products(merchant_id, search="MILK")[0],
    )
    assert (pear.price_minor, pear.cost_minor, pear.plu) == (990, 650, 43)
    assert (milk.price_minor, milk.active, [b.code for b in milk.barcodes]) == (500, False,
                                                                                 [ean(5)])  # fmt: skip
    assert [(x.shop_number, x.price_minor) for x in milk.shop_prices] == [(2, 1_250)]


@pytest.mark.parametrize("chinese", [False, True])
def test_an_export_imports_back_unchanged(tp: Tillpoint, chinese: bool) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    rows = [good_row(n) for n in range(1, 120)]
    rows[0][1] = "=HYPERLINK(1)"  # a formula is exported as text
    rows[1][0] = "-minus"
    tp.catalogue_files.import_file(merchant_id, csv_bytes(rows))
    set_locale("zh_CN" if chinese else "en")
    table = tp.catalogue_files.export_rows(merchant_id, chinese=chinese)
    exported_csv = b"".join(csv_file(table))
    assert exported_csv.startswith("\ufeff".encode())
    text = exported_csv.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("货号,名称" if chinese else "sku,name")
    assert "'=HYPERLINK(1)" in text
    exported_xlsx = b"".join(xlsx_file(table, "商品" if chinese else "Products"))
    sheet = load_workbook(io.BytesIO(exported_xlsx), read_only=True).worksheets[0]
    assert sum(1 for _ in sheet.iter_rows()) == 120
    before = database_rows(tp)
    for content in (exported_csv, exported_xlsx):
        report = tp.catalogue_files.import_file(merchant_id, content)
        assert (report.created, report.updated, report.unchanged) == (0, 0, 119), report
    assert database_rows(tp) == before
