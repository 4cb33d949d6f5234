"""A route's own limit on the size of its request body: a mark in its OpenAPI extra,
which the API's outermost layer reads (api/limits.py enforces it, before anything
reads the body)."""

from __future__ import annotations

from typing import Any

DEFAULT_BODY_BYTES = 64 * 1024  # every JSON body of the API fits in a fraction of it
EXTRA_KEY = "x-max-body-bytes"


def body_limit(limit_bytes: int) -> dict[str, Any]:
    """``openapi_extra`` of a route whose body may be larger than the default."""
    return {EXTRA_KEY: limit_bytes}
