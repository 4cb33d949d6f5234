"""Chinese and English for every user-facing text.

Code carries English message ids; the zh_CN catalogue (a gettext ``.po`` file read with
Babel) supplies Chinese. The locale is held in a context variable so that, later, each
HTTP request can answer in the language it asked for while the CLI sets it once.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = ("en", "zh_CN")
_LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
_current: ContextVar[str | None] = ContextVar("tillpoint_locale", default=None)


def N_(message: str) -> str:
    """Mark a message for extraction without translating it yet."""
    return message


def normalise_locale(value: str | None) -> str:
    """Map ``zh``, ``zh_CN.UTF-8``, ``zh-Hans`` ... to ``zh_CN``; anything else to ``en``."""
    if value and value.lower().replace("-", "_").startswith("zh"):
        return "zh_CN"
    return "en"


def default_locale() -> str:
    return normalise_locale(os.environ.get("TILLPOINT_LOCALE") or os.environ.get("LANG"))


def set_locale(locale: str) -> None:
    _current.set(normalise_locale(locale))


def get_locale() -> str:
    return _current.get() or default_locale()


@cache
def catalogue(locale: str) -> dict[str, str]:
    """The translations of one locale, msgid -> msgstr (empty for English)."""
    if locale == "en":
        return {}
    path = _LOCALE_DIR / locale / "LC_MESSAGES" / "tillpoint.po"
    with path.open("rb") as f:
        cat = read_po(f, locale=locale)
    return {
        str(m.id): str(m.string)
        for m in cat
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy
    }


def _(message: str) -> str:
    """Translate ``message`` into the current locale (English falls through)."""
    return catalogue(get_locale()).get(message, message)


def both(message: str, **params: object) -> str:
    """Chinese and English together, for texts read by people of either language."""
    en = message.format(**params)
    zh = catalogue("zh_CN").get(message, message).format(**params)
    return en if zh == en else f"{zh} / {en}"
