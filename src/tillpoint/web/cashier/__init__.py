"""The browser cashier (``/cashier``): the till page, the customer display, and the JSON
the till page asks of the server with its session (docs/store.md, "The cashier").
Each module has a ``router``; this list is every one."""

from __future__ import annotations

from fastapi import APIRouter

from tillpoint.web.cashier import api, display, members, offline, pages

ROUTERS: list[APIRouter] = [
    pages.router,
    api.router,
    display.router,
    members.router,
    offline.router,
]
