"""Text and numbers as a request may carry them, for every HTTP adapter (the REST API and
the browser pages' JSON alike)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

# Every string a request carries (body fields, query, path and header parameters) is one
# of these two types, so that no control character reaches a service or the database
# (PostgreSQL refuses NUL in text, and a 500 is no answer): C0 and C1 controls, DEL and
# lone surrogates are refused with 422. ``Note`` (reasons, notes, descriptions: free
# text typed by people) allows tab, line feed and carriage return; ``Text`` allows none.
# tests/api/test_strict_input.py checks that every route's strings use them.

_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _one_line(value: str) -> str:
    if _CONTROLS.search(value):
        raise ValueError("control characters (NUL, tab, line breaks...) are not allowed here")
    return value


def _free_text(value: str) -> str:
    if _CONTROLS_BUT_LINES.search(value):
        raise ValueError("control characters (such as NUL) are not allowed")
    return value


def is_one_line(value: str) -> bool:
    """Whether ``value`` may be a ``Text`` (for checks outside a model)."""
    return _CONTROLS.search(value) is None


Text = Annotated[str, AfterValidator(_one_line)]
Note = Annotated[str, AfterValidator(_free_text)]
# Integers in a body are JSON integers: never true/false, "100" or 1.0.
Int = Annotated[int, Field(strict=True)]
Bool = Annotated[bool, Field(strict=True)]
