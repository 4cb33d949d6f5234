"""What a receipt says, line by line, shared by its page and its printout.

A receipt is read by people of either language at once, as the slips of Chinese
terminals are, so its labels are fixed pairs in the wording of those slips (see
receipts/slip.py) rather than catalogue entries translated into one language.
"""

from __future__ import annotations

from typing import NamedTuple

from tillpoint.core.clock import BUSINESS_TZ, as_utc
from tillpoint.core.money import Money
from tillpoint.payments.models import PaymentStatus
from tillpoint.receipts.slip import KINDS, ORGS, Pair, pair
from tillpoint.receipts.views import ReceiptView

LABELS: dict[str, Pair] = {
    "title": ("交易凭证", "RECEIPT"),
    "mid": ("商户编号", "MERCHANT NO."),
    "shop": ("门店", "SHOP"),
    "address": ("地址", "ADDRESS"),
    "tid": ("终端编号", "TERMINAL NO."),
    "kind": ("交易类型", "TRANS TYPE"),
    "card_org": ("卡组织", "CARD ORG."),
    "card": ("卡号", "CARD NO."),
    "wallet": ("支付方式", "PAID WITH"),
    "code": ("付款码", "PAYMENT CODE"),
    "batch": ("批次号", "BATCH NO."),
    "voucher": ("凭证号", "VOUCHER NO."),
    "auth": ("授权码", "AUTH NO."),
    "rrn": ("参考号", "REF. NO."),
    "original": ("原参考号", "ORIG. REF. NO."),
    "time": ("日期时间", "DATE/TIME"),
    "reference": ("订单号", "ORDER NO."),
    "status": ("交易状态", "STATUS"),
    "refunded": ("已退款", "REFUNDED"),
    "amount": ("金额", "AMOUNT"),
    "signature": ("持卡人签名", "CARDHOLDER SIGNATURE"),
    "scan": ("扫码查看电子凭证", "SCAN FOR THE E-RECEIPT"),
    "not_found": ("未找到该凭证", "RECEIPT NOT FOUND"),
    "not_found_why": ("链接有误或已失效", "The link is wrong or no longer valid"),
}
# Under a card payment's signature, as on every Chinese sales slip.
ACKNOWLEDGEMENT: Pair = (
    "本人确认以上交易，同意将其记入本卡账户",
    "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES",
)
# The statuses a payment with a receipt can be in (service.RECEIPT_STATUSES).
STATUSES: dict[PaymentStatus, Pair] = {
    PaymentStatus.APPROVED: ("交易成功", "APPROVED"),
    PaymentStatus.PARTLY_REFUNDED: ("部分退款", "PARTLY REFUNDED"),
    PaymentStatus.REFUNDED: ("已全额退款", "REFUNDED"),
    PaymentStatus.VOIDED: ("已撤销", "VOIDED"),
    PaymentStatus.COMPLETED: ("预授权已完成", "COMPLETED"),
}


class Row(NamedTuple):
    zh: str
    en: str
    value: str


def amount_parts(r: ReceiptView) -> tuple[str, str]:
    """(``CNY``, ``1,234.56``), negative for money given back (the slip's sign rule)."""
    debit = KINDS[r.kind.value][2]
    shown = Money(r.amount_minor if debit else -r.amount_minor, r.currency).display()
    currency, number = shown.split(" ", 1)
    return currency, number


def amount_text(r: ReceiptView) -> str:
    return " ".join(amount_parts(r))


def local_time(r: ReceiptView) -> str:
    return as_utc(r.at).astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


def rows(r: ReceiptView) -> list[Row]:
    """Everything but the merchant's name (the heading), the amount, the signature and
    the QR code, in the slip's order; what a payment does not have is left out."""
    zh_kind, en_kind, _debit = KINDS[r.kind.value]
    org = ORGS.get(r.card_org or "", (r.card_org or "", r.card_org or ""))
    out: list[tuple[str, str | None]] = [
        ("mid", r.mid),
        ("shop", r.shop_name),
        ("address", r.shop_address),
        ("tid", r.tid),
        ("kind", f"{zh_kind} {en_kind}"),
    ]
    if r.is_card:
        out += [("card_org", pair(org)), ("card", r.pan_masked)]
    else:
        out += [("wallet", pair(org) if r.card_org else None), ("code", r.pan_masked)]
    out += [
        ("batch", r.batch_no),
        ("voucher", r.voucher_no),
        ("auth", r.auth_code),
        ("rrn", r.rrn),
        ("original", r.original_rrn),
        ("time", local_time(r)),
        ("reference", r.reference),
        ("status", pair(STATUSES[r.status])),
    ]
    if r.refunded_minor:
        out.append(("refunded", Money(r.refunded_minor, r.currency).display()))
    return [Row(*LABELS[key], value) for key, value in out if value]
