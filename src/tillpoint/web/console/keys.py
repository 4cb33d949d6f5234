"""``/console/api-keys``: the keys of the REST API (admins only). The list shows a key's
first characters, never its secret; a new key's secret is shown once, on the page that
answers the form; revoking stops a key at once and for good. Making and revoking are in
the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import OPERATIONS, Role
from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import _
from tillpoint.web.page import (
    API_KEYS,
    PAGE,
    actor,
    after_action,
    area_guard,
    page,
    page_link,
    query_int,
    query_text,
    read_form,
    tp,
)

router = APIRouter(include_in_schema=False)
Admin = Annotated[SignedIn, area_guard(API_KEYS)]
HERE = API_KEYS.href
STATES = {"active": False, "revoked": True}


@router.get(HERE, response_class=HTMLResponse)
def list_keys(request: Request, session: Admin) -> Response:
    role_text, state = query_text(request, "role"), query_text(request, "state")
    role = Role(role_text) if role_text in tuple(Role) else None
    rows = tp(request).access.list_keys(after_id=query_int(request, "after"), limit=PAGE + 1,
                                        role=role, revoked=STATES.get(state))  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "console/keys/list.html", rows=rows, roles=tuple(Role),
                role=role.value if role else "", state=state if state in STATES else "",
                next_href=page_link(request, after=rows[-1].id) if more else "")  # fmt: skip


def _form(
    request: Request, session: SignedIn, values: dict[str, str], error: str = "",
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return page(request, session, "console/keys/new.html", status_code=status_code,
                values=values, roles=tuple(Role), error=error)  # fmt: skip


@router.get(HERE + "/new", response_class=HTMLResponse)
def new_key(request: Request, session: Admin) -> Response:
    return _form(request, session, {"name": "", "role": "", "mid": ""})


@router.post(HERE, response_class=HTMLResponse)
async def create_key(request: Request, session: Admin) -> Response:
    values = await read_form(request, session, "name", "role", "mid")
    if values["role"] not in tuple(Role):
        return _form(request, session, values, _("Choose a role from the list"), 400)
    role = Role(values["role"])
    try:
        made = tp(request).access.create_key(
            role, values["name"], actor(session), audit=True,
            merchant_ref=None if role in OPERATIONS else (values["mid"] or None),
        )  # fmt: skip
    except TillpointError as e:
        return _form(request, session, values, e.localized(), 400)
    response = page(request, session, "console/keys/made.html", made=made)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(HERE + "/{key_id}/revoke")
async def revoke_key(request: Request, session: Admin, key_id: int) -> Response:
    await read_form(request, session)
    try:
        key = tp(request).access.revoke(key_id, actor(session), audit=True)
    except TillpointError as e:
        return after_action(HERE, e.localized(), error=True)
    return after_action(HERE, _("Key {prefix}… revoked: it works no more.").format(
        prefix=key.prefix))  # fmt: skip
