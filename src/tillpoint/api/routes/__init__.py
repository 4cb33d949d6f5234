"""The API's routers, one module per resource family."""

from __future__ import annotations

from fastapi import APIRouter

from tillpoint.api.routes import (
    checkouts,
    events,
    fees,
    keys,
    members,
    merchants,
    payments,
    products,
    receipts,
    risk,
    settlements,
    simulator,
    stock,
    store,
    store_reports,
    store_sync,
    terminals,
    webhooks,
)

ROUTERS: tuple[APIRouter, ...] = (
    merchants.router,
    terminals.router,
    fees.router,
    payments.router,
    checkouts.router,
    store.quotes,
    store.router,
    store_sync.router,
    settlements.router,
    risk.router,
    webhooks.router,
    events.router,
    keys.router,
    receipts.router,
    products.router,
    stock.router,
    members.lookups,
    members.router,
    simulator.router,
    store_reports.router,
)
