"""The merchant portal's reports through the browser's requests: every report's page
draws its chart and table from the hand-made set; the filters (days, shop, counter,
slow movers' quantity) and what is wrong with them; a cashier sees its own shop only,
whatever the address says; the CSV and XLSX files; another merchant sees nothing of
these."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_portal_payments import as_person
from tests.shopdata import World, hand_made
from tillpoint.access.models import AccountRole
from tillpoint.store.reports import ReportKind

R = AccountRole
DAYS = "from=2026-12-01&to=2026-12-02"
TOTAL_ROW = re.compile(r'<tr class="total">(.*?)</tr>', re.S)


@pytest.fixture
def shop(api: ApiEnv) -> World:
    return hand_made(api.tp, api.mid_a)


def total(html: str) -> str:
    found = TOTAL_ROW.search(html)
    assert found, html[-2000:]
    return found.group(1)


@pytest.mark.parametrize("kind", list(ReportKind))
def test_every_report_has_its_page(api: ApiEnv, shop: World, kind: ReportKind) -> None:
    as_person(api, R.OWNER)
    r = api.client.get(f"/portal/reports?kind={kind.value}&{DAYS}")
    assert r.status_code == 200, r.text
    html = r.text
    assert 'aria-current="page">' in html and "<table" in html
    if kind not in (ReportKind.SLOW_MOVERS,):
        assert "<svg" in html  # its chart
    if kind in (ReportKind.DAYS, ReportKind.PRODUCTS, ReportKind.SHOPS):
        assert "CN¥39.30" in total(html) and "CN¥9.66" in total(html)  # net sales, margin
    assert f"/portal/reports/{kind.value}.csv?from=2026-12-01" in html


def test_unknown_cost_shows_as_unknown(api: ApiEnv, shop: World) -> None:
    as_person(api, R.MANAGER)
    html = api.client.get(f"/portal/reports?kind=products&{DAYS}").text
    body = html[html.index("<tbody>") :]
    bread = next(row for row in body.split("<tr>") if "Bread 面包" in row)
    assert "—" in bread and "CN¥15.00" in bread  # no cost, no margin; its net apart


def test_filters_narrow_and_wrong_ones_are_said(api: ApiEnv, shop: World) -> None:
    as_person(api, R.OWNER)
    html = api.client.get(f"/portal/reports?kind=days&{DAYS}&shop=2").text
    assert "CN¥14.00" in total(html)
    tea = shop.counters["Tea"]
    html = api.client.get(f"/portal/reports?kind=counters&{DAYS}&counter={tea}").text
    assert "Tea stall 茶铺" in html and "Noodles 面馆</td>" not in html
    html = api.client.get("/portal/reports?kind=days&from=2026-12-09&to=2026-12-01&shop=7"
                          "&counter=999999").text  # fmt: skip
    for said in ("The last day is before the first", "There is no such shop",
                 "There is no such counter"):  # fmt: skip
        assert said in html
    html = api.client.get(f"/portal/reports?kind=slow_movers&{DAYS}&max_sold=1").text
    assert html.count("SKU-2") == 2  # apples at both shops: at most one kg sold
    assert "There is no such" not in api.client.get("/portal/reports?kind=nothing").text
    far = api.client.get("/portal/reports?kind=products&from=9999-12-01&to=9999-12-31")
    assert far.status_code == 200 and "A report&#39;s days are from 2000-01-01" in far.text


def test_a_cashier_sees_its_own_shop_only(api: ApiEnv, shop: World) -> None:
    as_person(api, R.CASHIER)
    html = api.client.get(f"/portal/reports?kind=shops&{DAYS}&shop=2").text
    assert "Second shop" not in html and 'name="shop"' not in html
    assert "CN¥25.30" in total(html)  # shop 1's net: 39.30 less shop 2's 14.00
    data = api.client.get(f"/portal/reports/days.csv?{DAYS}&shop=2").content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data)))
    assert rows[-1][rows[0].index("Net sales")] == "25.30"


def test_files(api: ApiEnv, shop: World) -> None:
    as_person(api, R.OWNER)
    r = api.client.get(f"/portal/reports/counters.csv?{DAYS}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Shop", "Counter", "Counter name"]
    assert rows[-1][2] == "Total" and rows[-1][-1] == "31.81"
    r = api.client.get(f"/portal/reports/hours.xlsx?{DAYS}&lang=zh")
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "时段" and len(values) == 1 + 24 + 1
    assert api.client.get(f"/portal/reports/nothing.csv?{DAYS}").status_code == 404
    assert api.client.get("/portal/reports/days.csv?from=yesterday").status_code == 400


def test_another_merchant_sees_nothing_of_these(api: ApiEnv, shop: World) -> None:
    as_person(api, R.OWNER, api.mid_b)
    html = api.client.get(f"/portal/reports?kind=products&{DAYS}").text
    assert "Cola" not in html and "Tea stall" not in html
    assert api.client.get(f"/portal/reports?kind=days&{DAYS}&counter="
                          f"{shop.counters['Tea']}").text.count("no such counter") == 1  # fmt: skip
