"""The slips a terminal prints: the sales slip (签购单) of a card or wallet transaction
in its merchant and cardholder copies, the batch's detail (交易明细) and summary
(交易汇总) printed before settlement, and the settlement slip (结算单). The virtual
terminal prints them, and the printed receipts (ESC/POS) share their layout.

A slip is printed in both languages at once, as slips in China are, so its labels are
fixed pairs rather than translated text. It carries the masked card number only, and
shows money one way, ``CNY 1,234.56`` (``Money.display``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import Any

from rich.cells import cell_len, chop_cells

from tillpoint.core.money import Money
from tillpoint.iso8583.fields import SettlementTotals

WIDTH = 32
NO_SIGNATURE_LIMIT_MINOR = 100_000  # a tapped sale up to 1,000.00: 免密免签

Pair = tuple[str, str]  # (Chinese, English)

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
# Card organisations and wallets as field 63 names them, in the order slips list them.
ORGS: dict[str, Pair] = {
    "CUP": ("银联", "UnionPay"),
    "VIS": ("维萨", "Visa"),
    "MCC": ("万事达", "Mastercard"),
    "JCB": ("JCB", "JCB"),
    "AMX": ("美国运通", "American Express"),
    "ALP": ("支付宝", "Alipay"),
    "WXP": ("微信支付", "WeChat Pay"),
    "UPQ": ("银联二维码", "UnionPay QR"),
}
WALLET_ORGS = frozenset({"ALP", "WXP", "UPQ"})
# Issuers by the institution code field 44 carries (the test cards' banks, and the
# codes the card networks use for foreign issuers); another code is printed as it is.
ISSUERS: dict[str, Pair] = {
    "00010000": ("中国银联", "CUP"),
    "01020000": ("工商银行", "ICBC"),
    "01030000": ("农业银行", "ABC"),
    "01040000": ("中国银行", "BOC"),
    "01050000": ("建设银行", "CCB"),
    "03010000": ("交通银行", "BOCOM"),
    "03080000": ("招商银行", "CMB"),
    "40000000": ("境外发卡行", "VISA ISSUER"),
    "50000000": ("境外发卡行", "MASTERCARD ISSUER"),
    "35000000": ("境外发卡行", "JCB ISSUER"),
    "34000000": ("境外发卡行", "AMEX ISSUER"),
}
# How the card was read (the virtual terminal's entry names).
ENTRIES: dict[str, Pair] = {
    "swipe": ("刷卡", "SWIPED"),
    "insert": ("插卡", "CHIP"),
    "tap": ("挥卡", "CONTACTLESS"),
    "manual": ("手输", "MANUAL"),
    "scan": ("扫码", "QR"),
}
COPIES: dict[str, Pair] = {
    "merchant": ("商户存根", "MERCHANT COPY"),
    "cardholder": ("持卡人存根", "CARDHOLDER COPY"),
}
NO_SIGNATURE: Pair = ("免密免签", "No signature required")
SIGNED_ON_SCREEN: Pair = ("电子签名已上送", "SIGNED ON SCREEN")


def signature_needed(kind: str, amount_minor: int, *, tapped: bool, scanned: bool) -> bool:
    """Whether a slip (or receipt) takes the cardholder's signature: a card's does,
    except a tapped sale up to 1,000.00 (小额免密免签); a wallet payment's never."""
    if scanned:
        return False
    return not (kind == "sale" and tapped and amount_minor <= NO_SIGNATURE_LIMIT_MINOR)


@dataclass(frozen=True)
class Receipt:
    """What a sales slip says. The fields after ``scanned`` came later: a slip saved
    without them (an older state file) still loads."""

    kind: str
    tid: str
    mid: str
    operator: str
    card: str  # masked: first 6, last 4
    card_org: str
    batch: str
    stan: str
    rrn: str
    auth_code: str
    host_time: str  # MMDDhhmmss, from the host
    year: int  # the host sends no year; the terminal's clock supplies it
    amount_minor: int
    scanned: bool = False  # a wallet code, not a card: no signature needed
    merchant_name: str = ""
    issuer: str = ""  # field 44.1, the issuer's institution code
    entry: str = ""  # swipe, insert, tap, manual or scan
    original_stan: str = ""  # a void: the voucher it voids
    original_rrn: str = ""  # a void or refund: the reference of what it undoes
    currency: str = "CNY"
    signed: bool = False  # the cardholder signed on the screen and the host kept it (4.11)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Receipt:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def signed_amount(self) -> Money:
        """Negative for money given back (the slip's sign rule)."""
        debit = KINDS[self.kind][2]
        return Money(self.amount_minor if debit else -self.amount_minor, self.currency)

    @property
    def needs_signature(self) -> bool:
        """A card slip is signed, except a tapped sale up to 1,000.00 (小额免密免签)
        and anything paid with a scanned code."""
        return signature_needed(
            self.kind,
            self.amount_minor,
            tapped=self.entry == "tap",
            scanned=self.scanned or self.entry == "scan",
        )

    @property
    def when(self) -> str:
        t = self.host_time.ljust(10, "0")
        return f"{self.year}/{t[0:2]}/{t[2:4]} {t[4:6]}:{t[6:8]}:{t[8:10]}"


def pair(p: Pair) -> str:
    """``中文 ENGLISH``, or one word when both languages write it the same."""
    zh, en = p
    return en if zh == en else f"{zh} {en}"


def org_name(code: str) -> str:
    return pair(ORGS[code]) if code in ORGS else code


def issuer_name(code: str) -> str:
    return pair(ISSUERS[code]) if code in ISSUERS else code


def centre(text: str, width: int = WIDTH) -> str:
    """``text`` centred on a line of ``width`` display columns (a CJK character is two)."""
    return " " * max(0, (width - cell_len(text)) // 2) + text


_CJK = "\u2e80-\uffff"


@cache
def _tokens() -> re.Pattern[str]:
    """Spaces; runs of Chinese up to a pause (，。；！？) or their end; other words.
    Compiled when first needed: it takes longer than the rest of the module's import,
    and a terminal command that prints no long text never needs it."""
    return re.compile(rf"\s+|[{_CJK}]+?(?:[，。；！？]|(?![{_CJK}]))|[^\s{_CJK}]+")


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken at spaces and after
    Chinese punctuation, or inside a word or clause too long for a line."""
    lines: list[str] = []
    line = ""
    for token in _tokens().findall(text.strip()):
        if token.isspace():
            line += " " if line else ""
            continue
        if line and cell_len(line + token) > width:
            lines.append(line.rstrip())
            line = ""
        *full, rest = chop_cells(token, width) if cell_len(token) > width else [token]
        lines.extend(full)
        line += rest
    if line:
        lines.append(line.rstrip())
    return lines


def row(label: Pair, value: str, width: int = WIDTH) -> list[str]:
    """``label value`` on one line when it fits, else the value under its label."""
    text = pair(label)
    if cell_len(text) + 1 + cell_len(value) <= width:
        return [f"{text} {value}"]
    return [text, *("  " + line for line in wrap(value, width - 2))]


def flush_right(text: str, width: int = WIDTH) -> str:
    """``text`` at the right end of a line (a CJK character is two columns)."""
    return " " * max(0, width - cell_len(text)) + text


def spread(left: str, right: str, width: int = WIDTH) -> list[str]:
    """``left`` and ``right`` at the two ends of a line, or ``right`` under ``left``."""
    if not right:
        return [left]
    gap = width - cell_len(left) - cell_len(right)
    if gap >= 1:
        return [left + " " * gap + right]
    return [left, flush_right(right, width)]


def render(r: Receipt, *, copy: str = "merchant", reprint: bool = False) -> list[str]:
    """The slip as lines of at most ``WIDTH`` display columns (a CJK character takes
    two). The merchant's copy carries the signature line a card slip needs (or, when
    the cardholder signed on the screen, says so; or says that none is needed: a small
    tapped sale, a wallet payment); the cardholder's copy does not."""
    zh, en, _debit = KINDS[r.kind]
    lines = [centre("签购单 POS SALES SLIP"), pair(COPIES[copy]), "-" * WIDTH]
    if r.merchant_name:
        lines += row(("商户名称", "MERCHANT NAME"), r.merchant_name)
    lines += [
        *row(("商户编号", "MERCHANT NO."), r.mid),
        *row(("终端编号", "TERMINAL NO."), r.tid),
        *row(("操作员号", "OPERATOR NO."), r.operator),
        "-" * WIDTH,
        *row(("付款码", "PAYMENT CODE") if r.scanned else ("卡号", "CARD NO."), r.card),
        *row(("支付方式", "PAID WITH") if r.scanned else ("卡组织", "CARD ORG."),
             org_name(r.card_org)),
    ]  # fmt: skip
    if r.issuer:
        lines += row(("发卡行", "ISSUER"), issuer_name(r.issuer))
    if r.entry in ENTRIES:
        lines += row(("输入方式", "ENTRY MODE"), pair(ENTRIES[r.entry]))
    lines += [
        *row(("交易类型", "TRANS TYPE"), f"{zh} {en}"),
        *row(("批次号", "BATCH NO."), r.batch),
        *row(("凭证号", "VOUCHER NO."), r.stan),
    ]
    if r.original_stan:
        lines += row(("原凭证号", "ORIG. VOUCHER"), r.original_stan)
    if r.auth_code:
        lines += row(("授权码", "AUTH NO."), r.auth_code)
    lines += row(("参考号", "REF. NO."), r.rrn)
    if r.original_rrn:
        lines += row(("原参考号", "ORIG. REF. NO."), r.original_rrn)
    lines += [
        *row(("日期时间", "DATE/TIME"), r.when),
        *row(("金额", "AMOUNT"), r.signed_amount.display()),
        "-" * WIDTH,
    ]
    if reprint:
        lines.append("重打印凭证 DUPLICATED")
    if copy == "merchant":
        if r.needs_signature:
            lines += [
                "持卡人签名 CARDHOLDER SIGNATURE",
                *([pair(SIGNED_ON_SCREEN)] if r.signed else ["", "", "_" * WIDTH]),
                "本人确认以上交易，同意将其",
                "记入本卡账户",
                "I ACKNOWLEDGE SATISFACTORY",
                "RECEIPT OF RELATIVE",
                "GOODS/SERVICES",
            ]
        else:
            lines += [pair(NO_SIGNATURE)]
    return lines


@dataclass(frozen=True)
class BatchHeading:
    """What heads a batch's detail, summary and settlement slips."""

    merchant_name: str
    mid: str
    tid: str
    operator: str
    batch: str
    printed_at: str  # YYYY/MM/DD hh:mm:ss, the terminal's clock


def _heading(title: str, h: BatchHeading) -> list[str]:
    lines = [centre(title), "-" * WIDTH]
    if h.merchant_name:
        lines += row(("商户名称", "MERCHANT NAME"), h.merchant_name)
    return [
        *lines,
        *row(("商户编号", "MERCHANT NO."), h.mid),
        *row(("终端编号", "TERMINAL NO."), h.tid),
        *row(("操作员号", "OPERATOR NO."), h.operator),
        *row(("批次号", "BATCH NO."), h.batch),
        *row(("打印时间", "PRINTED"), h.printed_at),
        "-" * WIDTH,
    ]


@dataclass(frozen=True)
class Line:
    """One transaction of the batch as the detail print lists it."""

    receipt: Receipt
    voided: bool = False  # a sale, hold or completion voided later in the batch


def render_detail(h: BatchHeading, lines: Iterable[Line]) -> list[str]:
    """交易明细: every transaction of the open batch, oldest first: voucher, type and
    amount, then the masked card and the authorization code."""
    out = _heading("交易明细 TRANSACTION DETAIL", h)
    out += ["凭证号 类型 VOUCHER TYPE", "卡号 CARD NO. / 授权码 AUTH NO.", "-" * WIDTH]
    count = 0
    for line in lines:
        r = line.receipt
        zh, en, _debit = KINDS[r.kind]
        out += spread(f"{r.stan} {zh} {en}", r.signed_amount.display())
        out += spread(f"  {r.card}", r.auth_code)
        if line.voided:
            out.append("  已撤销 VOIDED")
        count += 1
    if count == 0:
        out.append("无交易 NO TRANSACTIONS")
    out += ["-" * WIDTH, f"共 {count} 笔 {count} TRANSACTION(S)"]
    return out


@dataclass(frozen=True)
class Tally:
    """The count and total of one kind of transaction of one card organisation."""

    org: str
    kind: str
    count: int
    amount_minor: int


def tally(receipts: Iterable[Receipt]) -> list[Tally]:
    """Counts and totals per card organisation and transaction type, in the order of
    ``ORGS`` and ``KINDS`` (organisations not in ``ORGS`` last, by code)."""
    sums: dict[tuple[str, str], list[int]] = {}
    for r in receipts:
        slot = sums.setdefault((r.card_org, r.kind), [0, 0])
        slot[0] += 1
        slot[1] += r.amount_minor
    orgs = list(ORGS)
    kinds = list(KINDS)

    def order(key: tuple[str, str]) -> tuple[int, str, int]:
        org, kind = key
        return (orgs.index(org) if org in orgs else len(orgs), org, kinds.index(kind))

    return [Tally(o, k, *sums[(o, k)]) for o, k in sorted(sums, key=order)]


def _totals_lines(totals: SettlementTotals, flags: dict[str, str] | None) -> list[str]:
    verdict = {"1": "平 BALANCED", "2": "不平 NOT BALANCED", "3": "错 ERROR"}
    lines: list[str] = []
    for zh, en, half, key in (
        ("内卡", "DOMESTIC", totals.domestic, "domestic"),
        ("外卡", "FOREIGN", totals.foreign, "foreign"),
    ):
        flag = (flags or {}).get(key, "")
        lines.append(f"{zh} {en}" + (f": {verdict.get(flag, flag)}" if flags else ""))
        for label, count, minor in (
            ("消费 SALES", half.debit_count, half.debit_minor),
            ("退货 REFUNDS", half.credit_count, half.credit_minor),
        ):
            head = "  " + label + " " * (14 - cell_len(label)) + f"{count:>3}"
            lines += spread(head, Money(minor).display())
    return lines


def render_summary(
    h: BatchHeading, tallies: Iterable[Tally], totals: SettlementTotals
) -> list[str]:
    """交易汇总: per card organisation and transaction type, how many and how much;
    then the batch's totals as the terminal will send them at settlement (voided
    transactions and voids left out, as there)."""
    out = _heading("交易汇总 TRANSACTION SUMMARY", h)
    out += [*spread("类型 TYPE", "笔数 COUNT"), flush_right("金额 AMOUNT"), "-" * WIDTH]
    org = None
    any_line = False
    for t in tallies:
        if t.org != org:
            org = t.org
            out.append(org_name(org))
        zh, en, _debit = KINDS[t.kind]
        out += spread(f"  {zh} {en}", f"{t.count:>3}")
        out.append(flush_right(Money(t.amount_minor).display()))
        any_line = True
    if not any_line:
        out.append("无交易 NO TRANSACTIONS")
    out += ["-" * WIDTH, "结算总计 SETTLEMENT TOTALS", *_totals_lines(totals, None)]
    return out


def render_settlement(
    tid: str, mid: str, batch: str, totals: SettlementTotals, flags: dict[str, str]
) -> list[str]:
    """The settlement slip (结算单): the batch's totals as the terminal counted them,
    and whether the host agreed."""
    lines = [
        centre("结算单 SETTLEMENT"),
        "-" * WIDTH,
        *row(("商户编号", "MERCHANT NO."), mid),
        *row(("终端编号", "TERMINAL NO."), tid),
        *row(("批次号", "BATCH NO."), batch),
        "-" * WIDTH,
    ]
    return lines + _totals_lines(totals, flags)
