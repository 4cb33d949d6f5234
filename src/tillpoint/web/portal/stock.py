"""The portal's stock (``/portal/stock``), for the merchant's owner and managers: each
shop's levels with what is low highlighted and the stock's value at cost; a product's
history in a shop and its reorder level; goods received from a supplier; transfers
between the merchant's shops (sent, received as counted, canceled); stock counts
(entered in one or several goes, then booked); adjustments with a reason.

Everything is the signed-in account's merchant's: shops are its shops' numbers,
products are found by SKU or barcode within it, transfers and counts are looked up
within it (another merchant's is not found). A form of several lines that is refused
is shown again as it was typed, with why; nothing of it was booked. Every change, and
every refusal of one, is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.core.money import Money
from tillpoint.merchants.models import ShopStatus
from tillpoint.merchants.views import ShopView
from tillpoint.store.models import CountScope, MovementKind, TransferStatus
from tillpoint.store.stock import AdjustReason, EntryMode, Line
from tillpoint.web.page import (
    P_STOCK,
    PAGE,
    actor,
    after_action,
    audit,
    page,
    page_link,
    portal_guard,
    query_int,
    query_text,
    read_form,
    tp,
    trouble,
)
from tillpoint.web.portal.shops import merchant_of

router = APIRouter(include_in_schema=False)
StockUser = Annotated[SignedIn, portal_guard(P_STOCK)]

HERE = P_STOCK.href  # /portal/stock
ROWS = 8  # lines of a form; more lines: send it again
KINDS = {
    MovementKind.RECEIPT: N_("Goods received"),
    MovementKind.TRANSFER_OUT: N_("Sent to another shop"),
    MovementKind.TRANSFER_IN: N_("Into stock from a transfer"),
    MovementKind.COUNT: N_("Stock count"),
    MovementKind.ADJUSTMENT: N_("Adjustment"),
    MovementKind.SALE: N_("Sold"),
    MovementKind.RETURN: N_("Returned by a customer"),
}
REASONS = {
    AdjustReason.DAMAGED: N_("Damaged (out)"),
    AdjustReason.EXPIRED: N_("Expired (out)"),
    AdjustReason.THEFT: N_("Theft (out)"),
    AdjustReason.FOUND: N_("Found (in)"),
    AdjustReason.OTHER: N_("Other (say why)"),
}
SCOPES = {
    CountScope.COUNTED: N_("Only what was counted: other products are left alone"),
    CountScope.CATEGORY: N_("A whole category: its products not counted had none"),
    CountScope.SHOP: N_("The whole shop: every product not counted had none"),
}


def _shops(request: Request, mid: str) -> list[ShopView]:
    return tp(request).merchants.list_shops(mid)


def _chosen(request: Request, shops: list[ShopView], *, every: bool = False) -> int | None:
    """The shop the page is about (``?shop=``): by default the first open one; with
    ``every``, ``?shop=all`` (or nothing) is every shop."""
    asked = query_int(request, "shop")
    if any(x.number == asked for x in shops):
        return asked
    if every:
        return None
    open_shops = [x.number for x in shops if x.status is ShopStatus.OPEN]
    return (open_shops or [x.number for x in shops] or [1])[0]


def _number(text: str, what: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 12):
        raise InvalidInput("portal.number", N_("Choose {what}"), what=what)
    return int(text)


def _lines(
    request: Request, merchant_id: int, form: dict[str, str], *, cost: bool = False, sign: int = 1
) -> list[Line]:
    """The form's filled rows as lines: a product by SKU or barcode, a quantity, and
    (``cost``) a unit cost in yuan; ``sign`` -1 takes the quantities out."""
    stock = tp(request).stock
    lines = []
    for n in range(ROWS):
        code, quantity = form[f"code-{n}"], form[f"quantity-{n}"]
        if not code and not quantity:
            continue
        product = stock.find_product(merchant_id, code)
        if sign < 0 and quantity and not quantity.startswith("-"):
            quantity = "-" + quantity
        unit_cost = None
        if cost and form[f"cost-{n}"]:
            unit_cost = Money.parse(form[f"cost-{n}"]).amount_minor
        lines.append(Line(product.product_id, quantity, unit_cost))
    if not lines:
        raise InvalidInput("stock.lines_empty", N_("Fill in at least one line"))
    return lines


def _row_fields(cost: bool = False) -> list[str]:
    names = [f"{field}-{n}" for n in range(ROWS) for field in ("code", "quantity")]
    return names + ([f"cost-{n}" for n in range(ROWS)] if cost else [])


def _change(
    request: Request,
    session: SignedIn,
    what: str,
    target: str,
    change: Callable[[], tuple[str, str]],
    again: Callable[[str], Response],
) -> Response:
    """One change: on success, its message and the page it leads to (``change`` returns
    both); refused, ``again`` shows the form as it was typed with why (nothing changed).
    Audited either way."""
    merchant_id, _mid = merchant_of(session)
    try:
        done, to = change()
    except TillpointError as e:
        audit(request, session, what, target, e, merchant_id=merchant_id)
        return again(e.localized())
    audit(request, session, what, target, merchant_id=merchant_id)
    return after_action(to, done)


# --- levels ----------------------------------------------------------------------------------


@router.get(HERE, response_class=HTMLResponse)
def levels_page(request: Request, session: StockUser) -> Response:
    merchant_id, mid = merchant_of(session)
    app = tp(request)
    shops = _shops(request, mid)
    shop = _chosen(request, shops, every=True) if query_text(request, "shop") in ("", "all") \
        else _chosen(request, shops)  # fmt: skip
    low = query_text(request, "low") == "1"
    after_shop, after_product = query_int(request, "after_shop"), query_int(request, "after")
    rows = app.stock.levels(
        merchant_id,
        shop=shop,
        low=low,
        limit=PAGE + 1,
        after=(after_shop, after_product) if after_product else None,
    )
    more, rows = len(rows) > PAGE, rows[:PAGE]
    next_href = (page_link(request, after_shop=rows[-1].shop_id, after=rows[-1].product_id)
                 if more else "")  # fmt: skip
    return page(request, session, "portal/stock/levels.html", shops=shops, shop=shop, low=low,
                rows=rows, next_href=next_href, values=app.stock.values(merchant_id, shop=shop),
                names={x.number: x.name for x in shops})  # fmt: skip


# --- a product's history ----------------------------------------------------------------------


@router.get(HERE + "/movements", response_class=HTMLResponse)
def movements_page(request: Request, session: StockUser) -> Response:
    merchant_id, mid = merchant_of(session)
    app = tp(request)
    shops = _shops(request, mid)
    shop = _chosen(request, shops)
    product_id = query_int(request, "product") or None
    level = product = None
    try:
        if product_id is not None:
            product = app.stock.product(merchant_id, product_id)
            if shop is not None:
                level = app.stock.level(merchant_id, shop, product_id)
    except TillpointError as e:
        return trouble(request, session, e, HERE)
    before = query_int(request, "before") or None
    rows = app.stock.movements(merchant_id, shop=shop, product_id=product_id, before_id=before,
                               limit=PAGE + 1)  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "portal/stock/movements.html", shops=shops, shop=shop,
                product=product, level=level, rows=rows, kinds=KINDS, reasons=REASONS,
                next_href=page_link(request, before=rows[-1].id) if more else "")  # fmt: skip


@router.post(HERE + "/reorder")
async def set_reorder(request: Request, session: StockUser) -> Response:
    form = await read_form(request, session, "shop", "product", "reorder", max_chars=30)
    merchant_id, _mid = merchant_of(session)
    back = f"{HERE}/movements?shop={form['shop'][:6]}&product={form['product'][:12]}"
    try:
        shop, product = _number(form["shop"], _("a shop")), _number(form["product"], _("a product"))
        level = tp(request).stock.set_reorder(merchant_id, shop, product, form["reorder"] or None,
                                              actor(session))  # fmt: skip
    except TillpointError as e:
        audit(request, session, "reorder level set", back, e, merchant_id=merchant_id)
        return after_action(back, e.localized(), error=True)
    audit(request, session, "reorder level set", back, merchant_id=merchant_id)
    if level.reorder is None:
        return after_action(back, _("{name} has no reorder level now.").format(name=level.name))
    return after_action(back, _("{name} is low at {reorder} {unit} or less.").format(
        name=level.name, reorder=level.reorder, unit=level.unit))  # fmt: skip


# --- receipts ---------------------------------------------------------------------------------


def _receipt_page(request: Request, session: SignedIn, values: dict[str, str],
                  problem: str = "") -> Response:  # fmt: skip
    merchant_id, mid = merchant_of(session)
    shops = _shops(request, mid)
    recent = tp(request).stock.movements(merchant_id, kind=MovementKind.RECEIPT, limit=20)
    return page(request, session, "portal/stock/receipt.html", shops=shops, values=values,
                problem=problem, rows=ROWS, recent=recent,
                status_code=422 if problem else 200)  # fmt: skip


@router.get(HERE + "/receipts", response_class=HTMLResponse)
def receipt_form(request: Request, session: StockUser) -> Response:
    return _receipt_page(request, session, {"shop": str(query_int(request, "shop") or "")})


@router.post(HERE + "/receipts")
async def book_receipt(request: Request, session: StockUser) -> Response:
    form = await read_form(request, session, "shop", "supplier", "document",
                           *_row_fields(cost=True), max_chars=100)  # fmt: skip
    merchant_id, mid = merchant_of(session)

    def change() -> tuple[str, str]:
        shop = _number(form["shop"], _("a shop"))
        r = tp(request).stock.book_receipt(
            merchant_id,
            shop,
            form["supplier"],
            _lines(request, merchant_id, form, cost=True),
            actor(session),
            document=form["document"] or None,
        )
        return (_("Received {n} line(s) from {supplier} at shop {shop}, cost {cost}.").format(
            n=len(r.lines), supplier=r.supplier, shop=shop,
            cost=Money(r.total_cost_minor, r.currency).format()),
            f"{HERE}?shop={shop}")  # fmt: skip

    return _change(request, session, "stock received", f"merchant {mid} receipt", change,
                   lambda why: _receipt_page(request, session, form, why))  # fmt: skip


# --- adjustments ------------------------------------------------------------------------------


def _adjust_page(request: Request, session: SignedIn, values: dict[str, str],
                 problem: str = "") -> Response:  # fmt: skip
    _id, mid = merchant_of(session)
    return page(request, session, "portal/stock/adjust.html", shops=_shops(request, mid),
                values=values, problem=problem, rows=ROWS, reasons=REASONS,
                status_code=422 if problem else 200)  # fmt: skip


@router.get(HERE + "/adjustments", response_class=HTMLResponse)
def adjust_form(request: Request, session: StockUser) -> Response:
    return _adjust_page(request, session, {"shop": str(query_int(request, "shop") or "")})


@router.post(HERE + "/adjustments")
async def adjust(request: Request, session: StockUser) -> Response:
    form = await read_form(request, session, "shop", "reason", "direction", "text",
                           *_row_fields(), max_chars=150)  # fmt: skip
    merchant_id, mid = merchant_of(session)

    def change() -> tuple[str, str]:
        shop = _number(form["shop"], _("a shop"))
        if form["reason"] not in {r.value for r in AdjustReason}:
            raise InvalidInput("stock.adjust_reason", N_("Choose a reason for the adjustment"))
        reason = AdjustReason(form["reason"])
        out = reason in (AdjustReason.DAMAGED, AdjustReason.EXPIRED, AdjustReason.THEFT) or (
            reason is AdjustReason.OTHER and form["direction"] != "in"
        )
        lines = _lines(request, merchant_id, form, sign=-1 if out else 1)
        a = tp(request).stock.adjust(merchant_id, shop, reason, lines, actor(session),
                                     text=form["text"] or None)  # fmt: skip
        return (_("Stock of shop {shop} adjusted: {n} line(s).").format(shop=shop, n=len(a.lines)),
                f"{HERE}?shop={shop}")  # fmt: skip

    return _change(request, session, "stock adjusted", f"merchant {mid} adjustment", change,
                   lambda why: _adjust_page(request, session, form, why))  # fmt: skip


# --- transfers --------------------------------------------------------------------------------

TRANSFERS = HERE + "/transfers"


def _transfers_page(request: Request, session: SignedIn, values: dict[str, str],
                    problem: str = "") -> Response:  # fmt: skip
    merchant_id, mid = merchant_of(session)
    before = query_int(request, "before") or None
    rows = tp(request).stock.transfers(merchant_id, before_id=before, limit=PAGE + 1)
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "portal/stock/transfers.html", shops=_shops(request, mid),
                values=values, problem=problem, rows=ROWS, transfers=rows,
                next_href=page_link(request, before=rows[-1].id) if more else "",
                status_code=422 if problem else 200)  # fmt: skip


@router.get(TRANSFERS, response_class=HTMLResponse)
def transfers_page(request: Request, session: StockUser) -> Response:
    return _transfers_page(request, session, {"from_shop": str(query_int(request, "shop") or "")})


@router.post(TRANSFERS)
async def send_transfer(request: Request, session: StockUser) -> Response:
    form = await read_form(request, session, "from_shop", "to_shop", "note", *_row_fields(),
                           max_chars=200)  # fmt: skip
    merchant_id, mid = merchant_of(session)

    def change() -> tuple[str, str]:
        sender, receiver = (_number(form["from_shop"], _("the sending shop")),
                            _number(form["to_shop"], _("the receiving shop")))  # fmt: skip
        t = tp(request).stock.send(merchant_id, sender, receiver,
                                   _lines(request, merchant_id, form), actor(session),
                                   note=form["note"] or None)  # fmt: skip
        return (_("Transfer {id} sent from shop {a} to shop {b}: out of shop {a}'s stock now.")
                .format(id=t.id, a=sender, b=receiver), f"{TRANSFERS}/{t.id}")  # fmt: skip

    return _change(request, session, "transfer sent", f"merchant {mid} transfer", change,
                   lambda why: _transfers_page(request, session, form, why))  # fmt: skip


def _transfer_page(
    request: Request,
    session: SignedIn,
    transfer_id: int,
    values: dict[str, str] | None = None,
    problem: str = "",
) -> Response:
    merchant_id, mid = merchant_of(session)
    try:
        t = tp(request).stock.transfer(merchant_id, transfer_id)
    except TillpointError as e:
        return trouble(request, session, e, TRANSFERS)
    return page(request, session, "portal/stock/transfer.html", t=t, values=values or {},
                problem=problem, names={x.number: x.name for x in _shops(request, mid)},
                sent=TransferStatus.SENT, status_code=422 if problem else 200)  # fmt: skip


def _transfer_id(text: str) -> int:
    return int(text[:12]) if text.isascii() and text.isdigit() and text[:12] else 0


@router.get(TRANSFERS + "/{transfer_id}", response_class=HTMLResponse)
def transfer_page(request: Request, session: StockUser, transfer_id: str) -> Response:
    return _transfer_page(request, session, _transfer_id(transfer_id))


@router.post(TRANSFERS + "/{transfer_id}/receive")
async def receive_transfer(request: Request, session: StockUser, transfer_id: str) -> Response:
    await read_form(request, session)  # the session's CSRF token before anything else
    number = _transfer_id(transfer_id)
    merchant_id, _mid = merchant_of(session)
    app = tp(request)
    try:
        t = app.stock.transfer(merchant_id, number)
    except TillpointError as e:
        audit(request, session, "transfer received", f"transfer {number}", e,
              merchant_id=merchant_id)  # fmt: skip
        return trouble(request, session, e, TRANSFERS)
    # One field per line of the transfer: what arrived of it.
    form = await read_form(request, session, *(f"got-{x.product_id}" for x in t.lines),
                           max_chars=30)  # fmt: skip

    def change() -> tuple[str, str]:
        got = [Line(x.product_id, form[f"got-{x.product_id}"] or x.sent) for x in t.lines]
        done = app.stock.receive_transfer(merchant_id, number, actor(session), received=got)
        message = (_("Transfer {id} received with a shortfall: see the lines.") if done.short
                   else _("Transfer {id} received in full."))  # fmt: skip
        return message.format(id=number), f"{TRANSFERS}/{number}"

    return _change(request, session, "transfer received", f"transfer {number}", change,
                   lambda why: _transfer_page(request, session, number, form, why))  # fmt: skip


@router.post(TRANSFERS + "/{transfer_id}/cancel")
async def cancel_transfer(request: Request, session: StockUser, transfer_id: str) -> Response:
    form = await read_form(request, session, "reason", max_chars=200)
    number = _transfer_id(transfer_id)
    merchant_id, _mid = merchant_of(session)

    def change() -> tuple[str, str]:
        tp(request).stock.cancel_transfer(merchant_id, number, actor(session), form["reason"])
        return (_("Transfer {id} canceled: its goods are back in the sending shop's stock.")
                .format(id=number), f"{TRANSFERS}/{number}")  # fmt: skip

    return _change(request, session, "transfer canceled", f"transfer {number}", change,
                   lambda why: _transfer_page(request, session, number, form, why))  # fmt: skip


# --- counts -----------------------------------------------------------------------------------

COUNTS = HERE + "/counts"


@router.get(COUNTS, response_class=HTMLResponse)
def counts_page(request: Request, session: StockUser) -> Response:
    merchant_id, mid = merchant_of(session)
    before = query_int(request, "before") or None
    rows = tp(request).stock.counts(merchant_id, before_id=before, limit=PAGE + 1)
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(
        request,
        session,
        "portal/stock/counts.html",
        shops=_shops(request, mid),
        counts=rows,
        next_href=page_link(request, before=rows[-1].id) if more else "",
    )


@router.post(COUNTS)
async def open_count(request: Request, session: StockUser) -> Response:
    form = await read_form(request, session, "shop", "note", max_chars=200)
    merchant_id, mid = merchant_of(session)
    try:
        shop = _number(form["shop"], _("a shop"))
        c = tp(request).stock.open_count(merchant_id, shop, actor(session),
                                         note=form["note"] or None)  # fmt: skip
    except TillpointError as e:
        audit(request, session, "count opened", f"merchant {mid}", e, merchant_id=merchant_id)
        return after_action(COUNTS, e.localized(), error=True)
    audit(request, session, "count opened", f"count {c.id}", merchant_id=merchant_id)
    return after_action(f"{COUNTS}/{c.id}",
                        _("Count {id} opened for shop {shop}: enter what you find.").format(
                            id=c.id, shop=shop))  # fmt: skip


def _count_page(request: Request, session: SignedIn, count_id: int,
                values: dict[str, str] | None = None, problem: str = "") -> Response:  # fmt: skip
    merchant_id, _mid = merchant_of(session)
    app = tp(request)
    try:
        c = app.stock.count(merchant_id, count_id)
    except TillpointError as e:
        return trouble(request, session, e, COUNTS)
    return page(request, session, "portal/stock/count.html", c=c, values=values or {},
                problem=problem, rows=ROWS, scopes=SCOPES,
                categories=app.stock.categories(merchant_id),
                status_code=422 if problem else 200)  # fmt: skip


def _count_id(text: str) -> int:
    return _transfer_id(text)


@router.get(COUNTS + "/{count_id}", response_class=HTMLResponse)
def count_page(request: Request, session: StockUser, count_id: str) -> Response:
    return _count_page(request, session, _count_id(count_id))


@router.post(COUNTS + "/{count_id}/lines")
async def enter_count(request: Request, session: StockUser, count_id: str) -> Response:
    form = await read_form(request, session, "mode", *_row_fields(), max_chars=100)
    number = _count_id(count_id)
    merchant_id, _mid = merchant_of(session)

    def change() -> tuple[str, str]:
        mode = EntryMode.SET if form["mode"] == EntryMode.SET.value else EntryMode.ADD
        c = tp(request).stock.enter_count(merchant_id, number, _lines(request, merchant_id, form),
                                          actor(session), mode=mode)  # fmt: skip
        return (_("Entered: count {id} has {n} product(s) counted.").format(id=number,
                                                                            n=len(c.lines)),
                f"{COUNTS}/{number}")  # fmt: skip

    return _change(request, session, "count entered", f"count {number}", change,
                   lambda why: _count_page(request, session, number, form, why))  # fmt: skip


@router.post(COUNTS + "/{count_id}/book")
async def book_count(request: Request, session: StockUser, count_id: str) -> Response:
    form = await read_form(request, session, "scope", "category", max_chars=30)
    number = _count_id(count_id)
    merchant_id, _mid = merchant_of(session)

    def change() -> tuple[str, str]:
        if form["scope"] not in {s.value for s in CountScope}:
            raise InvalidInput("stock.count_scope", N_("Choose what the count covers"))
        scope = CountScope(form["scope"])
        category = _number(form["category"], _("a category")) if scope is CountScope.CATEGORY \
            else None  # fmt: skip
        c = tp(request).stock.book_count(merchant_id, number, actor(session), scope=scope,
                                         category_id=category)  # fmt: skip
        moved = sum(1 for x in c.lines if x.difference_milli)
        return (_("Count {id} booked: {n} product(s) differed from the books.").format(
            id=number, n=moved), f"{COUNTS}/{number}")  # fmt: skip

    return _change(request, session, "count booked", f"count {number}", change,
                   lambda why: _count_page(request, session, number, form, why))  # fmt: skip


@router.post(COUNTS + "/{count_id}/cancel")
async def cancel_count(request: Request, session: StockUser, count_id: str) -> Response:
    await read_form(request, session)
    number = _count_id(count_id)
    merchant_id, _mid = merchant_of(session)

    def change() -> tuple[str, str]:
        tp(request).stock.cancel_count(merchant_id, number, actor(session))
        return _("Count {id} canceled: nothing of it was booked.").format(id=number), COUNTS

    return _change(request, session, "count canceled", f"count {number}", change,
                   lambda why: _count_page(request, session, number, None, why))  # fmt: skip
