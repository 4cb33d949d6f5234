"""The portal's home: today's takings of the merchant (a cashier: of its shop)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import AccountRole
from tillpoint.web.auth import Member
from tillpoint.web.page import P_APPLICATION, P_HOME, page, portal_guard

router = APIRouter(include_in_schema=False)

Seller = Annotated[SignedIn, portal_guard(P_HOME)]


@router.get("/portal", response_class=HTMLResponse)
def portal_home(request: Request, session: Member) -> Response:
    """An applicant goes to their application; a merchant's user sees the takings."""
    if AccountRole.APPLICANT in session.account.roles:
        return RedirectResponse(P_APPLICATION.href, status_code=303)
    return _home(request, session)


def _home(request: Request, session: Seller) -> Response:
    return page(request, session, "portal/home/home.html", account=session.account)
