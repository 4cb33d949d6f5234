"""The HTTP application. For now: health and the OpenAPI document; the REST API grows
here (docs/api.md once it exists)."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from tillpoint import __version__
from tillpoint.app import Tillpoint


class Health(BaseModel):
    status: str
    version: str
    database: str


def create_api(app: Tillpoint) -> FastAPI:
    api = FastAPI(title="Tillpoint", version=__version__, docs_url="/docs", redoc_url=None)

    @api.get("/health", response_model=Health, tags=["system"])
    def health() -> Health:
        """Liveness and database reachability."""
        with app.ctx.db.transaction() as s:
            s.execute(text("SELECT 1"))
        return Health(status="ok", version=__version__, database=app.ctx.db.engine.dialect.name)

    return api
