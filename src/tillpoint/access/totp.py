"""Time-based one-time passwords (TOTP, RFC 6238), the console's second factor: six
digits from a shared secret and the clock, a new code every 30 seconds, as the
authenticator apps on phones make them (pyotp does the arithmetic).

A code is taken from the step before, the step of and the step after the server's
clock (a phone's clock may be a little off), and only for a step later than the last
one used: a code seen over someone's shoulder cannot be played again.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

STEP_S = 30
DIGITS = 6
WINDOW = 1  # steps either side of now
ISSUER = "Tillpoint"


def new_secret() -> str:
    """A new shared secret: 32 base-32 characters (160 bits, as RFC 4226 advises)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, login: str) -> str:
    """The ``otpauth://`` address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).provisioning_uri(
        name=login, issuer_name=ISSUER
    )


def step_at(at: datetime) -> int:
    return int(at.timestamp()) // STEP_S


def code_at(secret: str, at: datetime) -> str:
    """The code for the moment ``at`` (what the phone shows then)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S).generate_otp(step_at(at))


def matching_step(secret: str, code: str, at: datetime, last_step: int | None) -> int | None:
    """The time step a code belongs to, if it is right for one within the window of
    ``at`` and later than ``last_step``; else None."""
    cleaned = code.replace(" ", "").strip()
    if len(cleaned) != DIGITS or not (cleaned.isascii() and cleaned.isdigit()):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)
    now = step_at(at)
    found = None
    for step in range(now - WINDOW, now + WINDOW + 1):
        right = hmac.compare_digest(totp.generate_otp(step).encode(), cleaned.encode())
        if right and (last_step is None or step > last_step) and found is None:
            found = step
    return found
