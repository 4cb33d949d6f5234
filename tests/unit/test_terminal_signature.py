"""The terminal's signature images (4.11): drawn from strokes, from a typed name and
from a file, always what the host accepts; and the host's check of an image, which
refuses anything else."""

from __future__ import annotations

import io
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from tillpoint.core.errors import InvalidInput
from tillpoint.iso8583.signature import MAX_IMAGE_BYTES, png_header
from tillpoint.payments.signatures import image_problem
from tillpoint.terminal import signature
from tillpoint.terminal.pad import _line


def _accepted(png: bytes) -> Image.Image:
    assert image_problem(png) is None
    header = png_header(png)
    assert header is not None and header.bit_depth == 1
    img = Image.open(io.BytesIO(png))
    assert img.width <= 384 and img.height <= 160 and len(png) <= MAX_IMAGE_BYTES
    return img


def _ink(img: Image.Image) -> int:
    return sum(1 for v in img.convert("L").get_flattened_data() if v < 128)


def test_strokes_make_a_cropped_one_bit_png() -> None:
    wave = [(20 + i * 3, 80 + 40 * math.sin(i / 5)) for i in range(110)]
    img = _accepted(signature.from_strokes([wave, [(200.0, 30.0)]]))
    assert img.mode == "1" and _ink(img) > 300
    assert img.width < 384  # cropped to the ink and its margin


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.floats(-50, 450), st.floats(-50, 250)), min_size=1, max_size=60),
        min_size=1,
        max_size=12,
    )
)
def test_any_strokes_make_an_image_the_host_accepts(
    strokes: list[list[tuple[float, float]]],
) -> None:
    _accepted(signature.from_strokes(strokes))


def test_a_busy_drawing_is_scaled_down_to_fit_4000_bytes() -> None:
    scribble = [[(float((i * 37) % 384), float((i * 53) % 160)) for i in range(3000)]]
    _accepted(signature.from_strokes(scribble, pen_px=1))


def test_nothing_drawn_is_refused() -> None:
    with pytest.raises(InvalidInput, match="Nothing was drawn"):
        signature.from_strokes([])


@pytest.mark.parametrize("name", ["Cardholder", "张三 Zhang San", "  ", "W" * 80])
def test_a_typed_name_is_drawn_as_a_signature(name: str) -> None:
    png = signature.from_name(name)
    img = _accepted(png)
    assert _ink(img) > 200
    assert 1 <= len(signature.packets(png)) <= 8


def test_files_are_fitted_unless_they_fit_already() -> None:
    fitting = signature.from_name("Li")
    assert signature.from_file(fitting) is fitting
    big = Image.new("RGBA", (1200, 500), (255, 255, 255, 0))
    ImageDraw.Draw(big).line([(50, 400), (600, 50), (1150, 450)], fill=(0, 0, 80, 255), width=12)
    out = io.BytesIO()
    big.save(out, "PNG")
    img = _accepted(signature.from_file(out.getvalue()))
    assert img.width == 384 or img.height == 160
    with pytest.raises(InvalidInput, match="not an image"):
        signature.from_file(b"not an image at all")


def test_bitmap_scales_the_image_into_the_pads_dots() -> None:
    dots = signature.bitmap(signature.from_name("Wang"), 144, 60)
    assert len(dots) == 60 and all(len(row) == 144 for row in dots)
    assert 50 < sum(map(sum, dots)) < 144 * 60 // 2


def _png(img: Image.Image, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG", **kw)
    return out.getvalue()


def test_the_host_refuses_what_is_not_a_signature_of_the_profile() -> None:
    good = signature.from_name("Cardholder")
    assert image_problem(good) is None
    grey = _png(Image.new("L", (100, 50), 255))  # 8 bits a pixel
    wide = _png(Image.new("1", (385, 20), 1))
    tall = _png(Image.new("1", (20, 161), 1))
    assert image_problem(grey) == image_problem(wide) == image_problem(tall)
    assert image_problem(grey) == "outside the profile's bounds"
    assert image_problem(b"GIF89a" + good[6:]) == "not a PNG"
    damaged = bytearray(good)
    damaged[len(good) // 2] ^= 0xFF  # inside the image data: its CRC no longer matches
    assert image_problem(bytes(damaged)) == "a damaged PNG"
    assert image_problem(good[: len(good) - 20]) == "a damaged PNG"  # cut short


def test_pad_lines_join_their_ends() -> None:
    assert _line((0, 0), (3, 0)) == [(0, 0), (1, 0), (2, 0), (3, 0)]
    diagonal = _line((5, 5), (1, 2))
    assert diagonal[0] == (5, 5) and diagonal[-1] == (1, 2)
    assert all(
        abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1 for a, b in itertools.pairwise(diagonal)
    )


def test_a_slip_signed_on_the_screen_says_so() -> None:
    from tillpoint.receipts.slip import Receipt, render

    base = Receipt("sale", "10000001", "898310054110001", "001", "621234*********0012", "CUP",
                   "000001", "000002", "000000000001", "100002", "1125171902", 2026, 5_000,
                   entry="insert")  # fmt: skip
    paper = "\n".join(render(base))
    assert "CARDHOLDER SIGNATURE" in paper and "_" * 32 in paper and "SIGNED ON SCREEN" not in paper
    signed = Receipt.from_dict({**base.to_dict(), "signed": True})
    screen = render(signed)
    assert "电子签名已上送 SIGNED ON SCREEN" in screen and "_" * 32 not in screen
    assert "I ACKNOWLEDGE SATISFACTORY" in screen
    assert "SIGNED ON SCREEN" not in "\n".join(render(signed, copy="cardholder"))
