"""The sales slip (签购单) a terminal prints for a card or wallet transaction: the virtual
terminal prints it, and the printed receipts (ESC/POS) share its layout.

A slip is printed in both languages at once, as slips in China are, so its labels are
fixed pairs rather than translated text. It carries the masked card number only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from rich.cells import cell_len

from tillpoint.core.money import Money
from tillpoint.iso8583.fields import SettlementTotals

WIDTH = 32

# kind: (Chinese, English), and whether the amount leaves the cardholder's account
KINDS: dict[str, tuple[str, str, bool]] = {
    "sale": ("消费", "SALE", True),
    "void": ("消费撤销", "VOID", False),
    "refund": ("退货", "REFUND", False),
    "preauth": ("预授权", "PRE-AUTH", True),
    "preauth_void": ("预授权撤销", "PRE-AUTH VOID", False),
    "completion": ("预授权完成", "AUTH COMPLETE", True),
    "completion_void": ("预授权完成撤销", "COMPLETE VOID", False),
}


@dataclass(frozen=True)
class Receipt:
    kind: str
    tid: str
    mid: str
    operator: str
    card: str
    card_org: str
    batch: str
    stan: str
    rrn: str
    auth_code: str
    host_time: str  # MMDDhhmmss, from the host
    year: int  # the host sends no year; the terminal's clock supplies it
    amount_minor: int
    scanned: bool = False  # a wallet code, not a card: no signature needed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        return cls(**data)


def centre(text: str, width: int = WIDTH) -> str:
    """``text`` centred on a line of ``width`` display columns (a CJK character is two)."""
    return " " * max(0, (width - cell_len(text)) // 2) + text


def render(r: Receipt, *, reprint: bool = False) -> list[str]:
    """The slip as lines of at most ``WIDTH`` display columns (a CJK character takes
    two), the merchant's copy, with the signature line a card slip needs."""
    zh, en, debit = KINDS[r.kind]
    t = r.host_time.ljust(10, "0")
    when = f"{r.year}/{t[0:2]}/{t[2:4]} {t[4:6]}:{t[6:8]}:{t[8:10]}"
    amount = Money(r.amount_minor).plain()
    lines = [
        centre("签购单 POS SALES SLIP"),
        "商户存根 MERCHANT COPY",
        "-" * WIDTH,
        "商户编号 MERCHANT NO.",
        f"  {r.mid}",
        f"终端编号 TERMINAL NO. {r.tid}",
        f"操作员号 OPERATOR NO. {r.operator}",
        "-" * WIDTH,
        "卡号 CARD NO." if not r.scanned else "付款码 PAYMENT CODE",
        f"  {r.card}",
        f"卡组织 CARD ORG. {r.card_org}",
        "交易类型 TRANS TYPE",
        f"  {zh} {en}",
        f"批次号 BATCH NO. {r.batch}",
        f"凭证号 VOUCHER NO. {r.stan}",
        f"授权码 AUTH NO. {r.auth_code}",
        f"参考号 REF. NO. {r.rrn}",
        "日期时间 DATE/TIME",
        f"  {when}",
        f"金额 AMOUNT RMB {'' if debit else '-'}{amount}",
        "-" * WIDTH,
    ]
    if reprint:
        lines.append("重打印凭证 DUPLICATED")
    if not r.scanned:
        lines += [
            "持卡人签名 CARDHOLDER SIGNATURE",
            "",
            "",
            "_" * WIDTH,
            "本人确认以上交易，同意将其",
            "记入本卡账户",
            "I ACKNOWLEDGE SATISFACTORY",
            "RECEIPT OF RELATIVE",
            "GOODS/SERVICES",
        ]
    return lines


def render_settlement(
    tid: str, mid: str, batch: str, totals: SettlementTotals, flags: dict[str, str]
) -> list[str]:
    """The settlement slip (结算单): the batch's totals as the terminal counted them,
    and whether the host agreed."""
    verdict = {"1": "平 BALANCED", "2": "不平 NOT BALANCED", "3": "错 ERROR"}
    lines = [
        centre("结算单 SETTLEMENT"),
        "-" * WIDTH,
        "商户编号 MERCHANT NO.",
        f"  {mid}",
        f"终端编号 TERMINAL NO. {tid}",
        f"批次号 BATCH NO. {batch}",
        "-" * WIDTH,
    ]
    for zh, en, half, flag in (
        ("内卡", "DOMESTIC", totals.domestic, flags.get("domestic", "")),
        ("外卡", "FOREIGN", totals.foreign, flags.get("foreign", "")),
    ):
        lines += [
            f"{zh} {en}: {verdict.get(flag, flag)}",
            f"  消费 SALES   {half.debit_count:>4}  {Money(half.debit_minor).plain():>11}",
            f"  退货 REFUNDS {half.credit_count:>4}  {Money(half.credit_minor).plain():>11}",
        ]
    return lines
