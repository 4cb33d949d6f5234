"""The operations console's working pages, one module per area of the menu
(``web/page.py``'s ``AREAS``). Each module has a ``router``; this list is every one."""

from __future__ import annotations

from fastapi import APIRouter

from tillpoint.web.console import (
    applications,
    audit,
    fees,
    fleet,
    home,
    keys,
    merchants,
    money,
    risk,
    security,
    users,
)

ROUTERS: list[APIRouter] = [
    home.router,
    applications.router,
    merchants.router,
    fleet.router,
    risk.router,
    money.router,
    users.router,
    keys.router,
    audit.router,
    fees.router,
    security.router,
]
