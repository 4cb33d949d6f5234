"""Lists: newest first, a page at a time, with an opaque cursor to the next page."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from tillpoint.api.problems import ApiProblem
from tillpoint.core.i18n import _
from tillpoint.core.ids import is_digits
from tillpoint.http.text import Text

T = TypeVar("T")
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    object: Literal["list"] = "list"
    data: list[T]
    has_more: bool
    next_cursor: str | None = Field(
        default=None, description="Pass as ?cursor= for the next page; absent on the last"
    )


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor continues after, or None for the first page."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _sep, value = text.partition(":")
        if kind != "id" or not is_digits(value) or len(value) > 18:
            raise ValueError(text)
        return int(value)
    except ValueError:
        raise ApiProblem(
            400, "page.cursor", _("The cursor is not one this API handed out")
        ) from None


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1-100)")]
Cursor = Annotated[
    Text | None, Query(max_length=64, description="next_cursor of the previous page")
]


def page(items: Sequence[T], limit: int, key: Callable[[T], int]) -> Page[T]:
    """A page from ``limit + 1`` fetched items (the extra one only says there is more)."""
    more = len(items) > limit
    shown = list(items[:limit])
    return Page[T](
        data=shown, has_more=more, next_cursor=encode_cursor(key(shown[-1])) if more else None
    )


def whole(items: Sequence[T]) -> Page[T]:
    """A short list that is never paged (a history, a merchant's shops) as one page."""
    return Page[T](data=list(items), has_more=False)
