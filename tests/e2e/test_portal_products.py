"""The portal's catalogue in a real browser against `tillpoint serve --demo`: the owner
imports a file with bad rows (each shown with its line and reason, nothing imported),
then the corrected file, finds a product, opens its page and the categories, in English
and in Chinese.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots and look at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from tests.browsing import CHROMIUM, shoot
from tests.e2e.test_console_pages import DESKTOP, open_page
from tests.e2e.test_portal_shops import sign_in
from tests.e2e.test_serve import served
from tests.integration.test_store_imports import HEADER, csv_bytes, good_row

from tillpoint.demo import DEMO_PASSWORD, demo_owner

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as server:
        yield server.base


def test_the_owner_imports_a_catalogue_with_bad_rows_then_corrected(
    browser: Browser, base: str, shots: Path, tmp_path: Path
) -> None:
    header = [*HEADER[:-1], "price@1"]  # the demo merchant has one shop
    rows = [good_row(n) for n in range(1, 41)]
    rows[6][6] = "7.125"
    rows[19][8] = "6901234567890"
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_bytes(csv_bytes(rows, header))
    good.write_bytes(csv_bytes([good_row(n) for n in range(1, 41)], header))

    page, watch = open_page(browser, base, DESKTOP, "en")
    sign_in(page, base, demo_owner(1), DEMO_PASSWORD)
    page.wait_for_url(base + "/portal")
    page.get_by_role("link", name="Products").first.click()
    page.wait_for_url(base + "/portal/products")
    page.get_by_role("link", name="Import and export").click()
    page.get_by_label("CSV or XLSX, at most 40 MB").set_input_files(str(bad))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("h2#bad-title").inner_text().startswith("Nothing was imported")
    cells = page.locator("table.bad-rows tbody tr").all_inner_texts()
    assert len(cells) == 2 and cells[0].startswith("8") and "more than two decimal" in cells[0]
    assert cells[1].startswith("21") and "wrong check digit" in cells[1]
    shoot(page, shots, "portal-products-import-en")

    page.get_by_label("CSV or XLSX, at most 40 MB").set_input_files(str(good))
    page.get_by_role("button", name="Import", exact=True).click()
    page.wait_for_load_state()
    assert "40 rows: 40 new, 0 changed, 0 unchanged." in page.locator(".import-done").inner_text()
    page.get_by_role("link", name="See the products").click()
    page.get_by_label("SKU or name begins with").fill("SKU00001")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert page.locator("table.products-list tbody tr").count() == 10
    shoot(page, shots, "portal-products-en")
    page.get_by_role("link", name="SKU000012").click()
    page.wait_for_load_state()
    assert page.get_by_label("Price (yuan)").input_value() == "12.12"
    shoot(page, shots, "portal-product-en")

    page.goto(base + "/portal/products?lang=zh-CN")
    assert page.locator("h1").inner_text() == "商品"
    shoot(page, shots, "portal-products-zh")
    page.goto(base + "/portal/products/import?lang=zh-CN")
    page.get_by_label("CSV 或 XLSX，最大 40 MB").set_input_files(str(bad))
    page.get_by_role("button", name="导入", exact=True).click()
    page.wait_for_load_state()
    assert "什么都没有导入" in page.locator("h2#bad-title").inner_text()
    assert "校验位错误" in page.locator("table.bad-rows").inner_text()
    shoot(page, shots, "portal-products-import-zh")
    page.goto(base + "/portal/product-categories?lang=zh-CN")
    shoot(page, shots, "portal-product-categories-zh")
    # The refused imports answer 422 (the page says why): the only errors allowed.
    assert [e for e in watch.errors if "status of 422" not in e] == [], watch.errors
