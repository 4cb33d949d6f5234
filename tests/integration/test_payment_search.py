"""The merchant portal's payment reads (payments/search.py) and exports
(payments/exports.py): every filter and every page against a plain reading of the same
payments, the bounded scan that goes on where it stopped, one payment's timeline, and
the CSV and XLSX files read back row by row, made in bounded memory."""

from __future__ import annotations

import csv
import io
import itertools
import random
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import insert, select
from tests.conftest import START

from tillpoint.app import Tillpoint
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid, demo_tid, ensure_demo
from tillpoint.merchants.models import PaymentMethod, Shop
from tillpoint.payments import search as search_module
from tillpoint.payments.exports import COLUMNS, csv_pieces, headers, xlsx_pieces
from tillpoint.payments.models import Channel, Payment, PaymentEvent, PaymentKind, PaymentStatus
from tillpoint.payments.search import PaymentFilter, PaymentRow, PaymentSearch
from tillpoint.terminals.models import Terminal

DAY = START.date()
_rrn = itertools.count(1)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(_env_file=None, database_url=db_url, network_dir=str(tmp_path / "network"),  # type: ignore[call-arg]
                    demo=True, locale="en")  # fmt: skip


@pytest.fixture
def shop(tp: Tillpoint) -> dict[str, Any]:
    """Demo merchants 1 and 2 (a terminal each); merchant 1 gets a second shop."""
    ensure_demo(tp, 2)
    tp.merchants.add_shop(demo_mid(1), "二店 Second shop", "上海市演示路2号 2 Demo Road", "test")
    with tp.ctx.db.read() as s:
        m1, m2 = (tp.merchants.get(demo_mid(n)).id for n in (1, 2))
        shops = dict(s.execute(select(Shop.number, Shop.id).where(Shop.merchant_id == m1)).all())
        t1, t2 = (s.scalar(select(Terminal.id).where(Terminal.tid == demo_tid(n))) for n in (1, 2))
    return {"m1": m1, "m2": m2, "shop1": shops[1], "shop2": shops[2], "t1": t1, "t2": t2}


def seed(tp: Tillpoint, where: dict[str, Any], n: int, *, seed_no: int = 7) -> None:
    """``n`` payments of merchant 1 (and a few of merchant 2) over eight business days,
    inserted in an order where ids and days do not agree (as a day's late writes)."""
    rnd = random.Random(seed_no)
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for _i in range(n):
        day = DAY - timedelta(days=rnd.randrange(8))
        at = datetime.combine(day, datetime.min.time(), BUSINESS_TZ) + timedelta(
            minutes=rnd.randrange(24 * 60))  # fmt: skip
        other = rnd.random() < 0.1
        method = rnd.choice(list(PaymentMethod))
        status = rnd.choice([PaymentStatus.APPROVED] * 6 + [PaymentStatus.DECLINED,
                            PaymentStatus.REFUNDED, PaymentStatus.TIMED_OUT])  # fmt: skip
        card = method in (PaymentMethod.DEBIT, PaymentMethod.CREDIT)
        amount = rnd.randint(1, 5000) * 10
        rrn = f"{next(_rrn):012d}"
        rows.append({
            "kind": PaymentKind.SALE, "status": status, "response_code": "00",
            "merchant_id": where["m2"] if other else where["m1"],
            "shop_id": where["shop1"] if other or rnd.random() < 0.7 else where["shop2"],
            "terminal_id": (where["t2"] if other else rnd.choice([where["t1"], None])),
            "batch_id": None, "stan": f"{rnd.randrange(1, 40):06d}", "rrn": rrn,
            "auth_code": "123456", "amount_minor": amount, "currency": "CNY", "method": method,
            "card_org": "CUP", "domestic": True,
            "pan_masked": "621234*********0012" if card else None, "pan_token": None,
            "entry_mode": "071", "business_date": day, "original_id": None,
            "refunded_minor": amount if status is PaymentStatus.REFUNDED else 0,
            "fee_minor": amount * 38 // 10_000, "channel": Channel.TERMINAL,
            "created_at": at, "updated_at": at,
        })  # fmt: skip
    with tp.ctx.db.transaction() as s:
        s.execute(insert(Payment), rows)
        ids = dict(s.execute(select(Payment.rrn, Payment.id)).all())
        for r in rows:
            events.append({"payment_id": ids[r["rrn"]], "from_status": None,
                           "to_status": r["status"], "cause": "seed", "at": r["created_at"]})  # fmt: skip
        s.execute(insert(PaymentEvent), events)


def everything(tp: Tillpoint) -> list[PaymentRow]:
    """Every payment as a row, read plainly (one query, sorted in Python)."""
    with tp.ctx.db.read() as s:
        shops = {i: (n, name) for i, n, name in s.execute(select(Shop.id, Shop.number, Shop.name))}
        tids = dict(s.execute(select(Terminal.id, Terminal.tid)).all())
        out = [
            PaymentRow(p.id, p.created_at, p.business_date, p.kind, p.status, p.amount_minor,
                       p.currency, p.refunded_minor, p.fee_minor, p.method, p.card_org,
                       p.pan_masked, shops[p.shop_id][0], shops[p.shop_id][1],
                       tids.get(p.terminal_id), p.rrn, p.stan, p.auth_code, p.original_id,
                       p.channel, p.reference)
            for p in s.scalars(select(Payment))
        ]  # fmt: skip
    return sorted(out, key=lambda r: (r.business_date, r.id), reverse=True)


def matches(
    r: PaymentRow, f: PaymentFilter, merchant: dict[int, int], tids: dict[str, int]
) -> bool:
    return (
        merchant[r.id] == f.merchant_id
        and (f.shop_id is None or r.shop_number == f.shop_id)
        and (f.tid is None or r.tid == f.tid)
        and (f.date_from is None or r.business_date >= f.date_from)
        and (f.date_to is None or r.business_date <= f.date_to)
        and (f.method is None or r.method is f.method)
        and (f.status is None or r.status is f.status)
        and (f.amount_min_minor is None or r.amount_minor >= f.amount_min_minor)
        and (f.amount_max_minor is None or r.amount_minor <= f.amount_max_minor)
        and (f.rrn is None or r.rrn == f.rrn)
        and (f.stan is None or r.stan == f.stan)
    )


def all_pages(search: PaymentSearch, f: PaymentFilter, limit: int) -> tuple[list[int], int]:
    """Every page, following each page's next position (a bounded scan's too)."""
    seen: list[int] = []
    after, pages = None, 0
    while True:
        got = search.page(f, after=after, limit=limit)
        pages += 1
        assert len(got.rows) <= limit
        seen += [r.id for r in got.rows]
        if got.next_after is None:
            return seen, pages
        assert got.rows or got.searched_to is not None  # an empty page says how far it looked
        after = got.next_after


def test_every_filter_pages_exactly_the_matching_payments(
    tp: Tillpoint, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(tp, shop, 400)
    rows = everything(tp)
    with tp.ctx.db.read() as s:
        merchant = dict(s.execute(select(Payment.id, Payment.merchant_id)).all())
    search = PaymentSearch(tp.ctx)
    m1 = shop["m1"]
    some = next(r for r in rows if merchant[r.id] == m1)
    theirs = next(r for r in rows if merchant[r.id] == shop["m2"])
    filters = [
        PaymentFilter(m1),
        PaymentFilter(shop["m2"]),
        PaymentFilter(m1, date_from=DAY - timedelta(days=2)),
        PaymentFilter(m1, date_from=DAY - timedelta(days=5), date_to=DAY - timedelta(days=3)),
        PaymentFilter(m1, date_from=DAY, date_to=DAY, shop_id=shop["shop2"]),
        PaymentFilter(m1, method=PaymentMethod.ALIPAY),
        PaymentFilter(m1, status=PaymentStatus.REFUNDED, method=PaymentMethod.DEBIT),
        PaymentFilter(m1, tid=demo_tid(1)),
        PaymentFilter(m1, tid=demo_tid(2)),  # merchant 2's terminal: nothing
        PaymentFilter(m1, amount_min_minor=10_000, amount_max_minor=20_000),
        PaymentFilter(m1, stan="000007"),
        PaymentFilter(m1, rrn=some.rrn),
        PaymentFilter(m1, rrn=theirs.rrn),  # another merchant's RRN: nothing
        PaymentFilter(m1, status=PaymentStatus.PENDING),  # none at all
    ]
    tids = {demo_tid(1): shop["t1"]}
    shop_numbers = {shop["shop1"]: 1, shop["shop2"]: 2}
    for scan in (search_module.SCAN_ROWS, 37):  # as set, and small enough to stop often
        monkeypatch.setattr(search_module, "SCAN_ROWS", scan)
        for f in filters:
            want_f = replace(f, shop_id=shop_numbers.get(f.shop_id)) if f.shop_id else f
            expected = [r.id for r in rows if matches(r, want_f, merchant, tids)]
            for limit in (7, 50):
                got, pages = all_pages(search, f, limit)
                assert got == expected, (f, scan, limit)
                if scan > len(rows):  # no window: a page is full until the last
                    assert pages == max(1, -(-len(expected) // limit)), (f, pages)
            exported = [r.id for r in search.rows(f, chunk=9)]
            assert exported == expected, f


def test_a_position_not_the_merchants_starts_from_the_newest(
    tp: Tillpoint, shop: dict[str, Any]
) -> None:
    seed(tp, shop, 60)
    search = PaymentSearch(tp.ctx)
    theirs = search.page(PaymentFilter(shop["m2"]), limit=1).rows[0].id
    first = search.page(PaymentFilter(shop["m1"]), limit=5).rows
    assert search.page(PaymentFilter(shop["m1"]), after=theirs, limit=5).rows == first
    assert search.page(PaymentFilter(shop["m1"]), after=2**31 - 1, limit=5).rows == first


def test_a_rare_filter_reads_a_bounded_window_and_goes_on_from_it(
    tp: Tillpoint, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(tp, shop, 120)
    monkeypatch.setattr(search_module, "SCAN_ROWS", 10)
    search = PaymentSearch(tp.ctx)
    f = PaymentFilter(shop["m1"], status=PaymentStatus.PENDING)  # matches nothing
    first = search.page(f, limit=5)
    assert first.rows == [] and first.searched_to is not None and first.next_after is not None
    newest = [r for r in everything(tp) if r.id in {first.next_after}]
    assert newest and newest[0].business_date == first.searched_to


def test_one_payment_with_its_timeline_and_refunds(tp: Tillpoint, shop: dict[str, Any]) -> None:
    seed(tp, shop, 40)
    search = PaymentSearch(tp.ctx)
    sale = next(r for r in everything(tp) if r.status is PaymentStatus.APPROVED
                and r.tid == demo_tid(1) and r.shop_number == 1)  # fmt: skip
    later = START + timedelta(hours=1)
    with tp.ctx.db.transaction() as s:
        p = s.get_one(Payment, sale.id)
        p.status, p.refunded_minor = PaymentStatus.PARTLY_REFUNDED, 10
        refund = Payment(**{c: getattr(p, c) for c in (
            "merchant_id", "shop_id", "terminal_id", "currency", "method", "card_org",
            "domestic", "pan_masked", "entry_mode", "channel")},
            kind=PaymentKind.REFUND, status=PaymentStatus.APPROVED, response_code="00",
            rrn="R00000000001", amount_minor=10, business_date=DAY, original_id=p.id,
            refunded_minor=0, fee_minor=0, created_at=later, updated_at=later)  # fmt: skip
        s.add(refund)
        s.add(PaymentEvent(payment_id=p.id, from_status=PaymentStatus.APPROVED,
                           to_status=PaymentStatus.PARTLY_REFUNDED, cause="refund R00000000001",
                           at=later))  # fmt: skip
        s.flush()
        refund_id = refund.id
    d = search.detail(sale.id, shop["m1"], DAY)
    assert d.payment.id == sale.id and d.refundable_minor == sale.amount_minor - 10
    assert [(e.to_status, e.linked.id if e.linked else None) for e in d.timeline] == [
        (PaymentStatus.APPROVED, None), (PaymentStatus.PARTLY_REFUNDED, None), (None, refund_id),
    ]  # fmt: skip
    r = search.detail(refund_id, shop["m1"], DAY)
    assert r.original is not None and r.original.id == sale.id and r.refundable_minor == 0
    # Beyond the refund window: nothing refundable; another merchant's: not found.
    assert search.detail(sale.id, shop["m1"], DAY + timedelta(days=31)).refundable_minor == 0
    with pytest.raises(Exception, match="No payment"):
        search.detail(sale.id, shop["m2"], DAY)
    # A cashier's scope: its shop and day only.
    with pytest.raises(Exception, match="No payment"):
        search.detail(sale.id, shop["m1"], DAY, shop_id=shop["shop2"], day=sale.business_date)
    with pytest.raises(Exception, match="No payment"):
        search.detail(sale.id, shop["m1"], DAY, shop_id=shop["shop1"],
                      day=sale.business_date + timedelta(days=1))  # fmt: skip
    assert search.detail(sale.id, shop["m1"], DAY, shop_id=shop["shop1"],
                         day=sale.business_date).payment.id == sale.id  # fmt: skip


# --- exports ---------------------------------------------------------------------------------

LABELS = {e.value: f"<{e.value}>" for enum in (PaymentKind, PaymentStatus, PaymentMethod)
          for e in enum}  # fmt: skip


def expected_cells(r: PaymentRow) -> list[object]:
    """A row as the files must hold it: amounts as Decimal, times on Shanghai's clock."""
    shanghai = r.created_at.astimezone(BUSINESS_TZ).replace(tzinfo=None)

    def money(minor: int) -> Decimal:
        return Money(minor, r.currency).to_decimal()

    return [r.id, shanghai, r.business_date, LABELS[r.kind.value], LABELS[r.status.value],
            money(r.amount_minor), r.currency, money(r.refunded_minor), money(r.fee_minor),
            LABELS[r.method.value] if r.method else None, r.pan_masked, r.shop_number,
            r.shop_name, r.tid, r.rrn, r.stan, r.auth_code, r.original_id]  # fmt: skip


def test_the_csv_and_xlsx_hold_each_payment_as_the_search_reads_it(
    tp: Tillpoint, shop: dict[str, Any]
) -> None:
    seed(tp, shop, 150)
    search = PaymentSearch(tp.ctx)
    f = PaymentFilter(shop["m1"], date_from=DAY - timedelta(days=3))
    rows = list(search.rows(f))
    assert len(rows) > 20
    titles = headers()
    assert len(titles) == len(COLUMNS) and titles[0] == "Payment ID"

    data = b"".join(csv_pieces(search.rows(f, chunk=7), LABELS.__getitem__, titles,
                               rows_per_piece=4))  # fmt: skip
    assert data.startswith(b"\xef\xbb\xbf")
    read = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert read[0] == titles and len(read) == len(rows) + 1
    for r, line in zip(rows, read[1:], strict=True):
        want = expected_cells(r)
        assert line[0] == str(r.id)
        assert line[1] == want[1].strftime("%Y-%m-%d %H:%M:%S")  # type: ignore[attr-defined]
        assert line[2] == r.business_date.isoformat()
        assert line[5] == f"{want[5]:.2f}" and "." in line[5]  # decimal text: 12.50
        assert [line[i] for i in (3, 4, 6, 9, 10, 13, 14, 15)] == [
            "" if want[i] is None else str(want[i]) for i in (3, 4, 6, 9, 10, 13, 14, 15)]  # fmt: skip
        assert Decimal(line[7]) == want[7] and Decimal(line[8]) == want[8]

    data = b"".join(xlsx_pieces(search.rows(f, chunk=7), LABELS.__getitem__, titles,
                                sheet_name="Payments", sheet_rows=10, rows_per_piece=3))  # fmt: skip
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheets = book.worksheets
    assert [ws.title for ws in sheets[:2]] == ["Payments", "Payments 2"]
    assert len(sheets) == -(-len(rows) // 10)
    cells = []
    for ws in sheets:
        values = list(ws.iter_rows(values_only=True))
        assert list(values[0]) == titles
        cells += values[1:]
        assert ws["F2"].number_format == "#,##0.00" and ws["B2"].number_format.startswith("yyyy")
    assert len(cells) == len(rows)
    for r, got in zip(rows, cells, strict=True):
        want = expected_cells(r)
        assert got[0] == r.id and got[1] == want[1] and got[2].date() == r.business_date
        for i in (5, 7, 8):  # numbers, shown with two decimals
            assert Decimal(str(got[i])).quantize(Decimal("0.01")) == want[i], (i, got[i])
        assert [got[i] for i in (3, 4, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17)] == [
            want[i] for i in (3, 4, 6, 9, 10, 11, 12, 13, 14, 15, 16, 17)]  # fmt: skip


def test_a_text_a_spreadsheet_would_run_is_kept_as_text(
    tp: Tillpoint, shop: dict[str, Any]
) -> None:
    with tp.ctx.db.transaction() as s:
        s.get_one(Shop, shop["shop2"]).name = '=HYPERLINK("http://x")'
    seed(tp, shop, 30)
    rows = list(PaymentSearch(tp.ctx).rows(PaymentFilter(shop["m1"], shop_id=shop["shop2"])))
    assert rows
    data = b"".join(csv_pieces(iter(rows), LABELS.__getitem__, headers())).decode("utf-8-sig")
    assert "'=HYPERLINK" in data
    book = openpyxl.load_workbook(io.BytesIO(b"".join(
        xlsx_pieces(iter(rows), LABELS.__getitem__, headers(), sheet_name="P"))))  # fmt: skip
    cell = book.worksheets[0]["M2"]
    assert cell.value == '=HYPERLINK("http://x")' and cell.data_type == "s"


def test_an_empty_range_exports_the_header_alone(tp: Tillpoint, shop: dict[str, Any]) -> None:
    search = PaymentSearch(tp.ctx)
    f = PaymentFilter(shop["m1"])
    data = b"".join(csv_pieces(search.rows(f), LABELS.__getitem__, headers()))
    assert data.decode("utf-8-sig").splitlines() == [",".join(headers())]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(
        xlsx_pieces(search.rows(f), LABELS.__getitem__, headers(), sheet_name="P"))))  # fmt: skip
    assert [list(r) for r in book.worksheets[0].iter_rows(values_only=True)] == [headers()]


EXPORT_ROWS = 50_000
MEMORY_BOUND = 2 * 1024 * 1024  # bytes of Python objects at the peak of an export


def test_exporting_fifty_thousand_payments_takes_bounded_memory(
    tp: Tillpoint, shop: dict[str, Any]
) -> None:
    """The whole way, from the database to the file's bytes: the peak of the memory the
    export's Python objects take stays a fraction of the file (each piece is dropped as
    a response would send it)."""
    seed(tp, shop, EXPORT_ROWS, seed_no=11)
    search = PaymentSearch(tp.ctx)
    f = PaymentFilter(shop["m1"])
    formats = (
        ("csv", lambda: csv_pieces(search.rows(f), LABELS.__getitem__, headers())),
        ("xlsx", lambda: xlsx_pieces(search.rows(f), LABELS.__getitem__, headers(),
                                     sheet_name="P")),
    )  # fmt: skip
    if not tp.ctx.settings.database_url.startswith("sqlite"):
        formats = formats[:1]  # the rows' stream is the database's; the sheet is not
    for name, make in formats:
        pieces: Iterator[bytes] = make()
        size = lines = 0
        tracemalloc.start()
        try:
            for piece in pieces:
                size += len(piece)
                lines += piece.count(b"\r\n")
            _now, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < MEMORY_BOUND, (name, peak)
        if name == "csv":
            assert lines > 0.8 * EXPORT_ROWS  # every payment of merchant 1, and the header
            assert size > 3 * MEMORY_BOUND  # the file itself: far more than was ever held
