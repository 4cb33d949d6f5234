"""The cashier's two pages: the till (``/cashier``) and the customer display
(``/cashier/display``), a second window of the same browser on the screen that faces
the customer.

The till page is one page that never reloads while selling: it arrives with what it
needs to sell at once (the shops the person may sell in, the till's open shift, the
shop's counters, its texts in the page's language, how money is written in it) and
asks the rest of ``/cashier/api`` (web/cashier/api.py). A cashier signs in at the
portal's sign-in and lands here; owners and managers open it from the portal's menu.
``?shop=<number>&till=<name>`` names the till (a till's start-up address); without
them the page asks, and remembers the answer in the browser.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any

from babel.numbers import format_currency, get_decimal_symbol, get_group_symbol
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import AccountRole
from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import get_locale, set_locale
from tillpoint.store.order_rules import DISCOUNT_FREE_PERCENT
from tillpoint.web.auth import member
from tillpoint.web.cashier.api import SELLERS, Till, own_shop_id, services, state
from tillpoint.web.cashier.offline import SCOPE, WORKER
from tillpoint.web.cashier.texts import texts
from tillpoint.web.cashier.views import slip_labels
from tillpoint.web.page import tp
from tillpoint.web.render import (
    HTML_LANG,
    STATIC_PATH,
    asked_locale,
    choose_locale,
    render,
    static_url,
)

router = APIRouter(include_in_schema=False)

HOME = "/cashier"
DISPLAY = HOME + "/display"
SAMPLE = Decimal("1234.56")


# A merchant's owner, manager or cashier (the portal's rules: not signed in, to the
# portal's sign-in and back here after; anyone else 403).
Seller = Annotated[SignedIn, Depends(member(*SELLERS))]


def money_format(currency: str = "CNY") -> dict[str, Any]:
    """How the page's language writes money (Babel's pattern, read off a sample), so
    the scripts write ``¥1,234.56`` / ``CN¥1,234.56`` exactly as the pages do."""
    locale = get_locale()
    pos = str(format_currency(SAMPLE, currency, locale=locale))
    neg = str(format_currency(-SAMPLE, currency, locale=locale))
    group, decimal = get_group_symbol(locale), get_decimal_symbol(locale)
    body = f"1{group}234{decimal}56"

    def around(text: str) -> list[str]:
        at = text.find(body)
        return [text[:at], text[at + len(body) :]] if at >= 0 else ["", " " + currency]

    return {"pos": around(pos), "neg": around(neg), "group": group, "decimal": decimal}


def _chosen_shop(request: Request, session: SignedIn) -> int | None:
    """The shop the address names, or the only one the person may sell in."""
    value = request.query_params.get("shop") or ""
    if value.isascii() and value.isdigit() and 0 < len(value) <= 4:
        return int(value)
    own = own_shop_id(session)
    shops = tp(request).merchants.get(session.account.mid or "").shops
    if own is not None:
        return next((x.number for x in shops if x.id == own), None)
    return shops[0].number if len(shops) == 1 else None


def _till_name(request: Request) -> str | None:
    value = (request.query_params.get("till") or "").strip()[:20]
    return value or None


def _preferred(request: Request, session: SignedIn) -> str | None:
    """The person's own language; the switch link changes it (as the portal's pages),
    and the page speaks it from here on."""
    preferred = session.account.locale
    asked = asked_locale(request)
    if preferred is not None and asked is not None and asked != preferred:
        preferred = tp(request).accounts.set_locale(session.account.id, asked).locale
    set_locale(choose_locale(request, preferred)[0])
    return preferred


def _till(request: Request, session: SignedIn, shop: int) -> Till:
    svc = services(request)
    merchant_id = session.account.merchant_id
    assert merchant_id is not None
    shop_id = svc.tp.catalogue.shop_id(merchant_id, shop)
    own = own_shop_id(session)
    if own is not None and own != shop_id:
        raise HTTPException(status_code=404)
    return Till(svc.tp, svc, session, merchant_id, shop, shop_id, "")


@router.get(HOME, response_class=HTMLResponse)
def till_page(request: Request, session: Seller) -> HTMLResponse:
    """The till: ready to sell as soon as it opens."""
    if session.account.merchant_id is None:
        raise HTTPException(status_code=403)
    preferred = _preferred(request, session)
    shop = _chosen_shop(request, session)
    till_name = _till_name(request)
    initial: dict[str, Any] | None = None
    problem = None
    if shop is not None:
        try:
            initial = state(_till(request, session, shop), till_name)
        except (TillpointError, HTTPException):
            problem = "shop"
    if initial is None:
        merchant = tp(request).merchants.get(session.account.mid or "")
        own = own_shop_id(session)
        initial = {
            "account": {"id": session.account.id, "name": session.account.name,
                        "login": session.account.login},
            "merchant": {"id": merchant.id, "mid": merchant.mid, "name": merchant.display_name},
            "shops": [{"number": x.number, "name": x.name} for x in merchant.shops
                      if x.status.value == "open" and own in (None, x.id)],
            "shop": None, "till": till_name, "shift": None, "open_tills": [], "counters": [],
            "revision": 0,
        }  # fmt: skip
    data = _page_data(request, session, initial, shop if problem is None else None)
    return render(request, "cashier/till.html", preferred_locale=preferred, data=data,
                  who=session.account.name, csrf_token=session.csrf_token,
                  manager=session.account.has(AccountRole.OWNER, AccountRole.MANAGER))  # fmt: skip


@router.get(DISPLAY, response_class=HTMLResponse)
def display_page(request: Request, session: Seller) -> HTMLResponse:
    """The customer display: the cart as the till rings it up, the total, the QR code
    to scan when asked, then "paid, thank you" (it follows the till's window of the
    same browser, or with ``?shop=&till=`` the till through the server: another
    device)."""
    preferred = _preferred(request, session)
    merchant = tp(request).merchants.get(session.account.mid or "")
    data = {"lang": HTML_LANG[get_locale()], "texts": texts(), "money": money_format(),
            "merchant": merchant.display_name, "api": HOME + "/api"}  # fmt: skip
    return render(request, "cashier/display.html", preferred_locale=preferred,
                  data=json.dumps(data, ensure_ascii=False).replace("</", "<\\/"))  # fmt: skip


def _page_data(
    request: Request, session: SignedIn, initial: dict[str, Any], shop: int | None
) -> str:
    data = {
        "lang": HTML_LANG[get_locale()],
        "csrf": session.csrf_token,
        "texts": texts(),
        "money": money_format(),
        "state": initial,
        "shop": shop,
        "urls": {
            "api": HOME + "/api",
            "display": DISPLAY,
            "sync_worker": static_url("cashier-sync.js"),
            "service_worker": WORKER,
            "scope": SCOPE,
            "sign_in": "/portal/sign-in?next=" + HOME,
            "static": STATIC_PATH,
        },
        "free_discount_percent": int(DISCOUNT_FREE_PERCENT),
        "slip": slip_labels(),
    }
    # A data block, never run: "</" escaped so that no text closes the element early.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
