"""A closed business day's end: reconcile it with the networks' clearing files, then
settle it. This is what the day's-end worker does after each cut-off, and what
``bench/settlement.py`` times.

The settlement run's figures (one pass over the day's ledger lines, the longest part of
the run) do not depend on reconciliation: a mismatch only holds a merchant's payout,
which the run reads afterwards. So they are summed on a second thread while
reconciliation reads the clearing files; both spend their time inside the database
library, which lets the other thread run, so a second core shares the work.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

from tillpoint.clearing.reconcile import Reconciliation, ReconciliationService
from tillpoint.clearing.settlement import Progress, SettlementService, SettlementView


def reconcile_and_settle(
    reconciliation: ReconciliationService,
    settlement: SettlementService,
    day: date,
    progress: Progress | None = None,
) -> tuple[Reconciliation, list[SettlementView]]:
    """Reconcile ``day`` (a difference holds the merchant concerned), then settle it."""
    settlement.check_ready(day)
    with ThreadPoolExecutor(1, thread_name_prefix="figures") as pool:
        figures = pool.submit(settlement.figures, day)
        matched = reconciliation.run(day)
        rows = settlement.run(day, progress, figures.result())
    return matched, rows
