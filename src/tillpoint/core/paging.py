"""Pages of service lists: how many items one may ask for at a time."""

from __future__ import annotations

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_

PAGE_LIMIT = 500


def check_limit(limit: int) -> int:
    """``limit`` if a page may hold that many items, else a clear refusal."""
    if not 1 <= limit <= PAGE_LIMIT:
        raise InvalidInput("page.limit", N_("A page holds 1 to {max} items"), max=PAGE_LIMIT)
    return limit
