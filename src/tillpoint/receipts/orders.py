"""The receipt of a shop's order (购物小票): printed on the till's thermal printer as
ESC/POS bytes (receipts/escpos.py's printer, the same Chinese mode and widths as a
payment's receipt) and shown as an e-receipt page whose link the printout's QR code
carries, as payment receipts do.

An order has a receipt once it is paid (a return: once paid back). Its link needs no
stored secret: ``/o/<order id>-<token>``, the token a keyed hash of the order's id
under the master key (another kind than a payment's, so that neither opens the other).
Labels are fixed pairs in both languages, as on the slips (receipts/layout.py).
"""

from __future__ import annotations

import hmac
import re
from decimal import Decimal
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from tillpoint.access.models import Account
from tillpoint.context import Context
from tillpoint.core.clock import BUSINESS_TZ, as_utc
from tillpoint.core.errors import NotFound
from tillpoint.core.i18n import N_
from tillpoint.core.money import Money
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.payments.models import Payment
from tillpoint.receipts import escpos
from tillpoint.receipts.layout import Row
from tillpoint.receipts.service import _templates, qr_svg
from tillpoint.receipts.slip import ORGS, Pair, pair, spread
from tillpoint.store.models import MILLI, Counter, Order, OrderKind, OrderStatus, TenderKind
from tillpoint.store.orders import OrderView, TenderView, order_view, visible_order

TOKEN_HEX = 32
PATH_PREFIX = "/o/"
_REF = re.compile(rf"([1-9][0-9]{{0,18}})-([0-9a-f]{{{TOKEN_HEX}}})")

LABELS: dict[str, Pair] = {
    "sale": ("购物小票", "SALES RECEIPT"),
    "return": ("退货单", "RETURN RECEIPT"),
    "receipt_no": ("小票号", "RECEIPT NO."),
    "original": ("原小票号", "ORIG. RECEIPT"),
    "time": ("日期时间", "DATE/TIME"),
    "shop": ("门店", "SHOP"),
    "address": ("地址", "ADDRESS"),
    "till": ("收银台", "TILL"),
    "cashier": ("收银员", "CASHIER"),
    "counter": ("专柜", "COUNTER"),
    "discount": ("折扣", "DISCOUNT"),
    "subtotal": ("小计", "SUBTOTAL"),
    "order_discount": ("整单折扣", "ORDER DISCOUNT"),
    "total": ("合计", "TOTAL"),
    "refund_total": ("退款合计", "REFUND TOTAL"),
    "change": ("找零", "CHANGE"),
    "received": ("实收现金", "CASH RECEIVED"),
    "scan": ("扫码查看电子小票", "SCAN FOR THE E-RECEIPT"),
    "member": ("会员", "MEMBER"),
    "coupon": ("优惠券", "COUPON"),
    "points_redeemed": ("积分抵扣", "POINTS REDEEMED"),
    "points_earned": ("本单积分", "POINTS EARNED"),
    "points_taken_back": ("扣回积分", "POINTS TAKEN BACK"),
    "points_restored": ("退回积分", "POINTS RETURNED"),
    "points_balance": ("积分余额", "POINTS BALANCE"),
    "thanks": ("谢谢惠顾", "THANK YOU"),
}
TENDERS: dict[TenderKind, Pair] = {
    TenderKind.CASH: ("现金", "CASH"),
    TenderKind.CARD: ("银行卡", "CARD"),
    TenderKind.WALLET: ("付款码", "WALLET"),
    TenderKind.QR: ("扫码支付", "QR"),
}


class TenderLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    tender: TenderView
    card_org: str | None
    pan_masked: str | None
    rrn: str | None


class OrderReceipt(BaseModel):
    """What an order's receipt says."""

    model_config = ConfigDict(frozen=True)

    order: OrderView
    merchant_name: str
    shop_name: str
    shop_address: str
    counter_name: str | None
    cashier_name: str | None
    original_receipt_no: str | None
    tenders: list[TenderLine]


class Line(NamedTuple):
    name: str
    detail: str  # quantity x price
    amount: str
    discount: str | None


def _money(minor: int, currency: str) -> str:
    return Money(minor, currency).display().split(" ", 1)[1]


def _quantity(milli: int, unit: str) -> str:
    if milli % MILLI == 0:
        return str(milli // MILLI)
    return f"{(Decimal(milli) / MILLI).normalize()}{unit}"


def lines(r: OrderReceipt) -> list[Line]:
    c = r.order.currency
    return [
        Line(
            x.name,
            f"{_quantity(x.quantity_milli, x.unit)} x {_money(x.unit_price_minor, c)}",
            _money(x.amount_minor + x.discount_minor, c),
            f"-{_money(x.discount_minor, c)}" if x.discount_minor else None,
        )
        for x in r.order.lines
    ]


def heading_rows(r: OrderReceipt) -> list[Row]:
    o = r.order
    at = as_utc(o.paid_at or o.created_at).astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")
    found: list[tuple[str, str | None]] = [
        ("receipt_no", o.receipt_no),
        ("original", r.original_receipt_no),
        ("time", at),
        ("shop", r.shop_name),
        ("till", o.till),
        ("cashier", r.cashier_name),
        ("counter", f"{o.counter_number} {r.counter_name}" if o.counter_number else None),
    ]
    return [Row(*LABELS[k], v) for k, v in found if v]


def total_rows(r: OrderReceipt) -> list[Row]:
    """Subtotal, the cashier's order discount, then a member's coupons and points (the
    order's discount is all of them: each printed on its own)."""
    o, c = r.order, r.order.currency
    rows = [Row(*LABELS["subtotal"], _money(o.subtotal_minor, c))]
    perks = []
    own = o.discount_minor
    if o.loyalty is not None and o.kind is OrderKind.SALE:
        for coupon in o.loyalty.coupons:
            own -= coupon.discount_minor
            perks.append(
                Row(*LABELS["coupon"], f"{coupon.name} -{_money(coupon.discount_minor, c)}")
            )
        if o.loyalty.redeemed_minor:
            own -= o.loyalty.redeemed_minor
            perks.append(Row(*LABELS["points_redeemed"], f"{o.loyalty.points_redeemed} "
                             f"-{_money(o.loyalty.redeemed_minor, c)}"))  # fmt: skip
    if own:
        rows.append(Row(*LABELS["order_discount"], f"-{_money(own, c)}"))
    return rows + perks


def member_rows(r: OrderReceipt) -> list[Row]:
    """A member's order: the member (masked number), the points it moved and the
    balance it left."""
    x = r.order.loyalty
    if x is None:
        return []
    rows = [Row(*LABELS["member"], x.member_mobile or f"#{x.member_id}")]
    if r.order.kind is OrderKind.SALE:
        rows.append(Row(*LABELS["points_earned"], f"+{x.points_earned}"))
    else:
        if x.points_taken_back:
            rows.append(Row(*LABELS["points_taken_back"], f"-{x.points_taken_back}"))
        if x.points_restored:
            rows.append(Row(*LABELS["points_restored"], f"+{x.points_restored}"))
    balance = x.points_balance if x.points_balance_after is None else x.points_balance_after
    rows.append(Row(*LABELS["points_balance"], f"{balance:,}"))
    return rows


def tender_rows(r: OrderReceipt) -> list[Row]:
    c = r.order.currency
    rows = []
    for t in r.tenders:
        zh, en = TENDERS[t.tender.kind]
        value = _money(t.tender.amount_minor, c)
        if t.pan_masked:
            org = ORGS.get(t.card_org or "", (t.card_org or "", t.card_org or ""))
            value = f"{pair(org)} {t.pan_masked} {value}".strip()
        rows.append(Row(zh, en, value))
        if t.tender.kind is TenderKind.CASH and t.tender.change_minor:
            rows.append(Row(*LABELS["received"], _money(t.tender.received_minor or 0, c)))
            rows.append(Row(*LABELS["change"], _money(t.tender.change_minor, c)))
    return rows


class OrderReceipts:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- links --------------------------------------------------------------------------

    def token(self, order_id: int) -> str:
        return self.ctx.keystore.token(f"order-receipt:{order_id}", kind="order-receipt")[
            :TOKEN_HEX
        ]

    def path(self, order_id: int) -> str:
        return f"{PATH_PREFIX}{order_id}-{self.token(order_id)}"

    def url(self, order_id: int, base_url: str) -> str:
        return base_url.rstrip("/") + self.path(order_id)

    def resolve(self, ref: str) -> int:
        """The order a link's ``<id>-<token>`` names; anything wrong is not found."""
        match = _REF.fullmatch(ref)
        if match is None or not hmac.compare_digest(
            match[2], self.token(order_id := int(match[1]))
        ):
            raise _no_such_receipt()
        return order_id

    # --- receipts -----------------------------------------------------------------------

    def receipt(self, order_id: int, *, merchant_id: int | None = None) -> OrderReceipt:
        """A paid order's receipt; with ``merchant_id``, only that merchant's order."""
        with self.ctx.db.read() as s:
            order = visible_order(s, order_id, merchant_id)
            if order.status is not OrderStatus.PAID:
                raise NotFound(
                    "receipt.not_available",
                    N_("Order {id} is {status}: it has no receipt"),
                    id=order_id,
                    status=order.status,
                )
            view = order_view(s, order)
            merchant = s.get_one(Merchant, order.merchant_id)
            shop = s.get_one(Shop, order.shop_id)
            counter = s.get(Counter, order.counter_id) if order.counter_id else None
            cashier = s.get(Account, order.account_id) if order.account_id else None
            original = (
                s.scalar(select(Order.receipt_no).where(Order.id == order.original_order_id))
                if order.original_order_id
                else None
            )
            ids = [t.payment_id for t in view.tenders if t.payment_id]
            paid = {p.id: p for p in s.scalars(select(Payment).where(Payment.id.in_(ids)))}
            return OrderReceipt(
                order=view,
                merchant_name=merchant.display_name or merchant.legal_name,
                shop_name=shop.name,
                shop_address=shop.address,
                counter_name=counter.name if counter else None,
                cashier_name=cashier.name if cashier else None,
                original_receipt_no=original,
                tenders=[
                    TenderLine(
                        tender=t,
                        card_org=paid[t.payment_id].card_org if t.payment_id in paid else None,
                        pan_masked=paid[t.payment_id].pan_masked if t.payment_id in paid else None,
                        rrn=paid[t.payment_id].rrn if t.payment_id in paid else None,
                    )
                    for t in view.tenders
                    if t.status.value in ("paid", "refunded")
                ],
            )

    def public_receipt(self, ref: str) -> OrderReceipt:
        try:
            return self.receipt(self.resolve(ref))
        except NotFound:
            raise _no_such_receipt() from None

    def html(self, r: OrderReceipt, url: str) -> str:
        """The e-receipt page of the link ``url``: both languages, inline styles and
        its QR code, nothing loaded from elsewhere."""
        o = r.order
        title = LABELS["return" if o.kind is OrderKind.RETURN else "sale"]
        total = LABELS["refund_total" if o.kind is OrderKind.RETURN else "total"]
        currency, number = Money(o.total_minor, o.currency).display().split(" ", 1)
        return (
            _templates()
            .get_template("order_receipt.html")
            .render(
                r=r,
                title=title,
                total_label=total,
                amount=(currency, number),
                heading=heading_rows(r),
                lines=lines(r),
                totals=total_rows(r),
                tenders=tender_rows(r),
                member=member_rows(r),
                L=LABELS,
                qr=qr_svg(url),
            )
        )

    def printout(
        self,
        order_id: int,
        base_url: str,
        *,
        columns: int = escpos.Columns.NARROW,
        merchant_id: int | None = None,
    ) -> bytes:
        """The receipt as ESC/POS bytes for a printer ``columns`` characters wide."""
        r = self.receipt(order_id, merchant_id=merchant_id)
        return render(r, self.url(order_id, base_url), columns=columns)


def render(r: OrderReceipt, url: str, *, columns: int = escpos.Columns.NARROW) -> bytes:
    """The printed receipt: heading, lines, totals in double size, tenders, and the
    e-receipt's QR code; then the cut."""
    o = r.order
    slip = escpos._Slip(columns)  # the printer the payment receipt uses
    slip.p.set(bold=True)
    slip.centred(pair(LABELS["return" if o.kind is OrderKind.RETURN else "sale"]))
    slip.p.set(bold=False)
    slip.centred(r.merchant_name)
    if r.shop_address:
        slip.centred(r.shop_address)
    slip.rule()
    slip.rows(heading_rows(r))
    slip.rule()
    for line in lines(r):
        slip.line(line.name)
        for text in spread("  " + line.detail, line.amount, columns):
            slip.line(text)
        if line.discount:
            for text in spread("  " + pair(LABELS["discount"]), line.discount, columns):
                slip.line(text)
    slip.rule()
    slip.rows(total_rows(r))
    slip.line(pair(LABELS["refund_total" if o.kind is OrderKind.RETURN else "total"]))
    slip.amount(Money(o.total_minor, o.currency).display())
    slip.rule()
    slip.rows(tender_rows(r))
    slip.rule()
    if member := member_rows(r):
        slip.rows(member)
        slip.rule()
    slip.centred(pair(LABELS["thanks"]))
    for text in LABELS["scan"]:
        slip.centred(text)
    slip.qr(url)
    return slip.output()


def _no_such_receipt() -> NotFound:
    return NotFound("receipt.not_found", N_("No such receipt"))
