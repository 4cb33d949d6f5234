"""Charts drawn on the server as SVG: no script, no third-party file, nothing to load.

Each function takes plain numbers (amounts in minor units) and returns the ``<svg>``
element as ``Markup``, ready for a template. Every chart is an image with a name and a
description (``role="img"``, ``<title>``, ``<desc>``) that says in words what it shows;
every bar carries its own ``<title>`` (its exact value, formatted by ``value_format``,
usually ``render.money``). Sizes are in a ``viewBox`` that is narrow enough for the text
to stay readable when the chart shrinks to a 360-pixel phone; CSS sets its width.

Heights are geometry, computed with floats; values are never rounded through them: every
value shown is formatted from the integer it came in as.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from tillpoint.core.i18n import _

HOURS = 24
WIDTH = 400  # viewBox units; at 360 px a chart is ~336 px wide, so text shrinks to 0.84
FONT = 15  # ~12.5 px on a 360 px phone, ~19 px at the widest (CSS: .chart)
INK, MUTED, GRID = "#1a2330", "#4b5563", "#c9d1db"
TODAY_FILL, YESTERDAY_STROKE, SPLIT_FILL = "#1d4ed8", "#b45309", "#0f766e"

ValueFormat = Callable[[int], str]


def _id(kind: str, *parts: object) -> str:
    """A stable id for the title and description (the same chart, the same id)."""
    return f"{kind}-{hashlib.sha256(repr(parts).encode()).hexdigest()[:10]}"


def _num(x: float) -> str:
    """A coordinate, short."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, content: str, *, anchor: str = "start", fill: str = MUTED,
          size: int = FONT, weight: str = "normal") -> str:  # fmt: skip
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-size="{size}" fill="{fill}" '
        f'text-anchor="{anchor}" font-weight="{weight}">{escape(content)}</text>'
    )


def _svg(chart_id: str, height: float, title: str, desc: str, body: list[str]) -> Markup:
    # Every text in ``body`` and here went through ``escape``; the rest is our own markup.
    return Markup(  # noqa: S704
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {_num(height)}" '
        f'role="img" aria-labelledby="{chart_id}-t {chart_id}-d" '
        f'font-family="inherit" class="chart-svg">'
        f'<title id="{chart_id}-t">{escape(title)}</title>'
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>' + "".join(body) + "</svg>"
    )


def _check_values(name: str, values: Sequence[int]) -> None:
    for v in values:
        if type(v) is not int:
            raise TypeError(f"{name}: values are ints (minor units), not {type(v).__name__}")


def bar_chart_by_hour(
    today: Sequence[int],
    yesterday: Sequence[int],
    *,
    title: str,
    value_format: ValueFormat,
) -> Markup:
    """Today's volume hour by hour (24 bars, 00:00-23:00) against yesterday's (a dashed
    line through the same hours). Negative hours (more refunded than sold) are drawn
    at zero; their titles still say the true value."""
    if len(today) != HOURS or len(yesterday) != HOURS:
        raise ValueError(f"a day has {HOURS} hours: got {len(today)} and {len(yesterday)}")
    _check_values("today", today)
    _check_values("yesterday", yesterday)
    top, plot_h, bottom = 40, 160, 40
    left, right = 8, WIDTH - 8
    base_y = top + plot_h
    peak = max(0, *today, *yesterday)
    slot = (right - left) / HOURS

    def y_of(value: int) -> float:
        # int / int is exact to the float's precision even for huge values
        return base_y - (plot_h * max(value, 0) / peak if peak else 0.0)

    label_today, label_yesterday = _("Today"), _("Yesterday")
    body = [
        # the legend: a swatch and a dashed line
        f'<rect x="{left}" y="8" width="13" height="13" fill="{TODAY_FILL}"/>',
        _text(left + 19, 20, label_today, fill=INK),
        f'<line x1="{left + 110}" y1="14.5" x2="{left + 136}" y2="14.5" '
        f'stroke="{YESTERDAY_STROKE}" stroke-width="2.5" stroke-dasharray="5 3"/>',
        _text(left + 142, 20, label_yesterday, fill=INK),
        # the scale: the peak at the top, zero at the bottom
        f'<line x1="{left}" y1="{top}" x2="{right}" y2="{top}" stroke="{GRID}"/>',
        _text(right, top - 4, value_format(peak), anchor="end"),
        f'<line x1="{left}" y1="{base_y}" x2="{right}" y2="{base_y}" stroke="{MUTED}"/>',
    ]
    for hour, value in enumerate(today):
        y = y_of(value)
        body.append(
            f'<rect class="bar today" x="{_num(left + hour * slot + 1.5)}" y="{_num(y)}" '
            f'width="{_num(slot - 3)}" height="{_num(base_y - y)}" fill="{TODAY_FILL}">'
            f"<title>{hour:02d}:00 {escape(label_today)} {escape(value_format(value))}; "
            f"{escape(label_yesterday)} {escape(value_format(yesterday[hour]))}</title></rect>"
        )
    points = " ".join(
        f"{_num(left + (h + 0.5) * slot)},{_num(y_of(v))}" for h, v in enumerate(yesterday)
    )
    body.append(
        f'<polyline class="yesterday" points="{points}" fill="none" '
        f'stroke="{YESTERDAY_STROKE}" stroke-width="2.5" stroke-dasharray="5 3" '
        f'stroke-linejoin="round"/>'
    )
    # the hour axis: 00:00 and 24:00 at the ends, 06:00, 12:00, 18:00 where those hours begin
    body.append(_text(left, base_y + 20, "00:00"))
    for hour in (6, 12, 18):
        body.append(_text(left + hour * slot, base_y + 20, f"{hour:02d}:00", anchor="middle"))
    body.append(_text(right, base_y + 20, "24:00", anchor="end"))
    desc = _("By hour, today {today} in all against {yesterday} yesterday").format(
        today=value_format(sum(today)), yesterday=value_format(sum(yesterday))
    )
    return _svg(_id("hours", title, today, yesterday), base_y + bottom, title, desc, body)


def split_bars(
    items: Sequence[tuple[str, int]],
    *,
    title: str,
    value_format: ValueFormat,
) -> Markup:
    """One horizontal bar per item (a payment method and its volume), longest for the
    largest; the label above each bar, its value at the bar's end. Negative values are
    drawn as empty bars."""
    _check_values("items", [v for _label, v in items])
    row_h, top, left, right = 48, 8, 8, WIDTH - 8
    peak = max((v for _label, v in items), default=0)
    body: list[str] = []
    if not items:
        body.append(_text(WIDTH / 2, top + 22, _("No data yet"), anchor="middle"))
    for i, (label, value) in enumerate(items):
        y = top + i * row_h
        length = (right - left) * max(value, 0) / peak if peak > 0 else 0.0
        shown = value_format(value)
        body.append(_text(left, y + 16, label, fill=INK))
        body.append(_text(right, y + 16, shown, anchor="end", weight="600", fill=INK))
        body.append(
            f'<rect x="{left}" y="{y + 23}" width="{right - left}" height="14" fill="#eef1f5"/>'
        )
        body.append(
            f'<rect class="bar" x="{left}" y="{y + 23}" width="{_num(length)}" height="14" '
            f'fill="{SPLIT_FILL}"><title>{escape(label)} {escape(shown)}</title></rect>'
        )
    desc = "; ".join(f"{label} {value_format(value)}" for label, value in items) or _("No data yet")
    height = top + max(len(items), 1) * row_h + 4
    return _svg(_id("split", title, tuple(items)), height, title, desc, body)


def bar_chart_by_day(
    days: Sequence[tuple[str, int]],
    *,
    title: str,
    value_format: ValueFormat,
) -> Markup:
    """One bar per day (its label, e.g. ``12-04``, and its amount), oldest on the left;
    the first, the middle and the last day are named under the axis, every bar's title
    names its own. Negative days are drawn at zero; their titles say the true value."""
    if not days:
        raise ValueError("a chart by day needs at least one day")
    values = [v for _label, v in days]
    _check_values("days", values)
    top, plot_h, bottom = 28, 160, 40
    left, right = 8, WIDTH - 8
    base_y = top + plot_h
    peak = max(0, *values)
    slot = (right - left) / len(days)
    gap = min(3.0, slot / 4)
    body = [
        f'<line x1="{left}" y1="{top}" x2="{right}" y2="{top}" stroke="{GRID}"/>',
        _text(right, top - 6, value_format(peak), anchor="end"),
        f'<line x1="{left}" y1="{base_y}" x2="{right}" y2="{base_y}" stroke="{MUTED}"/>',
    ]
    for i, (label, value) in enumerate(days):
        height = plot_h * max(value, 0) / peak if peak else 0.0
        body.append(
            f'<rect class="bar day" x="{_num(left + i * slot + gap / 2)}" '
            f'y="{_num(base_y - height)}" width="{_num(slot - gap)}" height="{_num(height)}" '
            f'fill="{TODAY_FILL}"><title>{escape(label)} {escape(value_format(value))}'
            "</title></rect>"
        )
    named = sorted({0, len(days) // 2, len(days) - 1})
    for i in named:
        anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
        x = left if i == 0 else right if i == len(days) - 1 else left + (i + 0.5) * slot
        body.append(_text(x, base_y + 20, days[i][0], anchor=anchor))
    desc = _("{n} days from {first} to {last}, {total} in all").format(
        n=len(days), first=days[0][0], last=days[-1][0], total=value_format(sum(values))
    )
    return _svg(_id("days", title, tuple(days)), base_y + bottom, title, desc, body)
