"""The portal's catalogue pages: owners and managers list, add, change and import
products; bad rows are shown with their lines and nothing is imported; another
merchant's product is not found."""

from __future__ import annotations

import httpx

from tests.api.conftest import ApiEnv
from tests.api.test_portal_shops import as_manager, as_owner, csrf
from tests.integration.test_store_catalogue import png_bytes
from tests.integration.test_store_imports import HEADER, good_row
from tests.integration.test_store_imports import csv_bytes as csv_file
from tillpoint.demo import demo_mid
from tillpoint.store.catalogue import ProductIn

COLA = "6901234567892"


def csv_bytes(rows: list[list[str]]) -> bytes:
    return csv_file(rows, [*HEADER[:-1], "price@1"])


def post(
    api: ApiEnv, path: str, files: dict[str, object] | None = None, **fields: str
) -> httpx.Response:
    return api.client.post(path, data={"csrf_token": csrf(api), **fields}, files=files,
                           follow_redirects=False)  # fmt: skip


def test_owner_adds_and_changes_a_product(api: ApiEnv) -> None:
    as_owner(api)
    added = post(api, "/portal/products/add", sku="COLA", name="可乐 Cola", price="3.50",
                 cost="2.1", sold_by="piece", unit="", plu="", category="饮料",
                 barcodes=COLA)  # fmt: skip
    assert added.status_code == 303, added.text
    page = api.client.get(added.headers["location"] + "?lang=en")
    assert "Product COLA added." in page.text and COLA in page.text
    pid = added.headers["location"].rsplit("/", 1)[1]
    saved = post(api, f"/portal/products/{pid}", sku="COLA", name="可乐 Cola", price="3.80",
                 cost="", sold_by="piece", unit="瓶", plu="", category="饮料", active="yes")  # fmt: skip
    assert saved.status_code == 303
    p = api.tp.catalogue.get(api.merchant_id(api.mid_a), int(pid))
    assert (p.price_minor, p.unit, p.cost_minor) == (380, "瓶", None)
    bad = post(api, f"/portal/products/{pid}/barcodes", code="6901234567890")
    shown = api.client.get(bad.headers["location"].split("#")[0] + "?lang=en").text
    assert "wrong check digit" in shown
    assert (
        post(api, f"/portal/products/{pid}/shop-prices", shop="1", price="4.00").status_code == 303
    )
    image = post(
        api, f"/portal/products/{pid}/image", files={"file": ("p.png", png_bytes(), "image/png")}
    )
    assert image.status_code == 303
    assert api.client.get(f"/portal/products/{pid}/image").content == png_bytes()
    listed = api.client.get("/portal/products?q=CO&lang=en").text
    assert f'href="/portal/products/{pid}"' in listed and "CN¥3.80" in listed


def test_import_page_shows_bad_rows_and_imports_nothing(api: ApiEnv) -> None:
    as_manager(api)
    rows = [good_row(n) for n in range(1, 21)]
    rows[2][6] = "abc"
    rows[11][0] = ""
    refused = post(api, "/portal/products/import?lang=en",
                   files={"file": ("p.csv", csv_bytes(rows), "text/csv")})  # fmt: skip
    assert refused.status_code == 422, refused.headers.get("location")
    assert "Nothing was imported" in refused.text
    assert '<td class="num">4</td>' in refused.text and '<td class="num">13</td>' in refused.text
    assert api.tp.catalogue.count(api.merchant_id(api.mid_a)) == 0
    done = post(api, "/portal/products/import?lang=en",
                files={"file": ("p.csv", csv_bytes([good_row(n) for n in range(1, 21)]),
                                "text/csv")})  # fmt: skip
    assert done.status_code == 200 and "20 rows: 20 new" in done.text
    export = api.client.get("/portal/products/export?format=csv")
    assert export.headers["content-type"].startswith("text/csv") and "SKU000001" in export.text


def test_another_merchants_product_is_not_found(api: ApiEnv) -> None:
    other = api.tp.catalogue.create(api.merchant_id(demo_mid(2)),
                                    ProductIn(sku="B", name="B 的", price_minor=1))  # fmt: skip
    as_owner(api)
    assert api.client.get(f"/portal/products/{other.id}").status_code == 404
    assert post(api, f"/portal/products/{other.id}/barcodes", code=COLA).status_code == 404
    assert api.tp.catalogue.get(other.merchant_id, other.id).barcodes == []


def test_categories_page(api: ApiEnv) -> None:
    as_owner(api)
    assert post(api, "/portal/product-categories", name="零食").status_code == 303
    (made,) = api.tp.catalogue.categories(api.merchant_id(api.mid_a))
    assert post(api, f"/portal/product-categories/{made.id}", name="零食 Snacks").status_code == 303
    assert "零食 Snacks" in api.client.get("/portal/product-categories").text
