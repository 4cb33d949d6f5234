"""A merchant's statement of one business day, in Chinese and English at once: its
settlement, totals by payment method, and every transaction (masked card numbers only),
as an HTML page and as a PDF.

The PDF embeds its font, so that its Chinese shows in every reader (a font a reader must
supply, such as the PDF standard's STSong-Light, shows as boxes or nothing in the many
that lack it): Noto Sans SC, a TrueType font that ships in ``clearing/fonts/`` (an
unmodified release file, ``MANIFEST.json`` and ``scripts/fetch_fonts.py``), of which
reportlab embeds only the glyphs the statement uses (a subset of a few kB per 256
characters). reportlab is imported, and the font read, only when a PDF is made.
"""

from __future__ import annotations

import io
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from tillpoint.clearing.models import DataFeeCharge
from tillpoint.clearing.settlement import SettlementService, SettlementView
from tillpoint.context import Context
from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.errors import NotFound
from tillpoint.core.i18n import N_, both
from tillpoint.core.money import Money
from tillpoint.ledger.models import EntryKind, JournalEntry
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.merchants.services import find_merchant
from tillpoint.payments.models import Payment
from tillpoint.store.models import Counter, Order, OrderTender
from tillpoint.terminals.models import Terminal

_TEMPLATES = Path(__file__).resolve().parent / "templates"
FONT_FILE = Path(__file__).resolve().parent / "fonts" / "NotoSansSC_400Regular.ttf"
_FONT = "NotoSansSC"  # the name the PDF's styles use; the file names itself inside
_font_lock = threading.Lock()

DATA_FEES = N_("Data fees")
# The labels of the statement, each shown as "中文 / English".
LABELS = {
    "title": N_("Settlement statement"),
    "merchant": N_("Merchant"),
    "mid": N_("Merchant ID"),
    "date": N_("Business date"),
    "payout_date": N_("Payout date"),
    "account": N_("Settlement account"),
    "summary": N_("Settlement"),
    "gross": N_("Gross"),
    "refunds": N_("Refunds"),
    "fees": N_("Fees"),
    "data_fees": DATA_FEES,
    "net": N_("Net"),
    "carried_in": N_("Carried in"),
    "payout": N_("Payout"),
    "carried_out": N_("Carried out"),
    "by_method": N_("By payment method"),
    "by_shop": N_("By shop"),
    "by_counter": N_("By counter"),
    "counter": N_("Counter"),
    "shop": N_("Shop"),
    "method": N_("Method"),
    "count": N_("Transactions"),
    "lines": N_("Transaction details"),
    "time": N_("Time"),
    "terminal": N_("Terminal"),
    "type": N_("Type"),
    "card": N_("Card"),
    "amount": N_("Amount"),
    "fee": N_("Fee"),
    "held": N_("Held: the payout waits for operations"),
    "not_settled": N_("Not settled yet"),
}
KIND_LABELS = {
    EntryKind.CAPTURE: N_("Sale"),
    EntryKind.CAPTURE_UNDONE: N_("Void or reversal"),
    EntryKind.REFUND: N_("Refund"),
}


@dataclass(frozen=True)
class StatementLine:
    at: str
    tid: str
    kind: str
    card: str
    method: str
    amount: str
    fee: str
    rrn: str


@dataclass
class MethodTotals:
    count: int = 0
    gross_minor: int = 0
    refunds_minor: int = 0
    fees_minor: int = 0


@dataclass(frozen=True)
class Statement:
    merchant: str
    mid: str
    account: str
    business_date: date
    settlement: SettlementView | None
    by_method: dict[str, MethodTotals]
    by_shop: dict[str, MethodTotals]
    lines: list[StatementLine]
    labels: dict[str, str]
    # A mall's (store_counters): its payments per counter of the orders they paid;
    # empty when no payment of the day paid a counter's order.
    by_counter: dict[str, MethodTotals] = field(default_factory=dict)

    def money(self, minor: int) -> str:
        return Money(minor).plain()


class StatementService:
    def __init__(self, ctx: Context, settlement: SettlementService) -> None:
        self.ctx = ctx
        self.settlement = settlement
        self._env = Environment(
            loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"])
        )

    def statement(self, mid: str, day: date) -> Statement:
        with self.ctx.db.read() as s:
            m = find_merchant(s, mid)
            if m.mid is None:
                raise NotFound("merchant.not_approved", N_("{ref} has no MID yet"), ref=mid)
            rows = s.execute(
                select(JournalEntry.kind, JournalEntry.at, Payment, Terminal.tid, Shop.name)
                .join(Payment, Payment.id == JournalEntry.payment_id)
                .outerjoin(Terminal, Terminal.id == Payment.terminal_id)  # API: none
                .join(Shop, Shop.id == Payment.shop_id)
                .where(
                    JournalEntry.business_date == day,
                    Payment.merchant_id == m.id,
                    JournalEntry.kind.in_(list(KIND_LABELS)),
                )
                .order_by(JournalEntry.id)
            ).all()
            data_fees = s.scalars(
                select(DataFeeCharge).where(
                    DataFeeCharge.merchant_id == m.id, DataFeeCharge.business_date == day
                )
            ).all()
            by_method: dict[str, MethodTotals] = defaultdict(MethodTotals)
            by_shop: dict[str, MethodTotals] = defaultdict(MethodTotals)
            by_counter: dict[str, MethodTotals] = defaultdict(MethodTotals)
            counters = _counters(s, [r[2].id for r in rows])
            lines = []
            for kind, at, p, tid, shop in rows:
                sign = 1 if kind is EntryKind.CAPTURE else -1
                fee = p.fee_minor * sign if kind is not EntryKind.REFUND else 0
                method = both(p.method.value) if p.method else ""
                places = [by_method[method], by_shop[shop]]
                if counters:
                    places.append(by_counter[counters.get(p.id, both(NO_COUNTER))])
                for totals in places:
                    totals.count += 1
                    if kind is EntryKind.REFUND:
                        totals.refunds_minor += p.amount_minor
                    else:
                        totals.gross_minor += sign * p.amount_minor
                    totals.fees_minor += fee
                lines.append(
                    StatementLine(
                        _local(at),
                        tid or "API",  # a payment over the REST API names no terminal
                        both(KIND_LABELS[kind]),
                        p.pan_masked or "",
                        method,
                        Money(sign * p.amount_minor).plain(),
                        Money(fee).plain(),
                        p.rrn,
                    )
                )
            for charge in data_fees:
                t = s.get(Terminal, charge.terminal_id)
                lines.append(
                    StatementLine(
                        "",
                        t.tid if t else "",
                        both(DATA_FEES),
                        "",
                        "",
                        "",
                        Money(charge.amount_minor).plain(),
                        "",
                    )
                )
            merchant = _merchant_name(m)
            account = f"{m.bank_name} {m.bank_account_masked}"
        settled = self.settlement.show(day, m.mid)
        return Statement(
            merchant,
            m.mid,
            account,
            day,
            settled[0] if settled else None,
            dict(by_method),
            dict(by_shop),
            lines,
            {k: both(v) for k, v in LABELS.items()},
            dict(sorted(by_counter.items())),
        )

    def html(self, st: Statement) -> str:
        return self._env.get_template("statement.html").render(st=st)

    def pdf(self, st: Statement) -> bytes:
        from reportlab.lib import colors
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.lib.units import mm
        from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

        _register_font()
        out = io.BytesIO()
        # The canvas starts in the embedded font too: its default (Helvetica, which no
        # PDF carries) would otherwise be named in every page's resources.
        doc = SimpleDocTemplate(
            out, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=14 * mm,
            bottomMargin=14 * mm, title=f"{st.labels['title']} {st.mid} {st.business_date}",
            invariant=1, initialFontName=_FONT,
        )  # fmt: skip
        text = ParagraphStyle("text", fontName=_FONT, fontSize=8.5, leading=11)
        head = ParagraphStyle("head", fontName=_FONT, fontSize=14, leading=18, spaceAfter=4)
        sub = ParagraphStyle("sub", fontName=_FONT, fontSize=10.5, leading=14, spaceBefore=8)
        L = st.labels

        def table(rows: list[list[str]], widths: list[float] | None = None) -> Table:
            # A cell is text, not markup: a shop named "A&B <1>" prints as named.
            t = Table([[Paragraph(escape(c), text) for c in r] for r in rows], colWidths=widths,
                      repeatRows=1, hAlign="LEFT")  # fmt: skip
            t.setStyle(
                TableStyle([
                    ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("FONTNAME", (0, 0), (-1, -1), _FONT),  # not Helvetica, which no PDF carries
                ])
            )  # fmt: skip
            return t

        story: list[object] = [Paragraph(L["title"], head)]
        facts = [
            [L["merchant"], st.merchant],
            [L["mid"], st.mid],
            [L["date"], st.business_date.isoformat()],
            [L["account"], st.account],
        ]
        story.append(table(facts, [45 * mm, 135 * mm]))
        story.append(Paragraph(L["summary"], sub))
        story.append(table(_summary_rows(st), [60 * mm, 40 * mm]))
        story.append(Paragraph(L["by_method"], sub))
        method_rows = [[L["method"], L["count"], L["gross"], L["refunds"], L["fees"]]]
        method_rows += [[m, str(t.count), st.money(t.gross_minor), st.money(t.refunds_minor),
                         st.money(t.fees_minor)] for m, t in st.by_method.items()]  # fmt: skip
        story.append(table(method_rows))
        story.append(Paragraph(L["by_shop"], sub))
        shop_rows = [[L["shop"], L["count"], L["gross"], L["refunds"], L["fees"]]]
        shop_rows += [[m, str(t.count), st.money(t.gross_minor), st.money(t.refunds_minor),
                       st.money(t.fees_minor)] for m, t in st.by_shop.items()]  # fmt: skip
        story.append(table(shop_rows))
        if st.by_counter:
            story.append(Paragraph(L["by_counter"], sub))
            counter_rows = [[L["counter"], L["count"], L["gross"], L["refunds"], L["fees"]]]
            counter_rows += [
                [c, str(t.count), st.money(t.gross_minor), st.money(t.refunds_minor),
                 st.money(t.fees_minor)] for c, t in st.by_counter.items()
            ]  # fmt: skip
            story.append(table(counter_rows))
        story.append(Paragraph(L["lines"], sub))
        line_rows = [[L["time"], L["terminal"], L["type"], L["card"], L["amount"], L["fee"],
                      "RRN"]]  # fmt: skip
        line_rows += [[x.at, x.tid, x.kind, x.card, x.amount, x.fee, x.rrn] for x in st.lines]
        story.append(table(line_rows, [26 * mm, 18 * mm, 30 * mm, 36 * mm, 22 * mm, 18 * mm,
                                       30 * mm]))  # fmt: skip
        story.append(Spacer(1, 4 * mm))
        doc.build(story)
        return out.getvalue()


NO_COUNTER = N_("No counter")


def _counters(s: Session, payment_ids: list[int]) -> dict[int, str]:
    """The counter (``2 面馆``) of the order each payment paid, for those that paid a
    counter's order (a mall's central till: docs/store.md)."""
    found: dict[int, str] = {}
    ids = sorted(set(payment_ids))
    for start in range(0, len(ids), 900):
        for payment_id, number, name in s.execute(
            select(OrderTender.payment_id, Counter.number, Counter.name)
            .join(Order, Order.id == OrderTender.order_id)
            .join(Counter, Counter.id == Order.counter_id)
            .where(OrderTender.payment_id.in_(ids[start : start + 900]))
        ):
            if payment_id is not None:
                found[payment_id] = f"{number} {name}"
    return found


def _register_font() -> None:
    """Read the font once per process (about 0.1 s), the first time a PDF is made."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _font_lock:
        if _FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(_FONT, str(FONT_FILE)))


def _summary_rows(st: Statement) -> list[list[str]]:
    L, r = st.labels, st.settlement
    if r is None:
        return [[L["summary"], L["not_settled"]]]
    return [
        [L["gross"], st.money(r.gross_minor)],
        [L["refunds"], st.money(r.refunds_minor)],
        [L["fees"], st.money(r.fees_minor)],
        [L["data_fees"], st.money(r.data_fees_minor)],
        [L["net"], st.money(r.net_minor)],
        [L["carried_in"], st.money(r.carried_in_minor)],
        [L["payout"], st.money(r.payout_minor)],
        [L["carried_out"], st.money(r.carried_out_minor)],
        [L["payout_date"], r.payout_date.isoformat() if r.payout_date else L["held"]],
    ]


def _local(at: datetime) -> str:
    return at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _merchant_name(m: Merchant) -> str:
    return m.display_name or m.legal_name
