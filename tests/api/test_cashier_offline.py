"""The till page's side of selling offline over its session (web/cashier/offline.py): the
service worker's script (its scope allowed, its version from the files it keeps), the
ping, the page made known (its receipt numbers' form), and the sync of its offline sales, each
written once by its client_ref, refusals alone, a batch not of the shape refused whole;
another shop's cashier reaches none of it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_cashier import CASHIER_1, CASHIER_2, Till
from tests.membership import join, programme
from tests.selling import World, shop_world
from tillpoint.store.offline_models import OfflineOrder
from tillpoint.web.cashier.offline import KEPT, worker_script
from tillpoint.web.render import static_url


@pytest.fixture
def w(api: ApiEnv) -> World:
    return shop_world(api.tp, 1)


def sale(w: World, shift_id: int, receipt_no: str, **more: Any) -> dict[str, Any]:
    """Two waters sold offline for 5.00, paid with a 10-yuan note."""
    return {
        "client_ref": str(uuid.uuid4()), "receipt_no": receipt_no,
        "made_at": w.tp.ctx.now().isoformat(), "shift_id": shift_id, "cashier_id": w.cashier_id,
        "lines": [{"product_id": w.products["water"], "name": "矿泉水 Water", "unit": "瓶",
                   "quantity_milli": 2000, "list_price_minor": 250, "unit_price_minor": 250,
                   "amount_minor": 500}],
        "subtotal_minor": 500, "total_minor": 500,
        "tenders": [{"kind": "cash", "amount_minor": 500, "received_minor": 1000,
                     "change_minor": 500}],
    } | more  # fmt: skip


def test_the_service_worker_is_the_tills_and_changes_with_its_files(api: ApiEnv, w: World) -> None:
    Till(api, *CASHIER_1)
    r = api.client.get("/cashier/sw.js")
    assert r.status_code == 200
    assert r.headers["service-worker-allowed"] == "/cashier"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["content-type"].startswith("text/javascript")
    script, version = worker_script()
    assert r.text == script and f'var VERSION = "{version}";' in r.text
    assert all(static_url(name) in r.text for name in KEPT)
    assert api.client.get("/cashier/api/ping?shop=1").json() == {"ok": True}
    api.client.cookies.clear()
    assert api.client.get("/cashier/api/ping").status_code == 401


def test_a_page_makes_itself_known_and_its_offline_sales_are_written_once(
    api: ApiEnv, w: World
) -> None:
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    page_id = str(uuid.uuid4())
    page = till.post("/till-pages", {"till": "T1", "page_id": page_id})
    assert (page["page_number"], page["receipt_prefix"]) == (1, "1-T1-P1.")
    assert till.post("/till-pages", {"till": "T1", "page_id": page_id}) == page  # once
    programme(w)
    member = join(w)
    orders = [sale(w, shift["id"], "1-T1-P1.1", member_id=member.id),
              sale(w, shift["id"], "1-T1-P1.2"),
              sale(w, shift["id"], "1-T1-P1.3"),
              sale(w, shift["id"], "1-T1-P1.4", total_minor=400)]  # fmt: skip
    answer = till.post("/orders/sync", {"till": "T1", "page_id": page_id, "orders": orders})
    assert [r["status"] for r in answer["results"]] == ["synced"] * 3 + ["refused"], answer
    assert answer["results"][3]["code"] == "sync.total" and answer["results"][3]["message"]
    assert "fallback_number" not in answer["results"][2]["flags"]  # the page's own form
    again = till.post("/orders/sync", {"till": "T1", "page_id": page_id, "orders": orders[:3]})
    assert [r["status"] for r in again["results"]] == ["already_synced"] * 3
    assert w.level("water") == -6000
    assert api.tp.members.get(member.id, merchant_id=w.merchant_id).points == 5  # once
    with api.tp.ctx.db.read() as s:
        assert s.query(OfflineOrder).count() == 3
    # Making the page known took none of the till's online numbers.
    online = till.cart(shift["id"], {"product_id": w.products["water"]},
                       tenders=[{"kind": "cash", "received_minor": 1000}])  # fmt: skip
    assert till.post("/orders", online, 201)["receipt_no"] == "1-T1-1"
    # Not of the shape: refused whole, nothing written.
    bad = dict(orders[0], client_ref=str(uuid.uuid4()), made_at="2026-01-01T10:00:00")
    till.post("/orders/sync", {"till": "T1", "page_id": page_id, "orders": [bad]}, 422)
    till.post("/till-pages", {"till": "T1", "page_id": page_id, "size": 1000}, 422)
    # Another shop's cashier reaches neither the page nor the sync of shop 1.
    api.client.cookies.clear()
    other = Till(api, *CASHIER_2, shop=2)
    other.shop = 1
    other.post("/till-pages", {"till": "T1", "page_id": page_id}, 404)
    other.post("/orders/sync", {"till": "T1", "page_id": page_id, "orders": orders[:1]}, 404)


def test_a_batch_of_500_goes_in_one_request(api: ApiEnv, w: World) -> None:
    """The page's largest batch is far above the 64 KiB other JSON bodies may take."""
    till = Till(api, *CASHIER_1)
    shift = till.open_shift()
    page_id = str(uuid.uuid4())
    till.post("/till-pages", {"till": "T1", "page_id": page_id})
    orders = [sale(w, shift["id"], f"1-T1-P1.{n}") for n in range(1, 501)]
    answer = till.post("/orders/sync", {"till": "T1", "page_id": page_id, "orders": orders})
    assert answer["synced"] == 500
