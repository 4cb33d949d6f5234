"""``/console/security``: a member of staff's own settings: the language the console
speaks to them, and the second factor (a code from an authenticator app) asked for at
each sign-in once they set it up."""

from __future__ import annotations

from typing import Annotated

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import _, set_locale
from tillpoint.web.page import SECURITY, after_action, area_guard, page, read_form, tp
from tillpoint.web.render import choose_locale

router = APIRouter(include_in_schema=False)
Person = Annotated[SignedIn, area_guard(SECURITY)]
HERE = SECURITY.href


def qr_data_uri(uri: str) -> str:
    """A QR code of ``uri`` as an SVG data URI (the page's CSP allows ``img data:``)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def grouped(secret: str) -> str:
    """``ABCD EFGH ...``: a secret easier to type by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@router.get(HERE, response_class=HTMLResponse)
def security_page(request: Request, session: Person) -> Response:
    account = session.account
    pending = None if account.totp else tp(request).accounts.totp_pending(account.id)
    response = page(request, session, "console/security/page.html", account=session.account,
                    pending=pending, qr=qr_data_uri(pending.uri) if pending else "",
                    secret=grouped(pending.secret) if pending else "")  # fmt: skip
    if pending is not None:  # the secret is on it: keep no copy anywhere
        response.headers["Cache-Control"] = "no-store"
    return response


@router.post(HERE + "/language")
async def choose_language(request: Request, session: Person) -> Response:
    form = await read_form(request, session, "locale")
    try:
        chosen = tp(request).accounts.set_locale(session.account.id, form["locale"] or None)
    except TillpointError as e:
        return after_action(HERE, e.localized(), error=True)
    set_locale(choose_locale(request, chosen.locale)[0])
    # The message in the language just chosen: the page after it speaks it.
    return after_action(HERE, _("Your language is saved."))


@router.post(HERE + "/totp")
async def begin_totp(request: Request, session: Person) -> Response:
    await read_form(request, session)
    try:
        tp(request).accounts.totp_begin(session.account.id)
    except TillpointError as e:
        return after_action(HERE, e.localized(), error=True)
    return after_action(HERE, _("Scan the code with your authenticator app, then confirm."))


@router.post(HERE + "/totp/confirm")
async def confirm_totp(request: Request, session: Person) -> Response:
    form = await read_form(request, session, "code", max_chars=20)
    try:
        tp(request).accounts.totp_confirm(session.account.id, form["code"])
    except TillpointError as e:
        return after_action(HERE, e.localized(), error=True)
    return after_action(HERE, _("Your second factor is on: sign-ins ask for its code."))
