"""The cardholder's signature as the terminal captures it (spec 4.11): a PNG of 1 bit per
pixel, at most 384 x 160 pixels and 4,000 bytes, made from the strokes drawn on the
screen, from a name typed and drawn as a signature, or from an image file, and cut into
the packets of field 62 (``iso8583/signature.py``).

Pillow is imported inside the functions that draw, so that the terminal's commands
start without it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.iso8583.signature import (
    MAX_HEIGHT_PX,
    MAX_IMAGE_BYTES,
    MAX_WIDTH_PX,
    cut,
    png_header,
    within_bounds,
)

if TYPE_CHECKING:
    from PIL.Image import Image

Point = tuple[float, float]  # x, y in the image's pixels (0..384, 0..160)
Stroke = Sequence[Point]

WIDTH, HEIGHT = MAX_WIDTH_PX, MAX_HEIGHT_PX
PEN_PX = 3  # the pen's width on the 384 x 160 image
MARGIN_PX = 4  # white kept around the ink when the image is cropped to it
DEFAULT_NAME = "Cardholder"
MAX_NAME_CHARS = 40
# Noto Sans SC (the statements' font, already in the package): Latin and every Chinese
# character a name may hold.
_FONT = ("fonts", "NotoSansSC_400Regular.ttf")
_SLANT = 0.28  # the typed name leans right, as handwriting does


def packets(png: bytes) -> list[bytes]:
    """Field 62 of each 0820 that carries the image: number, count, up to 500 bytes."""
    return [p.build() for p in cut(png)]


def from_strokes(strokes: Sequence[Stroke], pen_px: int = PEN_PX) -> bytes:
    """The signature drawn by ``strokes`` (lines through their points; a lone point is
    a dot), black on white, cropped to the ink."""
    from PIL import Image, ImageDraw

    if not any(strokes):
        raise _nothing_drawn()
    img = Image.new("1", (WIDTH, HEIGHT), 1)
    draw = ImageDraw.Draw(img)
    for stroke in strokes:
        points = [(_clamp(x, WIDTH), _clamp(y, HEIGHT)) for x, y in stroke]
        if len(points) == 1:
            (x, y), r = points[0], pen_px / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=0)
        elif points:
            draw.line(points, fill=0, width=pen_px, joint="curve")
    return _png(img)


def from_name(name: str) -> bytes:
    """``name`` (``Cardholder`` when blank) written as a signature: the letters leaning
    right, a stroke under them, black on white."""
    from PIL import Image, ImageDraw, ImageFont

    text = " ".join(name.split())[:MAX_NAME_CHARS] or DEFAULT_NAME
    font_file = resources.files("tillpoint.clearing").joinpath(*_FONT)
    with resources.as_file(font_file) as path:
        font = ImageFont.truetype(str(path), 96)
    left, top, right, bottom = (int(v) for v in font.getbbox(text))
    w, h = right - left, bottom - top
    pad = 24
    height = h + 2 * pad + 24
    canvas = Image.new("L", (w + 2 * pad + int(_SLANT * height), height), 255)
    draw = ImageDraw.Draw(canvas)
    draw.text((pad - left, pad // 2 - top), text, font=font, fill=0, stroke_width=2, stroke_fill=0)
    # A flourish: from under the first letter, a shallow arc to past the last one.
    base = pad // 2 + h + 16
    arc = [
        (pad // 2 + (w + pad) * t, base - 12 * math.sin(math.pi * t) + 8 * t)
        for t in (i / 24 for i in range(25))
    ]
    draw.line(arc, fill=0, width=6, joint="curve")
    # Lean it right (x' = x + slant * (y - height), so the foot stays where it is).
    slanted = canvas.transform(
        canvas.size,
        Image.Transform.AFFINE,
        (1, _SLANT, -_SLANT * canvas.height, 0, 1, 0),
        resample=Image.Resampling.BILINEAR,
        fillcolor=255,
    )
    return _png(_fit(_crop(slanted.point(lambda v: 0 if v < 128 else 255).convert("1"))))


def from_file(data: bytes) -> bytes:
    """An image file as the terminal sends it: a PNG that already fits the profile as it
    is; anything else Pillow reads, fitted into 384 x 160 in black and white."""
    header = png_header(data)
    if header is not None and within_bounds(header, len(data)):
        return data
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > 50_000_000:
                raise ValueError("too large")
            img.load()
            grey = img.convert("RGBA")
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError):
        raise InvalidInput(
            "terminal.signature_file", N_("The signature file is not an image this terminal reads")
        ) from None
    white = Image.new("RGBA", grey.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, grey).convert("L")
    return _png(_fit(_crop(flat.point(lambda v: 0 if v < 160 else 255).convert("1"))))


def bitmap(png: bytes, columns: int, rows: int) -> list[list[bool]]:
    """The image scaled into ``columns`` x ``rows`` dots (True: ink), centred, its
    proportions kept: what the screen's signature pad shows of it."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as img:
        ink = img.convert("L")
    scale = min(columns / ink.width, rows / ink.height)
    size = (max(1, round(ink.width * scale)), max(1, round(ink.height * scale)))
    small = ink.resize(size, Image.Resampling.BOX)
    x0, y0 = (columns - size[0]) // 2, (rows - size[1]) // 2
    dots = [[False] * columns for _ in range(rows)]
    for y in range(size[1]):
        for x in range(size[0]):
            value = small.getpixel((x, y))
            if isinstance(value, int | float) and value < 200:
                dots[y0 + y][x0 + x] = True
    return dots


# --- helpers ---------------------------------------------------------------------------


def _clamp(v: float, most: int) -> float:
    return min(max(v, 0.0), most - 1.0)


def _nothing_drawn() -> InvalidInput:
    return InvalidInput("terminal.signature_empty", N_("Nothing was drawn to sign with"))


def _crop(img: Image) -> Image:
    """The ink and a little white around it (the whole image when it holds no ink)."""
    from PIL import ImageOps

    box = ImageOps.invert(img.convert("L")).getbbox()
    if box is None:
        raise _nothing_drawn()
    left, top, right, bottom = box
    return img.crop(
        (
            max(0, left - MARGIN_PX),
            max(0, top - MARGIN_PX),
            min(img.width, right + MARGIN_PX),
            min(img.height, bottom + MARGIN_PX),
        )
    )


def _fit(img: Image) -> Image:
    """Scaled down (never up) to fit 384 x 160, still 1 bit per pixel."""
    from PIL import Image as PILImage

    scale = min(1.0, WIDTH / img.width, HEIGHT / img.height)
    if scale >= 1.0:
        return img
    size = (max(1, int(img.width * scale)), max(1, int(img.height * scale)))
    grey = img.convert("L").resize(size, PILImage.Resampling.LANCZOS)
    return grey.point(lambda v: 0 if v < 160 else 255).convert("1")


def _png(img: Image) -> bytes:
    """The 1-bit PNG, cropped to the ink; scaled down until it is at most 4,000 bytes
    (only a drawing as busy as noise needs that)."""
    from PIL import Image as PILImage

    img = _crop(img.convert("1"))
    while True:
        out = io.BytesIO()
        img.save(out, "PNG", optimize=True)
        data = out.getvalue()
        if len(data) <= MAX_IMAGE_BYTES:
            return data
        size = (max(1, img.width * 4 // 5), max(1, img.height * 4 // 5))
        grey = img.convert("L").resize(size, PILImage.Resampling.LANCZOS)
        img = grey.point(lambda v: 0 if v < 160 else 255).convert("1")
