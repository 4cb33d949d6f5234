"""Tenancy on every route of the OpenAPI document: merchant B's owner key against
merchant A's objects; and the acquirer's narrower keys (reviewer, risk) against every
route.

Merchant A gets one object of every kind a path can name (merchant, shop, terminal,
operator, payments in every state a route needs, a refund, a settlement, a webhook
endpoint and a delivery, an event, a signed receipt, an API key). Then, for each
path and method of ``app.openapi()`` (not a hand-made list: a new route joins the
matrix by itself, and fails it until it is classified here):

* a route naming one of A's objects (in its path, or in its body for a create) answers
  B's key exactly as it answers for an object that does not exist (404, same code, same
  title, same detail but for the id), or 403 if a merchant owner may not call it at
  all; and the database is the same afterwards, row for row;
* a list shows B only B's objects, and a ``mid`` filter naming A is a 404.

A route with a request body needs an entry in ``BODIES``; a path parameter needs to be
told which of A's objects it takes (``PARAMS``). The few routes without authentication
are exempt, each with its reason (``PUBLIC``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.engine import Dialect

from tests.api.conftest import ApiEnv, api_world
from tests.api.test_receipts import DEBIT
from tests.conftest import START, Databases, resident_id
from tests.hosting import run_with_host
from tests.integration.test_receipts import png
from tests.selling import shop_world, water_code
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint, open_app
from tillpoint.core.clock import FixedClock
from tillpoint.core.db import Base
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.merchants.models import DocumentKind, MerchantDocument
from tillpoint.notify.webhooks import WebhookService
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.models import Payment
from tillpoint.risk.models import Action, Mode, Severity
from tillpoint.store.catalogue import ProductIn
from tillpoint.terminal.device import Device, DeviceState

ALIPAY = "284000000000000001"
A_BARCODE = "6901234567892"
URL = "https://shop.example.com/hooks"
NO_MID = "898310054119999"  # well formed, no such merchant

# The OpenAPI document the matrix is made of (the services play no part in it; the
# live application's document is checked to be the same one).
OPENAPI: dict[str, Any] = create_api(MagicMock(), MagicMock()).openapi()
ROUTES = sorted(
    f"{method.upper()} {path}" for path, ops in OPENAPI["paths"].items() for method in ops
)

# Routes anyone may call without a key, and why that is safe.
PAGES = (
    "/console",
    "/portal",
    "/cashier",
)  # the browser's: tests/api/test_*_doors.py, test_cashier.py
PUBLIC = {
    "GET /health": "liveness and the database's reachability: names no object",
    "GET /openapi.json": "the API's description",
    "GET /docs": "the API's documentation page",
    "GET /docs/oauth2-redirect": "part of the documentation page",
    "GET /redoc": "the API's documentation page (ReDoc)",
    "* /static-offline-docs": "the documentation pages' scripts and styles",
    "GET /r/{ref}": "a receipt page: the unguessable token in the link is the key",
    "GET /r/{ref}/qr.svg": "the QR code of a receipt link: the same token",
    "GET /r/{ref}/signature.png": "the signature on a receipt: the same token",
    "GET /simulator/qr/{token}": "the wallet simulator's customer page: an unguessable token",
    "POST /simulator/qr/{token}": "the simulated customer's answer: an unguessable token",
    "GET /o/{ref}": "an order's e-receipt: the unguessable token in the link is the key",
    "GET /o/{ref}/qr.svg": "the QR code of an order's e-receipt link: the same token",
}

# Routes a merchant owner's key may not call at all: 403 before any object is looked up.
OPERATIONS_ONLY = {
    "POST /v1/merchants",
    "POST /v1/merchants/{ref}/start_review",
    "POST /v1/merchants/{ref}/approve",
    "POST /v1/merchants/{ref}/reject",
    "POST /v1/merchants/{ref}/ask_documents",
    "POST /v1/merchants/{ref}/suspend",
    "POST /v1/merchants/{ref}/reinstate",
    "POST /v1/merchants/{ref}/close",
    "POST /v1/merchants/{ref}/fee_plan",
    "POST /v1/merchants/{ref}/payout_hold",
    "POST /v1/merchants/{ref}/payout_release",
    "POST /v1/terminals",
    "POST /v1/terminals/{tid}/bind",
    "POST /v1/terminals/{tid}/unbind",
    "POST /v1/terminals/{tid}/ship",
    "POST /v1/terminals/{tid}/freeze",
    "POST /v1/terminals/{tid}/unfreeze",
    "POST /v1/terminals/{tid}/retire",
    "GET /v1/fee_plans",
    "GET /v1/fee_plans/{code}",
    "POST /v1/fee_plans",
    # risk monitoring is the acquirer's own (docs/risk.md)
    "GET /v1/risk/rules",
    "POST /v1/risk/rules",
    "GET /v1/risk/rules/{code}",
    "PATCH /v1/risk/rules/{code}",
    "GET /v1/risk/rules/{code}/versions",
    "POST /v1/risk/backtests",
    "GET /v1/risk/decisions/{id}",
    "GET /v1/risk/alerts",
    "GET /v1/risk/cases",
    "GET /v1/risk/cases/{id}",
    "POST /v1/risk/cases/{id}/assign",
    "POST /v1/risk/cases/{id}/comments",
    "POST /v1/risk/cases/{id}/actions",
    "POST /v1/risk/cases/{id}/resolve",
}

# Which of A's objects (a name in ``World.a``) each path parameter takes ...
PARAMS = {
    "ref": "mid",
    "number": "shop",
    "tid": "terminal",
    "code": "operator",
    "payment_id": "sale",
    "refund_id": "refund",
    "endpoint_id": "endpoint",
    "delivery_id": "delivery",
    "event_id": "event",
    "document_id": "document",
    "checkout_id": "checkout",
    "shift_id": "shift",
    "order_id": "order",
    "tender_id": "tender",
    "counter_id": "counter",
    "product_id": "product",
    "barcode": "barcode",
    "category_id": "category",
    "transfer_id": "transfer",
    "count_id": "count",
    "member_id": "member",
    "purpose": "purpose",
    "coupon_code": "coupon_code",
    "coupon_id": "coupon",
    "template_id": "template",
}
# ... unless the route needs another one: the object the route would act on for A.
ROUTE_PARAMS = {
    "GET /v1/fee_plans/{code}": {"code": "plan"},
    "GET /v1/settlements/{id}": {"id": "settlement"},
    "GET /v1/api_keys/{id}": {"id": "key"},
    "POST /v1/api_keys/{id}/revoke": {"id": "key"},
    "POST /v1/payments/{payment_id}/cancel": {"payment_id": "pending"},
    "GET /v1/payments/{payment_id}/qr.svg": {"payment_id": "pending"},
    "GET /v1/payments/{payment_id}/qr.png": {"payment_id": "pending"},
    "GET /v1/payments/{payment_id}/receipt": {"payment_id": "signed"},
    "GET /v1/payments/{payment_id}/receipt.escpos": {"payment_id": "signed"},
    "GET /v1/payments/{payment_id}/signature": {"payment_id": "signed"},
    "POST /v1/payments/{payment_id}/signature": {"payment_id": "card"},
    "GET /v1/checkout_events/{event_id}": {"event_id": "checkout_event"},
    "GET /v1/risk/rules/{code}": {"code": "rule"},
    "PATCH /v1/risk/rules/{code}": {"code": "rule"},
    "GET /v1/risk/rules/{code}/versions": {"code": "rule"},
    "GET /v1/risk/decisions/{id}": {"id": "sale"},
    "GET /v1/risk/cases/{id}": {"id": "case"},
    "POST /v1/risk/cases/{id}/assign": {"id": "case"},
    "POST /v1/risk/cases/{id}/comments": {"id": "case"},
    "POST /v1/risk/cases/{id}/actions": {"id": "case"},
    "POST /v1/risk/cases/{id}/resolve": {"id": "case"},
    "POST /v1/orders/{order_id}/tenders": {"order_id": "open_order"},
    "POST /v1/orders/{order_id}/tenders/{tender_id}/cancel": {"order_id": "open_order"},
    "GET /v1/store/reports/{kind}": {"kind": "report"},
}
# Reads whose path names what to read, not an object: each is a list of the caller's own
# merchant (read as one: the report of A's sale, over its day).
REPORTS = {"GET /v1/store/reports/{kind}": {"from": "2026-11-25", "to": "2026-11-25"}}
# A merchant is named by MID or by application number: both are tried.
REF_ALTERNATIVES = ("mid", "application")

# Objects that do not exist, named like A's: what B's answers are compared with.
MISSING: dict[str, str] = {
    "mid": NO_MID,
    "application": "999999",
    "shop": "9999",
    "terminal": "19999999",
    "operator": "999",
    "plan": "NO-SUCH",
    "sale": "999999",
    "refund": "999999",
    "pending": "999999",
    "card": "999999",
    "signed": "999999",
    "settlement": "999999",
    "endpoint": "999999",
    "delivery": "999999",
    "event": "999999",
    "key": "999999",
    "document": "999999",
    "checkout": "999999",
    "checkout_event": "999999",
    "rule": "no_such_rule",
    "case": "999999",
    "account": "999999",
    "shift": "999999",
    "order": "999999",
    "open_order": "999999",
    "tender": "999999",
    "counter": "999999",
    "product": "999999",
    "barcode": "NOSUCHCODE",
    "category": "999999",
    "report": "products",  # (a report names no object: the same report)
    "transfer": "999999",
    "count": "999999",
    "member": "999999",
    "mobile": "15999999999",
    "purpose": "marketing",
    "coupon_code": "ZZZZZZZZZZZZ",
    "coupon": "999999",
    "template": "999999",
    "page": "no-such-page-0000",
}

Body = Callable[[dict[str, str]], dict[str, Any]]


def offline_order(a: dict[str, str]) -> dict[str, Any]:
    """An offline cash sale of A's product under A's shift (docs/offline.md)."""
    return {"client_ref": "b-offline-1", "receipt_no": "1-T1-1",
            "made_at": "2026-11-25T10:00:00+08:00", "shift_id": int(a["shift"]),
            "lines": [{"product_id": int(a["product"]), "name": "x", "unit": "个",
                       "quantity_milli": 1000, "list_price_minor": 350,
                       "unit_price_minor": 350, "amount_minor": 350}],
            "subtotal_minor": 350, "total_minor": 350,
            "tenders": [{"kind": "cash", "amount_minor": 350, "received_minor": 350}]}  # fmt: skip


# Routes whose body is a form with a file (multipart/form-data), not JSON: the body's
# fields are the form's, and a small JPEG goes with them.
MULTIPART = {
    "POST /v1/merchants/{ref}/documents",
    "POST /v1/products/import",
    "POST /v1/products/{product_id}/image",
}
CATALOGUE_CSV = "sku,name,price\nB-1,B 的商品,1.00\n".encode()
MULTIPART_FILES = {  # the file each sends (by default a small JPEG)
    "POST /v1/products/import": ("products.csv", CATALOGUE_CSV, "text/csv"),
    "POST /v1/products/{product_id}/image": ("p.png", png(), "image/png"),
}
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"an identity card" * 10
SIGNATURE = {"image_base64": base64.b64encode(png()).decode(), "content_type": "image/png"}
RATES = {
    method: {"rate_percent": "0.38"}
    for method in ("debit", "credit", "contactless", "foreign", "alipay", "wechat", "unionpay_qr")
}
REASON: list[tuple[str, Body]] = [("", lambda a: {"reason": "because"})]
COUPON = {"name": "B 的券", "kind": "amount", "amount_minor": 100}
QR = {"amount_minor": 1_000, "flow": "merchant_presented"}
APPLICATION = {
    "kind": "personal",
    "legal_name": "王五 Wang Wu",
    "mcc": "5812",
    "region_code": "3100",
    "contact_name": "王五 Wang Wu",
    "contact_phone": "13912345678",
    "bank_name": "ICBC",
    "bank_account_name": "王五 Wang Wu",
    "bank_account_no": "6212340000000000012",
    "shop_address": "1 Road, Shanghai",
    "id_number": resident_id("31010119900101005"),
}

# A valid body for every route that takes one, given A's objects (``a``); a create gets
# one variant per way its body can name one of A's objects.
BODIES: dict[str, list[tuple[str, Body]]] = {
    "POST /v1/merchants": [("", lambda a: APPLICATION)],
    "POST /v1/merchants/{ref}/approve": REASON,
    "POST /v1/merchants/{ref}/reject": REASON,
    "POST /v1/merchants/{ref}/ask_documents": [
        ("", lambda a: {"kinds": ["id_front"], "note": "a clearer photo"})
    ],
    "POST /v1/merchants/{ref}/documents": [("", lambda a: {"kind": "id_front"})],
    "POST /v1/merchants/{ref}/suspend": REASON,
    "POST /v1/merchants/{ref}/reinstate": REASON,
    "POST /v1/merchants/{ref}/close": REASON,
    "POST /v1/merchants/{ref}/payout_hold": REASON,
    "POST /v1/merchants/{ref}/fee_plan": [("", lambda a: {"plan_code": a["plan"], "reason": "x"})],
    "POST /v1/merchants/{ref}/shops": [("", lambda a: {"name": "B 的店", "address": "2 Road"})],
    "PATCH /v1/merchants/{ref}/shops/{number}": [("", lambda a: {"city": "B 的城"})],
    "POST /v1/terminals": [
        ("tid", lambda a: {"serial_no": "SN-B-000001", "model": "P2", "tid": a["terminal"]})
    ],
    "POST /v1/terminals/{tid}/bind": [("", lambda a: {"mid": a["mid"]})],
    "POST /v1/terminals/{tid}/unbind": REASON,
    "POST /v1/terminals/{tid}/ship": [("", lambda a: {"note": "SF1"})],
    "POST /v1/terminals/{tid}/freeze": REASON,
    "POST /v1/terminals/{tid}/unfreeze": REASON,
    "POST /v1/terminals/{tid}/retire": REASON,
    "POST /v1/terminals/{tid}/operators": [("", lambda a: {"code": "007", "password": "4826"})],
    "POST /v1/terminals/{tid}/operators/{code}/password": [("", lambda a: {"password": "1357"})],
    "POST /v1/fee_plans": [("", lambda a: {"code": "B-PLAN", "name": "B", "rates": RATES})],
    "POST /v1/payments": [
        ("mid", lambda a: {"amount_minor": 1_000, "code": ALIPAY, "mid": a["mid"]}),
        ("tid", lambda a: {"amount_minor": 1_000, "code": ALIPAY, "tid": a["terminal"]}),
        ("qr mid", lambda a: {**QR, "mid": a["mid"]}),
        ("qr tid", lambda a: {**QR, "tid": a["terminal"]}),
    ],
    "POST /v1/refunds": [
        ("part", lambda a: {"payment_id": int(a["sale"]), "amount_minor": 100}),
        ("rest", lambda a: {"payment_id": int(a["sale"])}),
        ("card", lambda a: {"payment_id": int(a["card"])}),
    ],
    "POST /v1/webhook_endpoints": [("mid", lambda a: {"url": URL, "mid": a["mid"]})],
    "POST /v1/webhook_endpoints/{endpoint_id}": [
        ("", lambda a: {"url": "https://b.example.com/h", "enabled": False})
    ],
    "POST /v1/api_keys": [
        ("staff", lambda a: {"role": "merchant_staff", "name": "x", "mid": a["mid"]}),
        ("owner", lambda a: {"role": "merchant_owner", "name": "x", "mid": a["mid"]}),
    ],
    "POST /v1/payments/{payment_id}/signature": [("", lambda a: SIGNATURE)],
    "POST /v1/terminals/{tid}/checkouts": [
        ("", lambda a: {"amount_minor": 1_000, "reference": "B-0001"})
    ],
    "POST /v1/risk/rules": [
        (
            "",
            lambda a: {
                "code": "b_rule",
                "name": "B",
                "expression": "amount > 1",
                "action": "alert",
                "severity": "low",
            },
        )
    ],
    "PATCH /v1/risk/rules/{code}": [("", lambda a: {"mode": "off", "note": "B"})],
    "POST /v1/risk/backtests": [
        ("", lambda a: {"code": a["rule"], "date_from": "2026-11-01", "date_to": "2026-11-02"})
    ],
    "POST /v1/risk/cases/{id}/assign": [("", lambda a: {"assignee": "b"})],
    "POST /v1/risk/cases/{id}/comments": [("", lambda a: {"text": "b"})],
    "POST /v1/risk/cases/{id}/actions": [("", lambda a: {"action": "hold_payouts"})],
    "POST /v1/risk/cases/{id}/resolve": [("", lambda a: {"resolution": "false_positive"})],
    # selling (docs/store.md): B's key names A's shift, order, counter, shop or cashier
    "POST /v1/shifts": [
        ("shop", lambda a: {"shop_number": int(a["shop"]), "till": "B1", "float_minor": 0,
                            "cashier_id": int(a["account"])}),
        ("cashier", lambda a: {"shop_number": 1, "till": "B1", "float_minor": 0,
                               "cashier_id": int(a["account"])}),
    ],
    "POST /v1/shifts/{shift_id}/close": [("", lambda a: {"counted_cash_minor": 0})],
    "POST /v1/orders": [
        ("shift", lambda a: {"client_ref": "b-1", "shift_id": int(a["shift"]),
                             "lines": [{"barcode": "6901234567892"}],
                             "tenders": [{"kind": "cash", "received_minor": 10_000}]}),
    ],
    # A quote writes nothing, and names A's shift (and then A's member) as an order does.
    "POST /v1/orders/quote": [
        ("shift", lambda a: {"shift_id": int(a["shift"]), "lines": [{"barcode": "6901234567892"}]}),
        ("shift and member", lambda a: {"shift_id": int(a["shift"]), "member_id": int(a["member"]),
                                        "lines": [{"barcode": "6901234567892"}]}),
    ],
    "POST /v1/orders/{order_id}/tenders": [
        ("", lambda a: {"kind": "cash", "received_minor": 100})
    ],
    "POST /v1/orders/{order_id}/recall": [("", lambda a: {"shift_id": int(a["shift"])})],
    "POST /v1/orders/{order_id}/returns": [
        ("", lambda a: {"client_ref": "b-r", "shift_id": int(a["shift"]),
                        "lines": [{"line_id": 1, "quantity_milli": 1000}],
                        "approval": {"login": "b@example.com", "password": "not-theirs"}}),
    ],
    # Selling offline (docs/offline.md): B's key names A's shop, or A's till page.
    "POST /v1/tills/pages": [
        ("shop", lambda a: {"shop_number": int(a["shop"]), "till": "B1",
                            "page_id": "b-page-0001"}),
    ],
    "POST /v1/tills/receipt-blocks": [
        ("shop", lambda a: {"shop_number": int(a["shop"]), "till": "B1",
                            "page_id": "b-page-0001"}),
    ],
    "POST /v1/orders/sync": [
        ("shop", lambda a: {"shop_number": int(a["shop"]), "till": "T1",
                            "page_id": "b-page-0001", "orders": [offline_order(a)]}),
        ("page", lambda a: {"shop_number": 1, "till": "T1", "page_id": a["page"],
                            "orders": [offline_order(a)]}),
    ],
    "POST /v1/counters": [
        ("shop", lambda a: {"shop_number": int(a["shop"]), "number": 9, "name": "B"})
    ],
    "PATCH /v1/counters/{counter_id}": [("", lambda a: {"name": "B", "active": False})],
    # the catalogue (docs/store.md)
    "POST /v1/products": [
        ("mid", lambda a: {"sku": "B-1", "name": "B", "price_minor": 100, "mid": a["mid"]})
    ],
    "PATCH /v1/products/{product_id}": [("", lambda a: {"name": "B 的名字", "price_minor": 1})],
    "POST /v1/products/{product_id}/barcodes": [("", lambda a: {"code": "6901234567908"})],
    "PUT /v1/products/{product_id}/shop-prices/{number}": [("", lambda a: {"price_minor": 1})],
    "POST /v1/products/{product_id}/image": [("", lambda a: {})],
    "POST /v1/products/import": [("mid", lambda a: {"mid": a["mid"]})],
    "POST /v1/product-categories": [("mid", lambda a: {"name": "B", "mid": a["mid"]})],
    "PATCH /v1/product-categories/{category_id}": [("", lambda a: {"name": "B 的类"})],
    # Stock: a shop is named by its number within the caller's merchant, so A's second
    # shop (B has one shop) and A's product are what B's key can name.
    "POST /v1/stock/receipts": [
        (
            "shop",
            lambda a: {
                "shop": int(a["shop"]),
                "supplier": "S",
                "lines": [{"product_id": 1, "quantity": "1", "unit_cost_minor": 1}],
            },
        ),
        (
            "product",
            lambda a: {
                "shop": 1,
                "supplier": "S",
                "lines": [{"product_id": int(a["product"]), "quantity": "1", "unit_cost_minor": 1}],
            },
        ),
    ],
    "POST /v1/stock/adjustments": [
        (
            "shop",
            lambda a: {
                "shop": int(a["shop"]),
                "reason": "damaged",
                "lines": [{"product_id": 1, "quantity": "-1"}],
            },
        ),
        (
            "product",
            lambda a: {
                "shop": 1,
                "reason": "damaged",
                "lines": [{"product_id": int(a["product"]), "quantity": "-1"}],
            },
        ),
    ],
    "PUT /v1/stock/reorder_levels": [
        ("shop", lambda a: {"shop": int(a["shop"]), "product_id": 1, "reorder": "1"}),
        ("product", lambda a: {"shop": 1, "product_id": int(a["product"]), "reorder": "1"}),
    ],
    "POST /v1/stock/transfers": [
        (
            "shop",
            lambda a: {
                "from_shop": 1,
                "to_shop": int(a["shop"]),
                "lines": [{"product_id": 1, "quantity": "1"}],
            },
        ),
    ],
    "POST /v1/stock/transfers/{transfer_id}/receive": [("", lambda a: {})],
    "POST /v1/stock/transfers/{transfer_id}/cancel": REASON,
    "POST /v1/stock/counts": [("shop", lambda a: {"shop": int(a["shop"])})],
    "POST /v1/stock/counts/{count_id}/lines": [
        ("", lambda a: {"lines": [{"product_id": 1, "quantity": "1"}]})
    ],
    "POST /v1/stock/counts/{count_id}/book": [("", lambda a: {})],
    # members (docs/members.md): B's key names A's member, its number, shop, template...
    "POST /v1/members": [
        ("mid", lambda a: {"mobile": "15888888888", "consent": {"membership": True},
                           "mid": a["mid"]}),
        ("shop", lambda a: {"mobile": "15888888888", "consent": {"membership": True},
                            "shop_number": int(a["shop"])}),
    ],
    "POST /v1/members/lookup": [("mobile", lambda a: {"mobile": a["mobile"]})],
    "PATCH /v1/members/{member_id}": [("", lambda a: {"name": "B 的名字", "tags": ["b"]})],
    "POST /v1/members/{member_id}/consents": [("", lambda a: {"purpose": "marketing"})],
    "POST /v1/members/{member_id}/consents/{purpose}/withdraw": [("", lambda a: {})],
    "POST /v1/members/{member_id}/points": [("", lambda a: {"points": 5, "note": "B"})],
    "POST /v1/coupons": [
        ("member", lambda a: {"coupon": COUPON, "member_id": int(a["member"])}),
        ("template", lambda a: {"template_id": int(a["template"])}),
        ("mid", lambda a: {"coupon": COUPON, "mid": a["mid"]}),
    ],
    "POST /v1/coupon-templates": [("mid", lambda a: {**COUPON, "mid": a["mid"]})],
    "PATCH /v1/coupon-templates/{template_id}": [("", lambda a: {"active": False})],
    "PUT /v1/loyalty": [
        ("signup template", lambda a: {"signup_template_id": int(a["template"])}),
        ("birthday template", lambda a: {"birthday_template_id": int(a["template"])}),
    ],
    "PUT /v1/member-prices/{product_id}": [("", lambda a: {"price_minor": 1})],
}  # fmt: skip

# Lists: the query parameters that can name one of A's objects.
MID_FILTER = "mid"
# A filter, not a lookup: B's list stays B's.
LIST_FILTERS = {
    "payment_id": "sale",
    "shift_id": "shift",
    "product_id": "product",
    "member_id": "member",
}


def path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


def operation(route: str) -> dict[str, Any]:
    method, path = route.split(" ", 1)
    op: dict[str, Any] = OPENAPI["paths"][path][method.lower()]
    return op


def query_params(route: str) -> set[str]:
    return {p["name"] for p in operation(route).get("parameters", []) if p["in"] == "query"}


def is_list(route: str) -> bool:
    """A read naming no object: it shows B whatever it shows, and nothing of A's."""
    return route.startswith("GET ") and (not path_params(route) or route in REPORTS)


API_ROUTES = [r for r in ROUTES if r not in PUBLIC]
OBJECT_ROUTES = [r for r in API_ROUTES if not is_list(r)]
LIST_ROUTES = [r for r in API_ROUTES if is_list(r)]


def app_routes(app: FastAPI) -> set[str]:
    """Every route the application answers, in the document or not."""
    found = set()
    for context in fastapi.routing.iter_route_contexts(app.routes):
        for method in context.methods or {"*"}:  # a mount answers any method
            if method != "HEAD":
                found.add(f"{method} {context.path}")
    return found


# --- the world -------------------------------------------------------------------------------


@dataclass
class World:
    api: ApiEnv
    a: dict[str, str] = field(default_factory=dict)  # A's objects, by what they are

    def call(
        self, who: str, route: str, path: str, body: Any = None, **kw: Any
    ) -> Any:  # an httpx.Response
        method = route.split(" ", 1)[0]
        if route in MULTIPART:
            upload = MULTIPART_FILES.get(route, ("a.jpg", JPEG, "image/jpeg"))
            kw["data"], kw["files"], body = body, {"file": upload}, None
        return self.api.client.request(method, path, headers=self.api.headers(who), json=body, **kw)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return database_rows(self.api.tp)


def database_rows(tp: Tillpoint) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, but for the records of the calls themselves (the audit
    log, idempotency keys, when a key was last used), as the database driver gives them:
    the matrix takes two for every write it tries, and through the ORM each took 20
    times as long."""
    engine = tp.ctx.db.engine
    with engine.connect() as c:
        cursor = c.connection.driver_connection.cursor()  # type: ignore[union-attr]
        rows = {}
        for table, sql in _row_queries(engine.dialect):
            cursor.execute(sql)
            rows[table] = [tuple(r) for r in cursor.fetchall()]
        cursor.close()
    return rows


@functools.cache
def _row_queries(dialect: Dialect) -> list[tuple[str, str]]:
    skipped = {"audit_log", "idempotency_keys"}
    queries = []
    for table in Base.metadata.sorted_tables:
        if table.name in skipped:
            continue
        columns = [c for c in table.columns if c.name != "last_used_at"]
        order = list(table.primary_key.columns) or columns
        queries.append(
            (table.name, str(select(*columns).order_by(*order).compile(dialect=dialect)))
        )
    return queries


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def card_sales(api: ApiEnv, *amounts: str) -> list[str]:
    """Sales on A's terminal through a real host over TCP; their payment ids."""
    rrns: list[str] = []

    async def scenario(port: int) -> None:
        state = DeviceState.demo(1)
        state.port = port
        device = Device(state)
        for amount in amounts:
            result = await device.sale(Money.parse(amount), DEBIT, pin="123456")
            assert result.approved and result.rrn, result
            rrns.append(result.rrn)
        await device.close()

    run_with_host(api.tp, scenario)
    with api.tp.ctx.db.read() as s:
        return [str(s.scalars(select(Payment.id).where(Payment.rrn == r)).one()) for r in rrns]


def application_document(api: ApiEnv, mid: str) -> int:
    """A document kept from an approved merchant's application (uploads end with the
    approval, so it is put in place as the upload would have)."""
    merchant_id = api.merchant_id(mid)
    with api.tp.ctx.db.transaction() as s:
        doc = MerchantDocument(merchant_id=merchant_id, kind=DocumentKind.BUSINESS_LICENCE,
                               content_type="image/jpeg", size_bytes=len(JPEG),
                               sha256=hashlib.sha256(JPEG).hexdigest(), content_enc=b"",
                               uploaded_by="test", uploaded_at=api.tp.ctx.now())  # fmt: skip
        s.add(doc)
        s.flush()
        doc.content_enc = api.tp.ctx.keystore.seal_document(JPEG, merchant_id, doc.id)
        return doc.id


def build_world(api: ApiEnv) -> World:
    """Merchant A with one of each object; merchant B with a few of its own."""
    w = World(api)
    a = w.a
    a["mid"], a["application"] = api.mid_a, str(api.merchant_id(api.mid_a))
    a["terminal"], a["operator"] = api.tid_a, "001"
    a["plan"] = api.tp.fees.current_plan(api.mid_a).code
    a["endpoint"] = str(ok(api.post("owner_a", "/v1/webhook_endpoints", {"url": URL}), 201)["id"])
    ok(api.post("owner_b", "/v1/webhook_endpoints", {"url": URL}), 201)

    # A rule watching A's payments of 100.00: the sale has a decision and A a case.
    a["rule"] = api.tp.risk.create(
        "a_watch", "A's 100.00", "amount == 10000", Action.ALERT, Severity.LOW, "test",
        scope={"mids": [api.mid_a]}, mode=Mode.LIVE,
    ).code  # fmt: skip
    sale = api.post("owner_a", "/v1/payments", {"amount_minor": 10_000, "code": ALIPAY})
    a["sale"] = str(ok(sale, 201)["id"])
    (case,) = api.tp.risk.cases()
    a["case"] = str(case.id)
    refund = api.post("owner_a", "/v1/refunds", {"payment_id": int(a["sale"]), "amount_minor": 1})
    a["refund"] = str(ok(refund, 201)["id"])
    a["card"], a["signed"] = card_sales(api, "12.00", "34.00")
    signed = api.post("staff_a", f"/v1/payments/{a['signed']}/signature", SIGNATURE)
    ok(signed, 201)
    ok(api.post("owner_b", "/v1/payments", {"amount_minor": 5_000, "code": ALIPAY}), 201)

    day = api.tp.days.cut_off("test")
    api.tp.settlement.run(day)
    (settlement,) = ok(api.get("owner_a", "/v1/settlements"))["data"]
    a["settlement"] = str(settlement["id"])

    qr = api.post("owner_a", "/v1/payments", {"amount_minor": 2_500, "flow": "merchant_presented"})
    a["pending"] = str(ok(qr, 201)["id"])
    assert WebhookService(api.tp.ctx).fan_out() > 0  # deliveries, not sent
    path = f"/v1/webhook_endpoints/{a['endpoint']}/deliveries"
    a["delivery"] = str(ok(api.get("owner_a", path))["data"][0]["id"])
    a["event"] = str(ok(api.get("owner_a", "/v1/events"))["data"][0]["id"])
    shop = api.post(
        "owner_a", f"/v1/merchants/{api.mid_a}/shops", {"name": "二店", "address": "1 Road"}
    )
    a["shop"] = str(ok(shop, 201)["number"])  # open, no terminal: B could close it
    staff = api.tp.access.authenticate(api.keys["staff_a"])
    assert staff is not None
    a["key"] = str(staff.key_id)
    a["document"] = str(application_document(api, api.mid_a))
    # A checkout waiting for A's terminal, and another canceled (an event of the till's).
    path = f"/v1/terminals/{api.tid_a}/checkouts"
    a["checkout"] = str(ok(api.post("staff_a", path, {"amount_minor": 500, "reference": "A-1"}),
                           201)["id"])  # fmt: skip
    other = ok(api.post("staff_a", path, {"amount_minor": 700, "reference": "A-2"}), 201)["id"]
    ok(api.post("staff_a", f"{path}/{other}/cancel"))
    (event,) = ok(api.get("owner_a", "/v1/checkout_events"))["data"]
    a["checkout_event"] = str(event["id"])
    selling_world(api, a)
    # A product of A's with a barcode, a category, a price in shop 2 and a picture.
    merchant_a = api.merchant_id(api.mid_a)
    product = api.tp.catalogue.create(merchant_a, ProductIn(
        sku="A-COLA", name="A 的可乐", price_minor=350, category="A 的饮料",
        barcodes=[A_BARCODE], shop_prices={int(a["shop"]): 360}))  # fmt: skip
    api.tp.catalogue.set_image(merchant_a, product.id, png())
    a["product"], a["barcode"] = str(product.id), A_BARCODE
    a["category"] = str(product.category_id)
    a["report"] = "products"  # A's sale above is in its day's reports
    stock_world(api, a)
    members_world(api, a)
    assert set(a) == set(MISSING)
    return w


A_MOBILE = "15812340001"


def members_world(api: ApiEnv, a: dict[str, str]) -> None:
    """A's member (with a tag, a coupon, a level, a member price), its coupon template;
    B's member of its own."""
    loyalty = {"levels": [{"name": "A 的金卡", "min_spend_minor": 1}]}
    ok(api.client.put("/v1/loyalty", json=loyalty, headers=api.headers("owner_a")))
    body = {"mobile": A_MOBILE, "consent": {"membership": True}, "tags": ["a-vip"]}
    a["member"] = str(ok(api.post("staff_a", "/v1/members", body), 201)["id"])
    a["mobile"], a["purpose"] = A_MOBILE, "marketing"
    ok(api.post("staff_a", f"/v1/members/{a['member']}/consents", {"purpose": "marketing"}))
    a["template"] = str(ok(api.post("owner_a", "/v1/coupon-templates", COUPON), 201)["id"])
    issued = {"template_id": int(a["template"]), "member_id": int(a["member"])}
    coupon = ok(api.post("owner_a", "/v1/coupons", issued), 201)["data"][0]
    a["coupon"], a["coupon_code"] = str(coupon["id"]), coupon["code"]
    price = api.client.put(f"/v1/member-prices/{a['product']}", json={"price_minor": 300},
                           headers=api.headers("owner_a"))  # fmt: skip
    ok(price)
    body = {"mobile": "15812340002", "consent": {"membership": True}}
    ok(api.post("owner_b", "/v1/members", body), 201)


def selling_world(api: ApiEnv, a: dict[str, str]) -> None:
    """A's shop sells: its cashier, an open shift, a paid order, an order part paid in
    cash (its tender), a counter of its second shop."""
    shop = shop_world(api.tp, 1)
    a["account"] = str(shop.cashier_id)
    body = {"shop_number": 1, "till": "T1", "float_minor": 0, "cashier_id": shop.cashier_id}
    a["shift"] = str(ok(api.post("staff_a", "/v1/shifts", body), 201)["id"])
    water = [{"barcode": water_code(1), "quantity_milli": 2000}]
    paid = {"client_ref": "a-1", "shift_id": int(a["shift"]), "lines": water,
            "tenders": [{"kind": "cash", "received_minor": 1_000}]}  # fmt: skip
    a["order"] = str(ok(api.post("staff_a", "/v1/orders", paid), 201)["id"])
    part = {**paid, "client_ref": "a-2", "tenders": [{"kind": "cash", "amount_minor": 100}]}
    made = ok(api.post("staff_a", "/v1/orders", part), 201)
    a["open_order"], a["tender"] = str(made["id"]), str(made["tenders"][0]["id"])
    counter = {"shop_number": int(a["shop"]), "number": 1, "name": "柜台 A"}
    a["counter"] = str(ok(api.post("owner_a", "/v1/counters", counter), 201)["id"])
    # A till page of A's that sold offline (docs/offline.md): its block, a sale synced.
    a["page"] = "a-page-0001"
    block = {"shop_number": 1, "till": "T1", "page_id": a["page"], "size": 10}
    first = ok(api.post("staff_a", "/v1/tills/receipt-blocks", block), 201)["first_receipt_no"]
    sold = {"client_ref": "a-offline-1", "receipt_no": first,
            "made_at": api.tp.ctx.now().isoformat(), "shift_id": int(a["shift"]),
            "lines": [{"product_id": shop.products["water"], "name": "水", "unit": "瓶",
                       "quantity_milli": 1000, "list_price_minor": 250,
                       "unit_price_minor": 250, "amount_minor": 250}],
            "subtotal_minor": 250, "total_minor": 250,
            "tenders": [{"kind": "cash", "amount_minor": 250, "received_minor": 300,
                         "change_minor": 50}]}  # fmt: skip
    batch = {"shop_number": 1, "till": "T1", "page_id": a["page"], "orders": [sold]}
    synced = ok(api.post("staff_a", "/v1/orders/sync", batch))
    assert synced["synced"] == 1, synced


def stock_world(api: ApiEnv, a: dict[str, str]) -> None:
    """A's product in stock at its first shop, a transfer on its way to the second, an
    open count (B has none of these)."""
    line = {"product_id": int(a["product"]), "quantity": "5", "unit_cost_minor": 100}
    ok(api.post("owner_a", "/v1/stock/receipts", {"shop": 1, "supplier": "S", "lines": [line]}),
       201)  # fmt: skip
    transfer = {"from_shop": 1, "to_shop": int(a["shop"]),
                "lines": [{"product_id": int(a["product"]), "quantity": "2"}]}  # fmt: skip
    a["transfer"] = str(ok(api.post("owner_a", "/v1/stock/transfers", transfer), 201)["id"])
    a["count"] = str(ok(api.post("owner_a", "/v1/stock/counts", {"shop": 1}), 201)["id"])


@pytest.fixture(scope="module")
def world(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One world for the whole matrix (B's calls must change nothing, and each test
    checks that they did not): as the ``api`` fixture, once per module."""
    tmp = tmp_path_factory.mktemp("matrix")
    keys = api_world(databases, tmp)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=databases.new("api"),
        network_dir=str(Path(tmp) / "network"),
        demo=True,
        locale="en",
    )
    tp = open_app(settings, clock=FixedClock(START))
    acquirer = simulated(tp)
    client = TestClient(create_api(tp, acquirer), raise_server_exceptions=False)
    api = ApiEnv(tp, acquirer, client, keys=dict(keys))
    try:
        with client:
            yield build_world(api)
        assert tp.ledger.check() == []
    finally:
        acquirer.close()
        tp.close()
        databases.drop(settings.database_url)


# --- what B may try --------------------------------------------------------------------------


@dataclass
class Attempt:
    label: str
    path: str  # the template, e.g. /v1/terminals/{tid}/operators/{code}
    params: dict[str, str]  # path parameter: which object
    body: Body | None

    def url(self, objects: dict[str, str]) -> str:
        return self.path.format(**{p: objects[what] for p, what in self.params.items()})

    def values(self, objects: dict[str, str]) -> list[str]:
        """What may name the objects in the answer's detail."""
        named = [objects[what] for what in self.params.values()]
        if self.body is not None:
            named += list(scalars(self.body(objects)))
        return named


def scalars(value: Any) -> Iterator[str]:
    """Every value in a body, those of its lists and objects too."""
    if isinstance(value, dict):
        for v in value.values():
            yield from scalars(v)
    elif isinstance(value, list):
        for v in value:
            yield from scalars(v)
    else:
        yield str(value)


def attempts(route: str) -> list[Attempt]:
    """Every way B's key can name A's objects on this route."""
    path = route.split(" ", 1)[1]
    params: dict[str, str] = {}
    for name in path_params(path):
        what = ROUTE_PARAMS.get(route, {}).get(name) or PARAMS.get(name)
        if what is None:
            pytest.fail(f"{route}: which of A's objects does {{{name}}} take? (PARAMS)")
        params[name] = what
    if "requestBody" in operation(route):
        if route not in BODIES:
            pytest.fail(f"{route} takes a body: give a valid one in BODIES")
        bodies: list[tuple[str, Body | None]] = list(BODIES[route])
    else:
        assert route not in BODIES, f"{route} takes no body"
        bodies = [("", None)]
    refs = REF_ALTERNATIVES if "ref" in params else (None,)
    found = []
    for ref in refs:
        for naming, body in bodies:
            chosen = {**params, "ref": ref} if ref else params
            label = " ".join(x for x in (ref and f"by {ref}", naming and f"naming {naming}") if x)
            found.append(Attempt(f"({label})" if label else "", path, chosen, body))
    return found


def body_model(app: Any, route: str) -> Any:
    method, path = route.split(" ", 1)
    for context in fastapi.routing.iter_route_contexts(app.routes):
        if context.path == path and method in (context.methods or ()):
            return context.route.body_field.field_info.annotation  # type: ignore[attr-defined]
    raise AssertionError(route)


def anonymised(detail: str, values: list[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        detail = re.sub(rf"\b{re.escape(value)}\b", "?", detail)
    return detail


# --- the tests -------------------------------------------------------------------------------


def test_the_matrix_is_the_live_document_and_every_route_is_in_it(world: World) -> None:
    app = world.api.client.app
    assert isinstance(app, FastAPI)
    assert app.openapi() == OPENAPI
    # The console's and the portal's pages are a browser's, behind a session and roles,
    # never an API key; tests/api/test_console_doors.py and test_portal_doors.py try
    # every one of them (the portal's with another merchant's objects too).
    hidden = {r for r in app_routes(app) - set(ROUTES) if not r.split(" ")[1].startswith(PAGES)}
    assert hidden <= set(PUBLIC), "a route outside the document: add it to PUBLIC"
    assert set(OPERATIONS_ONLY) <= set(ROUTES) and set(BODIES) <= set(ROUTES)
    assert set(OBJECT_ROUTES) | set(LIST_ROUTES) | set(PUBLIC) >= set(ROUTES)
    for route in API_ROUTES:  # everything else needs a key
        assert operation(route).get("security"), route
    assert "security" not in operation("GET /health")


@pytest.mark.parametrize("route", [r for r in OBJECT_ROUTES if r.startswith("GET ")])
def test_merchant_a_reads_its_own_objects(world: World, route: str) -> None:
    """The control: every object B is refused below is one A reaches."""
    for attempt in attempts(route):
        who = "ops" if route in OPERATIONS_ONLY else "owner_a"
        r = world.call(who, route, attempt.url(world.a))
        assert r.status_code == 200, f"{attempt.label}: {r.text}"


@pytest.mark.parametrize("route", OBJECT_ROUTES)
def test_merchant_a_objects_are_missing_to_merchant_b(world: World, route: str) -> None:
    payable = world.api.payable(world.api.mid_a)
    for attempt in attempts(route):
        body = attempt.body(world.a) if attempt.body else None
        if body is not None and route not in MULTIPART:  # one that would work for A's key
            TypeAdapter(body_model(world.api.client.app, route)).validate_python(body)
        before = world.snapshot()
        theirs = world.call("owner_b", route, attempt.url(world.a), body)
        where = f"{route} {attempt.label}: {theirs.status_code} {theirs.text}"
        assert world.snapshot() == before, f"{where}: B's call changed something"
        assert world.api.payable(world.api.mid_a) == payable
        assert theirs.headers["content-type"] == "application/problem+json", where
        answer = theirs.json()
        if route in OPERATIONS_ONLY:
            assert (theirs.status_code, answer["code"]) == (403, "auth.forbidden"), where
            continue
        missing_body = attempt.body(MISSING) if attempt.body else None
        missing = world.call("owner_b", route, attempt.url(MISSING), missing_body)
        expected = missing.json()
        assert theirs.status_code == missing.status_code == 404, f"{where} / {missing.text}"
        assert (answer["code"], answer["title"]) == (expected["code"], expected["title"]), where
        assert anonymised(answer["detail"], attempt.values(world.a)) == anonymised(
            expected["detail"], attempt.values(MISSING)
        ), where


STREAM = "/v1/events/stream"


# Reads of one merchant's catalogue that need a query (operations keys name the merchant).
LIST_QUERIES: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "GET /v1/products/lookup": lambda a: {"shop": "1", "code": a["barcode"]},
    "GET /v1/products/changes": lambda a: {"shop": "1"},
    "GET /v1/products/export": lambda a: {"format": "csv"},
}
OPERATIONS_KEYS = ("ops", "reviewer", "risk")


def read(world: World, who: str, route: str, query: dict[str, Any] | None = None) -> Any:
    """A list; the event stream replays every event since the first, for a moment."""
    path = route.split(" ", 1)[1]
    if route in LIST_QUERIES:
        named = {"mid": world.api.mid_a} if who in OPERATIONS_KEYS else {}
        query = {**LIST_QUERIES[route](world.a), **named, **(query or {})}
    if path == STREAM:
        headers = {**world.api.headers(who), "Last-Event-ID": "0"}
        return world.api.client.get(path, params={**(query or {}), "timeout_s": 0.2},
                                    headers=headers)  # fmt: skip
    if route in REPORTS:
        path = route.split(" ", 1)[1].format(kind=world.a["report"])
        named = {"mid": world.api.mid_a} if who in ("ops", *NARROWER) else {}
        query = {**REPORTS[route], **named, **(query or {})}
    return world.call(who, route, path, params=query)


def items(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        lines = response.text.splitlines()
        return [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    body = response.json()
    if "rows" in body:  # a report: its rows, the merchant's
        return [{"mid": body["mid"], "id": row.get("product_id"), **row} for row in body["rows"]]
    data: list[dict[str, Any]] = body["data"]
    return data


def owner(world: World, item: dict[str, Any]) -> str:
    if "mid" in item:
        return str(item["mid"])
    if "merchant_id" in item:
        for mid in (world.api.mid_a, world.api.mid_b):
            if item["merchant_id"] == world.api.merchant_id(mid):
                return mid
        return f"merchant {item['merchant_id']}"
    raise AssertionError(f"whose is this? {item}")


@pytest.mark.parametrize("route", LIST_ROUTES)
def test_lists_show_merchant_b_nothing_of_merchant_a(world: World, route: str) -> None:
    if route in OPERATIONS_ONLY:
        r = world.call("owner_b", route, route.split(" ", 1)[1])
        assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden"), r.text
        return
    api = world.api
    before = world.snapshot()
    if route in MEMBER_READS:
        member_reads_are_the_merchants_own(world, route)
    elif route in LIST_QUERIES:
        catalogue_reads_are_the_merchants_own(world, route)
    else:
        own = items(read(world, "owner_a", route))
        assert own and {owner(world, i) for i in own} == {api.mid_a}, own  # A's list has A's
        theirs = items(read(world, "owner_b", route))
        assert {owner(world, i) for i in theirs} <= {api.mid_b}, theirs
        assert not {i.get("id") for i in own} & {i.get("id") for i in theirs}
    params = query_params(route)
    for name, what in LIST_FILTERS.items():
        if name in params:
            filtered = items(read(world, "owner_b", route, {name: world.a[what]}))
            assert {owner(world, i) for i in filtered} <= {api.mid_b}, filtered
    if MID_FILTER in params:
        r = read(world, "owner_b", route, {MID_FILTER: api.mid_a})
        missing = read(world, "owner_b", route, {MID_FILTER: NO_MID})
        assert r.status_code == missing.status_code == 404, r.text
        assert r.json()["code"] == missing.json()["code"] == "merchant.not_found"
        assert r.json()["detail"].replace(api.mid_a, "?") == missing.json()["detail"].replace(
            NO_MID, "?"
        )
    assert world.snapshot() == before


MEMBER_READS = {"GET /v1/loyalty", "GET /v1/members/segments", "GET /v1/members/export"}


def member_reads_are_the_merchants_own(world: World, route: str) -> None:
    """A's programme, segments and list of members are A's: B's show nothing of them."""
    own, theirs = read(world, "owner_a", route), read(world, "owner_b", route)
    assert own.status_code == theirs.status_code == 200, (own.text, theirs.text)
    if route == "GET /v1/loyalty":
        assert own.json()["levels"][0]["name"] == "A 的金卡"
        assert theirs.json()["levels"] == []
    elif route == "GET /v1/members/segments":
        assert sum(x["members"] for x in own.json()["data"]) == 1
        assert sum(x["members"] for x in theirs.json()["data"]) == 1  # B's own member
    else:
        masked = f"{A_MOBILE[:3]}****{A_MOBILE[-4:]}"
        assert masked in own.text and masked not in theirs.text and "a-vip" not in theirs.text


def catalogue_reads_are_the_merchants_own(world: World, route: str) -> None:
    """A scanned code, a till's changes, the export: A's show A's product; B's show
    nothing of it, and A's barcode is to B a code nobody has."""
    a = world.a
    own, theirs = read(world, "owner_a", route), read(world, "owner_b", route)
    assert own.status_code == 200, own.text
    if route == "GET /v1/products/lookup":
        assert own.json()["product_id"] == int(a["product"])
        missing = read(world, "owner_b", route, {"code": MISSING["barcode"]})
        assert theirs.status_code == missing.status_code == 404, theirs.text
        assert theirs.json()["code"] == missing.json()["code"] == "product.unknown_code"
        assert anonymised(theirs.json()["detail"], [a["barcode"]]) == anonymised(
            missing.json()["detail"], [MISSING["barcode"]]
        )
    elif route == "GET /v1/products/changes":
        # A's product among A's own (A's shop sells a few more: selling_world)
        assert int(a["product"]) in [r[0] for r in own.json()["rows"]]
        assert theirs.status_code == 200 and theirs.json()["rows"] == []
        assert theirs.json()["merchant_id"] == world.api.merchant_id(world.api.mid_b)
    else:
        assert "A-COLA" in own.text and theirs.status_code == 200
        assert "A-COLA" not in theirs.text and a["barcode"] not in theirs.text


# --- the acquirer's narrower keys: reviewer and risk ----------------------------------------

# An ops_admin key calls every route. A reviewer's key and a risk analyst's read what the
# acquirer reads (everything but a merchant's own keys, webhooks and audit log) and change
# only what is theirs: a reviewer reviews applications, a risk analyst works the risk
# rules and cases; both run backtests (which change nothing).
MERCHANTS_OWN = {
    # a member's data is its merchant's alone (docs/members.md)
    *(
        r
        for r in ROUTES
        if r.startswith(("GET /v1/member", "GET /v1/coupon")) or r == "GET /v1/loyalty"
    ),
    "GET /v1/api_keys",
    "GET /v1/api_keys/{id}",
    "GET /v1/audit_log",
    "GET /v1/webhook_endpoints",
    "GET /v1/webhook_endpoints/{endpoint_id}",
    "GET /v1/webhook_endpoints/{endpoint_id}/deliveries",
    "GET /v1/webhook_endpoints/{endpoint_id}/deliveries/{delivery_id}",
}
BACKTEST = "POST /v1/risk/backtests"
WRITES = {
    "reviewer": {
        "POST /v1/merchants/{ref}/start_review",
        "POST /v1/merchants/{ref}/approve",
        "POST /v1/merchants/{ref}/reject",
        "POST /v1/merchants/{ref}/ask_documents",
        "POST /v1/merchants/{ref}/documents",
        BACKTEST,
    },
    "risk": {
        "POST /v1/risk/rules",
        "PATCH /v1/risk/rules/{code}",
        "POST /v1/risk/cases/{id}/assign",
        "POST /v1/risk/cases/{id}/comments",
        "POST /v1/risk/cases/{id}/actions",
        "POST /v1/risk/cases/{id}/resolve",
        BACKTEST,
    },
}
# A change a key may make is tried so that it changes nothing: on an object that does not
# exist, or (a create naming none) with a body the service refuses.
REFUSED_CREATES: dict[str, dict[str, Any]] = {
    "POST /v1/risk/rules": {"code": "x_rule", "name": "X", "expression": "no_such_thing > 1",
                            "action": "alert", "severity": "low"},
}  # fmt: skip
NARROWER = ("reviewer", "risk")


def may(who: str, route: str) -> bool:
    if route.startswith("GET "):
        return route not in MERCHANTS_OWN
    return route in WRITES[who]


def test_the_narrower_keys_rights_name_real_routes() -> None:
    for routes in (MERCHANTS_OWN, *WRITES.values(), set(REFUSED_CREATES)):
        assert routes <= set(API_ROUTES), routes - set(API_ROUTES)
    assert WRITES["risk"] & set(OPERATIONS_ONLY) and not WRITES["risk"] & WRITES["reviewer"] - {
        BACKTEST
    }


@pytest.mark.parametrize("who", NARROWER)
@pytest.mark.parametrize("route", API_ROUTES)
def test_reviewer_and_risk_keys_call_their_routes_and_no_other(
    world: World, route: str, who: str
) -> None:
    attempt = attempts(route)[0]
    reads = route.startswith("GET ")
    before = None if reads else world.snapshot()
    if not may(who, route):
        body = attempt.body(world.a) if attempt.body else None
        r = world.call(who, route, attempt.url(world.a), body)
        assert (r.status_code, r.json()["code"]) == (403, "auth.forbidden"), f"{who}: {r.text}"
    elif reads:
        r = (
            read(world, who, route)
            if is_list(route)
            else world.call(who, route, attempt.url(world.a))
        )
        assert r.status_code == 200, f"{who}: {r.text}"
    elif route in REFUSED_CREATES:
        r = world.call(who, route, attempt.url(world.a), REFUSED_CREATES[route])
        assert r.status_code == 422, f"{who}: {r.text}"
    elif route == BACKTEST:
        r = world.call(who, route, attempt.url(world.a), attempt.body(world.a))  # type: ignore[misc]
        assert r.status_code == 200, f"{who}: {r.text}"
    else:
        assert attempt.params, route  # a change naming an object: one that does not exist
        body = attempt.body(MISSING) if attempt.body else None
        r = world.call(who, route, attempt.url(MISSING), body)
        assert r.status_code == 404, f"{who}: {r.text}"
    if before is not None:
        assert world.snapshot() == before, f"{who}'s {route} changed something"
