"""The catalogue service: products, barcodes, shop prices, pictures, revisions, the
tills' changes and the cashier's lookups (store/catalogue.py)."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.merchants.models import Merchant
from tillpoint.store.barcodes import make_scale_code, with_check_digit
from tillpoint.store.catalogue import (
    CHANGE_COLUMNS,
    KEEP,
    ProductChanges,
    ProductIn,
    parse_yuan,
)
from tillpoint.store.models import SoldBy

from ..conftest import approved, business_application

COLA = "6901234567892"
COLA_CASE = with_check_digit("690123456790")


def merchant(tp: Tillpoint, n: int = 1) -> tuple[int, int, int]:
    """An approved merchant with two shops: its id and its shops' ids."""
    mid = approved(tp, business_application(n))
    tp.merchants.add_shop(mid, f"二店 Second {n}", "上海市南京西路2号 2 West Nanjing Road", "t")
    with tp.ctx.db.read() as s:
        m = s.scalars(select(Merchant).where(Merchant.mid == mid)).one()
        shops = sorted(shop.id for shop in m.shops)
        return m.id, shops[0], shops[1]


def cola(**changes: object) -> ProductIn:
    fields: dict[str, object] = {
        "sku": "COLA-330", "name": "可口可乐 330ml Coca-Cola", "price_minor": 350,
        "category": "饮料 Drinks", "cost_minor": 210, "barcodes": [COLA],
    }  # fmt: skip
    fields.update(changes)
    return ProductIn(**fields)  # type: ignore[arg-type]


def test_a_product_with_barcodes_category_and_shop_price(tp: Tillpoint) -> None:
    merchant_id, shop1, shop2 = merchant(tp)
    p = tp.catalogue.create(merchant_id, cola(shop_prices={2: 380}))
    assert (p.sku, p.unit, p.sold_by, p.category) == ("COLA-330", "个", SoldBy.PIECE, "饮料 Drinks")
    assert [b.code for b in p.barcodes] == [COLA]
    assert [(x.shop_number, x.price_minor) for x in p.shop_prices] == [(2, 380)]
    one = tp.catalogue.lookup(merchant_id, shop1, COLA)
    two = tp.catalogue.lookup(merchant_id, shop2, " " + COLA + " ")
    assert (one.price_minor, two.price_minor) == (350, 380)
    assert (one.quantity_milli, one.scale, one.product_id) == (1000, False, p.id)
    assert [c.name for c in tp.catalogue.categories(merchant_id)] == ["饮料 Drinks"]


def test_amounts_in_yuan_are_exact() -> None:
    assert [parse_yuan(x) for x in ("12.50", "12.5", "12", "0.01", "¥3.20", "0")] == [
        1250, 1250, 1200, 1, 320, 0,
    ]  # fmt: skip
    for bad in ("12.505", "-1", "1e3", "abc", "", "1,000.00", "99999999999"):
        with pytest.raises(InvalidInput):
            parse_yuan(bad)


def test_sku_plu_and_barcodes_are_the_merchants_own(tp: Tillpoint) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    other_id, _o1, _o2 = merchant(tp, 2)
    tp.catalogue.create(merchant_id, cola(plu=101))
    for clash, code in (
        (cola(), "product.sku_taken"),
        (cola(sku="X", plu=101, barcodes=[]), "product.plu_taken"),
        (cola(sku="X"), "product.barcode_taken"),
    ):
        with pytest.raises(Refused) as e:
            tp.catalogue.create(merchant_id, clash)
        assert e.value.code == code
    # Another merchant may use the same SKU, PLU and barcode.
    tp.catalogue.create(other_id, cola(plu=101))
    with pytest.raises(InvalidInput):
        tp.catalogue.create(merchant_id, cola(sku="Y", barcodes=["6901234567890"]))
    assert tp.catalogue.count(merchant_id) == 1


def test_every_change_takes_a_newer_revision_and_a_no_change_none(tp: Tillpoint) -> None:
    merchant_id, shop1, _s2 = merchant(tp)
    p = tp.catalogue.create(merchant_id, cola())
    revisions = [p.revision]
    for change in (
        lambda: tp.catalogue.update(merchant_id, p.id, ProductChanges(price_minor=360)),
        lambda: tp.catalogue.add_barcode(merchant_id, p.id, COLA_CASE),
        lambda: tp.catalogue.remove_barcode(merchant_id, p.id, COLA_CASE),
        lambda: tp.catalogue.set_shop_price(merchant_id, p.id, 2, 390),
        lambda: tp.catalogue.set_shop_price(merchant_id, p.id, 2, None),
        lambda: tp.catalogue.set_active(merchant_id, p.id, False),
    ):
        revisions.append(change().revision)
    assert revisions == sorted(set(revisions)), revisions
    same = tp.catalogue.update(merchant_id, p.id, ProductChanges(price_minor=360, name=KEEP))
    assert same.revision == revisions[-1]
    assert tp.catalogue.add_barcode(merchant_id, p.id, COLA).revision == revisions[-1]
    assert tp.catalogue.revision(merchant_id) == revisions[-1]
    changes = tp.catalogue.changes_since(merchant_id, shop1, 0)
    assert changes.revision == revisions[-1] and not changes.has_more
    (row,) = changes.rows
    assert dict(zip(CHANGE_COLUMNS, row, strict=True)) == {
        "id": p.id, "sku": "COLA-330", "name": "可口可乐 330ml Coca-Cola",
        "category": "饮料 Drinks", "unit": "个", "sold_by": "piece", "plu": None,
        "price_minor": 360, "active": False, "barcodes": [COLA],
    }  # fmt: skip
    assert tp.catalogue.changes_since(merchant_id, shop1, changes.revision).rows == []


def test_changes_page_by_revision_with_each_shops_price(tp: Tillpoint) -> None:
    merchant_id, shop1, shop2 = merchant(tp)
    made = [
        tp.catalogue.create(merchant_id, ProductIn(sku=f"S{n}", name=f"商品 {n}",
                                                   price_minor=100 + n,
                                                   shop_prices={2: 200 + n}))
        for n in range(7)
    ]  # fmt: skip
    seen, since = [], 0
    while True:
        page = tp.catalogue.changes_since(merchant_id, shop2, since, limit=3)
        seen += page.rows
        since = page.revision
        if not page.has_more:
            break
    assert [r[0] for r in seen] == [p.id for p in made]
    assert [r[7] for r in seen] == [200 + n for n in range(7)]
    assert [r[7] for r in tp.catalogue.changes_since(merchant_id, shop1, 0).rows] == [
        100 + n for n in range(7)
    ]
    # Renaming a category is a change of every product in it.
    tp.catalogue.update(merchant_id, made[3].id, ProductChanges(category="零食"))
    (cat,) = tp.catalogue.categories(merchant_id)
    before = tp.catalogue.revision(merchant_id)
    tp.catalogue.rename_category(merchant_id, cat.id, "零食 Snacks")
    rows = tp.catalogue.changes_since(merchant_id, shop1, before).rows
    assert [(r[0], r[3]) for r in rows] == [(made[3].id, "零食 Snacks")]


def test_a_shop_of_another_merchant_is_not_found(tp: Tillpoint) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    _other, other_shop, _o2 = merchant(tp, 2)
    tp.catalogue.create(merchant_id, cola())
    with pytest.raises(NotFound):
        tp.catalogue.changes_since(merchant_id, other_shop, 0)
    with pytest.raises(NotFound):
        tp.catalogue.lookup(merchant_id, other_shop, COLA)


def test_scale_labels_name_weighed_goods_by_plu(tp: Tillpoint) -> None:
    merchant_id, shop1, shop2 = merchant(tp)
    apples = tp.catalogue.create(
        merchant_id,
        ProductIn(sku="APPLE", name="红富士苹果 Apples", price_minor=1_280,
                  sold_by=SoldBy.WEIGHT, plu=42, shop_prices={2: 1_380}),
    )  # fmt: skip
    assert apples.unit == "kg"
    by_weight = tp.catalogue.lookup(merchant_id, shop2, make_scale_code(42, weight_milli=455,
                                                                        flag=5))  # fmt: skip
    assert (by_weight.product_id, by_weight.scale, by_weight.quantity_milli) == (
        apples.id,
        True,
        455,
    )
    assert (by_weight.price_minor, by_weight.amount_minor) == (1_380, None)
    by_price = tp.catalogue.lookup(merchant_id, shop1, make_scale_code(42, amount_minor=640))
    assert (by_price.amount_minor, by_price.quantity_milli) == (640, 500)  # 6.40 / 12.80 a kg
    both = tp.catalogue.lookup(merchant_id, shop1,
                               make_scale_code(42, amount_minor=582, weight_milli=455))  # fmt: skip
    assert (both.amount_minor, both.quantity_milli) == (582, 455)
    with pytest.raises(NotFound) as e:
        tp.catalogue.lookup(merchant_id, shop1, make_scale_code(43, weight_milli=100, flag=5))
    assert e.value.code == "product.unknown_code"
    # A stored barcode comes first, even one that reads as a scale code.
    fixed = make_scale_code(42, amount_minor=999)
    gift = tp.catalogue.create(merchant_id, ProductIn(sku="GIFT", name="礼盒 Gift box",
                                                     price_minor=9_900, barcodes=[fixed]))  # fmt: skip
    assert tp.catalogue.lookup(merchant_id, shop1, fixed).product_id == gift.id
    # A piece product's weight label does not fit.
    tp.catalogue.create(merchant_id, ProductIn(sku="EGG", name="鸡蛋", price_minor=100, plu=7))
    with pytest.raises(Refused) as refused:
        tp.catalogue.lookup(merchant_id, shop1, make_scale_code(7, weight_milli=100, flag=6))
    assert refused.value.code == "product.weight_code_for_piece"


def test_unknown_and_inactive_codes(tp: Tillpoint) -> None:
    merchant_id, shop1, _s2 = merchant(tp)
    p = tp.catalogue.create(merchant_id, cola())
    with pytest.raises(NotFound):
        tp.catalogue.lookup(merchant_id, shop1, COLA_CASE)
    with pytest.raises(InvalidInput):
        tp.catalogue.lookup(merchant_id, shop1, "  ")
    tp.catalogue.set_active(merchant_id, p.id, False)
    with pytest.raises(Refused) as e:
        tp.catalogue.lookup(merchant_id, shop1, COLA)
    assert e.value.code == "product.inactive"


def test_search_by_barcode_sku_or_name_prefix(tp: Tillpoint) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    tp.catalogue.create(merchant_id, cola())
    tp.catalogue.create(
        merchant_id, ProductIn(sku="COLA-ZERO", name="可口可乐零度", price_minor=380)
    )
    tp.catalogue.create(merchant_id, ProductIn(sku="TEA", name="茶 100%_tea", price_minor=300))
    off = tp.catalogue.create(merchant_id, ProductIn(sku="COLA-OLD", name="旧可乐",
                                                     price_minor=100, active=False))  # fmt: skip
    assert {f.sku for f in tp.catalogue.search(merchant_id, "cola")} == set()  # SKUs as typed
    assert {f.sku for f in tp.catalogue.search(merchant_id, "COLA")} == {"COLA-330", "COLA-ZERO"}
    assert [f.sku for f in tp.catalogue.search(merchant_id, "可口可乐零")] == ["COLA-ZERO"]
    assert [f.sku for f in tp.catalogue.search(merchant_id, COLA)] == ["COLA-330"]
    assert [f.sku for f in tp.catalogue.search(merchant_id, "茶 100%")] == ["TEA"]
    assert tp.catalogue.search(merchant_id, "茶 1000%") == []
    assert off.sku not in {f.sku for f in tp.catalogue.search(merchant_id, "旧")}
    assert [p.sku for p in tp.catalogue.products(merchant_id, search="COLA-")] == [
        "COLA-330",
        "COLA-ZERO",
        "COLA-OLD",
    ]
    assert [p.sku for p in tp.catalogue.products(merchant_id, active=False)] == ["COLA-OLD"]


def png_bytes(kind: str = "PNG", size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(out, kind)
    return out.getvalue()


def test_a_picture_is_checked_by_its_content(tp: Tillpoint) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    p = tp.catalogue.create(merchant_id, cola())
    for kind, content_type in (("PNG", "image/png"), ("JPEG", "image/jpeg"),
                               ("WEBP", "image/webp")):  # fmt: skip
        shown = tp.catalogue.set_image(merchant_id, p.id, png_bytes(kind))
        assert shown.image_type == content_type
        assert shown.revision == p.revision  # the tills carry no pictures
    assert tp.catalogue.image(merchant_id, p.id).data == png_bytes("WEBP")
    for bad in (b"GIF89a" + b"\x00" * 20, b"\x89PNG\r\n\x1a\n" + b"broken", png_bytes("GIF"),
                b"x" * (1024 * 1024 + 1)):  # fmt: skip
        with pytest.raises(InvalidInput):
            tp.catalogue.set_image(merchant_id, p.id, bad)
    tp.catalogue.remove_image(merchant_id, p.id)
    with pytest.raises(NotFound):
        tp.catalogue.image(merchant_id, p.id)


def test_another_merchants_product_is_not_found(tp: Tillpoint) -> None:
    merchant_id, _s1, _s2 = merchant(tp)
    other_id, _o1, _o2 = merchant(tp, 2)
    p = tp.catalogue.create(merchant_id, cola())
    for call in (
        lambda: tp.catalogue.get(other_id, p.id),
        lambda: tp.catalogue.update(other_id, p.id, ProductChanges(name="x")),
        lambda: tp.catalogue.add_barcode(other_id, p.id, COLA_CASE),
        lambda: tp.catalogue.set_shop_price(other_id, p.id, 1, 1),
        lambda: tp.catalogue.set_image(other_id, p.id, png_bytes()),
    ):
        with pytest.raises(NotFound) as e:
            call()
        assert e.value.code == "product.not_found"
    assert tp.catalogue.get(merchant_id, p.id).revision == p.revision
