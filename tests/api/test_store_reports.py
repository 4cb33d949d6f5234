"""``GET /v1/store/reports/{kind}``: the hand-made set's figures as JSON, CSV and XLSX;
a merchant's key reads its own merchant only, an operations key names one; bad filters
are refused with a problem document and change nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest

from tests.api.conftest import ApiEnv
from tests.pdfcheck import check_embedded
from tests.shopdata import Line, Tender, World, hand_made, order, shanghai, world
from tillpoint.payments.models import Payment
from tillpoint.store.models import TenderKind

PATH = "/v1/store/reports"
ALIPAY = "284000000000000001"
DAYS = {"from": "2026-12-01", "to": "2026-12-02"}


@pytest.fixture
def shop(api: ApiEnv) -> World:
    return hand_made(api.tp, api.mid_a)


def get(api: ApiEnv, who: str, kind: str, **params: Any) -> Any:
    return api.get(who, f"{PATH}/{kind}", params={**DAYS, **params})


def test_the_owner_reads_a_report_as_json(api: ApiEnv, shop: World) -> None:
    r = get(api, "owner_a", "days")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kind"], body["mid"], body["currency"]) == ("days", api.mid_a, "CNY")
    assert body["shops"] == [1, 2] and body["counter"] is None
    assert body["title"] == "Sales by day"
    assert [c["key"] for c in body["columns"]][:3] == ["day", "orders", "returns"]
    one, two = body["rows"]
    assert (one["day"], one["net_minor"], one["margin_percent"]) == ("2026-12-01", 2800, "37.4")
    assert (two["refund_minor"], two["net_minor"]) == (270, 1130)
    assert body["total"]["net_minor"] == 3930 and body["total"]["cost_minor"] == 1464
    # Staff keys read too; a shop and a counter narrow it.
    staff = get(api, "staff_a", "counters", shop=1, counter=shop.counters["Noodles"]).json()
    assert [row["net_minor"] for row in staff["rows"]] == [1789]
    assert get(api, "owner_a", "products", shop=[2]).json()["total"]["net_minor"] == 1400


def test_csv_and_xlsx_in_the_callers_language(api: ApiEnv, shop: World) -> None:
    r = get(api, "owner_a", "tenders", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert f"tenders-{api.mid_a}-20261201-20261202.csv" in r.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Tender", "Payments", "Taken"]
    assert rows[1][:3] == ["Cash", "1", "10.00"] and rows[2][-1] == "0.11"
    assert len(rows) == 1 + 4 + 1  # four tenders and the total
    assert rows[-1][:3] == ["Total", "3", "42.00"]

    zh = {"Accept-Language": "zh-CN,zh;q=0.9", **api.headers("owner_a")}
    r = api.client.get(f"{PATH}/products", params={**DAYS, "format": "xlsx"}, headers=zh)
    assert r.status_code == 200, r.text
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][2] == "商品"  # the header, in Chinese
    bread = next(v for v in values if v[1] == "SKU-3")
    cost = values[0].index("成本")
    assert bread[cost] is None  # unknown, not zero
    assert values[-1][1] == "合计" and float(values[-1][values[0].index("净销售额")]) == 39.30


def test_a_merchant_key_reads_its_own_merchant_only(api: ApiEnv, shop: World) -> None:
    theirs = get(api, "owner_b", "days").json()
    assert theirs["mid"] == api.mid_b and theirs["total"]["net_minor"] == 0
    asked = get(api, "owner_b", "days", mid=api.mid_a)
    missing = get(api, "owner_b", "days", mid="898310054119999")
    assert asked.status_code == missing.status_code == 404
    assert asked.json()["code"] == missing.json()["code"] == "merchant.not_found"
    # B's own shop 2 does not exist: a 404 whatever A has.
    assert get(api, "owner_b", "days", shop=2).json()["code"] == "shop.not_found"
    # A counter of A's is not B's.
    r = get(api, "owner_b", "days", counter=shop.counters["Tea"])
    assert (r.status_code, r.json()["code"]) == (404, "counter.not_found")


def test_operations_name_the_merchant(api: ApiEnv, shop: World) -> None:
    r = get(api, "ops", "days")
    assert (r.status_code, r.json()["code"]) == (422, "report.mid_required")
    for who in ("ops", "reviewer", "risk"):
        body = get(api, who, "shops", mid=api.mid_a).json()
        assert [row["net_minor"] for row in body["rows"]] == [2530, 1400], who


@pytest.mark.parametrize(
    ("kind", "params", "status", "code"),
    [
        ("nothing", {}, 422, "request.invalid"),
        ("days", {"from": "2026-12-03"}, 422, "report.range"),
        ("days", {"from": "2020-01-01"}, 422, "report.range_too_long"),
        ("days", {"from": "9999-12-31", "to": "9999-12-31"}, 422, "report.date"),
        ("products", {"from": "0001-01-01", "to": "0001-01-31"}, 422, "report.date"),
        ("days", {"to": "2026-13-01"}, 422, "request.invalid"),
        ("days", {"shop": 9}, 404, "shop.not_found"),
        ("days", {"format": "pdf"}, 422, "request.invalid"),
        ("slow_movers", {"max_sold_milli": -1}, 422, "request.invalid"),
    ],
)
def test_bad_filters_are_refused(
    api: ApiEnv, shop: World, kind: str, params: dict[str, Any], status: int, code: str
) -> None:
    r = get(api, "owner_a", kind, **params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code


def test_the_settlement_statement_splits_a_malls_payments_per_counter(api: ApiEnv) -> None:
    """The day's statement (HTML and PDF) gains a table per counter when the day's
    payments paid counters' orders: each counter's gross, refunds and fees."""
    ids = []
    for amount in (1_000, 2_500, 4_000):
        made = api.post("owner_a", "/v1/payments", {"amount_minor": amount, "code": ALIPAY})
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    w = world(api.tp, api.mid_a, cashiers=())
    at = shanghai("2026-11-25 10:30")
    for name, counter, payment, amount in (("a", "Tea", ids[0], 1_000),
                                           ("b", "Noodles", ids[1], 2_500)):  # fmt: skip
        order(api.tp, w, name, shop=1, counter=counter, paid_at=at,
              lines=[Line("cola", 1000, amount)],
              tenders=[Tender(TenderKind.WALLET, amount, payment_id=payment)])  # fmt: skip
    day = api.tp.days.cut_off("test")
    api.tp.settlement.run(day)
    st = api.tp.statements.statement(api.mid_a, day)
    with api.tp.ctx.db.read() as s:
        fees = {p.id: p.fee_minor for p in s.query(Payment).filter(Payment.id.in_(ids))}
    assert list(st.by_counter) == ["1 Tea stall 茶铺", "2 Noodles 面馆", "无柜台 / No counter"]
    tea, noodles, rest = st.by_counter.values()
    assert (tea.count, tea.gross_minor, tea.fees_minor) == (1, 1_000, fees[ids[0]])
    assert (noodles.count, noodles.gross_minor, noodles.fees_minor) == (1, 2_500, fees[ids[1]])
    assert (rest.count, rest.gross_minor) == (1, 4_000)  # paid no counter's order
    assert "按柜台 / By counter" in api.tp.statements.html(st)
    check_embedded(api.tp.statements.pdf(st), "按柜台 / By counter", "2 Noodles 面馆")
    # A merchant without counters has no such table.
    assert api.tp.statements.statement(api.mid_b, day).by_counter == {}
