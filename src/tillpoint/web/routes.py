"""The browser pages' routes: ``/console`` and its sign-in page, and the static files
every page links to (``/console/static/...``, from the package: nothing comes from
another site). Pages are not part of the REST API: none is in the OpenAPI document.

Signing in itself (``POST /console/sign-in``), sessions and the console's own pages come
with user accounts; until then the form has nowhere to go (405).
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from tillpoint.web.render import STATIC, STATIC_PATH, render

# Static addresses carry a digest of their content (render.static_url), so a browser may
# keep them for a year: a changed file has a new address.
STATIC_CACHE_CONTROL = "public, max-age=31536000, immutable"


class CachedStaticFiles(StaticFiles):
    """The package's static files, cached long by browsers and proxies."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = STATIC_CACHE_CONTROL
        return response


router = APIRouter(include_in_schema=False)
router.mount(STATIC_PATH, CachedStaticFiles(directory=STATIC), name="console-static")


@router.get("/console")
def console_home() -> RedirectResponse:
    """The console's address; who is not signed in starts at the sign-in page."""
    return RedirectResponse("/console/sign-in", status_code=303)


@router.get("/console/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request) -> HTMLResponse:
    """The sign-in form: email or mobile number, and password."""
    return render(request, "console/sign_in.html", login="", error=None)
