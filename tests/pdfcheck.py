"""Reading a PDF's fonts and text back, for the tests of statements: which fonts it
names and whether each is embedded (a font program in its descriptor), the text its
fonts' ToUnicode maps can give back, and poppler's own word (pdffonts, pdftotext) when
poppler-utils is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(<<.*?>>)\s*(stream\r?\n|endobj)", re.S)
_REF = rb"/%s (\d+) 0 R"


@dataclass(frozen=True)
class Font:
    name: str  # its /BaseFont
    subtype: str  # TrueType, Type1, Type0, ...
    embedded: bool  # its descriptor holds a font program (FontFile, FontFile2, FontFile3)
    to_unicode: bool


def _objects(pdf: bytes) -> dict[int, tuple[bytes, bytes]]:
    """Each object's dictionary and, for a stream, its decoded data."""
    out = {}
    for m in _OBJECT.finditer(pdf):
        head, data = m.group(2), b""
        if m.group(3).startswith(b"stream"):
            length = re.search(rb"/Length (\d+)", head)
            if length is not None:
                data = pdf[m.end() : m.end() + int(length.group(1))]
                if b"/FlateDecode" in head and b"/ASCII85Decode" not in head:
                    data = zlib.decompress(data)
        out[int(m.group(1))] = (head, data)
    return out


def _ref(head: bytes, key: str) -> int | None:
    found = re.search(_REF % key.encode(), head)
    return int(found.group(1)) if found else None


def fonts(pdf: bytes) -> list[Font]:
    """Every font object of the PDF."""
    objects = _objects(pdf)
    out = []
    for head, _data in objects.values():
        if not re.search(rb"/Type /Font\b", head):
            continue
        name = re.search(rb"/BaseFont /([^\s/\[<>]+)", head)
        subtype = re.search(rb"/Subtype /(\w+)", head)
        descriptor = _ref(head, "FontDescriptor")
        program = objects.get(descriptor, (b"", b""))[0] if descriptor is not None else b""
        out.append(
            Font(
                name.group(1).decode() if name else "",
                subtype.group(1).decode() if subtype else "",
                bool(re.search(rb"/FontFile[23]? \d+ 0 R", program)),
                _ref(head, "ToUnicode") is not None,
            )
        )
    return out


def mapped_text(pdf: bytes) -> str:
    """Every character the fonts' ToUnicode maps give back (what a reader can copy)."""
    objects = _objects(pdf)
    chars = []
    for head, _data in objects.values():
        if (ref := _ref(head, "ToUnicode")) is None or ref not in objects:
            continue
        cmap = objects[ref][1].decode("latin-1")
        for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
            for target in re.findall(r"<[0-9A-Fa-f]+>\s*<([0-9A-Fa-f]+)>", block):
                chars.append(bytes.fromhex(target).decode("utf-16-be"))
        for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
            for lo, hi, first in re.findall(r"<(\w+)>\s*<(\w+)>\s*<(\w+)>", block):
                start = ord(bytes.fromhex(first).decode("utf-16-be"))
                chars += [chr(start + n) for n in range(int(hi, 16) - int(lo, 16) + 1)]
    return "".join(chars)


def poppler(tool: str, pdf: bytes, *args: str) -> str | None:
    """What poppler's ``tool`` says of the PDF, or None where it is not installed."""
    if shutil.which(tool) is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.pdf"
        path.write_bytes(pdf)
        done = subprocess.run([tool, *args, str(path), "-"] if tool == "pdftotext" else
                              [tool, *args, str(path)], capture_output=True, text=True,
                              check=True, timeout=60)  # fmt: skip
    return done.stdout


def check_embedded(pdf: bytes, *texts: str) -> list[Font]:
    """Assert that every font the PDF names is embedded and maps back to Unicode, and
    that ``texts`` can be read back from it (poppler's pdftotext where installed, else
    the fonts' maps hold their characters); poppler's pdffonts agrees where installed."""
    found = fonts(pdf)
    assert found, "the PDF names no font"
    assert [f for f in found if not f.embedded] == [], f"fonts not embedded: {found}"
    assert all(f.to_unicode for f in found), found
    listed = poppler("pdffonts", pdf)
    if listed is not None:
        rows = listed.splitlines()[2:]
        assert rows and all(re.search(r"\s(yes)\s+(yes)\s+(yes)\s+\d+\s+\d+$", r) for r in rows), (
            listed
        )
    text = poppler("pdftotext", pdf, "-enc", "UTF-8")
    if text is not None:
        flat = " ".join(text.split())
        for t in texts:
            assert " ".join(t.split()) in flat, (t, flat[:2000])
    else:
        mapped = set(mapped_text(pdf))
        for t in texts:
            assert set(t.replace(" ", "")) <= mapped, (t, sorted(set(t) - mapped))
    return found
