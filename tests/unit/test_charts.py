"""The server-drawn SVG charts: well-formed, accessible, right in what they draw."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from markupsafe import Markup

from tillpoint.core.i18n import set_locale
from tillpoint.web.charts import HOURS, bar_chart_by_day, bar_chart_by_hour, split_bars
from tillpoint.web.render import money

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    set_locale("en")
    yield
    set_locale("en")


def parse(svg: Markup) -> ET.Element:
    root = ET.fromstring(str(svg))  # noqa: S314 - our own output; raises if not well-formed
    assert root.tag == f"{SVG}svg"
    return root


def bars(root: ET.Element, cls: str = "bar") -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if cls in r.get("class", "").split()]


def accessible(root: ET.Element) -> tuple[str, str]:
    """The chart is an image named by its title and described by its desc."""
    assert root.get("role") == "img"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert root.get("viewBox", "").startswith("0 0 ") and root.get("width") is None
    return title.text or "", desc.text or ""


def test_hourly_chart_draws_24_bars_and_yesterday_as_a_line() -> None:
    today = [h * 10_000 for h in range(HOURS)]
    yesterday = [50_000] * HOURS
    root = parse(bar_chart_by_hour(today, yesterday, title="Volume", value_format=money))
    title, desc = accessible(root)
    assert title == "Volume"
    assert desc == "By hour, today CN¥27,600.00 in all against CN¥12,000.00 yesterday"
    drawn = bars(root, "today")
    assert len(drawn) == HOURS
    heights = [float(b.get("height", "")) for b in drawn]
    assert heights[0] == 0 and heights == sorted(heights) and heights[-1] == 160
    # each bar says its own values, formatted as money
    assert drawn[23].findtext(f"{SVG}title") == "23:00 Today CN¥2,300.00; Yesterday CN¥500.00"
    (line,) = root.iter(f"{SVG}polyline")
    assert len(line.get("points", "").split()) == HOURS
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "CN¥2,300.00" in texts  # the peak, on the scale
    assert {"00:00", "06:00", "12:00", "18:00", "24:00"} <= set(texts)


def test_hourly_chart_of_a_day_without_sales() -> None:
    root = parse(bar_chart_by_hour([0] * 24, [0] * 24, title="Volume", value_format=money))
    assert [float(b.get("height", "")) for b in bars(root, "today")] == [0.0] * HOURS
    assert accessible(root)[1] == "By hour, today CN¥0.00 in all against CN¥0.00 yesterday"


def test_hourly_chart_of_huge_values_stays_exact_in_its_words() -> None:
    huge = 10**22 + 1  # far beyond a float's 53 bits: the text must not lose the last fen
    today = [0] * 23 + [huge]
    root = parse(bar_chart_by_hour(today, [huge // 2] * 24, title="t", value_format=money))
    assert (
        bars(root, "today")[23]
        .findtext(f"{SVG}title", "")
        .startswith("23:00 Today CN¥100,000,000,000,000,000,000.01;")
    )
    assert float(bars(root, "today")[23].get("height", "")) == 160


def test_hourly_chart_draws_refund_hours_at_zero() -> None:
    root = parse(bar_chart_by_hour([-500] + [100] * 23, [0] * 24, title="t", value_format=money))
    first = bars(root, "today")[0]
    assert float(first.get("height", "")) == 0
    assert "-CN¥5.00" in first.findtext(f"{SVG}title", "")


def test_hourly_chart_refuses_a_day_of_the_wrong_length_and_floats() -> None:
    with pytest.raises(ValueError, match="24 hours"):
        bar_chart_by_hour([1] * 23, [1] * 24, title="t", value_format=money)
    with pytest.raises(TypeError, match="ints"):
        bar_chart_by_hour([1.5] * 24, [1] * 24, title="t", value_format=money)  # type: ignore[list-item]


def test_hourly_chart_speaks_chinese() -> None:
    set_locale("zh_CN")
    root = parse(bar_chart_by_hour([100] * 24, [0] * 24, title="交易额", value_format=money))
    assert accessible(root)[1] == "按小时：今日合计 ¥24.00，昨日合计 ¥0.00"
    assert {"今日", "昨日"} <= {t.text for t in root.iter(f"{SVG}text")}


def test_split_bars_one_bar_per_method_longest_for_the_largest() -> None:
    items = [("微信支付 WeChat Pay", 300_000), ("支付宝 Alipay", 150_000), ("银联卡 Card", 0)]
    root = parse(split_bars(items, title="By method", value_format=money))
    title, desc = accessible(root)
    assert title == "By method"
    assert desc == "微信支付 WeChat Pay CN¥3,000.00; 支付宝 Alipay CN¥1,500.00; 银联卡 Card CN¥0.00"
    widths = [float(b.get("width", "")) for b in bars(root)]
    assert len(widths) == 3 and widths[0] == 2 * widths[1] and widths[2] == 0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == [
        "微信支付 WeChat Pay", "CN¥3,000.00", "支付宝 Alipay", "CN¥1,500.00", "银联卡 Card", "CN¥0.00",
    ]  # fmt: skip


def test_split_bars_without_data() -> None:
    root = parse(split_bars([], title="By method", value_format=money))
    assert bars(root) == []
    assert accessible(root)[1] == "No data yet"
    assert [t.text for t in root.iter(f"{SVG}text")] == ["No data yet"]
    root = parse(split_bars([("Cash", 0)], title="t", value_format=money))
    assert [float(b.get("width", "")) for b in bars(root)] == [0.0]


def test_labels_and_titles_are_escaped() -> None:
    evil = '<script>alert("x")</script> & </svg>'
    svg = split_bars([(evil, 1)], title=evil, value_format=money)
    root = parse(svg)  # still one well-formed svg
    assert "<script" not in str(svg)
    assert root.findtext(f"{SVG}title") == evil
    assert next(t.text for t in root.iter(f"{SVG}text")) == evil
    hourly = bar_chart_by_hour([0] * 24, [0] * 24, title=evil, value_format=lambda v: evil)
    assert parse(hourly).findtext(f"{SVG}title") == evil and "<script" not in str(hourly)


def test_daily_chart_draws_a_bar_a_day_and_names_three_days() -> None:
    days = [
        (f"12-{d:02d}", v)
        for d, v in zip(range(1, 8), [0, 500, -20, 1200, 0, 300, 99], strict=True)
    ]
    svg = str(bar_chart_by_day(days, title="Takings", value_format=money))
    assert svg.count('class="bar day"') == 7
    assert "12-01" in svg and "12-04" in svg and "12-07" in svg and "12-03</text>" not in svg
    assert "<title>12-03 -CN¥0.20</title>" in svg  # drawn at zero, its true value said
    assert 'height="0"' in svg
    assert "7 days from 12-01 to 12-07, CN¥20.79 in all" in svg


def test_daily_chart_refuses_no_days_and_floats() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        bar_chart_by_day([], title="t", value_format=money)
    with pytest.raises(TypeError):
        bar_chart_by_day([("12-01", 1.5)], title="t", value_format=money)  # type: ignore[list-item]
