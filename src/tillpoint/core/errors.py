"""One error hierarchy for the whole platform.

Every error carries a stable machine-readable ``code`` (for API problem documents and
scripts), an English message template (translated at the edge) and its parameters.
Adapters map the classes to exit codes and HTTP statuses; domain code never prints.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from tillpoint.core.i18n import _


class TillpointError(Exception):
    """Base of every error Tillpoint raises on purpose."""

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 400

    def __init__(self, code: str, message: str, /, **params: object) -> None:
        self.code = code
        self.message = message
        self.params = params
        super().__init__(message.format(**params))

    def localized(self) -> str:
        """The message in the current locale; enum values in it (statuses, kinds) are
        translated too."""
        params = {k: _(v.value) if isinstance(v, StrEnum) else v for k, v in self.params.items()}
        return _(self.message).format(**params)


class InvalidInput(TillpointError):
    """The caller sent something malformed; nothing was changed."""

    exit_code = 2
    http_status = 422


class NotFound(TillpointError):
    """The named object does not exist (or is not the caller's to see)."""

    http_status = 404


class Refused(TillpointError):
    """Well-formed, but a business rule forbids it now; nothing was changed."""

    http_status = 409


class ConfigurationError(TillpointError):
    """The program is not configured safely enough to run."""

    exit_code = 2
    http_status = 500


class InvariantViolation(TillpointError):
    """A condition that must always hold did not: a bug, never the caller's fault."""

    exit_code = 70
    http_status = 500


def invariant(condition: object, description: str) -> None:
    """Assert an invariant in a way ``python -O`` cannot strip.

    ``assert`` disappears under ``-O``; money code must not silently lose its checks.
    """
    if not condition:
        raise InvariantViolation(
            "internal.invariant", "Invariant violated: {what}", what=description
        )
