"""Rendering the browser pages: one Jinja2 environment over ``web/templates``, the
filters every page needs (money, numbers, Shanghai times), and ``render``, which picks
the reader's language and answers an ``HTMLResponse``.

The language of a page comes from, in this order:

1. a ``lang`` query parameter (the language switch link on every page sets it); the
   choice is then kept in the ``tp_lang`` cookie for the pages that follow;
2. the signed-in person's own language, when they chose one (``/console/security``;
   following the switch link changes it too);
3. the ``tp_lang`` cookie;
4. the browser's ``Accept-Language`` (the first of Chinese or English it names, by
   weight);
5. Chinese (``zh_CN``): the people who run an acquirer in China read it first.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.i18n import LOCALES, _, get_locale, set_locale
from tillpoint.core.money import DEFAULT_CURRENCY, Money

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
STATIC_PATH = "/console/static"

DEFAULT_LOCALE = "zh_CN"
LOCALE_COOKIE = "tp_lang"
LOCALE_COOKIE_MAX_AGE_S = 365 * 24 * 3600
MAX_ACCEPT_LANGUAGE_ITEMS = 20  # a longer header is read no further
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}
# The switch link names the other language in that language, so anyone can find it.
SWITCH = {"zh_CN": ("en", "English"), "en": ("zh_CN", "中文")}
TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class NavItem:
    """One entry of a page's navigation. ``label`` is an English message id (marked with
    ``N_``): the layout translates it into the page's language."""

    label: str
    href: str
    active: bool = False


@dataclass(frozen=True)
class LangSwitch:
    """The link to this same page in the other language."""

    href: str
    label: str
    lang: str  # the HTML lang of the label


# --- filters: they refuse float outright, as Money does ---------------------------------


def _refuse_float(value: object) -> None:
    if isinstance(value, (float, bool)):
        raise TypeError(f"pages show ints and Decimals, not {type(value).__name__}")


def money(amount_minor: int, currency: str = DEFAULT_CURRENCY) -> str:
    """``CN¥1,234.56`` in English, ``¥1,234.56`` in Chinese: an integer count of minor
    units, formatted by Babel from a Decimal in the current locale."""
    _refuse_float(amount_minor)
    return Money(amount_minor, currency).format(get_locale())


def number(value: int | Decimal) -> str:
    """``1,234,567`` with the locale's separators."""
    _refuse_float(value)
    return str(format_decimal(value, locale=get_locale()))


def shanghai_time(at: datetime) -> str:
    """``2026-12-04 21:30``: an instant as the clock on the wall in Shanghai shows it."""
    if at.tzinfo is None:
        raise ValueError("pages show aware datetimes only (stored times are UTC)")
    return at.astimezone(BUSINESS_TZ).strftime(TIME_FORMAT)


# A state or kind is a message id like ``under_review`` (labels.py); Chinese pages show
# its translation, English pages a readable form of it rather than the identifier.
_IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
ENGLISH_NAMES = {"alipay": "Alipay", "wechat": "WeChat Pay", "unionpay_qr": "UnionPay QR",
                 "api": "API", "http2xx": "2xx", "http3xx": "3xx", "http4xx": "4xx",
                 "http5xx": "5xx", "mid_mismatch": "MID mismatch",
                 "mcc_mismatch": "MCC mismatch"}  # fmt: skip


def page_text(message: str) -> str:
    """``_`` for templates: the message in the page's language; in English an
    identifier-like id (``under_review``) reads ``Under review``."""
    if get_locale() != "en" or not _IDENTIFIER.fullmatch(message):
        return _(message)
    if message in ENGLISH_NAMES:
        return ENGLISH_NAMES[message]
    return message.replace("_", " ").capitalize()


@cache
def static_url(name: str) -> str:
    """The address of a file in ``web/static``, with a digest of its content, so it can be
    cached for a year and still change on the day the package does."""
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC) or not path.is_file():
        raise ValueError(f"no static file {name!r}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{STATIC_PATH}/{name}?v={digest}"


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        undefined=StrictUndefined,  # a misspelt variable is an error, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(_=page_text, static_url=static_url)
    env.filters.update(money=money, number=number, shanghai_time=shanghai_time)
    return env


# --- the reader's language --------------------------------------------------------------


def _known(value: str | None) -> str | None:
    """``zh``, ``zh-CN``, ``zh_CN`` -> ``zh_CN``; ``en``, ``en-GB`` -> ``en``; else None."""
    if not value:
        return None
    lowered = value.strip().lower().replace("-", "_")
    if lowered.startswith("zh"):
        return "zh_CN"
    if lowered == "en" or lowered.startswith("en_"):
        return "en"
    return None


def from_accept_language(header: str) -> str | None:
    """The first of Chinese or English in an ``Accept-Language`` header, by weight."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")[:MAX_ACCEPT_LANGUAGE_ITEMS]):
        tag, _sep, params = item.partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if (locale := _known(tag)) is not None and weight > 0:
            ranked.append((-weight, position, locale))
    return min(ranked)[2] if ranked else None


def asked_locale(request: Request) -> str | None:
    """The language the ``lang`` query parameter asks for, if any."""
    return _known(request.query_params.get("lang"))


def choose_locale(request: Request, preferred: str | None = None) -> tuple[str, bool]:
    """The page's locale, and whether it was asked for by ``lang`` (so to be remembered).
    ``preferred``: the signed-in person's own choice (None: they made none)."""
    if (asked := asked_locale(request)) is not None:
        return asked, True
    if preferred in LOCALES:
        return preferred, False
    cookie = request.cookies.get(LOCALE_COOKIE)
    if cookie in LOCALES:
        return cookie, False
    accepted = from_accept_language(request.headers.get("accept-language", ""))
    return accepted or DEFAULT_LOCALE, False


def lang_switch(request: Request, locale: str) -> LangSwitch:
    """This page (its path and other query parameters) in the other language."""
    other, label = SWITCH[locale]
    query: list[tuple[str, str]] = [
        (k, v) for k, v in request.query_params.multi_items() if k != "lang"
    ]
    query.append(("lang", other))
    return LangSwitch(f"{request.url.path}?{urlencode(query)}", label, HTML_LANG[other])


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    nav: Iterable[NavItem] = (),
    preferred_locale: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """A page in the reader's language. ``context`` goes to the template as it is, beside
    what the layout needs (``locale``, ``html_lang``, ``lang_switch``, ``nav``,
    ``csrf_token``). ``preferred_locale``: the signed-in person's own language."""
    locale, asked = choose_locale(request, preferred_locale)
    set_locale(locale)  # so that ``_`` and the filters speak it
    nav_items: Sequence[NavItem] = tuple(nav)
    # The page's site (web/page.py's Site; None: the console) and its home's address.
    site = context.setdefault("site", None)
    context.setdefault("home", site.home if site is not None else "/console")
    html = (
        environment()
        .get_template(template)
        .render(
            locale=locale,
            html_lang=HTML_LANG[locale],
            lang_switch=lang_switch(request, locale),
            nav=nav_items,
            # The hook for the CSRF token of the session, which comes with sign-in:
            # every form renders it (``_forms.html``'s ``csrf_field``) already.
            csrf_token=context.pop("csrf_token", ""),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Language"] = HTML_LANG[locale]
    response.headers["Vary"] = "Accept-Language, Cookie"
    if asked:
        response.set_cookie(
            LOCALE_COOKIE,
            locale,
            max_age=LOCALE_COOKIE_MAX_AGE_S,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response
