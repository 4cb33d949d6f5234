"""Failed proofs of a terminal's keys, counted for operations and throttled per source
address (docs/terminals.md, "Security events").

A sign-on proves the terminal holds its TMK (field 64 under the TMK); every other MACed
message proves it holds the MAK of its current sign-on. A proof that is missing or wrong
is recorded as a security event of the terminal, with the address it came from. Five
failures of one kind from one address within ten minutes hold that address back for
ten minutes: its sign-ons (or, for MAC failures, its messages under the same working
keys) are answered ``A0`` without being checked, and nothing more is written for them,
so a flood costs the host neither a database write nor a MAC each. Another address is
not affected. Everything is in the database, so every host process sees the same
counts and throttles.

No key, MAC, card data or message content is ever logged or stored here: the terminal,
the kind, the reason, the address and the time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.clock import as_utc
from tillpoint.terminals.models import FailureReason, SecurityEventKind, TerminalSecurityEvent
from tillpoint.terminals.views import TerminalSecurityView

log = logging.getLogger("tillpoint.security")

FAILURES_BEFORE_THROTTLE = 5
FAILURE_WINDOW = timedelta(minutes=10)
THROTTLE = timedelta(minutes=10)
MAX_ADDRESS_CHARS = 64
K = SecurityEventKind
_THROTTLE_OF = {K.SIGN_ON_FAILED: K.SIGN_ON_THROTTLED, K.MAC_FAILED: K.MAC_THROTTLED}


def source_address(address: str | None) -> str:
    """An address as stored: printable, at most 64 characters, ``unknown`` if none."""
    cleaned = "".join(c for c in (address or "") if c.isprintable())[:MAX_ADDRESS_CHARS]
    return cleaned or "unknown"


def throttled_until(failures: Sequence[datetime]) -> datetime | None:
    """When the throttle that ``failures`` (ascending) started ends, or None when no five
    of them fall within ten minutes. The throttle runs ten minutes from the failure that
    made five; failures are not recorded while it runs, so it cannot renew itself."""
    until: datetime | None = None
    n = FAILURES_BEFORE_THROTTLE
    for i in range(n - 1, len(failures)):
        if failures[i] - failures[i - n + 1] <= FAILURE_WINDOW:
            end = failures[i] + THROTTLE
            until = end if until is None or end > until else until
    return until


def _recent_failures(
    s: Session,
    terminal_id: int,
    kind: SecurityEventKind,
    address: str,
    since: datetime,
    generation: int | None,
) -> list[datetime]:
    query = select(TerminalSecurityEvent.at).where(
        TerminalSecurityEvent.terminal_id == terminal_id,
        TerminalSecurityEvent.kind == kind,
        TerminalSecurityEvent.source_address == address,
        TerminalSecurityEvent.at > since,
    )
    if generation is not None:
        query = query.where(TerminalSecurityEvent.generation == generation)
    return sorted(as_utc(at) for at in s.execute(query).scalars())


class TerminalSecurity:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def throttled(
        self,
        s: Session,
        terminal_id: int,
        kind: SecurityEventKind,
        address: str,
        generation: int | None = None,
    ) -> datetime | None:
        """Until when ``address`` is held back for ``kind`` at this terminal (None: it is
        not), read in the caller's session."""
        now = self.ctx.now()
        failures = _recent_failures(
            s, terminal_id, kind, address, now - FAILURE_WINDOW - THROTTLE, generation
        )
        until = throttled_until(failures)
        return until if until is not None and now < until else None

    def record_failure(
        self,
        terminal_id: int,
        tid: str,
        kind: SecurityEventKind,
        address: str,
        reason: FailureReason,
        generation: int | None = None,
    ) -> datetime | None:
        """Record one failed proof (its own unit of work, committed whatever the caller
        answers) and log it; when it makes five within ten minutes from ``address``,
        record and log the throttle too. Returns the throttle's end, or None."""
        address = source_address(address)
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            s.add(
                TerminalSecurityEvent(
                    terminal_id=terminal_id,
                    kind=kind,
                    reason=reason,
                    source_address=address,
                    generation=generation,
                    at=now,
                )
            )
            s.flush()
            failures = _recent_failures(
                s, terminal_id, kind, address, now - FAILURE_WINDOW - THROTTLE, generation
            )
            until = throttled_until(failures)
            before = throttled_until(failures[:-1])  # without this one, the newest
            starts = until is not None and (before is None or before <= now)
            if starts:
                s.add(
                    TerminalSecurityEvent(
                        terminal_id=terminal_id,
                        kind=_THROTTLE_OF[kind],
                        source_address=address,
                        generation=generation,
                        at=now,
                    )
                )
        line: dict[str, object] = {
            "event": "security",
            "kind": kind.value,
            "reason": reason.value,
            "tid": tid,
            "address": address,
        }
        log.warning(json.dumps(line))
        if starts and until is not None:
            line = {
                "event": "security",
                "kind": _THROTTLE_OF[kind].value,
                "tid": tid,
                "address": address,
                "until": until.isoformat(),
            }
            log.warning(json.dumps(line))
        return until if until is not None and now < until else None


def security_summary(s: Session, terminal_id: int) -> TerminalSecurityView:
    """A terminal's failed proofs and throttles, for operations."""
    counts: dict[SecurityEventKind, tuple[int, datetime | None]] = {
        row[0]: (row[1], None if row[2] is None else as_utc(row[2]))
        for row in s.execute(
            select(
                TerminalSecurityEvent.kind,
                func.count(),
                func.max(TerminalSecurityEvent.at),
            )
            .where(TerminalSecurityEvent.terminal_id == terminal_id)
            .group_by(TerminalSecurityEvent.kind)
        )
    }

    def last_address(kind: SecurityEventKind) -> str | None:
        return s.execute(
            select(TerminalSecurityEvent.source_address)
            .where(
                TerminalSecurityEvent.terminal_id == terminal_id,
                TerminalSecurityEvent.kind == kind,
            )
            .order_by(TerminalSecurityEvent.at.desc(), TerminalSecurityEvent.id.desc())
            .limit(1)
        ).scalar_one_or_none()

    sign_ons, last_sign_on = counts.get(K.SIGN_ON_FAILED, (0, None))
    macs, last_mac = counts.get(K.MAC_FAILED, (0, None))
    return TerminalSecurityView(
        failed_sign_ons=sign_ons,
        last_failed_sign_on_at=last_sign_on,
        last_failed_sign_on_address=last_address(K.SIGN_ON_FAILED) if sign_ons else None,
        sign_on_throttles=counts.get(K.SIGN_ON_THROTTLED, (0, None))[0],
        mac_failures=macs,
        last_mac_failure_at=last_mac,
        last_mac_failure_address=last_address(K.MAC_FAILED) if macs else None,
        mac_throttles=counts.get(K.MAC_THROTTLED, (0, None))[0],
    )
