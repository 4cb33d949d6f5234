"""The portal's stock pages: owners and managers receive goods, send and receive
transfers, count and adjust stock and set reorder levels, in the signed-in merchant's
shops only; a refused form comes back as typed, with why, and books nothing; what is low
is marked in words, not only colour; every change is audited."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.api.test_console_merchants import PASSWORD
from tests.api.test_portal_shops import after, person, portal_sign_in, post
from tests.api.test_stock import products
from tests.api.test_tenant_matrix import database_rows
from tillpoint.access.models import AccountRole, AuditRecord
from tillpoint.demo import DEMO_PASSWORD, demo_owner
from tillpoint.store.models import SoldBy
from tillpoint.store.stock import Line


@pytest.fixture
def shop(api: ApiEnv) -> tuple[int, int]:
    """Demo merchant 1 with a second shop and two products; its owner signed in."""
    api.tp.merchants.add_shop(api.mid_a, "二店 Second", "上海市南京西路2号", "test")
    made = products(api, api.mid_a, ("COLA", SoldBy.PIECE, 250), ("RICE", SoldBy.WEIGHT, 456))
    assert portal_sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303
    return made[0], made[1]


def text_of(response: httpx.Response | str) -> str:
    """A page's words, as the browser shows them."""
    page = response if isinstance(response, str) else response.text
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def rows(**lines: tuple[str, str]) -> dict[str, str]:
    """Form rows: line-n=(code, quantity)."""
    fields = {}
    for n, (code, quantity) in enumerate(lines.values()):
        fields[f"code-{n}"], fields[f"quantity-{n}"] = code, quantity
    return fields


def test_an_owner_runs_a_shops_stock(api: ApiEnv, shop: tuple[int, int]) -> None:
    cola, rice = shop
    page = after(api, post(api, "/portal/stock/receipts", shop="1", supplier="华联 Hualian",
                           document="DN-7", **rows(a=("COLA", "24"), b=("RICE", "12.5")),
                           **{"cost-0": "2.30"}))  # fmt: skip
    assert "Received 2 line(s) from 华联 Hualian at shop 1" in page
    levels = text_of(api.client.get("/portal/stock?shop=1&lang=en"))
    assert "24 瓶" in levels and "12.5 kg" in levels and "CN¥117.00" in levels  # 60 + 57

    # A transfer: out at once; received with a shortfall at shop 2.
    sent = post(api, "/portal/stock/transfers", from_shop="1", to_shop="2", note="weekend",
                **rows(a=("COLA", "10")))  # fmt: skip
    assert sent.status_code == 303
    where = sent.headers["location"]
    assert "out of shop 1's stock now" in text_of(after(api, sent))
    got = post(api, where + "/receive", **{f"got-{cola}": "9"})
    assert "received with a shortfall" in text_of(after(api, got))
    detail = text_of(api.client.get(where + "?lang=en"))
    assert "Shortfall" in detail and "1 瓶" in detail

    # A count in two goes, then booked for the whole shop.
    opened = post(api, "/portal/stock/counts", shop="1", note="月末")
    count = opened.headers["location"]
    post(api, count + "/lines", mode="add", **rows(a=("COLA", "8")))
    post(api, count + "/lines", mode="add", **rows(a=("COLA", "5")))
    booked = after(api, post(api, count + "/book", scope="shop", category=""))
    assert "2 product(s) differed from the books" in booked  # cola 14 -> 13, rice 12.5 -> 0
    shown = text_of(api.client.get(count + "?lang=en"))
    assert "-1 瓶" in shown and "-12.5 kg" in shown

    # Damaged goods out, and a reorder level: cola is low.
    post(api, "/portal/stock/adjustments", shop="1", reason="damaged", text="dropped",
         **rows(a=("COLA", "2")))  # fmt: skip
    reorder = post(api, "/portal/stock/reorder", shop="1", product=str(cola), reorder="12")
    assert "is low at 12 瓶 or less" in text_of(after(api, reorder))
    low = api.client.get("/portal/stock?shop=all&low=1&lang=en")
    assert "Low stock" in text_of(low) and 'class="low"' in low.text
    history = text_of(api.client.get(f"/portal/stock/movements?shop=1&product={cola}&lang=en"))
    for words in ("Damaged (out): dropped", "Stock count", "Sent to another shop",
                  "Goods received", "Delivery note DN-7", "-2 瓶", "+24 瓶"):  # fmt: skip
        assert words in history, words
    zh = text_of(api.client.get("/portal/stock?shop=1&lang=zh_CN"))
    assert "库存" in zh
    with api.tp.ctx.db.read() as s:
        actions = set(s.scalars(select(AuditRecord.action).where(
            AuditRecord.action.like("console %"))))  # fmt: skip
    assert {"console stock received", "console transfer sent", "console transfer received",
            "console count booked", "console stock adjusted"} <= actions  # fmt: skip
    assert rice


def test_a_refused_form_comes_back_as_typed_and_books_nothing(
    api: ApiEnv, shop: tuple[int, int]
) -> None:
    before = database_rows(api.tp)
    answer = post(api, "/portal/stock/receipts", shop="1", supplier="华联",
                  **rows(a=("COLA", "3"), b=("RICE", "1.2345")))  # fmt: skip
    assert answer.status_code == 422
    assert "is not a quantity" in answer.text and "Nothing was booked" in answer.text
    assert 'value="1.2345"' in answer.text and 'value="COLA"' in answer.text
    answer = post(api, "/portal/stock/receipts", shop="1", supplier="华联", **rows(a=("NOPE", "3")))
    assert answer.status_code == 422 and "No product NOPE" in answer.text
    answer = post(api, "/portal/stock/transfers", from_shop="1", to_shop="2",
                  **rows(a=("COLA", "1")))  # fmt: skip
    assert answer.status_code == 422 and "it cannot send 1" in answer.text
    answer = post(api, "/portal/stock/adjustments", shop="1", reason="other", text="",
                  **rows(a=("COLA", "1")))  # fmt: skip
    assert answer.status_code == 422
    assert database_rows(api.tp) == before
    with api.tp.ctx.db.read() as s:
        refusals = s.scalars(select(AuditRecord.detail).where(
            AuditRecord.action == "console stock received")).all()  # fmt: skip
    assert [d and d.get("refused") for d in refusals] == [
        "stock.quantity_malformed", "product.not_found"]  # fmt: skip


def test_managers_may_cashiers_may_not_and_another_merchant_finds_nothing(
    api: ApiEnv, shop: tuple[int, int]
) -> None:
    cola, _rice = shop
    api.tp.stock.book_receipt(api.merchant_id(api.mid_a), 1, "S",
                              [Line(cola, "5")],
                              "test")  # fmt: skip
    t = api.tp.stock.send(api.merchant_id(api.mid_a), 1, 2,
                          [Line(cola, "2")],
                          "test")  # fmt: skip
    manager = person(api, AccountRole.MANAGER, api.mid_a)
    assert portal_sign_in(api, manager, PASSWORD).status_code == 303
    assert api.client.get(f"/portal/stock/transfers/{t.id}").status_code == 200
    cashier = person(api, AccountRole.CASHIER, api.mid_a, shop=1)
    assert portal_sign_in(api, cashier, PASSWORD).status_code == 303
    assert api.client.get("/portal/stock", follow_redirects=False).status_code == 403
    other = person(api, AccountRole.OWNER, api.mid_b)
    assert portal_sign_in(api, other, PASSWORD).status_code == 303
    before = database_rows(api.tp)
    assert api.client.get(f"/portal/stock/transfers/{t.id}").status_code == 404
    assert post(api, f"/portal/stock/transfers/{t.id}/receive").status_code == 404
    assert post(api, f"/portal/stock/transfers/{t.id}/cancel", reason="x").status_code == 404
    assert "COLA" not in api.client.get("/portal/stock?shop=all").text
    answer = post(api, "/portal/stock/receipts", shop="1", supplier="S", **rows(a=("COLA", "1")))
    assert answer.status_code == 422 and "No product COLA" in answer.text
    assert database_rows(api.tp) == before
