"""The signature pad of the screen terminal (电子签名, spec 4.11): the cardholder signs
with the mouse on a canvas of braille dots (each character cell holds 2 x 4 of them, so
a pen of dots draws finer than the characters), or types a name that the terminal draws
as a signature; then confirms, clears or skips.

The canvas keeps the proportions of the signature image (384 x 160, 2.4 : 1 in dots):
96 x 20 cells in a large window, 72 x 15 from 80 x 24. What is drawn is kept in the
canvas's dots and drawn again, scaled, into the 1-bit PNG the terminal uploads
(``terminal/signature.py``).
"""

from __future__ import annotations

import itertools
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Static

from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.terminal import signature

# Braille: the dot at (column, row) of a cell is this bit of U+2800 + bits.
_BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
FULL_CELLS = (96, 20)  # columns, rows: 192 x 80 dots
COMPACT_CELLS = (72, 15)  # 144 x 60 dots
FULL_FROM = (104, 30)  # the window's columns and rows from which the full canvas fits

Dot = tuple[int, int]


def _line(a: Dot, b: Dot) -> list[Dot]:
    """The dots from ``a`` to ``b`` (Bresenham), both ends included."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err, out = dx + dy, []
    while True:
        out.append((x0, y0))
        if (x0, y0) == (x1, y1):
            return out
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


class SignaturePad(Widget):
    """A canvas the mouse draws on: press, move, release makes a stroke."""

    ALLOW_SELECT = False  # a drag draws; it selects no text

    DEFAULT_CSS = """
    SignaturePad { width: 98; height: 22; border: round #6b7079; background: #fbfaf6;
                   color: #10131a; }
    """

    def __init__(self, cells: tuple[int, int] = FULL_CELLS, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cells = cells
        self.strokes: list[list[Dot]] = []
        self.ink: set[Dot] = set()
        self.named: bytes | None = None  # a typed name drawn as the signature
        self._drawing = False

    @property
    def dots(self) -> tuple[int, int]:
        return self.cells[0] * 2, self.cells[1] * 4

    def resize_to(self, cells: tuple[int, int]) -> None:
        """Another canvas size (the window changed): what was drawn is scaled along."""
        if cells == self.cells:
            return
        (w0, h0), self.cells = self.dots, cells
        w1, h1 = self.dots
        self.strokes = [[(x * w1 // w0, y * h1 // h0) for x, y in s] for s in self.strokes]
        self._redraw()
        self.styles.width, self.styles.height = cells[0] + 2, cells[1] + 2

    @property
    def empty(self) -> bool:
        return not self.strokes and self.named is None

    def clear(self) -> None:
        self.strokes, self.ink, self.named = [], set(), None
        self.refresh()

    def show_name(self, png: bytes) -> None:
        """Show a typed name drawn as the signature (it replaces what was drawn)."""
        self.strokes, self.named = [], png
        w, h = self.dots
        grid = signature.bitmap(png, w, h)
        self.ink = {(x, y) for y, row in enumerate(grid) for x, on in enumerate(row) if on}
        self.refresh()

    def png(self) -> bytes:
        """The signature image: the typed name's, else the strokes scaled to 384 x 160."""
        if self.named is not None:
            return self.named
        w, h = self.dots
        sx, sy = signature.WIDTH / w, signature.HEIGHT / h
        strokes = [[((x + 0.5) * sx, (y + 0.5) * sy) for x, y in s] for s in self.strokes]
        return signature.from_strokes(strokes)

    # --- the mouse ---------------------------------------------------------------------

    def _dot(self, event: events.MouseEvent) -> Dot:
        """The dot under the pointer: a finer place than the cell when the terminal
        reports one, else the cell's middle."""
        x = event.pointer_x - self.gutter.left
        y = event.pointer_y - self.gutter.top
        x, y = (x + 0.5 if x == int(x) else x), (y + 0.5 if y == int(y) else y)
        w, h = self.dots
        return min(max(int(x * 2), 0), w - 1), min(max(int(y * 4), 0), h - 1)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if event.get_content_offset(self) is None:
            return  # on the border
        event.stop()
        if self.named is not None:
            self.clear()  # drawing replaces a typed name
        self.capture_mouse()
        self._drawing = True
        dot = self._dot(event)
        self.strokes.append([dot])
        self.ink.add(dot)
        self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if not self._drawing:
            return
        event.stop()
        dot = self._dot(event)
        stroke = self.strokes[-1]
        if dot != stroke[-1]:
            self.ink.update(_line(stroke[-1], dot))
            stroke.append(dot)
            self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drawing:
            event.stop()
            self._drawing = False
            self.release_mouse()

    # --- drawing -----------------------------------------------------------------------

    def _redraw(self) -> None:
        self.ink = set()
        for stroke in self.strokes:
            self.ink.add(stroke[0])
            for a, b in itertools.pairwise(stroke):
                self.ink.update(_line(a, b))
        self.refresh()

    def render(self) -> Text:
        cols, rows = self.cells
        lines = []
        for row in range(rows):
            chars = []
            for col in range(cols):
                bits = 0
                for dy, pair in enumerate(_BRAILLE_BITS):
                    for dx, bit in enumerate(pair):
                        if (col * 2 + dx, row * 4 + dy) in self.ink:
                            bits |= bit
                chars.append(chr(0x2800 + bits) if bits else " ")
            lines.append("".join(chars))
        return Text("\n".join(lines), no_wrap=True)


class SignatureScreen(ModalScreen[bytes | None]):
    """The pad over the terminal: dismissed with the signature's PNG, or None (skipped)."""

    CSS = """
    SignatureScreen { align: center middle; background: #24262b 80%; }
    #sign { width: auto; height: auto; padding: 0 1; background: #3a3d44;
            border: round #6b7079; }
    #sign-title { color: #f4f1e8; text-style: bold; width: 100%; }
    #sign-hint { color: #c9ccd2; width: 100%; }
    #sign-bar { height: 3; width: 100%; }
    #sign-name { width: 1fr; min-width: 16; }
    #sign-bar Button { min-width: 9; margin: 0 0 0 1; }
    """
    BINDINGS: ClassVar = [("escape", "skip", N_("Skip"))]

    def __init__(self, heading: str) -> None:
        super().__init__()
        self.heading = heading

    def compose(self) -> ComposeResult:
        with Vertical(id="sign"):
            yield Static(self.heading, id="sign-title")
            yield SignaturePad(id="pad")
            yield Static(_("Sign with the mouse, or type a name and press Enter."), id="sign-hint")
            with Horizontal(id="sign-bar"):
                yield Input(placeholder=_("Cardholder's name"), id="sign-name", max_length=40)
                yield Button(_("Clear"), id="sign-clear", variant="warning")
                yield Button(_("Skip"), id="sign-skip", variant="error")
                yield Button(_("Confirm"), id="sign-confirm", variant="success")

    @property
    def pad(self) -> SignaturePad:
        return self.query_one(SignaturePad)

    def on_mount(self) -> None:
        self._fit(self.app.size.width, self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        full = width >= FULL_FROM[0] and height >= FULL_FROM[1]
        cells = FULL_CELLS if full else COMPACT_CELLS
        pad = self.pad
        pad.resize_to(cells)
        pad.styles.width, pad.styles.height = cells[0] + 2, cells[1] + 2

    def hint(self, text: str) -> None:
        self.query_one("#sign-hint", Static).update(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if name:
            self.pad.show_name(signature.from_name(name))
            self.hint(_("Your name, drawn as your signature. Confirm, or sign instead."))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()  # the terminal's keypad must not hear these
        if event.button.id == "sign-clear":
            self.pad.clear()
            self.query_one(Input).value = ""
            self.hint(_("Sign with the mouse, or type a name and press Enter."))
        elif event.button.id == "sign-skip":
            self.action_skip()
        elif event.button.id == "sign-confirm":
            self.action_confirm()

    def action_skip(self) -> None:
        self.dismiss(None)

    def action_confirm(self) -> None:
        if self.pad.empty:
            self.hint(_("Nothing signed yet: sign, type a name, or skip."))
            return
        try:
            png = self.pad.png()
        except TillpointError as e:
            self.hint(e.localized())
            return
        self.dismiss(png)
