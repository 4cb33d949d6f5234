"""``tillpoint simulate``: book labelled traffic through the payment service
(docs/risk.md, "The traffic simulator")."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from tillpoint.cli._common import (
    CliState,
    JsonOpt,
    emit_json,
    err,
    fields,
    handles_errors,
    settings,
    table,
)
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_, _

if TYPE_CHECKING:
    from tillpoint.simulation.runner import Summary


@handles_errors
def simulate(
    merchants: Annotated[int, typer.Option(help=_("How many merchants to make (1-10000)."))] = 50,
    days: Annotated[int, typer.Option(help=_("How many days of traffic (1-366)."))] = 7,
    seed: Annotated[
        int, typer.Option(help=_("The seed: the same seed books the same traffic."))
    ] = 1,
    start: Annotated[
        str | None,
        typer.Option(help=_("The first day, YYYY-MM-DD (default 2026-11-02)."), show_default=False),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(help=_("How many sales are booked at once (1-256)."))
    ] = 64,
    force: Annotated[
        bool,
        typer.Option("--force", help=_("Add to a database holding merchants no simulation made.")),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Onboard simulated merchants and book their traffic through the acquirer, with
    labelled fraud patterns injected (docs/risk.md)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tillpoint.app import open_app
    from tillpoint.core.clock import BUSINESS_TZ
    from tillpoint.simulation.runner import DEFAULT_START, Options, SimulationClock
    from tillpoint.simulation.runner import Progress as Step
    from tillpoint.simulation.runner import simulate as run

    first = DEFAULT_START
    if start is not None:
        try:
            first = date.fromisoformat(start)
        except ValueError:
            raise InvalidInput(
                "simulation.start", N_("The first day is a date, YYYY-MM-DD: not {value!r}"),
                value=start,
            ) from None  # fmt: skip
    options = Options(merchants, days, seed, first, concurrency, force)
    CliState.app = open_app(settings(), clock=SimulationClock())
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(_("Onboarding and booking"), total=days, status="")

        def show(step: Step) -> None:
            if step.onboarded < merchants:
                status = _("{done} of {merchants} merchants onboarded").format(
                    done=step.onboarded, merchants=merchants
                )
                bar.update(task, completed=0, status=status)
                return
            rate = step.payments / step.elapsed_s if step.elapsed_s > 0 else 0.0
            status = _("{day} {payments} payments, {rate}/s").format(
                day=step.at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M"),
                payments=f"{step.payments:,}", rate=f"{rate:,.0f}",
            )  # fmt: skip
            bar.update(task, completed=step.day, status=status)

        summary = run(CliState.app, options, show)
    if as_json:
        emit_json(_as_json(summary))
        return
    _print(summary)


def _as_json(s: Summary) -> dict[str, object]:
    return {
        "run": s.run_id,
        "seed": s.seed,
        "start": s.start.isoformat(),
        "days": s.days,
        "merchants": s.merchants,
        "terminals": s.terminals,
        "payments": s.payments,
        "approved": s.approved,
        "declined": s.declined,
        "response_codes": s.codes,
        "refused_by_host": s.refused,
        "labels": {p.value: n for p, n in s.labels.items()},
        "labelled_payments": {p.value: n for p, n in s.labelled_payments.items()},
        "onboarding_s": round(s.onboarding_s, 1),
        "booking_s": round(s.booking_s, 1),
        "payments_per_s": round(s.payments_per_s, 1),
        "cpu_us_per_payment": round(s.booking_cpu_s / s.payments * 1e6) if s.payments else 0,
    }


def _print(s: Summary) -> None:
    from tillpoint.simulation.models import PATTERN_NAMES

    fields(
        _("Simulation run {run}").format(run=s.run_id),
        [
            (_("Seed"), s.seed),
            (_("Days"), _("{days} from {start}").format(days=s.days, start=s.start.isoformat())),
            (_("Merchants"), f"{s.merchants:,}"),
            (_("Terminals"), f"{s.terminals:,}"),
            (_("Payments booked"), f"{s.payments:,}"),
            (_("Approved"), f"{s.approved:,}"),
            (_("Declined"), f"{s.declined:,}"),
            (_("Refused by the host (frozen terminals)"), f"{s.refused:,}"),
            (_("Onboarding"), _("{seconds} s").format(seconds=f"{s.onboarding_s:,.1f}")),
            (_("Booking"), _("{seconds} s").format(seconds=f"{s.booking_s:,.1f}")),
            (_("Payments per second"), f"{s.payments_per_s:,.0f}"),
        ],
    )
    table(
        _("Injected patterns"),
        [_("Pattern"), _("Labels"), _("Payments")],
        [(_(PATTERN_NAMES[p]), s.labels[p], s.labelled_payments[p]) for p in s.labels],
    )
    table(
        _("Answers"),
        [_("Response code"), _("Payments")],
        [(code, f"{count:,}") for code, count in s.codes.items()],
    )
