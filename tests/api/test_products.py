"""/v1/products and /v1/product-categories: a merchant's catalogue through the API, its
import and export, the cashier's lookup and a till's changes."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.api.conftest import ApiEnv
from tests.integration.test_store_catalogue import png_bytes
from tests.integration.test_store_imports import HEADER, good_row
from tests.integration.test_store_imports import csv_bytes as csv_file
from tillpoint.store.barcodes import make_scale_code

COLA = "6901234567892"
BODY = {"sku": "COLA-330", "name": "可口可乐 330ml", "price_minor": 350, "category": "饮料",
        "barcodes": [COLA], "shop_prices": [{"shop": 1, "price_minor": 360}]}  # fmt: skip


def csv_bytes(rows: list[list[str]]) -> bytes:
    return csv_file(rows, [*HEADER[:-1], "price@1"])  # the demo merchants have one shop


def upload(
    api: ApiEnv, who: str, content: bytes, name: str = "products.csv", **form: str
) -> object:
    return api.client.post("/v1/products/import", headers=api.headers(who),
                           files={"file": (name, content, "text/csv")}, data=form)  # fmt: skip


def test_create_read_change_and_deactivate(api: ApiEnv) -> None:
    made = api.post("owner_a", "/v1/products", BODY)
    assert made.status_code == 201, made.text
    p = made.json()
    assert (p["sku"], p["category"], p["unit"], p["barcodes"][0]["kind"]) == (
        "COLA-330",
        "饮料",
        "个",
        "ean13",
    )
    pid = p["id"]
    assert api.get("staff_a", f"/v1/products/{pid}").json()["revision"] == p["revision"]
    patched = api.client.patch(f"/v1/products/{pid}", headers=api.headers("owner_a"),
                               json={"price_minor": 380, "cost_minor": None})  # fmt: skip
    assert patched.status_code == 200 and patched.json()["price_minor"] == 380
    assert patched.json()["revision"] > p["revision"]
    again = api.client.patch(f"/v1/products/{pid}", headers=api.headers("owner_a"),
                             json={"price_minor": 380})  # fmt: skip
    assert again.json()["revision"] == patched.json()["revision"]
    off = api.post("owner_a", f"/v1/products/{pid}/deactivate")
    assert off.json()["active"] is False
    listed = api.get("owner_a", "/v1/products", params={"active": "false"}).json()
    assert [x["id"] for x in listed["data"]] == [pid]
    # Staff read but do not change; another merchant does not see it.
    assert api.post("staff_a", "/v1/products", BODY).status_code == 403
    assert api.get("owner_b", f"/v1/products/{pid}").status_code == 404
    assert api.get("owner_b", "/v1/products").json()["data"] == []
    # Operations keys read every merchant's and name one to act.
    assert api.get("reviewer", f"/v1/products/{pid}").status_code == 200
    assert api.post("ops", "/v1/products", {**BODY, "sku": "X"}).json()["code"] == (
        "product.mid_required"
    )


def test_bad_input_is_a_clear_422_or_409(api: ApiEnv) -> None:
    bad = api.post("owner_a", "/v1/products", {**BODY, "barcodes": ["6901234567890"]})
    assert (bad.status_code, bad.json()["code"]) == (422, "barcode.check_digit")
    assert "should end in 2" in bad.json()["detail"]
    assert api.post("owner_a", "/v1/products", {**BODY, "price_minor": 1.5}).status_code == 422
    assert api.post("owner_a", "/v1/products", BODY).status_code == 201
    taken = api.post("owner_a", "/v1/products", {**BODY, "sku": "OTHER"})
    assert (taken.status_code, taken.json()["code"]) == (409, "product.barcode_taken")
    shop = api.post("owner_a", "/v1/products", {**BODY, "sku": "Y", "barcodes": [],
                                                "shop_prices": [{"shop": 9, "price_minor": 1}]})  # fmt: skip
    assert (shop.status_code, shop.json()["code"]) == (404, "shop.not_found")


def test_barcodes_shop_prices_and_picture(api: ApiEnv) -> None:
    pid = api.post("owner_a", "/v1/products", BODY).json()["id"]
    case = "6901234567908"
    added = api.post("owner_a", f"/v1/products/{pid}/barcodes", {"code": case})
    assert added.status_code == 200, added.text
    gone = api.client.delete(f"/v1/products/{pid}/barcodes/{COLA}", headers=api.headers("owner_a"))
    assert [b["code"] for b in gone.json()["barcodes"]] == [case]
    put = api.client.put(f"/v1/products/{pid}/shop-prices/1", headers=api.headers("owner_a"),
                         json={"price_minor": 390})  # fmt: skip
    assert put.json()["shop_prices"][0]["price_minor"] == 390
    image = api.client.post(f"/v1/products/{pid}/image", headers=api.headers("owner_a"),
                            files={"file": ("x.png", png_bytes(), "image/png")})  # fmt: skip
    assert image.json()["image_type"] == "image/png"
    got = api.get("staff_a", f"/v1/products/{pid}/image")
    assert (got.headers["content-type"], got.content) == ("image/png", png_bytes())
    fake = api.client.post(f"/v1/products/{pid}/image", headers=api.headers("owner_a"),
                           files={"file": ("x.png", b"<svg/>", "image/png")})  # fmt: skip
    assert (fake.status_code, fake.json()["code"]) == (422, "product.image_type")


def test_lookup_and_changes_for_the_till(api: ApiEnv) -> None:
    pid = api.post("owner_a", "/v1/products", BODY).json()["id"]
    apples = {"sku": "APPLE", "name": "苹果", "price_minor": 1280, "sold_by": "weight", "plu": 42}
    assert api.post("owner_a", "/v1/products", apples).status_code == 201
    found = api.get("staff_a", "/v1/products/lookup", params={"shop": 1, "code": COLA}).json()
    assert (found["product_id"], found["price_minor"], found["quantity_milli"]) == (pid, 360, 1000)
    label = make_scale_code(42, weight_milli=455, flag=5)
    weighed = api.get("staff_a", "/v1/products/lookup", params={"shop": 1, "code": label}).json()
    assert (weighed["sku"], weighed["quantity_milli"], weighed["scale"]) == ("APPLE", 455, True)
    missing = api.get("staff_a", "/v1/products/lookup", params={"shop": 1, "code": "NOPE"})
    assert (missing.status_code, missing.json()["code"]) == (404, "product.unknown_code")
    other = api.get("owner_b", "/v1/products/lookup", params={"shop": 1, "code": COLA})
    assert other.status_code == 404
    first = api.get("staff_a", "/v1/products/changes", params={"shop": 1, "limit": 1}).json()
    assert first["columns"][:3] == ["id", "sku", "name"] and first["has_more"] is True
    rest = api.get("staff_a", "/v1/products/changes",
                   params={"shop": 1, "since": first["revision"]}).json()  # fmt: skip
    assert [r[1] for r in first["rows"] + rest["rows"]] == ["COLA-330", "APPLE"]
    assert rest["has_more"] is False and first["rows"][0][7] == 360


def test_import_reports_bad_rows_and_imports_nothing(api: ApiEnv) -> None:
    rows = [good_row(n) for n in range(1, 11)]
    rows[4][6] = "1.234"
    rows[7][8] = "1234567890123"  # a wrong check digit
    bad = upload(api, "owner_a", csv_bytes(rows))
    assert bad.status_code == 422  # type: ignore[attr-defined]
    body = bad.json()  # type: ignore[attr-defined]
    assert (body["code"], body["bad_row_count"], body["rows"]) == ("product_import.bad_rows", 2, 10)
    assert [(r["line"], r["code"]) for r in body["bad_rows"]] == [
        (6, "product.price_places"),
        (9, "barcode.check_digit"),
    ]
    assert api.get("owner_a", "/v1/products").json()["data"] == []
    rows = [good_row(n) for n in range(1, 11)]
    done = upload(api, "owner_a", csv_bytes(rows)).json()  # type: ignore[attr-defined]
    assert (done["created"], done["rows"]) == (10, 10)
    again = upload(api, "owner_a", csv_bytes(rows)).json()  # type: ignore[attr-defined]
    assert (again["unchanged"], again["revision"]) == (10, done["revision"])
    assert upload(api, "staff_a", csv_bytes(rows)).status_code == 403  # type: ignore[attr-defined]
    exported = api.get("owner_a", "/v1/products/export", params={"format": "xlsx"})
    assert exported.headers["content-disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(exported.content), read_only=True).worksheets[0]
    assert sum(1 for _ in sheet.iter_rows()) == 11
    zh = api.client.get("/v1/products/export", headers={**api.headers("owner_a"),
                                                        "Accept-Language": "zh-CN"})  # fmt: skip
    assert zh.content.decode("utf-8-sig").startswith("货号,名称,分类")
    round_trip = upload(api, "owner_a", zh.content).json()  # type: ignore[attr-defined]
    assert round_trip["unchanged"] == 10


def test_categories(api: ApiEnv) -> None:
    made = api.post("owner_a", "/v1/product-categories", {"name": "饮料"})
    assert made.status_code == 201
    assert api.post("owner_a", "/v1/product-categories", {"name": "饮料"}).status_code == 409
    renamed = api.client.patch(f"/v1/product-categories/{made.json()['id']}",
                               headers=api.headers("owner_a"), json={"name": "饮品"})  # fmt: skip
    assert renamed.json()["name"] == "饮品"
    assert [c["name"] for c in api.get("owner_a", "/v1/product-categories").json()["data"]] == [
        "饮品"
    ]
    assert api.get("owner_b", "/v1/product-categories").json()["data"] == []
