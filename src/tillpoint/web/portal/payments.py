"""The merchant portal's payments (``/portal/payments``): the merchant's payments under
filters, newest first, a page at a time; one payment with its timeline, its fee, its
e-receipt link and (owner and manager) a refund form; and any filtered range as a CSV
or XLSX file, streamed.

Scope. Everything reads the signed-in account's merchant only: another merchant's
payment is not found (404) by any address. A cashier sees its own shop's payments of
the open business day, whatever the address asks (the date and shop filters are not
theirs to set), opens those payments only, and may not refund (403).

Refunds go through the REST API's own service (``OnlinePayments.refund``, as
``POST /v1/refunds``). The form carries how much of the payment was refunded when the
page showed it; the service refunds only while that is still so, so a form sent twice
(a double tap, the back button) refunds once, and a person who did not see another
refund is told first. The answer is a redirect back to the payment (the address of a
GET): reloading it repeats nothing. Each refund, made or refused, is in the audit log.

The reads are ``payments/search.py``'s (its notes say how a page stays fast with a
million payments); the files are ``payments/exports.py``'s.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import AccountRole
from tillpoint.core.errors import InvalidInput, NotFound, TillpointError
from tillpoint.core.i18n import N_, _, get_locale
from tillpoint.core.money import Money
from tillpoint.http.services import Services
from tillpoint.merchants.models import PaymentMethod
from tillpoint.payments.acquirer import REFUND_WINDOW_DAYS
from tillpoint.payments.exports import csv_pieces, headers, xlsx_pieces
from tillpoint.payments.models import PaymentKind, PaymentStatus
from tillpoint.payments.online import OnlinePayments
from tillpoint.payments.search import SCAN_ROWS, PaymentFilter, PaymentSearch
from tillpoint.receipts.service import RECEIPT_STATUSES, ReceiptService
from tillpoint.web.page import (
    MAX_ID,
    P_PAYMENTS,
    PAGE,
    after_action,
    audit,
    cashier_shop,
    day_of,
    enum_query,
    page,
    page_link,
    portal_guard,
    query_int,
    query_text,
    read_form,
    speak,
    tp,
)
from tillpoint.web.render import page_text

router = APIRouter(include_in_schema=False)

R = AccountRole
Seller = Annotated[SignedIn, portal_guard(P_PAYMENTS)]
Refunder = Annotated[SignedIn, portal_guard(P_PAYMENTS, R.OWNER, R.MANAGER)]

HOME = P_PAYMENTS.href
FILTERS = ("from", "to", "method", "status", "shop", "tid", "min", "max", "q")
AMOUNT = re.compile(r"[0-9]{1,12}(?:\.[0-9]+)?")
TID = re.compile(r"[0-9A-Za-z]{8}")
RRN = re.compile(r"[0-9A-Za-z]{12}")
VOUCHER = re.compile(r"[0-9]{1,6}")
PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


@dataclass(frozen=True)
class Scope:
    """Whose payments a person sees: their merchant's; a cashier's, of its shop and the
    open business day only (``today``)."""

    merchant_id: int
    mid: str
    today: date
    shop_id: int | None = None  # a cashier's shop

    @property
    def cashier(self) -> bool:
        return self.shop_id is not None


def scope_of(request: Request, session: SignedIn) -> Scope:
    account = session.account
    if account.merchant_id is None or account.mid is None:
        raise HTTPException(status_code=404)  # (the door lets in only a merchant's users)
    today = tp(request).days.open_date()
    shop = cashier_shop(session)
    if shop is None and R.CASHIER in account.roles and not account.has(R.OWNER, R.MANAGER):
        raise HTTPException(status_code=404)  # a cashier without a shop sees nothing
    return Scope(account.merchant_id, account.mid, today, shop)


def online(request: Request) -> OnlinePayments:
    """The REST API's payment service (the same object ``POST /v1/refunds`` uses)."""
    services: Services = request.app.state.services
    return services.online


def search(request: Request) -> PaymentSearch:
    return PaymentSearch(tp(request).ctx)


def amount_minor(text: str, currency: str) -> int | None:
    """An amount typed in yuan (``12.50``, ``12.5``, ``1,234``, ``¥12``) as minor units,
    exactly (Decimal); None for anything else, or more decimals than the currency has."""
    cleaned = text.strip().removeprefix("¥").removeprefix("￥").replace(",", "").strip()
    if not AMOUNT.fullmatch(cleaned):
        return None
    try:
        return Money.parse(cleaned, currency).amount_minor
    except InvalidInput:
        return None


@dataclass
class Filters:
    """The list's filters as the address gives them: the values to show back in the
    form, what is wrong with any (that filter is left out), and the filter itself."""

    values: dict[str, str]
    problems: list[str] = field(default_factory=list)
    filter: PaymentFilter | None = None
    in_use: int = 0


def read_filters(request: Request, scope: Scope) -> Filters:
    values = {name: query_text(request, name, 40) for name in FILTERS}
    f = Filters(values)
    currency = tp(request).ctx.settings.currency
    first = last = None
    shop_id = None
    if scope.cashier:  # its shop, today: whatever the address says
        first = last = scope.today
        shop_id = scope.shop_id
        values.update({"from": scope.today.isoformat(), "to": scope.today.isoformat(), "shop": ""})
    else:
        first, last = day_of(values["from"]), day_of(values["to"])
        if (values["from"] and first is None) or (values["to"] and last is None):
            f.problems.append(_("A date is written 2026-12-04: that filter is left out."))
        elif first and last and last < first:
            f.problems.append(_("The last day is before the first: that filter is left out."))
            first = last = None
        if values["shop"]:
            number = query_int(request, "shop")
            shops = search(request).places(scope.merchant_id).shops
            shop_id = next((i for i, n, _name in shops if n == number), None)
            if shop_id is None:
                f.problems.append(_("There is no such shop: that filter is left out."))
    tid = values["tid"] or None
    if tid is not None and not TID.fullmatch(tid):
        f.problems.append(_("A TID is 8 letters or digits: that filter is left out."))
        tid = None
    low, high = (amount_minor(values[k], currency) if values[k] else None for k in ("min", "max"))
    if (values["min"] and low is None) or (values["max"] and high is None):
        f.problems.append(_("Type an amount like 12.50: that filter is left out."))
    rrn = stan = None
    reference = values["q"].replace(" ", "")
    if RRN.fullmatch(reference):
        rrn = reference.upper()
    elif VOUCHER.fullmatch(reference):
        stan = reference.zfill(6)
    elif reference:
        f.problems.append(
            _("Search for an RRN (12 characters) or a voucher number (up to 6 digits): "
              "that search is left out.")
        )  # fmt: skip
    method = enum_query(request, "method", PaymentMethod)
    status = enum_query(request, "status", PaymentStatus)
    values.update(method=method.value if method else "", status=status.value if status else "")
    f.filter = PaymentFilter(
        scope.merchant_id, shop_id=shop_id, tid=tid, date_from=first, date_to=last,
        method=method, status=status, amount_min_minor=low, amount_max_minor=high, rrn=rrn,
        stan=stan,
    )  # fmt: skip
    chosen: list[object] = [tid, low, high, rrn or stan, method, status]
    if not scope.cashier:  # (a cashier's day and shop are not filters it chose)
        chosen += [first or last, shop_id]
    f.in_use = sum(1 for v in chosen if v is not None)
    return f


def export_query(request: Request) -> str:
    """The list's filters, for the export links (no page position, no language)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k in FILTERS and v]
    return "?" + urlencode(query) if query else ""


# --- the list --------------------------------------------------------------------------------


@router.get(HOME, response_class=HTMLResponse)
def payment_list(request: Request, session: Seller) -> Response:
    scope = scope_of(request, session)
    filters = read_filters(request, scope)
    assert filters.filter is not None
    reads = search(request)
    found = reads.page(filters.filter, after=query_int(request, "after") or None, limit=PAGE)
    places = reads.places(scope.merchant_id)
    next_href = page_link(request, after=found.next_after) if found.next_after else None
    return page(
        request, session, "portal/payments/list.html",
        rows=found.rows, next_href=next_href, searched_to=found.searched_to,
        values=filters.values, problems=filters.problems, in_use=filters.in_use,
        methods=list(PaymentMethod), statuses=list(PaymentStatus), places=places,
        cashier=scope.cashier, today=scope.today, exports=export_query(request),
        scan_rows=SCAN_ROWS,
    )  # fmt: skip


# --- exports ---------------------------------------------------------------------------------


def _export(request: Request, session: SignedIn, kind: str) -> Response:
    speak(request, session)
    scope = scope_of(request, session)
    filters = read_filters(request, scope)
    if filters.problems:
        return page(request, session, "portal/payments/refused.html", status_code=400,
                    problems=filters.problems, back=HOME + export_query(request))  # fmt: skip
    assert filters.filter is not None
    f = filters.filter
    # The words of the reader's language, fixed now: the file is written elsewhere.
    words = {
        e.value: page_text(e.value) for enum in (PaymentKind, PaymentStatus, PaymentMethod)
        for e in enum
    }  # fmt: skip
    titles = headers()
    rows = search(request).rows(f)
    span = "-".join(d.strftime("%Y%m%d") for d in (f.date_from, f.date_to) if d) or "all"
    name = f"payments-{scope.mid}-{span}.{kind}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"', **PRIVATE}
    audit(request, session, "payments exported", f"merchant {scope.mid}",
          merchant_id=scope.merchant_id, format=kind, filters=export_query(request))  # fmt: skip
    pieces: Iterator[bytes]
    if kind == "csv":
        pieces = csv_pieces(rows, words.__getitem__, titles)
        media = "text/csv; charset=utf-8"
    else:
        pieces = xlsx_pieces(rows, words.__getitem__, titles, sheet_name=_("Payments")[:31])
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return StreamingResponse(pieces, media_type=media, headers=disposition)


@router.get(HOME + "/export.csv")
def export_csv(request: Request, session: Seller) -> Response:
    """The filtered payments as CSV (UTF-8 with a byte-order mark), streamed."""
    return _export(request, session, "csv")


@router.get(HOME + "/export.xlsx")
def export_xlsx(request: Request, session: Seller) -> Response:
    """The filtered payments as an XLSX workbook, streamed."""
    return _export(request, session, "xlsx")


# --- one payment -----------------------------------------------------------------------------


def _payment_id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and 0 < int(text[:12]) <= MAX_ID else None


def _not_found(request: Request, session: SignedIn, text: str) -> Response:
    speak(request, session)
    message = NotFound("payment.not_found", N_("No payment {id}"), id=text[:20]).localized()
    return page(request, session, "console/trouble.html", status_code=404, message=message,
                back=HOME)  # fmt: skip


def _receipt_url(request: Request, payment_id: int) -> str:
    base = tp(request).ctx.settings.public_url or str(request.base_url)
    return ReceiptService(tp(request).ctx).url(payment_id, base)


@router.get(HOME + "/{ref}", response_class=HTMLResponse)
def payment_page(request: Request, session: Seller, ref: str) -> Response:
    scope = scope_of(request, session)
    payment_id = _payment_id(ref)
    if payment_id is None:
        return _not_found(request, session, ref)
    try:
        d = search(request).detail(
            payment_id, scope.merchant_id, scope.today, shop_id=scope.shop_id,
            day=scope.today if scope.cashier else None,
        )  # fmt: skip
    except NotFound:
        return _not_found(request, session, ref)
    p = d.payment
    may_refund = session.account.has(R.OWNER, R.MANAGER)
    left = Money(d.refundable_minor, p.currency)
    return page(
        request, session, "portal/payments/detail.html",
        d=d, p=p, may_refund=may_refund, left=left, left_text=str(left.to_decimal()),
        window_days=REFUND_WINDOW_DAYS,
        receipt_url=_receipt_url(request, p.id) if p.status in RECEIPT_STATUSES else None,
    )  # fmt: skip


@router.get(HOME + "/{ref}/receipt")
def payment_receipt(request: Request, session: Seller, ref: str) -> Response:
    """The payment's public e-receipt page (a redirect to its unguessable link)."""
    scope = scope_of(request, session)
    payment_id = _payment_id(ref)
    if payment_id is None:
        return _not_found(request, session, ref)
    try:
        d = search(request).detail(payment_id, scope.merchant_id, scope.today,
                                   shop_id=scope.shop_id,
                                   day=scope.today if scope.cashier else None)  # fmt: skip
    except NotFound:
        return _not_found(request, session, ref)
    if d.payment.status not in RECEIPT_STATUSES:
        return _not_found(request, session, ref)
    return RedirectResponse(ReceiptService(tp(request).ctx).path(payment_id), status_code=303)


@router.post(HOME + "/{ref}/refund")
async def refund(request: Request, session: Refunder, ref: str) -> Response:
    """A full or partial refund of the payment, through the REST API's own service."""
    form = await read_form(request, session, "amount", "seen", max_chars=40)
    scope = scope_of(request, session)
    payment_id = _payment_id(ref)
    if payment_id is None:
        return _not_found(request, session, ref)
    try:
        original = online(request).get(payment_id, merchant_id=scope.merchant_id)
    except NotFound:
        return _not_found(request, session, ref)
    back = f"{HOME}/{payment_id}"
    target = f"payment {payment_id}"
    minor = amount_minor(form["amount"], original.currency)
    seen = form["seen"]
    if minor is None or minor <= 0:
        return after_action(back, _("Type the amount to refund like 12.50."), error=True)
    if not (seen.isascii() and seen.isdigit() and len(seen) <= 15):
        return after_action(back, _("The form is out of date: look at the payment again."),
                            error=True)  # fmt: skip
    amount = Money(minor, original.currency)
    try:
        made = await online(request).refund(
            payment_id, amount, merchant_id=scope.merchant_id, seen_refunded_minor=int(seen)
        )
    except TillpointError as e:
        audit(request, session, "payment refund", target, e, merchant_id=scope.merchant_id,
              amount_minor=minor)  # fmt: skip
        return after_action(back, e.localized(), error=True)
    audit(request, session, "payment refund", target, merchant_id=scope.merchant_id,
          amount_minor=minor, refund_id=made.id, status=made.host_status.value)  # fmt: skip
    shown = amount.format(get_locale())
    if made.host_status is PaymentStatus.APPROVED:
        return after_action(back, _("{amount} refunded (refund {refund}).").format(
            amount=shown, refund=made.id))  # fmt: skip
    return after_action(
        back,
        _("The refund of {amount} was not made (answer {code}): nothing was refunded.").format(
            amount=shown, code=made.response_code),
        error=True,
    )  # fmt: skip
