"""The day's end under ``tillpoint serve``: close each business day once its cut-off has
passed, then, when the payments still in flight at the cut-off have landed, reconcile it
with the networks' clearing files and settle it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import date
from typing import Protocol

from tillpoint.clearing.dayend import reconcile_and_settle
from tillpoint.clearing.days import BusinessDays
from tillpoint.clearing.reconcile import ReconciliationService
from tillpoint.clearing.settlement import SettlementService

log = logging.getLogger("tillpoint.settlement")
TICK_S = 30.0
GRACE_S = 60.0  # longer than any payment takes from its start to its record


class DayServices(Protocol):
    """What the day's end needs of the application (the composition root hands it)."""

    @property
    def days(self) -> BusinessDays: ...
    @property
    def reconciliation(self) -> ReconciliationService: ...
    @property
    def settlement(self) -> SettlementService: ...


class DayWorker:
    def __init__(self, tp: DayServices, grace_s: float = GRACE_S) -> None:
        self.tp = tp
        self.grace_s = grace_s
        self.pending: dict[date, float] = {}  # closed day -> when (monotonic)

    def tick(self, now: float | None = None) -> list[date]:
        """Close what is due; settle what was closed long enough ago. Returns the days
        settled."""
        now = time.monotonic() if now is None else now
        for day in self.tp.days.close_due():
            log.info(json.dumps({"event": "cut_off", "date": day.isoformat()}))
        for day in self.tp.days.unsettled():  # closed now, by hand, or before a restart
            self.pending.setdefault(day, now)
        settled = []
        for day, closed in sorted(self.pending.items()):
            if now - closed < self.grace_s:
                break  # days are settled in date order
            if waiting := self.tp.days.in_flight(day):  # answers still to land
                log.info(json.dumps({"event": "settle_waits", "date": day.isoformat(),
                                     "in_flight": waiting}))  # fmt: skip
                break
            # a mismatch holds its merchant
            matched, rows = reconcile_and_settle(self.tp.reconciliation, self.tp.settlement, day)
            del self.pending[day]
            settled.append(day)
            log.info(
                json.dumps(
                    {
                        "event": "settled",
                        "date": day.isoformat(),
                        "merchants": len(rows),
                        "reconciliation_problems": len(matched.problems),
                        "payout_minor": sum(r.payout_minor for r in rows),
                    }
                )
            )
        return settled

    async def run(self, every_s: float = TICK_S) -> None:
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:  # keep serving; the next tick tries again
                log.exception("the day's-end worker failed; it will try again")
            await asyncio.sleep(every_s)
