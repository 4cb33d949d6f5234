"""What a request may carry: amounts are JSON integers, never true, "100" or 1.0; no
string anywhere (body, query, path, header) holds a control character such as NUL,
which PostgreSQL refuses in text (it used to answer 500). Bad input is a 422 problem
and changes nothing. These run on PostgreSQL too (TILLPOINT_TEST_POSTGRES_URL)."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from sqlalchemy import func, select

from tests.api.conftest import ApiEnv
from tillpoint.access.models import ApiKey, IdempotencyRecord
from tillpoint.api.routes import ROUTERS
from tillpoint.http import text
from tillpoint.notify.models import WebhookEndpoint
from tillpoint.payments.models import Payment

ALIPAY = "284000000000000001"
CHECKS = {text._one_line, text._free_text}


def count(api: ApiEnv, table: type) -> int:
    with api.tp.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def assert_invalid(r: Any, location: str) -> None:
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["code"] == "request.invalid"
    assert location in [e["location"] for e in problem["errors"]], problem


# --- amounts ------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [True, False, "100", 1.0, 12.5, None, [100]])
def test_an_amount_is_a_json_integer_and_nothing_else(api: ApiEnv, amount: object) -> None:
    r = api.post("owner_a", "/v1/payments", json={"amount_minor": amount, "code": ALIPAY})
    assert_invalid(r, "body.amount_minor")
    assert count(api, Payment) == 0


def test_refund_amounts_and_ids_are_strict_too(api: ApiEnv) -> None:
    sale = api.post("owner_a", "/v1/payments", json={"amount_minor": 500, "code": ALIPAY})
    assert sale.status_code == 201
    paid = sale.json()["id"]
    for body, where in (
        ({"payment_id": paid, "amount_minor": True}, "body.amount_minor"),
        ({"payment_id": paid, "amount_minor": "100"}, "body.amount_minor"),
        ({"payment_id": str(paid)}, "body.payment_id"),
    ):
        assert_invalid(api.post("owner_a", "/v1/refunds", json=body), where)
    assert count(api, Payment) == 1  # the sale, no refund


# --- control characters -------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["order\x00-1", "order\x1b[31m", "line\nbreak", "\x85", "\ud800"])
def test_control_characters_in_a_payment_reference_are_refused(api: ApiEnv, bad: str) -> None:
    # As JSON escapes (\u0000...), the way a client would send them.
    body = json.dumps({"amount_minor": 100, "code": ALIPAY, "reference": bad})
    headers = {**api.headers("owner_a"), "Content-Type": "application/json"}
    r = api.client.post("/v1/payments", content=body, headers=headers)
    assert_invalid(r, "body.reference")
    assert count(api, Payment) == 0


def test_a_nul_in_a_webhook_description_is_refused(api: ApiEnv) -> None:
    url = "https://shop.example.com/hooks"
    body = {"url": url, "description": "shop\x00"}
    assert_invalid(api.post("owner_a", "/v1/webhook_endpoints", json=body), "body.description")
    assert count(api, WebhookEndpoint) == 0
    # Free text may hold line breaks and tabs, never NUL, on a change either.
    made = api.post("owner_a", "/v1/webhook_endpoints", json={"url": url, "description": "a\tb\n"})
    assert made.status_code == 201, made.text
    path = f"/v1/webhook_endpoints/{made.json()['id']}"
    assert_invalid(api.post("owner_a", path, json={"description": "\x00"}), "body.description")
    assert api.get("owner_a", path).json()["description"] == "a b"


def test_a_nul_in_a_key_name_is_refused(api: ApiEnv) -> None:
    before = count(api, ApiKey)
    body = {"role": "merchant_staff", "name": "till\x00 2"}
    assert_invalid(api.post("owner_a", "/v1/api_keys", json=body), "body.name")
    assert count(api, ApiKey) == before


def test_nul_in_query_path_and_header_is_refused(api: ApiEnv) -> None:
    assert_invalid(api.get("ops", "/v1/payments?mid=%00"), "query.mid")
    assert_invalid(api.get("ops", "/v1/terminals/1000%0001"), "path.tid")
    assert_invalid(api.get("ops", "/v1/payments?cursor=a%00"), "query.cursor")
    headers = {**api.headers("owner_a"), "Idempotency-Key": "k\x00"}
    body = {"amount_minor": 100, "code": ALIPAY}
    r = api.client.post("/v1/payments", json=body, headers=headers)
    assert_invalid(r, "header.Idempotency-Key")
    assert count(api, Payment) == count(api, IdempotencyRecord) == 0


# --- every route, by construction ---------------------------------------------------------


def _unchecked(annotation: Any, metadata: list[Any], where: str) -> Iterator[str]:
    """Where a string is not a Text or Note, or a number or flag is not strict."""
    checked = any(isinstance(m, AfterValidator) and m.func in CHECKS for m in metadata)
    strict = any(getattr(m, "strict", None) for m in metadata)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        yield from _unchecked(inner, [*metadata, *extra], where)
    elif origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            yield from _unchecked(arg, metadata, where)
    elif origin in (list, dict, tuple):
        for arg in get_args(annotation):
            yield from _unchecked(arg, [], where)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            yield from _unchecked(field.annotation, field.metadata, f"{where}.{name}")
    elif annotation is str and not checked:
        yield f"{where}: str"
    elif annotation in (int, bool) and not strict and where.startswith("body"):
        yield f"{where}: {annotation.__name__}"


def _params(dependant: Dependant) -> Iterator[Any]:
    yield from (*dependant.path_params, *dependant.query_params, *dependant.header_params)
    yield from dependant.body_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def test_every_string_of_every_route_is_checked() -> None:
    found: list[str] = []
    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 50
    for route in routes:
        for param in _params(route.dependant):
            info: FieldInfo = param.field_info
            where = f"{route.path} {type(info).__name__.lower()}.{param.name}"
            found += _unchecked(info.annotation, info.metadata, where)
    assert found == []
