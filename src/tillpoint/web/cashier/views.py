"""What the till page is sent: an order as JSON with the reason a tender failed in the
cashier's language, the receipt laid out for the till's printer, and the X or Z report
laid out for the printer and the screen (both as HTML the page inserts and prints)."""

from __future__ import annotations

from typing import Any

from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.iso8583.codes import describe
from tillpoint.receipts.orders import (
    LABELS,
    TENDERS,
    OrderReceipt,
    heading_rows,
    lines,
    member_rows,
    tender_rows,
    total_rows,
)
from tillpoint.receipts.service import qr_svg
from tillpoint.receipts.slip import pair
from tillpoint.store.models import OrderKind, TenderKind, TenderStatus
from tillpoint.store.orders import OrderView
from tillpoint.store.shifts import ShiftView
from tillpoint.web.render import environment

NO_ANSWER = N_("The terminal or the wallet did not complete it in time")
CANCELED = N_("Canceled")


def why(status: TenderStatus, response_code: str | None) -> str | None:
    """Why a tender did not pay, in the current language (None: it did, or still may)."""
    if status is TenderStatus.FAILED:
        return describe(response_code) if response_code else _(NO_ANSWER)
    if status is TenderStatus.CANCELED:
        return _(CANCELED)
    return None


def order_json(view: OrderView) -> dict[str, Any]:
    """The order as the page reads it: the service's view, each tender with ``why``."""
    data = view.model_dump(mode="json")
    for tender, t in zip(data["tenders"], view.tenders, strict=True):
        tender["why"] = why(t.status, t.response_code)
    return data


def slip_html(r: OrderReceipt, url: str) -> str:
    """The receipt as the till's printer prints it from the browser (a paper-wide
    column, both languages as on the printed slips), with the e-receipt's QR code."""
    o = r.order
    total = LABELS["refund_total" if o.kind is OrderKind.RETURN else "total"]
    return (
        environment()
        .get_template("cashier/_slip.html")
        .render(
            r=r,
            title=pair(LABELS["return" if o.kind is OrderKind.RETURN else "sale"]),
            heading=heading_rows(r),
            lines=lines(r),
            totals=total_rows(r),
            total_label=pair(total),
            total=Money(o.total_minor, o.currency).display(),
            tenders=tender_rows(r),
            member=member_rows(r),
            thanks=pair(LABELS["thanks"]),
            scan=LABELS["scan"],
            qr=qr_svg(url),
        )
    )


def slip_labels() -> dict[str, str]:
    """The receipt's words (both languages, as printed), for the receipts the page
    prints itself while offline (cashier-offline.js lays them out as ``_slip.html``)."""
    words = {k: pair(v) for k, v in LABELS.items()}
    words["cash"] = pair(TENDERS[TenderKind.CASH])
    words["offline"] = pair(("离线销售", "SOLD OFFLINE"))
    # A member's offline sale: its points are the server's to give, when it syncs.
    words["points_expected"] = pair(("预计积分", "POINTS EXPECTED"))
    words["points_later"] = pair(("积分于同步后入账", "POINTS ARE EARNED WHEN SYNCED"))
    return words


def report_html(view: ShiftView, shop_name: str, cashier_name: str) -> str:
    """The X report of an open shift, or the Z report of a closed one, in the current
    language."""
    return (
        environment()
        .get_template("cashier/_report.html")
        .render(s=view, r=view.report, shop_name=shop_name, cashier_name=cashier_name)
    )
