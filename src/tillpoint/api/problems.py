"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every problem carries a stable machine-readable ``code`` (the same codes the CLI and
the services use), a title and a detail in the language the caller asked for, and for
malformed requests the list of what was wrong where.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from tillpoint.core.errors import TillpointError
from tillpoint.core.i18n import N_, _

log = logging.getLogger("tillpoint.api")
MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: N_("Bad request"),
    401: N_("Not authenticated"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Method not allowed"),
    409: N_("Conflict"),
    413: N_("Request too large"),
    415: N_("Unsupported media type"),
    422: N_("Invalid request"),
    429: N_("Too many requests"),
    500: N_("Internal error"),
    502: N_("Bad gateway"),
}


class FieldProblem(BaseModel):
    location: str = Field(description="Where: body.amount, query.limit, header.Idempotency-Key")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="A URI naming the kind of problem: urn:tillpoint:problem:<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable machine-readable code, e.g. payment.not_refundable")
    instance: str | None = None
    errors: list[FieldProblem] | None = None


class ApiProblem(Exception):
    """A problem the API layer itself raises (authentication, idempotency, paging)."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status, self.code, self.detail, self.headers = status, code, detail, headers
        super().__init__(detail)


class BodyTooLarge(HTTPException):
    """A request body read past its route's limit (api/limits.py). An HTTPException, so
    that FastAPI passes it on rather than calling it a body it could not parse."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(413)
        self.limit_bytes = limit_bytes


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"urn:tillpoint:problem:{code}",
        title=_(TITLES.get(status, TITLES[400 if status < 500 else 500])),
        status=status,
        detail=detail,
        code=code,
        instance=instance,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def too_large(limit_bytes: int, instance: str) -> JSONResponse:
    return problem(
        413,
        "request.too_large",
        _("The request body is larger than this route accepts ({max} bytes)").format(
            max=limit_bytes
        ),
        instance=instance,
    )


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def as_problem(request: Request, exc: Exception) -> JSONResponse | None:
    """The problem document for an error a caller caused, or None for a crash."""
    path = request.url.path
    if isinstance(exc, TillpointError):
        if exc.http_status >= 500:
            log.error("internal error on %s: %s", path, exc)
        return problem(exc.http_status, exc.code, exc.localized(), instance=path)
    if isinstance(exc, ApiProblem):
        return problem(exc.status, exc.code, exc.detail, instance=path, headers=exc.headers)
    if isinstance(exc, RequestValidationError):
        errors = [
            FieldProblem(location=_location(e.get("loc", ())), message=str(e.get("msg", "")))
            for e in exc.errors()
        ]
        return problem(
            422,
            "request.invalid",
            _("The request is malformed: see errors"),
            instance=path,
            errors=errors,
        )
    if isinstance(exc, BodyTooLarge):
        return too_large(exc.limit_bytes, path)
    if isinstance(exc, HTTPException):
        return problem(
            exc.status_code,
            f"http.{exc.status_code}",
            _(TITLES.get(exc.status_code, str(exc.detail))),
            instance=path,
            headers=getattr(exc, "headers", None),
        )
    return None


def install(api: FastAPI) -> None:
    """Answer every error as a problem document."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        response = as_problem(request, exc)
        if response is not None:
            return response
        log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(
            500, "internal.error", _("Something went wrong on our side"), instance=request.url.path
        )

    for kind in (TillpointError, ApiProblem, RequestValidationError, HTTPException, Exception):
        api.add_exception_handler(kind, handle)


# Documented on every route: what an error answer looks like.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": TITLES[status]}
    for status in (401, 404, 409, 422, 429)
}
