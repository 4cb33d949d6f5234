"""``/console/fee-plans``: the price lists (finance, reviewers, risk and admins read them;
finance and admins make new ones). A plan prices every payment method with a Decimal
percentage, capped or not, and never changes once made: new prices are a new plan."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import AccountRole
from tillpoint.core.errors import NotFound, TillpointError
from tillpoint.core.i18n import _
from tillpoint.core.money import Money
from tillpoint.merchants.fees import Rate, parse_rate
from tillpoint.merchants.models import MerchantKind, PaymentMethod
from tillpoint.web.page import (
    FEE_PLANS,
    PAGE,
    actor,
    after_action,
    area_guard,
    audit,
    page,
    page_link,
    query_int,
    read_form,
    tp,
)

router = APIRouter(include_in_schema=False)
Reader = Annotated[SignedIn, area_guard(FEE_PLANS)]
Maker = Annotated[SignedIn, area_guard(FEE_PLANS, AccountRole.FINANCE)]
HERE = FEE_PLANS.href
CURRENCY = "CNY"
METHODS = tuple(PaymentMethod)
RATE_FIELDS = tuple(f"{kind}_{m.value}" for m in METHODS for kind in ("rate", "cap"))
FIELDS = ("code", "name", "default_for", "data_fee", "free_days", *RATE_FIELDS)


def percent(rate: Decimal) -> str:
    """``0.38%``: a rate as it was written, at least two places, never through float."""
    shown = rate.normalize()
    if shown.as_tuple().exponent > -2:  # type: ignore[operator]
        shown = shown.quantize(Decimal("0.01"))
    return f"{shown}%"


@router.get(HERE, response_class=HTMLResponse)
def list_plans(request: Request, session: Reader) -> Response:
    rows = tp(request).fees.list_plans(after_id=query_int(request, "after"), limit=PAGE + 1)
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "console/fees/list.html", rows=rows,
                may_make=session.account.has(AccountRole.FINANCE),
                next_href=page_link(request, after=rows[-1].id) if more else "")  # fmt: skip


def _form(
    request: Request, session: SignedIn, values: dict[str, str], error: str = "",
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return page(request, session, "console/fees/new.html", status_code=status_code,
                values=values, methods=METHODS, kinds=tuple(MerchantKind),
                error=error)  # fmt: skip


@router.get(HERE + "/new", response_class=HTMLResponse)
def new_plan(request: Request, session: Maker) -> Response:
    values = dict.fromkeys(FIELDS, "")
    values.update(data_fee="0.00", free_days="30")
    return _form(request, session, values)


@router.get(HERE + "/{code}", response_class=HTMLResponse)
def plan_detail(request: Request, session: Reader, code: str) -> Response:
    try:
        plan = tp(request).fees.get_plan(code[:32])
    except NotFound as e:
        return page(request, session, "console/users/missing.html", status_code=404,
                    message=e.localized())  # fmt: skip
    return page(request, session, "console/fees/detail.html", plan=plan, percent=percent)


def _rates(values: dict[str, str]) -> dict[PaymentMethod, Rate]:
    rates = {}
    for m in METHODS:
        rate, cap = values[f"rate_{m.value}"], values[f"cap_{m.value}"]
        try:
            rates[m] = parse_rate(f"{rate}:{cap}" if cap else rate, CURRENCY)
        except TillpointError as e:
            raise _MethodError(f"{_(m.value)}: {e.localized()}") from None
    return rates


class _MethodError(Exception):
    pass


@router.post(HERE, response_class=HTMLResponse)
async def create_plan(request: Request, session: Maker) -> Response:
    values = await read_form(request, session, *FIELDS, max_chars=100)
    kind = values["default_for"]
    try:
        rates = _rates(values)
        if not values["free_days"].isdigit():
            return _form(request, session, values,
                         _("The free period is a number of days (0-366)"), 400)  # fmt: skip
        plan = tp(request).fees.create_plan(
            values["code"], values["name"], rates, actor(session),
            data_fee=Money.parse(values["data_fee"] or "0", CURRENCY),
            data_fee_free_days=int(values["free_days"][:4]),
            default_for=MerchantKind(kind) if kind in tuple(MerchantKind) else None,
        )  # fmt: skip
    except _MethodError as e:
        return _form(request, session, values, str(e), 400)
    except TillpointError as e:
        return _form(request, session, values, e.localized(), 400)
    audit(request, session, "fee plan created", f"fee plan {plan.code}")
    return after_action(f"{HERE}/{plan.code}", _("Fee plan {plan} made.").format(plan=plan.code))
