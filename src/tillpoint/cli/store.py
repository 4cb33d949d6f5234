"""tillpoint store ...: the shop's own point of sale (docs/store.md). The catalogue's
import and export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from tillpoint.cli._common import app, err, handles_errors, print_error, say
from tillpoint.core.i18n import _, get_locale

store = typer.Typer(no_args_is_help=True)

MerchantOpt = Annotated[
    str, typer.Option("--merchant", help=_("MID (15 digits) or application number."))
]


@store.command("import", help=_("Import products from a CSV or XLSX file, all or nothing."))
@handles_errors
def import_(
    file: Annotated[
        Path,
        typer.Argument(help=_("The CSV or XLSX file."), exists=True, dir_okay=False, readable=True),
    ],
    merchant: MerchantOpt,
) -> None:
    """Prints the counts; with bad rows, each with its line and reason, imports nothing
    and exits 1."""
    from tillpoint.store.imports import MAX_IMPORT_BYTES, ImportRefused, problems_text

    tp = app()
    merchant_id = tp.merchants.get(merchant).id
    with file.open("rb") as f:
        content = f.read(MAX_IMPORT_BYTES + 1)
    try:
        report = tp.catalogue_files.import_file(merchant_id, content)
    except ImportRefused as refused:
        for line in problems_text(refused.report):
            err.print(line, markup=False)
        print_error(refused.localized())
        raise typer.Exit(refused.exit_code) from None
    say(
        _("{rows} rows: {created} new, {updated} changed, {unchanged} unchanged (revision {revision}).")
        .format(rows=report.rows, created=report.created, updated=report.updated,
                unchanged=report.unchanged, revision=report.revision)
    )  # fmt: skip


@store.command("export", help=_("Export the catalogue in the import's columns."))
@handles_errors
def export(
    merchant: MerchantOpt,
    output: Annotated[
        Path, typer.Option("-o", "--output", help=_("The file to write."), dir_okay=False)
    ],
    fmt: Annotated[
        Literal["csv", "xlsx"], typer.Option("--format", help=_("csv or xlsx."))
    ] = "csv",
) -> None:
    from tillpoint.store.imports import csv_file, xlsx_file

    tp = app()
    merchant_id = tp.merchants.get(merchant).id
    table = tp.catalogue_files.export_rows(merchant_id, chinese=get_locale().startswith("zh"))
    pieces = csv_file(table) if fmt == "csv" else xlsx_file(table, _("Products"))
    with output.open("wb") as f:
        for piece in pieces:
            f.write(piece)
    count = tp.catalogue.count(merchant_id)
    say(_("{n} products written to {path}.").format(n=count, path=output))
