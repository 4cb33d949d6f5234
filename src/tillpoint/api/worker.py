"""The API's chores under ``tillpoint serve``: close pending QR payments and expire
pending checkouts whose time is up (every second); forget idempotency keys older than a
day and the packets of signature uploads left unfinished for an hour (every hour)."""

from __future__ import annotations

import asyncio
import logging
import time

from tillpoint.http.services import Services
from tillpoint.payments.signatures import forget_stale

log = logging.getLogger("tillpoint.api")
FORGET_EVERY_S = 3600.0


async def housekeeping(svc: Services, every_s: float = 1.0) -> None:
    forgot_at = 0.0
    while True:
        try:
            await svc.online.expire_due()
            await asyncio.to_thread(svc.tp.checkouts.expire_due)
            if time.monotonic() - forgot_at > FORGET_EVERY_S:
                await asyncio.to_thread(svc.access.forget_idempotency_keys)
                await asyncio.to_thread(forget_stale, svc.tp.ctx.db, svc.tp.ctx.now())
                forgot_at = time.monotonic()
        except Exception:  # keep serving; the next round tries again
            log.exception("API housekeeping failed; it will try again")
        await asyncio.sleep(every_s)
