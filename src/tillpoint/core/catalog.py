"""Keeping the translation catalogue complete: extract every message from the code and
merge it into the zh_CN catalogue, so a test can insist every message is translated.

Run ``python -m tillpoint.core.catalog`` after adding or changing user-facing text, then
translate the new entries (they come in with an empty msgstr).
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).resolve().parent.parent
PO_FILE = PACKAGE / "locale" / "zh_CN" / "LC_MESSAGES" / "tillpoint.po"
KEYWORDS = {"_": None, "N_": None, "both": None}
# Python everywhere; the browser pages' Jinja templates too, whose texts are ``_("...")``.
METHODS = [("**.py", "python"), ("web/templates/**.html", "jinja2")]


def extract() -> dict[str, list[str]]:
    """Every message id in the package, with where it is used."""
    found: dict[str, list[str]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(PACKAGE), method_map=METHODS, keywords=KEYWORDS
    ):
        if isinstance(message, str) and message:
            found.setdefault(message, []).append(f"{filename}:{lineno}")
    return found


def update() -> tuple[int, int]:
    """Merge the extracted messages into the catalogue; (new, obsolete) counts."""
    with PO_FILE.open("rb") as f:
        old = read_po(f, locale="zh_CN")
    messages = extract()
    cat = Catalog(
        locale="zh_CN",
        project="Tillpoint",
        copyright_holder="The Tillpoint authors",
        creation_date=old.creation_date,
        revision_date=old.revision_date,
        fuzzy=False,
    )
    for msgid in sorted(messages):
        existing = old.get(msgid)
        cat.add(msgid, existing.string if existing else "", locations=[])
    new = sum(1 for m in messages if old.get(m) is None)
    obsolete = sum(1 for m in old if m.id and m.id not in messages)
    with PO_FILE.open("wb") as f:
        write_po(f, cat, width=0, omit_header=False, sort_output=True, no_location=True)
    return new, obsolete


if __name__ == "__main__":
    added, dropped = update()
    print(f"{PO_FILE}: {added} new, {dropped} obsolete")  # noqa: T201
