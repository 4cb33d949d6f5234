"""What every service needs: settings, the database, the clock and the keystore."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from tillpoint.core.clock import BUSINESS_TZ, Clock
from tillpoint.core.db import Database
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.core.settings import Settings
from tillpoint.security.keystore import Keystore


@dataclass(frozen=True)
class Context:
    settings: Settings
    db: Database
    clock: Clock
    keystore: Keystore

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        """Today in the business time zone (Asia/Shanghai)."""
        return self.clock.now().astimezone(BUSINESS_TZ).date()


def check_actor(actor: str) -> str:
    """Who did it, for the history. Every change has an author."""
    cleaned = actor.strip()
    if not 1 <= len(cleaned) <= 100:
        raise InvalidInput("actor.malformed", N_("Say who is acting (1-100 characters)"))
    return cleaned


def check_reason(reason: str | None, *, required: bool) -> str | None:
    cleaned = " ".join((reason or "").split())
    if required and not cleaned:
        raise InvalidInput("reason.required", N_("A reason is required for this change"))
    if len(cleaned) > 500:
        raise InvalidInput("reason.too_long", N_("A reason is at most 500 characters"))
    return cleaned or None
