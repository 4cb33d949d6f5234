"""``/console/users``: the people who sign in to the console, the portal and the cashier
(admins only). Make an account (its first password shown once, on the page that answers
the form, and never again), reset a password (the same), lock and unlock, change roles,
reset a lost second factor. Every change is in the audit log; an admin neither locks
themselves nor takes their own admin role away."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import NewAccount, SignedIn
from tillpoint.access.models import MERCHANT_ROLES, STAFF_ROLES, AccountRole, AccountStatus
from tillpoint.core.errors import InvalidInput, NotFound, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.web.page import (
    PAGE,
    USERS,
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
Admin = Annotated[SignedIn, area_guard(USERS)]
HERE = USERS.href
ROLES = tuple(AccountRole)
STAFF = tuple(r for r in ROLES if r in STAFF_ROLES)
MERCHANT = tuple(r for r in ROLES if r in MERCHANT_ROLES)
FIELDS = ("name", "email", "mobile", "mid", "shop", "locale")


def _enum(cls: Any, value: str) -> Any:
    try:
        return cls(value) if value else None
    except ValueError:
        return None


@router.get(HERE, response_class=HTMLResponse)
def list_users(request: Request, session: Admin) -> Response:
    role = _enum(AccountRole, query_text(request, "role"))
    status = _enum(AccountStatus, query_text(request, "status"))
    search = query_text(request, "q")
    rows = tp(request).accounts.list(after_id=query_int(request, "after"), limit=PAGE + 1,
                                     role=role, status=status, search=search or None)  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "console/users/list.html", rows=rows, roles=ROLES,
                statuses=tuple(AccountStatus), role=role.value if role else "",
                status=status.value if status else "", q=search,
                next_href=page_link(request, after=rows[-1].id) if more else "")  # fmt: skip


def _form_page(
    request: Request, session: SignedIn, values: dict[str, str], chosen: list[str],
    error: str = "", status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return page(request, session, "console/users/new.html", status_code=status_code,
                values=values, chosen=chosen, staff_roles=STAFF, merchant_roles=MERCHANT,
                error=error)  # fmt: skip


@router.get(HERE + "/new", response_class=HTMLResponse)
def new_user(request: Request, session: Admin) -> Response:
    return _form_page(request, session, dict.fromkeys(FIELDS, ""), [])


def _made(request: Request, session: SignedIn, made: NewAccount, headline: str) -> Response:
    """The page that shows a password made for a person: once, never cached."""
    response = page(request, session, "console/users/made.html", made=made, headline=headline)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post(HERE, response_class=HTMLResponse)
async def create_user(request: Request, session: Admin) -> Response:
    values = await read_form(request, session, *FIELDS)
    chosen = [str(r) for r in (await request.form()).getlist("role")][: len(ROLES)]
    try:
        roles = {AccountRole(r) for r in chosen}
        if values["shop"] and not values["shop"].isdigit():
            raise InvalidInput("account.shop_number", N_("A shop number is a whole number"))
        made = tp(request).accounts.create(
            name=values["name"], roles=roles, actor=actor(session),
            email=values["email"] or None, mobile=values["mobile"] or None,
            merchant_ref=values["mid"] or None,
            shop_number=int(values["shop"][:9]) if values["shop"] else None,
            locale=values["locale"] or None,
        )  # fmt: skip
    except ValueError:
        return _form_page(request, session, values, chosen, _("Choose roles from the list"), 400)
    except TillpointError as e:
        return _form_page(request, session, values, chosen, e.localized(), 400)
    headline = _("Account {login} made.").format(login=made.account.login)
    return _made(request, session, made, headline)


def _account(request: Request, account_id: int) -> Any:
    return tp(request).accounts.get(str(account_id))


@router.get(HERE + "/{account_id}", response_class=HTMLResponse)
def user_detail(request: Request, session: Admin, account_id: int) -> Response:
    try:
        account = _account(request, account_id)
    except NotFound as e:
        return page(request, session, "console/users/missing.html", status_code=404,
                    message=e.localized())  # fmt: skip
    side = MERCHANT if account.merchant_id is not None else STAFF
    return page(request, session, "console/users/detail.html", account=account, side=side,
                myself=account.id == session.account.id)  # fmt: skip


def _back(account_id: int) -> str:
    return f"{HERE}/{account_id}"


@router.post(HERE + "/{account_id}/password", response_class=HTMLResponse)
async def reset_password(request: Request, session: Admin, account_id: int) -> Response:
    await read_form(request, session)
    try:
        made = tp(request).accounts.reset_password(str(account_id), actor(session))
    except TillpointError as e:
        return after_action(_back(account_id), e.localized(), error=True)
    headline = _("New password of {login}.").format(login=made.account.login)
    return _made(request, session, made, headline)


def _act(account_id: int, change: Callable[[], object], done: str) -> Response:
    """One change to an account, then back to its page with ``done``, or with why it
    was refused (nothing changed)."""
    try:
        change()
    except TillpointError as e:
        return after_action(_back(account_id), e.localized(), error=True)
    return after_action(_back(account_id), done)


@router.post(HERE + "/{account_id}/lock")
async def lock(request: Request, session: Admin, account_id: int) -> Response:
    await read_form(request, session)
    accounts = tp(request).accounts
    return _act(account_id, lambda: accounts.lock(str(account_id), actor(session),
                                                  by=session.account.id),
                _("Account locked: it cannot sign in."))  # fmt: skip


@router.post(HERE + "/{account_id}/unlock")
async def unlock(request: Request, session: Admin, account_id: int) -> Response:
    await read_form(request, session)
    accounts = tp(request).accounts
    return _act(account_id, lambda: accounts.unlock(str(account_id), actor(session)),
                _("Account unlocked."))  # fmt: skip


@router.post(HERE + "/{account_id}/roles")
async def set_roles(request: Request, session: Admin, account_id: int) -> Response:
    await read_form(request, session)
    chosen = [str(r) for r in (await request.form()).getlist("role")][: len(ROLES)]
    try:
        roles = {AccountRole(r) for r in chosen}
        tp(request).accounts.set_roles(str(account_id), roles, actor(session),
                                       by=session.account.id)  # fmt: skip
    except ValueError:
        return after_action(_back(account_id), _("Choose roles from the list"), error=True)
    except TillpointError as e:
        return after_action(_back(account_id), e.localized(), error=True)
    return after_action(_back(account_id), _("Roles saved."))


@router.post(HERE + "/{account_id}/totp-reset")
async def reset_totp(request: Request, session: Admin, account_id: int) -> Response:
    await read_form(request, session)
    accounts = tp(request).accounts
    return _act(account_id, lambda: accounts.totp_reset(str(account_id), actor(session)),
                _("Second factor reset: the password alone signs in."))  # fmt: skip
