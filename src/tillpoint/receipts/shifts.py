"""A shift's X or Z report printed on the till's thermal printer (ESC/POS): the same
figures as the report the till page shows and prints (``GET /v1/shifts/{id}``), in both
languages as on the receipts, for a till program that prints by itself
(``GET /v1/shifts/{id}/report.escpos``). An open shift prints its X report, a closed one
its Z report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from tillpoint.access.models import Account
from tillpoint.context import Context
from tillpoint.core.clock import BUSINESS_TZ, as_utc
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.receipts import escpos
from tillpoint.receipts.layout import Row
from tillpoint.receipts.orders import TENDERS
from tillpoint.receipts.slip import Pair, pair
from tillpoint.store.shifts import ShiftReport, ShiftService, ShiftView

LABELS: dict[str, Pair] = {
    "X": ("X 报表（班中）", "X REPORT"),
    "Z": ("Z 报表（交班）", "Z REPORT"),
    "shop": ("门店", "SHOP"),
    "till": ("收银台", "TILL"),
    "shift": ("班次", "SHIFT"),
    "opened_by": ("开班人", "OPENED BY"),
    "opened": ("开班时间", "OPENED"),
    "closed": ("交班时间", "CLOSED"),
    "printed": ("打印时间", "PRINTED"),
    "sales_title": ("销售", "SALES"),
    "sales": ("销售笔数", "SALES"),
    "sales_minor": ("销售金额", "SALES AMOUNT"),
    "returns": ("退货笔数", "RETURNS"),
    "returns_minor": ("退货金额", "RETURNS AMOUNT"),
    "net": ("净销售额", "NET"),
    "discounts": ("折扣", "DISCOUNTS"),
    "open_orders": ("未结订单", "OPEN ORDERS"),
    "held_orders": ("挂单", "HELD ORDERS"),
    "pending": ("支付中", "TENDERS UNDER WAY"),
    "takings": ("收款方式", "TAKINGS"),
    "refunds": ("退款方式", "PAID BACK"),
    "counters": ("专柜", "COUNTERS"),
    "drawer": ("钱箱", "CASH DRAWER"),
    "float": ("备用金", "FLOAT"),
    "cash_in": ("现金收入", "CASH TAKEN"),
    "cash_out": ("现金退款", "CASH PAID BACK"),
    "change": ("找零", "CHANGE GIVEN"),
    "expected": ("应有现金", "EXPECTED"),
    "counted": ("实点现金", "COUNTED"),
    "over": ("长款", "OVER"),
    "short": ("短款", "SHORT"),
    "even": ("长短款", "OVER/SHORT"),
    "late": ("交班后补传", "LATE OFFLINE SALES"),
    "late_cash": ("补传现金", "LATE CASH"),
    "with_late": ("含补传长短款", "OVER/SHORT WITH LATE"),
    "none": ("无", "NONE"),
}


def _time(at: datetime) -> str:
    return as_utc(at).astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


class ShiftPrintouts:
    """The X or Z report of a shift as the till's printer prints it."""

    def __init__(self, ctx: Context, shifts: ShiftService) -> None:
        self.ctx = ctx
        self.shifts = shifts

    def printout(
        self, shift_id: int, *, merchant_id: int | None, columns: int = escpos.Columns.NARROW
    ) -> bytes:
        view = self.shifts.get(shift_id, merchant_id=merchant_id)
        with self.ctx.db.read() as s:
            shop = s.scalars(
                select(Shop)
                .join(Merchant, Merchant.id == Shop.merchant_id)
                .where(Merchant.mid == view.mid, Shop.number == view.shop_number)
            ).one()
            merchant = s.get_one(Merchant, shop.merchant_id)
            cashier = s.get(Account, view.cashier_id)
            names = (merchant.display_name or merchant.legal_name, shop.name,
                     cashier.name if cashier else str(view.cashier_id))  # fmt: skip
        return render(view, *names, printed_at=_time(self.ctx.now()), columns=columns)


def heading_rows(view: ShiftView, shop_name: str, cashier_name: str, printed_at: str) -> list[Row]:
    rows = [
        Row(*LABELS["shop"], f"{view.shop_number} {shop_name}"),
        Row(*LABELS["till"], view.till),
        Row(*LABELS["shift"], str(view.number)),
        Row(*LABELS["opened_by"], cashier_name),
        Row(*LABELS["opened"], _time(view.opened_at)),
    ]
    if view.closed_at:
        rows.append(Row(*LABELS["closed"], _time(view.closed_at)))
    rows.append(Row(*LABELS["printed"], printed_at))
    return rows


def sections(view: ShiftView, r: ShiftReport) -> list[tuple[Pair, list[Row]]]:
    """The report's sections, each a title and its rows, in the order the page shows."""

    def m(minor: int) -> str:
        return Money(minor, view.currency).display().split(" ", 1)[1]

    sales = [
        Row(*LABELS["sales"], str(r.sales)),
        Row(*LABELS["sales_minor"], m(r.sales_minor)),
        Row(*LABELS["returns"], str(r.returns)),
        Row(*LABELS["returns_minor"], m(r.returns_minor)),
        Row(*LABELS["net"], m(r.net_minor)),
        Row(*LABELS["discounts"], m(r.discounts_minor)),
        Row(*LABELS["open_orders"], str(r.open_orders)),
        Row(*LABELS["held_orders"], str(r.held_orders)),
    ]
    if r.pending_tenders:
        sales.append(Row(*LABELS["pending"], str(r.pending_tenders)))
    takings = [Row(*TENDERS[t.kind], f"({t.count}) {m(t.amount_minor)}") for t in r.takings]
    found: list[tuple[Pair, list[Row]]] = [
        (LABELS["sales_title"], sales),
        (LABELS["takings"], takings or [Row(*LABELS["none"], "")]),
    ]
    if r.refunds:
        refunds = [Row(*TENDERS[t.kind], f"({t.count}) {m(t.amount_minor)}") for t in r.refunds]
        found.append((LABELS["refunds"], refunds))
    if r.counters:
        counters = []
        for c in r.counters:
            name = f"{c.counter_number} {c.name}"
            counters.append(Row(name, name, f"({c.orders}) {m(c.sales_minor - c.returns_minor)}"))
        found.append((LABELS["counters"], counters))
    drawer = [
        Row(*LABELS["float"], m(view.float_minor)),
        Row(*LABELS["cash_in"], m(r.cash_in_minor)),
        Row(*LABELS["cash_out"], m(r.cash_out_minor)),
        Row(*LABELS["change"], m(r.change_given_minor)),
        Row(*LABELS["expected"], m(r.expected_cash_minor)),
    ]
    if r.counted_cash_minor is not None and r.over_short_minor is not None:
        diff = r.over_short_minor
        key = "short" if diff < 0 else "over" if diff > 0 else "even"
        drawer += [Row(*LABELS["counted"], m(r.counted_cash_minor)), Row(*LABELS[key], m(diff))]
    if r.late_orders:
        drawer += [
            Row(*LABELS["late"], f"({r.late_orders}) {m(r.late_sales_minor)}"),
            Row(*LABELS["late_cash"], m(r.late_cash_minor)),
        ]
        if r.over_short_with_late_minor is not None:
            drawer.append(Row(*LABELS["with_late"], m(r.over_short_with_late_minor)))
    found.append((LABELS["drawer"], drawer))
    return found


def render(
    view: ShiftView,
    merchant_name: str,
    shop_name: str,
    cashier_name: str,
    *,
    printed_at: str,
    columns: int = escpos.Columns.NARROW,
) -> bytes:
    """The printed X or Z report: its title, the shift, then each section; the cut."""
    r = view.report
    if r is None:  # the service gives one shift with its report
        raise InvalidInput("shift.no_report", N_("Shift {id} has no report"), id=view.id)
    slip = escpos._Slip(columns)  # the printer the receipts use
    slip.p.set(bold=True)
    slip.centred(pair(LABELS[r.kind]))
    slip.p.set(bold=False)
    slip.centred(merchant_name)
    slip.rule()
    slip.rows(heading_rows(view, shop_name, cashier_name, printed_at))
    for title, rows in sections(view, r):
        slip.rule()
        slip.p.set(bold=True)
        slip.line(pair(title))
        slip.p.set(bold=False)
        slip.rows(rows)
    slip.rule()
    return slip.output()
