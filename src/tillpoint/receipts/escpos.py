"""A receipt as ESC/POS bytes, for the thermal printers of shops and terminals.

Chinese text. python-escpos's ``text()`` chooses a code page per character with its
"magic" encoder, which has no Chinese code page: a line with an ideograph in it goes out
as GB18030, but any other line goes through a Western code page, where full-width
punctuation, ``·`` or ``￥`` in a name print as ``?``; and it never selects the
printer's Chinese mode. Chinese printers read GB18030 (ASCII unchanged) once Chinese
mode is on (``FS &``). So the printout selects that mode once and sends every line
itself, as GB18030 bytes; python-escpos does the rest: sizes, alignment, the native QR
code, the signature's raster image and the cut.

Widths: 32 columns on 58 mm paper (384 dots), 48 on 80 mm (576 dots), font A; a Chinese
character takes two columns.
"""

from __future__ import annotations

import io
from enum import IntEnum

import segno
from rich.cells import cell_len

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.receipts.layout import ACKNOWLEDGEMENT, LABELS, Row, amount_text, rows
from tillpoint.receipts.slip import NO_SIGNATURE, centre, pair, wrap
from tillpoint.receipts.views import ReceiptView


class Columns(IntEnum):
    """Characters a line holds (font A, 12 dots each)."""

    NARROW = 32  # 58 mm paper
    WIDE = 48  # 80 mm paper


DOTS: dict[int, int] = {Columns.NARROW: 384, Columns.WIDE: 576}
CHINESE_MODE = b"\x1c&"  # FS &: bytes from 0x80 up are GB18030 characters
ENCODING = "gb18030"
MAX_QR_DOTS_PER_MODULE = 8


def row_lines(row: Row, width: int) -> list[str]:
    """``label   value`` on one line when it fits, else the value under its label."""
    label = pair((row.zh, row.en))
    gap = width - cell_len(label) - cell_len(row.value)
    if gap >= 1:
        return [label + " " * gap + row.value]
    return [label, *("  " + line for line in wrap(row.value, width - 2))]


class _Slip:
    """A printer that keeps the bytes (python-escpos's Dummy) and writes GB18030 lines."""

    def __init__(self, columns: int) -> None:
        if columns not in DOTS:
            raise InvalidInput(
                "receipt.columns",
                N_("A printed receipt is {narrow} or {wide} columns wide"),
                narrow=Columns.NARROW.value,
                wide=Columns.WIDE.value,
            )
        # python-escpos reads its printers' capabilities (a YAML file) when it is first
        # imported: a third of a second, paid by the first printout, not by every start.
        from escpos.printer import Dummy

        self.columns = columns
        self.p = Dummy()
        # python-escpos checks and centres images against the paper's width in dots; its
        # generic profile does not know it (an instance attribute: the class is shared).
        data = self.p.profile.profile_data
        media = {**data["media"], "width": {"mm": "Unknown", "pixels": DOTS[columns]}}
        self.p.profile.profile_data = {**data, "media": media}
        self.p.hw("INIT")
        self.p._raw(CHINESE_MODE)

    def line(self, text: str = "") -> None:
        self.p._raw(text.encode(ENCODING, errors="replace") + b"\n")

    def centred(self, text: str) -> None:
        for line in wrap(text, self.columns):
            self.line(centre(line, self.columns))

    def rows(self, rows: list[Row]) -> None:
        """Labelled values, each on one line when it fits (``row_lines``)."""
        for row in rows:
            for text in row_lines(row, self.columns):
                self.line(text)

    def rule(self) -> None:
        self.line("-" * self.columns)

    def amount(self, text: str) -> None:
        """Double width and height (GS !, which Chinese characters obey too) when it
        fits the line, right-aligned."""
        half = self.columns // 2
        if cell_len(text) > half:
            self.line(text.rjust(self.columns))
            return
        self.p.set(custom_size=True, width=2, height=2)
        self.line(text.rjust(half))
        self.p.set(custom_size=True, width=1, height=1)

    def image(self, png: bytes) -> None:
        """The signature, scaled to the paper (black on white: transparency is white)."""
        from PIL import Image

        with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
            img.load()
            dots = DOTS[self.columns]
            img.thumbnail((dots, dots // 3))
            self.p.image(img, center=True)

    def qr(self, url: str) -> None:
        """The printer draws the code itself (GS ( k), as large as the paper allows."""
        from escpos.constants import QR_ECLEVEL_M

        modules, _ = segno.make_qr(url, error="m").symbol_size(scale=1, border=4)
        size = max(1, min(MAX_QR_DOTS_PER_MODULE, DOTS[self.columns] // modules))
        self.p.set(align="center")
        self.p.qr(url, native=True, size=size, ec=QR_ECLEVEL_M)  # as on the page
        self.p.set(align="left")

    def output(self) -> bytes:
        self.p.cut()
        return bytes(self.p.output)


def render(
    r: ReceiptView, url: str, *, columns: int = Columns.NARROW, signature: bytes | None = None
) -> bytes:
    """The receipt ``r`` for a printer ``columns`` wide, with its link's QR code and,
    for a card payment, the cardholder's signature (or a line to sign on), or that none
    is needed (免密免签: a small contactless sale, a wallet payment)."""
    slip = _Slip(columns)
    slip.p.set(bold=True)
    slip.centred(pair(LABELS["title"]))
    slip.p.set(bold=False)
    slip.centred(r.merchant_name)
    slip.rule()
    slip.rows(rows(r))
    slip.rule()
    slip.line(pair(LABELS["amount"]))
    slip.amount(amount_text(r))
    slip.rule()
    if r.needs_signature:
        slip.line(pair(LABELS["signature"]))
        if signature is not None:
            slip.image(signature)
        else:
            slip.line()
            slip.line()
        slip.line("_" * columns)
        for text in ACKNOWLEDGEMENT:
            for line in wrap(text, columns):
                slip.line(line)
        slip.rule()
    else:  # a small contactless sale or a wallet payment, as the terminal's slip says
        slip.line(pair(NO_SIGNATURE))
        slip.rule()
    for text in LABELS["scan"]:
        slip.centred(text)
    slip.qr(url)
    return slip.output()
