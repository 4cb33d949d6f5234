"""The merchant portal's pages (``/portal``), one module per area of its menu
(``web/page.py``'s ``PORTAL_AREAS``), on the console's foundations: one sign-in, one
session, the same page helpers. Every read is scoped by the signed-in account's
merchant (and a cashier's shop): a merchant's user reaches nothing of another merchant.
Each module has a ``router``; this list is every one."""

from __future__ import annotations

from fastapi import APIRouter

from tillpoint.web.portal import (
    application,
    developers,
    home,
    members,
    payments,
    people,
    products,
    reports,
    settlements,
    shops,
    stock,
)

ROUTERS: list[APIRouter] = [
    home.router,
    payments.router,
    reports.router,
    settlements.router,
    shops.router,
    products.router,
    stock.router,
    members.router,
    people.router,
    developers.router,
    application.router,
]
