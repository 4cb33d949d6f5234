"""/v1 routes: settlements."""

from __future__ import annotations

from fastapi import APIRouter

from tillpoint.api.idempotency import IdempotentRoute

router = APIRouter(route_class=IdempotentRoute)
