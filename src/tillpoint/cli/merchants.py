"""tillpoint merchants ... and tillpoint shops ..."""

from __future__ import annotations

from typing import Annotated

import typer

from tillpoint.cli._common import (
    ByOpt,
    JsonOpt,
    actor,
    app,
    emit_json,
    fields,
    handles_errors,
    history_table,
    say,
    table,
    when,
)
from tillpoint.core.geo import Position
from tillpoint.core.i18n import _
from tillpoint.merchants import validation
from tillpoint.merchants.mcc import MCC_NAMES
from tillpoint.merchants.models import MerchantKind, MerchantStatus
from tillpoint.merchants.services import KEEP, Application, Keep
from tillpoint.merchants.views import MerchantView, ShopView

merchants = typer.Typer(no_args_is_help=True)
shops = typer.Typer(no_args_is_help=True)

Ref = Annotated[str, typer.Argument(help=_("MID (15 digits) or application number."))]
Reason = Annotated[str, typer.Option("--reason", help=_("Why (kept in the history)."))]


def show_merchant(m: MerchantView, as_json: bool) -> None:
    if as_json:
        emit_json(m)
        return
    mcc_en, mcc_zh = MCC_NAMES.get(m.mcc, ("", ""))
    fields(
        _("Merchant") + f" {m.mid or '#' + str(m.id)}",
        [
            (_("Application number"), m.id),
            (_("MID"), m.mid),
            (_("Kind"), _(m.kind.value)),
            (_("Status"), _(m.status.value) + (f" ({m.status_reason})" if m.status_reason else "")),
            (_("Legal name"), m.legal_name),
            (_("Display name"), m.display_name),
            (_("MCC"), f"{m.mcc} {mcc_zh} {mcc_en}"),
            (_("Region"), m.region_code),
            (_("Contact"), f"{m.contact_name} {m.contact_phone} {m.contact_email or ''}"),
            (_("Identity number"), m.id_document_masked),
            (_("Business licence"), m.business_licence_no),
            (_("Tax registration"), m.tax_registration_no),
            (
                _("Settlement account"),
                f"{m.bank_name} {m.bank_account_name} {m.bank_account_masked}",
            ),
            (
                _("Terminal limit"),
                m.max_terminals if m.max_terminals is not None else _("kind default"),
            ),
            (_("Applied"), when(m.created_at)),
            (_("Approved on"), when(m.approved_at)),
            (_("Shops"), ", ".join(f"{s.number} {s.name}" for s in m.shops)),
        ],
    )


@merchants.command("apply", help=_("Apply for a merchant account (it then waits for review)."))
@handles_errors
def apply_(
    kind: Annotated[MerchantKind, typer.Option(help=_("personal or business."))],
    legal_name: Annotated[str, typer.Option(help=_("Legal name (the person's, for personal)."))],
    mcc: Annotated[str, typer.Option(help=_("Merchant category code, 4 digits."))],
    region: Annotated[str, typer.Option(help=_("Region code, 4 digits (3100 Shanghai)."))],
    contact_name: Annotated[str, typer.Option(help=_("Contact person."))],
    phone: Annotated[str, typer.Option(help=_("Contact phone."))],
    bank: Annotated[str, typer.Option(help=_("Settlement bank name."))],
    account_name: Annotated[str, typer.Option(help=_("Settlement account holder."))],
    account: Annotated[str, typer.Option(help=_("Settlement account number."))],
    address: Annotated[str, typer.Option(help=_("Address of the first shop."))],
    display_name: Annotated[str | None, typer.Option(help=_("Name on receipts."))] = None,
    email: Annotated[str | None, typer.Option(help=_("Contact email."))] = None,
    id_number: Annotated[str | None, typer.Option(help=_("Identity number (personal)."))] = None,
    licence: Annotated[
        str | None, typer.Option(help=_("Business licence, 18-character credit code (business)."))
    ] = None,
    tax_no: Annotated[
        str | None, typer.Option(help=_("Tax registration number, if not the licence."))
    ] = None,
    shop_name: Annotated[str | None, typer.Option(help=_("Name of the first shop."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    m = app().merchants.apply(
        Application(
            kind=kind,
            legal_name=legal_name,
            display_name=display_name,
            mcc=mcc,
            region_code=region,
            contact_name=contact_name,
            contact_phone=phone,
            contact_email=email,
            id_number=id_number,
            business_licence_no=licence,
            tax_registration_no=tax_no,
            bank_name=bank,
            bank_account_name=account_name,
            bank_account_no=account,
            shop_name=shop_name,
            shop_address=address,
        ),
        actor(by),
    )
    if as_json:
        emit_json(m)
    else:
        say(_("Application {id} submitted: it waits for review.").format(id=m.id))


@merchants.command(
    "review", help=_("Review an application: take it under review, or --approve / --reject it.")
)
@handles_errors
def review(
    ref: Ref,
    approve: Annotated[
        bool, typer.Option("--approve", help=_("Approve: the merchant gets its MID."))
    ] = False,
    reject: Annotated[bool, typer.Option("--reject", help=_("Reject (needs --reason)."))] = False,
    reason: Annotated[str | None, typer.Option(help=_("Why (required to reject)."))] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    if approve and reject:
        raise typer.BadParameter(_("choose --approve or --reject, not both"))
    svc = app().merchants
    if approve:
        m = svc.approve(ref, actor(by), reason)
        message = _("Merchant approved: MID {mid}.").format(mid=m.mid)
    elif reject:
        m = svc.reject(ref, actor(by), reason or "")
        message = _("Application {id} rejected.").format(id=m.id)
    else:
        m = svc.start_review(ref, actor(by))
        message = _("Application {id} is under review.").format(id=m.id)
    if as_json:
        emit_json(m)
    else:
        say(message)


@merchants.command("list", help=_("List merchants and applications."))
@handles_errors
def list_(
    status: Annotated[MerchantStatus | None, typer.Option(help=_("Only this status."))] = None,
    kind: Annotated[MerchantKind | None, typer.Option(help=_("Only this kind."))] = None,
    after: Annotated[int, typer.Option(help=_("Page on: list after this application number."))] = 0,
    limit: Annotated[int, typer.Option(help=_("At most this many (1-500)."))] = 100,
    as_json: JsonOpt = False,
) -> None:
    rows = app().merchants.search(status=status, kind=kind, after_id=after, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table(
        _("Merchants"),
        [_("No."), _("MID"), _("Kind"), _("Status"), _("Name"), _("MCC"), _("Shops")],
        [
            (m.id, m.mid, _(m.kind.value), _(m.status.value), m.display_name, m.mcc, len(m.shops))
            for m in rows
        ],
    )


@merchants.command("show", help=_("Show one merchant."))
@handles_errors
def show(ref: Ref, as_json: JsonOpt = False) -> None:
    show_merchant(app().merchants.get(ref), as_json)


@merchants.command("history", help=_("Every status change: who, when, why."))
@handles_errors
def history(ref: Ref, as_json: JsonOpt = False) -> None:
    events = app().merchants.history(ref)
    if as_json:
        emit_json(events)
        return
    history_table(events)


@merchants.command(
    "suspend", help=_("Suspend an approved merchant: its terminals stop taking payments.")
)
@handles_errors
def suspend(ref: Ref, reason: Reason, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    m = app().merchants.suspend(ref, actor(by), reason)
    emit_json(m) if as_json else say(_("Merchant {mid} suspended.").format(mid=m.mid))


@merchants.command("reinstate", help=_("Lift a suspension."))
@handles_errors
def reinstate(ref: Ref, reason: Reason, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    m = app().merchants.reinstate(ref, actor(by), reason)
    emit_json(m) if as_json else say(_("Merchant {mid} reinstated.").format(mid=m.mid))


@merchants.command(
    "close", help=_("Close a merchant for good (its terminals must be unbound first).")
)
@handles_errors
def close(ref: Ref, reason: Reason, by: ByOpt = None, as_json: JsonOpt = False) -> None:
    m = app().merchants.close(ref, actor(by), reason)
    emit_json(m) if as_json else say(_("Merchant {mid} closed.").format(mid=m.mid))


@merchants.command("set-terminal-limit", help=_("Give one merchant its own terminal limit."))
@handles_errors
def set_terminal_limit(
    ref: Ref,
    limit: Annotated[
        int | None, typer.Argument(help=_("Most terminals; leave out for the kind's default."))
    ] = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    m = app().merchants.set_max_terminals(ref, limit, actor(by))
    if as_json:
        emit_json(m)
    else:
        say(
            _("Terminal limit of {ref}: {n}.").format(
                ref=ref, n=m.max_terminals if m.max_terminals is not None else _("kind default")
            )
        )


def shop_position(s: ShopView) -> str:
    """A shop's registered position as ``LAT/LON`` in degrees, or nothing."""
    return "" if s.latitude is None else f"{s.latitude}/{s.longitude}"


def _shop_rows(rows: list[ShopView]) -> None:
    table(
        _("Shops"),
        [_("No."), _("Name"), _("Address"), _("City"), _("Position"), _("Region"), _("Status")],
        [
            (x.number, x.name, x.address, x.city or "", shop_position(x), x.region_code,
             _(x.status.value))
            for x in rows
        ],
    )  # fmt: skip


Latitude = Annotated[
    str | None,
    typer.Option(
        help=_("Where the shop is: latitude in degrees, e.g. 31.2304 (with --longitude).")
    ),
]
Longitude = Annotated[
    str | None,
    typer.Option(help=_("Longitude in degrees, e.g. 121.4737 (with --latitude).")),
]
City = Annotated[str | None, typer.Option(help=_("The shop's city, e.g. 上海 Shanghai."))]


@shops.command("add", help=_("Open another shop for a merchant."))
@handles_errors
def shop_add(
    ref: Ref,
    name: Annotated[str, typer.Option(help=_("Shop name."))],
    address: Annotated[str, typer.Option(help=_("Shop address."))],
    region: Annotated[
        str | None, typer.Option(help=_("Region code (default: the merchant's)."))
    ] = None,
    latitude: Latitude = None,
    longitude: Longitude = None,
    city: City = None,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    position = validation.position(latitude, longitude)
    shop = app().merchants.add_shop(
        ref, name, address, actor(by), region, position=position, city=city
    )
    emit_json(shop) if as_json else say(_("Shop {n} added.").format(n=shop.number))


@shops.command("update", help=_("Change where a shop is: its position and city."))
@handles_errors
def shop_update(
    ref: Ref,
    number: Annotated[int, typer.Argument(help=_("Shop number."))],
    latitude: Latitude = None,
    longitude: Longitude = None,
    city: City = None,
    no_position: Annotated[
        bool, typer.Option("--no-position", help=_("Remove the shop's position."))
    ] = False,
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    if no_position and (latitude is not None or longitude is not None):
        raise typer.BadParameter(
            _("either a position or --no-position"), param_hint="--no-position"
        )
    position: Position | Keep | None = KEEP
    if no_position:
        position = None
    elif latitude is not None or longitude is not None:
        position = validation.position(latitude, longitude)
    shop = app().merchants.update_shop(
        ref, number, actor(by), position=position, city=KEEP if city is None else city
    )
    if as_json:
        emit_json(shop)
    else:
        _shop_rows([shop])


@shops.command("list", help=_("A merchant's shops."))
@handles_errors
def shop_list(ref: Ref, as_json: JsonOpt = False) -> None:
    rows = app().merchants.list_shops(ref)
    emit_json(rows) if as_json else _shop_rows(rows)


@shops.command("close", help=_("Close a shop (its terminals must be unbound first)."))
@handles_errors
def shop_close(
    ref: Ref,
    number: Annotated[int, typer.Argument(help=_("Shop number."))],
    by: ByOpt = None,
    as_json: JsonOpt = False,
) -> None:
    shop = app().merchants.close_shop(ref, number, actor(by))
    emit_json(shop) if as_json else say(_("Shop {n} closed.").format(n=shop.number))
