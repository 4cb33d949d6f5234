"""A merchant's catalogue: categories, products, their barcodes, their prices per shop
and their pictures; the cashier's lookups; and what changed since a till's last read
(docs/store.md, "Catalogue").

Every public method is one unit of work. Every change to a product, its barcodes or
its shop prices stamps the product with a new number from its merchant's counter
(``store_revisions``): each changed product gets a number of its own, so a till that
asks for what is newer than the last number it holds pages through the changes by that
number alone (``changes_since``), and misses none: the counter's row stays locked until
the change commits, so numbers become visible in the order they were taken.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.core.money import DEFAULT_CURRENCY
from tillpoint.core.paging import check_limit
from tillpoint.merchants.models import Merchant, MerchantStatus, Shop
from tillpoint.store import barcodes as bc
from tillpoint.store.models import (
    MILLI,
    BarcodeKind,
    Product,
    ProductBarcode,
    ProductCategory,
    ProductImage,
    ShopPrice,
    SoldBy,
    StoreRevision,
)


class Keep(Enum):
    """An update's "leave this as it is"."""

    KEEP = "keep"


KEEP = Keep.KEEP

MAX_MINOR = 9_999_999_999  # 99,999,999.99 yuan: above any shop's price, inside int64
MAX_BARCODES = 20  # per product
MAX_SHOP_PRICES = 1_000  # per product: one per shop
MAX_CATEGORIES = 2_000  # per merchant
MAX_IMAGE_BYTES = 1024 * 1024
MAX_IMAGE_PIXELS = 4096  # on either side
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
CHANGES_LIMIT = 50_000  # products in one answer of changes_since
SEARCH_LIMIT = 50
DEFAULT_UNITS = {SoldBy.PIECE: "个", SoldBy.WEIGHT: "kg"}


PRODUCTS: Table = Product.__table__  # type: ignore[assignment]
BARCODES: Table = ProductBarcode.__table__  # type: ignore[assignment]
SHOP_PRICES: Table = ShopPrice.__table__  # type: ignore[assignment]
CATEGORIES: Table = ProductCategory.__table__  # type: ignore[assignment]


# --- what the service hands back ----------------------------------------------------


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CategoryView(View):
    id: int
    merchant_id: int
    name: str
    products: int = 0


class BarcodeView(View):
    code: str
    kind: BarcodeKind


class ShopPriceView(View):
    shop_number: int
    shop_name: str
    price_minor: int


class ProductView(View):
    id: int
    merchant_id: int
    sku: str
    name: str
    category_id: int | None
    category: str | None
    unit: str
    sold_by: SoldBy
    plu: int | None
    price_minor: int
    cost_minor: int | None
    currency: str
    active: bool
    revision: int
    barcodes: list[BarcodeView]
    shop_prices: list[ShopPriceView]
    image_type: str | None
    created_at: datetime
    updated_at: datetime


class ImageView(View):
    content_type: str
    sha256: str
    data: bytes


# The columns of a row of ``changes_since``, in order.
CHANGE_COLUMNS = (
    "id", "sku", "name", "category", "unit", "sold_by", "plu", "price_minor", "active",
    "barcodes",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Changes:
    """Products changed after a revision, oldest change first, each as a list in the
    order of ``CHANGE_COLUMNS``; ``revision`` is the newest number among them (the
    revision asked about when there are none): ask again after it."""

    rows: list[list[Any]]
    revision: int
    has_more: bool
    currency: str = DEFAULT_CURRENCY
    columns: tuple[str, ...] = CHANGE_COLUMNS

    def json(self, merchant_id: int, shop_number: int) -> bytes:
        """The answer a till reads (``GET /v1/products/changes``): compact rows, the
        column names once."""
        return json.dumps(
            {
                "object": "catalogue_changes", "merchant_id": merchant_id,
                "shop": shop_number, "currency": self.currency, "columns": self.columns,
                "rows": self.rows, "revision": self.revision, "has_more": self.has_more,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()  # fmt: skip


class Found(BaseModel):
    """A scanned code's product as the shop sells it: its price there, and for a
    scale's label the weight (thousandths of a kg) or the amount printed on it."""

    model_config = ConfigDict(frozen=True)

    product_id: int
    sku: str
    name: str
    category: str | None
    unit: str
    sold_by: SoldBy
    plu: int | None
    price_minor: int  # per unit in this shop (per kg when weighed)
    currency: str
    code: str  # as looked up
    scale: bool  # the code was read as a scale's label, not found as a barcode
    quantity_milli: int | None  # the label's weight, or one piece; None: the cashier's
    amount_minor: int | None  # the label's price (the line's amount), if it has one


# --- what comes in ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProductIn:
    """A new product. ``category`` by name (created if new); ``unit`` by default 个 for a
    product sold by the piece, kg for one weighed; ``shop_prices`` by shop number."""

    sku: str
    name: str
    price_minor: int
    sold_by: SoldBy = SoldBy.PIECE
    unit: str | None = None
    category: str | None = None
    plu: int | None = None
    cost_minor: int | None = None
    active: bool = True
    barcodes: Sequence[str] = ()
    shop_prices: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProductChanges:
    """What an update changes: every field left ``KEEP`` stays as it is."""

    sku: str | Keep = KEEP
    name: str | Keep = KEEP
    price_minor: int | Keep = KEEP
    sold_by: SoldBy | Keep = KEEP
    unit: str | Keep = KEEP
    category: str | Keep | None = KEEP
    plu: int | Keep | None = KEEP
    cost_minor: int | Keep | None = KEEP
    active: bool | Keep = KEEP


# --- checks of single values (the imports use them too) -----------------------------


def _text(value: str, field_name: str, max_len: int, message: str) -> str:
    cleaned = " ".join(value.split())
    if not 1 <= len(cleaned) <= max_len:
        raise InvalidInput(f"product.{field_name}", message, max=max_len, field=field_name)
    return cleaned


def check_sku(value: str) -> str:
    sku = value.strip()
    if not 1 <= len(sku) <= 40 or any(c.isspace() for c in sku) or not sku.isprintable():
        raise InvalidInput(
            "product.sku",
            N_("A SKU is 1 to 40 characters without spaces"),
            field="sku",
        )
    return sku


def check_name(value: str) -> str:
    return _text(value, "name", 120, N_("A product's name is 1 to {max} characters"))


def check_unit(value: str) -> str:
    return _text(value, "unit", 10, N_("A unit is 1 to {max} characters"))


def check_category_name(value: str) -> str:
    return _text(value, "category", 100, N_("A category's name is 1 to {max} characters"))


def check_price(minor: int, field_name: str = "price") -> int:
    if type(minor) is not int or not 0 <= minor <= MAX_MINOR:
        raise InvalidInput(
            f"product.{field_name}",
            N_("A price is 0.00 to 99999999.99"),
            field=field_name,
        )
    return minor


def check_plu(plu: int | None) -> int | None:
    if plu is not None and (type(plu) is not int or not 1 <= plu <= 999_999):
        raise InvalidInput(
            "product.plu", N_("A PLU is a whole number from 1 to 999999"), field="plu"
        )
    return plu


def parse_yuan(text: str, field_name: str = "price") -> int:
    """An amount typed in yuan (``12.50``, ``12.5``, ``12``) as fen, exactly: at most two
    decimal places, no sign, no exponent, within ``MAX_MINOR``."""
    cleaned = text.strip()
    if cleaned[:1] in ("¥", "￥"):
        cleaned = cleaned[1:].strip()
    if not cleaned or not all(c.isdigit() or c == "." for c in cleaned) or not cleaned.isascii():
        raise InvalidInput(
            f"product.{field_name}",
            N_("{value!r} is not an amount in yuan (such as 12.50)"),
            value=text[:20],
            field=field_name,
        )
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput(
            f"product.{field_name}",
            N_("{value!r} is not an amount in yuan (such as 12.50)"),
            value=text[:20],
            field=field_name,
        ) from None
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -2:
        raise InvalidInput(
            f"product.{field_name}_places",
            N_("{value!r} has more than two decimal places"),
            value=text[:20],
            field=field_name,
        )
    return check_price(int(amount * 100), field_name)


def check_image(content: bytes) -> str:
    """The picture's content type, found from its content (PNG, JPEG or WebP that
    decodes, at most ``MAX_IMAGE_BYTES`` and ``MAX_IMAGE_PIXELS`` a side)."""
    if len(content) > MAX_IMAGE_BYTES:
        raise InvalidInput(
            "product.image_too_large",
            N_("A product's picture is at most {kb} KB"),
            kb=MAX_IMAGE_BYTES // 1024,
            field="image",
        )
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = image.format or ""
            width, height = image.size
            if kind not in IMAGE_TYPES or max(width, height) > MAX_IMAGE_PIXELS:
                raise ValueError(kind)
            image.verify()
    except (UnidentifiedImageError, ValueError, OSError, SyntaxError, Image.DecompressionBombError):
        raise InvalidInput(
            "product.image_type",
            N_("A product's picture is a PNG, JPEG or WebP image of at most {px} pixels a side"),
            px=MAX_IMAGE_PIXELS,
            field="image",
        ) from None
    return IMAGE_TYPES[kind]


# --- revisions --------------------------------------------------------------------------


def take_revisions(s: Session, merchant_id: int, count: int) -> int:
    """``count`` new numbers from the merchant's counter; the first of them. The
    counter's row stays locked until the unit of work ends (``UPDATE``), so a reader
    never sees a later number committed before an earlier one."""
    assert count >= 1
    raised = (
        update(StoreRevision)
        .where(StoreRevision.merchant_id == merchant_id)
        .values(revision=StoreRevision.revision + count)
        .returning(StoreRevision.revision)
    )
    row = s.execute(raised).first()
    if row is None:
        try:
            with s.begin_nested():
                s.execute(insert(StoreRevision).values(merchant_id=merchant_id, revision=count))
            return 1
        except IntegrityError:  # another unit of work made it first: wait for its lock
            row = s.execute(raised).one()
    return int(row[0]) - count + 1


def current_revision(s: Session | Connection, merchant_id: int) -> int:
    found = s.execute(
        select(StoreRevision.revision).where(StoreRevision.merchant_id == merchant_id)
    ).scalar()
    return int(found or 0)


# --- the service ------------------------------------------------------------------------


class CatalogueService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- merchants and shops ---------------------------------------------------------

    @staticmethod
    def _merchant(s: Session, merchant_id: int, *, changing: bool = False) -> Merchant:
        m = s.get(Merchant, merchant_id)
        if m is None:
            raise NotFound("merchant.not_found", N_("No merchant {ref}"), ref=f"#{merchant_id}")
        if changing and m.status not in (MerchantStatus.APPROVED, MerchantStatus.SUSPENDED):
            raise Refused(
                "product.merchant_not_live",
                N_("Merchant {ref} is {status}: its catalogue cannot change"),
                ref=m.mid or f"#{m.id}",
                status=m.status,
            )
        return m

    def shop_id(self, merchant_id: int, number: int) -> int:
        """The id of the merchant's shop ``number``."""
        with self.ctx.db.read() as s:
            found = s.scalar(
                select(Shop.id).where(Shop.merchant_id == merchant_id, Shop.number == number)
            )
        if found is None:
            raise NotFound("shop.not_found", N_("No shop {number} of this merchant"), number=number)
        return int(found)

    @staticmethod
    def _shops_by_number(s: Session, merchant_id: int) -> dict[int, tuple[int, str]]:
        return {
            number: (shop_id, name)
            for shop_id, number, name in s.execute(
                select(Shop.id, Shop.number, Shop.name).where(Shop.merchant_id == merchant_id)
            )
        }

    # --- categories --------------------------------------------------------------------

    def categories(self, merchant_id: int | None) -> list[CategoryView]:
        """The merchant's categories by name, with how many products each holds (None:
        every merchant's, for the acquirer)."""
        mine = ProductCategory.merchant_id == merchant_id if merchant_id is not None else true()
        with self.ctx.db.read() as s:
            counts = dict(
                s.execute(
                    select(Product.category_id, func.count())
                    .where(Product.category_id.in_(select(ProductCategory.id).where(mine)))
                    .group_by(Product.category_id)
                ).all()
            )
            rows = s.scalars(
                select(ProductCategory)
                .where(mine)
                .order_by(ProductCategory.merchant_id, ProductCategory.name)
                .limit(MAX_CATEGORIES)
            )
            return [
                CategoryView(id=c.id, merchant_id=c.merchant_id, name=c.name,
                             products=counts.get(c.id, 0))
                for c in rows
            ]  # fmt: skip

    @staticmethod
    def _category_id(s: Session, merchant_id: int, name: str, now: datetime) -> int:
        found = s.scalar(
            select(ProductCategory.id).where(
                ProductCategory.merchant_id == merchant_id, ProductCategory.name == name
            )
        )
        if found is not None:
            return int(found)
        count = s.scalar(
            select(func.count())
            .select_from(ProductCategory)
            .where(ProductCategory.merchant_id == merchant_id)
        )
        if (count or 0) >= MAX_CATEGORIES:
            raise Refused(
                "category.too_many",
                N_("A merchant has at most {n} categories"),
                n=MAX_CATEGORIES,
            )
        category = ProductCategory(merchant_id=merchant_id, name=name, created_at=now)
        s.add(category)
        s.flush()
        return category.id

    def add_category(self, merchant_id: int, name: str) -> CategoryView:
        name = check_category_name(name)
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            exists = s.scalar(
                select(ProductCategory.id).where(
                    ProductCategory.merchant_id == merchant_id, ProductCategory.name == name
                )
            )
            if exists is not None:
                raise Refused(
                    "category.exists", N_("There is already a category {name!r}"), name=name
                )
            new_id = self._category_id(s, merchant_id, name, self.ctx.now())
            return CategoryView(id=new_id, merchant_id=merchant_id, name=name)

    def rename_category(self, merchant_id: int, category_id: int, name: str) -> CategoryView:
        """A new name for a category: every product in it gets a new revision (the
        tills show the category's name)."""
        name = check_category_name(name)
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            category = s.get(ProductCategory, category_id)
            if category is None or category.merchant_id != merchant_id:
                raise NotFound("category.not_found", N_("No category {id}"), id=category_id)
            if category.name == name:
                return CategoryView(id=category.id, merchant_id=merchant_id, name=name)
            taken = s.scalar(
                select(ProductCategory.id).where(
                    ProductCategory.merchant_id == merchant_id, ProductCategory.name == name
                )
            )
            if taken is not None:
                raise Refused(
                    "category.exists", N_("There is already a category {name!r}"), name=name
                )
            category.name = name
            ids = list(
                s.scalars(
                    select(Product.id)
                    .where(Product.merchant_id == merchant_id, Product.category_id == category_id)
                    .order_by(Product.id)
                )
            )
            self._stamp(s, merchant_id, ids)
            return CategoryView(id=category.id, merchant_id=merchant_id, name=name,
                                products=len(ids))  # fmt: skip

    def _stamp(self, s: Session, merchant_id: int, ids: Sequence[int]) -> None:
        """A new revision for each of the products ``ids`` (one raise of the counter)."""
        if not ids:
            return
        first = take_revisions(s, merchant_id, len(ids))
        now = self.ctx.now()
        s.execute(
            update(PRODUCTS)
            .where(PRODUCTS.c.id == bindparam("pid"))
            .values(revision=bindparam("rev"), updated_at=now),
            [{"pid": pid, "rev": first + n} for n, pid in enumerate(ids)],
        )

    # --- products ------------------------------------------------------------------------

    def merchant_of(self, product_id: int) -> int:
        """The merchant whose product it is (the acquirer's reads name no merchant)."""
        with self.ctx.db.read() as s:
            found = s.scalar(select(Product.merchant_id).where(Product.id == product_id))
        if found is None:
            raise NotFound("product.not_found", N_("No product {id}"), id=product_id)
        return int(found)

    def category_merchant(self, category_id: int) -> int:
        with self.ctx.db.read() as s:
            found = s.scalar(
                select(ProductCategory.merchant_id).where(ProductCategory.id == category_id)
            )
        if found is None:
            raise NotFound("category.not_found", N_("No category {id}"), id=category_id)
        return int(found)

    def get(self, merchant_id: int, product_id: int) -> ProductView:
        with self.ctx.db.read() as s:
            return self._views(s, [self._product(s, merchant_id, product_id)])[0]

    @staticmethod
    def _product(s: Session, merchant_id: int, product_id: int) -> Product:
        p = s.get(Product, product_id) if 0 < product_id < 2**62 else None
        if p is None or p.merchant_id != merchant_id:
            raise NotFound("product.not_found", N_("No product {id}"), id=product_id)
        return p

    def _views(self, s: Session, products: Sequence[Product]) -> list[ProductView]:
        if not products:
            return []
        ids = [p.id for p in products]
        categories = dict(
            s.execute(
                select(ProductCategory.id, ProductCategory.name).where(
                    ProductCategory.id.in_({p.category_id for p in products if p.category_id})
                )
            ).all()
        )
        codes: dict[int, list[BarcodeView]] = {}
        for pid, code, kind in s.execute(
            select(ProductBarcode.product_id, ProductBarcode.code, ProductBarcode.kind)
            .where(ProductBarcode.product_id.in_(ids))
            .order_by(ProductBarcode.code)
        ):
            codes.setdefault(pid, []).append(BarcodeView(code=code, kind=kind))
        prices: dict[int, list[ShopPriceView]] = {}
        for pid, number, shop_name, price in s.execute(
            select(ShopPrice.product_id, Shop.number, Shop.name, ShopPrice.price_minor)
            .join(Shop, Shop.id == ShopPrice.shop_id)
            .where(ShopPrice.product_id.in_(ids))
            .order_by(Shop.number)
        ):
            prices.setdefault(pid, []).append(
                ShopPriceView(shop_number=number, shop_name=shop_name, price_minor=price)
            )
        images = dict(
            s.execute(
                select(ProductImage.product_id, ProductImage.content_type).where(
                    ProductImage.product_id.in_(ids)
                )
            ).all()
        )
        return [
            ProductView(
                id=p.id, merchant_id=p.merchant_id, sku=p.sku, name=p.name,
                category_id=p.category_id, category=categories.get(p.category_id or 0),
                unit=p.unit, sold_by=p.sold_by, plu=p.plu, price_minor=p.price_minor,
                cost_minor=p.cost_minor, currency=p.currency, active=p.active,
                revision=p.revision, barcodes=codes.get(p.id, []),
                shop_prices=prices.get(p.id, []), image_type=images.get(p.id),
                created_at=p.created_at, updated_at=p.updated_at,
            )
            for p in products
        ]  # fmt: skip

    def products(
        self,
        merchant_id: int | None,
        *,
        after_id: int = 0,
        limit: int = 50,
        search: str | None = None,
        category_id: int | None = None,
        active: bool | None = None,
    ) -> list[ProductView]:
        """The merchant's products in id order after ``after_id``: those whose SKU or
        name begins with ``search``, of one category, active or not."""
        check_limit(limit)
        query = select(Product).where(Product.id > after_id).order_by(Product.id).limit(limit)
        if merchant_id is not None:  # None: every merchant's (the acquirer's reads)
            query = query.where(Product.merchant_id == merchant_id)
        if search:
            query = query.where(or_(_prefix(Product.sku, search), _prefix(Product.name, search)))
        if category_id is not None:
            query = query.where(Product.category_id == category_id)
        if active is not None:
            query = query.where(Product.active == active)
        with self.ctx.db.read() as s:
            return self._views(s, list(s.scalars(query)))

    def count(self, merchant_id: int) -> int:
        with self.ctx.db.read() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(Product)
                    .where(Product.merchant_id == merchant_id)
                )
                or 0
            )

    def create(self, merchant_id: int, new: ProductIn) -> ProductView:
        sku, name = check_sku(new.sku), check_name(new.name)
        sold_by = SoldBy(new.sold_by)
        unit = check_unit(new.unit) if new.unit else DEFAULT_UNITS[sold_by]
        price = check_price(new.price_minor)
        cost = None if new.cost_minor is None else check_price(new.cost_minor, "cost")
        plu = check_plu(new.plu)
        category = check_category_name(new.category) if new.category else None
        codes = _parse_barcodes(new.barcodes)
        shop_prices = {n: check_price(p) for n, p in new.shop_prices.items()}
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            self._check_free(s, merchant_id, None, sku=sku, plu=plu, codes=codes)
            shops = self._shops_by_number(s, merchant_id)
            for number in shop_prices:
                _known_shop(shops, number)
            p = Product(
                merchant_id=merchant_id, sku=sku, name=name,
                category_id=None if category is None
                else self._category_id(s, merchant_id, category, now),
                unit=unit, sold_by=sold_by, plu=plu, price_minor=price, cost_minor=cost,
                currency=DEFAULT_CURRENCY, active=new.active,
                revision=take_revisions(s, merchant_id, 1), created_at=now, updated_at=now,
            )  # fmt: skip
            s.add(p)
            s.flush()
            for code in codes:
                s.add(
                    ProductBarcode(
                        merchant_id=merchant_id, code=code.code, product_id=p.id, kind=code.kind
                    )
                )
            for number, shop_price in shop_prices.items():
                s.add(ShopPrice(product_id=p.id, shop_id=shops[number][0],
                                merchant_id=merchant_id, price_minor=shop_price))  # fmt: skip
            s.flush()
            return self._views(s, [p])[0]

    @staticmethod
    def _check_free(
        s: Session,
        merchant_id: int,
        product_id: int | None,
        *,
        sku: str | None = None,
        plu: int | None = None,
        codes: Sequence[bc.Barcode] = (),
    ) -> None:
        """Refuse a SKU, PLU or barcode another product of the merchant has."""
        other = Product.id != (product_id or 0)
        if sku is not None:
            taken = s.scalar(
                select(Product.id).where(
                    Product.merchant_id == merchant_id, Product.sku == sku, other
                )
            )
            if taken is not None:
                raise Refused(
                    "product.sku_taken",
                    N_("SKU {sku} is already product {id}'s"),
                    sku=sku,
                    id=taken,
                )
        if plu is not None:
            taken = s.scalar(
                select(Product.id).where(
                    Product.merchant_id == merchant_id, Product.plu == plu, other
                )
            )
            if taken is not None:
                raise Refused(
                    "product.plu_taken",
                    N_("PLU {plu} is already product {id}'s"),
                    plu=plu,
                    id=taken,
                )
        for code in codes:
            taken = s.scalar(
                select(ProductBarcode.product_id).where(
                    ProductBarcode.merchant_id == merchant_id, ProductBarcode.code == code.code
                )
            )
            if taken is not None and taken != product_id:
                raise Refused(
                    "product.barcode_taken",
                    N_("Barcode {code} is already product {id}'s"),
                    code=code.code,
                    id=taken,
                )

    def update(self, merchant_id: int, product_id: int, changes: ProductChanges) -> ProductView:
        """Change the fields given; a change that changes nothing takes no revision."""
        wanted: dict[str, Any] = {}
        if changes.sku is not KEEP:
            wanted["sku"] = check_sku(changes.sku)
        if changes.name is not KEEP:
            wanted["name"] = check_name(changes.name)
        if changes.price_minor is not KEEP:
            wanted["price_minor"] = check_price(changes.price_minor)
        if changes.sold_by is not KEEP:
            wanted["sold_by"] = SoldBy(changes.sold_by)
        if changes.unit is not KEEP:
            wanted["unit"] = check_unit(changes.unit)
        if changes.cost_minor is not KEEP:
            cost = changes.cost_minor
            wanted["cost_minor"] = None if cost is None else check_price(cost, "cost")
        if changes.plu is not KEEP:
            wanted["plu"] = check_plu(changes.plu)
        if changes.active is not KEEP:
            wanted["active"] = bool(changes.active)
        category = changes.category
        if category is not KEEP and category is not None:
            category = check_category_name(category)
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            p = self._product(s, merchant_id, product_id)
            if category is not KEEP:
                wanted["category_id"] = (
                    None
                    if category is None
                    else self._category_id(s, merchant_id, category, self.ctx.now())
                )
            changed = {k: v for k, v in wanted.items() if getattr(p, k) != v}
            if changed:
                self._check_free(s, merchant_id, p.id, sku=changed.get("sku"),
                                 plu=changed.get("plu"))  # fmt: skip
                for k, v in changed.items():
                    setattr(p, k, v)
                self._touch(s, p)
            return self._views(s, [p])[0]

    def _touch(self, s: Session, p: Product) -> None:
        p.revision = take_revisions(s, p.merchant_id, 1)
        p.updated_at = self.ctx.now()
        s.flush()

    def set_active(self, merchant_id: int, product_id: int, active: bool) -> ProductView:
        return self.update(merchant_id, product_id, ProductChanges(active=active))

    # --- barcodes ----------------------------------------------------------------------

    def add_barcode(self, merchant_id: int, product_id: int, code: str) -> ProductView:
        barcode = bc.parse(code)
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            p = self._product(s, merchant_id, product_id)
            have = s.scalar(
                select(ProductBarcode.product_id).where(
                    ProductBarcode.merchant_id == merchant_id,
                    ProductBarcode.code == barcode.code,
                )
            )
            if have == p.id:
                return self._views(s, [p])[0]  # already its own: nothing changes
            self._check_free(s, merchant_id, p.id, codes=[barcode])
            count = s.scalar(
                select(func.count())
                .select_from(ProductBarcode)
                .where(ProductBarcode.product_id == p.id)
            )
            if (count or 0) >= MAX_BARCODES:
                raise Refused(
                    "product.too_many_barcodes",
                    N_("A product has at most {n} barcodes"),
                    n=MAX_BARCODES,
                )
            s.add(ProductBarcode(merchant_id=merchant_id, code=barcode.code, product_id=p.id,
                                 kind=barcode.kind))  # fmt: skip
            self._touch(s, p)
            return self._views(s, [p])[0]

    def remove_barcode(self, merchant_id: int, product_id: int, code: str) -> ProductView:
        stored = bc.normalise(code)[: bc.MAX_CODE_CHARS]
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            p = self._product(s, merchant_id, product_id)
            gone = s.execute(
                delete(ProductBarcode).where(
                    ProductBarcode.merchant_id == merchant_id,
                    ProductBarcode.code == stored,
                    ProductBarcode.product_id == p.id,
                )
            )
            if not gone.rowcount:  # type: ignore[attr-defined]
                raise NotFound(
                    "product.barcode_not_found",
                    N_("Product {id} has no barcode {code}"),
                    id=p.id,
                    code=stored,
                )
            self._touch(s, p)
            return self._views(s, [p])[0]

    # --- shop prices -----------------------------------------------------------------------

    def set_shop_price(
        self, merchant_id: int, product_id: int, shop_number: int, price_minor: int | None
    ) -> ProductView:
        """The product's price in one shop; None: the product's own price there."""
        price = None if price_minor is None else check_price(price_minor)
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            p = self._product(s, merchant_id, product_id)
            shop_id = _known_shop(self._shops_by_number(s, merchant_id), shop_number)[0]
            row = s.get(ShopPrice, (p.id, shop_id))
            if price is None:
                if row is None:
                    return self._views(s, [p])[0]
                s.delete(row)
            elif row is None:
                s.add(ShopPrice(product_id=p.id, shop_id=shop_id, merchant_id=merchant_id,
                                price_minor=price))  # fmt: skip
            elif row.price_minor == price:
                return self._views(s, [p])[0]
            else:
                row.price_minor = price
            self._touch(s, p)
            return self._views(s, [p])[0]

    # --- pictures ----------------------------------------------------------------------------

    def set_image(self, merchant_id: int, product_id: int, content: bytes) -> ProductView:
        """The product's picture (the tills do not carry pictures: no revision)."""
        content_type = check_image(content)
        digest = hashlib.sha256(content).hexdigest()
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            p = self._product(s, merchant_id, product_id)
            row = s.get(ProductImage, p.id)
            if row is None:
                s.add(ProductImage(product_id=p.id, content_type=content_type, sha256=digest,
                                   data=content, uploaded_at=self.ctx.now()))  # fmt: skip
            elif row.sha256 != digest:
                row.content_type, row.sha256, row.data = content_type, digest, content
                row.uploaded_at = self.ctx.now()
            s.flush()
            return self._views(s, [p])[0]

    def remove_image(self, merchant_id: int, product_id: int) -> ProductView:
        with self.ctx.db.transaction() as s:
            self._merchant(s, merchant_id, changing=True)
            p = self._product(s, merchant_id, product_id)
            s.execute(delete(ProductImage).where(ProductImage.product_id == p.id))
            return self._views(s, [p])[0]

    def image(self, merchant_id: int, product_id: int) -> ImageView:
        with self.ctx.db.read() as s:
            p = self._product(s, merchant_id, product_id)
            row = s.get(ProductImage, p.id)
            if row is None:
                raise NotFound(
                    "product.image_not_found", N_("Product {id} has no picture"), id=product_id
                )
            return ImageView(content_type=row.content_type, sha256=row.sha256, data=row.data)

    # --- the tills ---------------------------------------------------------------------------

    def changes_since(
        self, merchant_id: int, shop_id: int, revision: int, limit: int = 10_000
    ) -> Changes:
        """The products changed after ``revision`` (0: all of them), oldest change first,
        as compact rows with the shop's price: what a till applies to its copy of the
        catalogue. Inactive products come too (the till drops them)."""
        if not 1 <= limit <= CHANGES_LIMIT:
            raise InvalidInput("page.limit", N_("A page holds 1 to {max} items"), max=CHANGES_LIMIT)
        if not 0 <= revision < 2**62:
            raise InvalidInput("product.revision", N_("A revision is a whole number, 0 or more"))
        params = {"m": merchant_id, "shop": shop_id, "since": revision, "n": limit + 1}
        with _no_collection(), self.ctx.db.read() as s:
            self._shop_of(s, merchant_id, shop_id)
            conn = s.connection()
            fetched = self.ctx.db.hot(_CHANGES).rows(conn, params)
            more = len(fetched) > limit
            fetched = fetched[:limit]
            if not fetched:
                return Changes([], revision, False)
            high = fetched[-1][9]
            codes: dict[int, list[str]] = {}
            for pid, code in self.ctx.db.hot(_CHANGED_CODES).rows(
                conn, {"m": merchant_id, "since": revision, "high": high}
            ):
                if pid in codes:
                    codes[pid].append(code)
                else:
                    codes[pid] = [code]
        no_codes: list[str] = []
        rows = [
            [pid, sku, name, cat, unit, sold_by, plu, price, active == 1,
             codes.get(pid, no_codes)]
            for pid, sku, name, cat, unit, sold_by, plu, price, active, _rev in fetched
        ]  # fmt: skip
        return Changes(rows, int(high), more)

    @staticmethod
    def _shop_of(s: Session | Connection, merchant_id: int, shop_id: int) -> None:
        found = s.execute(
            select(Shop.id).where(Shop.id == shop_id, Shop.merchant_id == merchant_id)
        ).first()
        if found is None:
            raise NotFound("shop.not_found", N_("No shop {number} of this merchant"),
                           number=shop_id)  # fmt: skip

    def revision(self, merchant_id: int) -> int:
        """The merchant's newest catalogue revision (0: none yet)."""
        with self.ctx.db.read() as s:
            return current_revision(s, merchant_id)

    def lookup(self, merchant_id: int, shop_id: int, code: str) -> Found:
        """The product a scanned code names, priced for the shop: a stored barcode first;
        else an in-store scale's label, by its PLU, with the weight or amount on it.
        Unknown: NotFound; an inactive product: Refused."""
        stored = bc.normalise(code[:64])
        if not stored or len(stored) > bc.MAX_CODE_CHARS:
            raise InvalidInput("barcode.malformed_lookup", N_("{code!r} is not a barcode"),
                               code=code[:40])  # fmt: skip
        with self.ctx.db.quick_read() as conn:
            self._shop_of(conn, merchant_id, shop_id)
            row = conn.execute(
                _LOOKUP.where(
                    PRODUCTS.c.id
                    == select(ProductBarcode.product_id)
                    .where(ProductBarcode.merchant_id == merchant_id,
                           ProductBarcode.code == stored)
                    .scalar_subquery()
                ),
                {"shop": shop_id},
            ).first()  # fmt: skip
            scale = None
            if row is None:
                scale = bc.scale_code(stored)
                if scale is not None:
                    row = conn.execute(
                        _LOOKUP.where(
                            PRODUCTS.c.merchant_id == merchant_id,
                            PRODUCTS.c.plu == scale.plu,
                        ),
                        {"shop": shop_id},
                    ).first()
        if row is None:
            raise NotFound("product.unknown_code", N_("No product has the code {code}"),
                           code=stored)  # fmt: skip
        pid, sku, name, category, unit, sold_by, plu, price, currency, active = row
        sold_by = SoldBy(sold_by)
        if not active:
            raise Refused(
                "product.inactive",
                N_("{name} ({sku}) is not on sale: it is inactive in the catalogue"),
                name=name,
                sku=sku,
            )
        quantity: int | None = MILLI if sold_by is SoldBy.PIECE else None
        amount: int | None = None
        if scale is not None:
            if scale.weight_milli is not None:
                if sold_by is SoldBy.PIECE:
                    raise Refused(
                        "product.weight_code_for_piece",
                        N_("{name} ({sku}) is sold by the piece: a scale's weight does not fit"),
                        name=name,
                        sku=sku,
                    )
                if scale.weight_milli <= 0:
                    raise Refused("product.zero_weight", N_("The scale's label weighs nothing"))
                quantity = scale.weight_milli
            amount = scale.amount_minor
            if amount is not None and quantity is None and price > 0:
                quantity = max(1, _half_up(amount * MILLI, price))
        return Found(
            product_id=pid, sku=sku, name=name, category=category, unit=unit, sold_by=sold_by,
            plu=plu, price_minor=price, currency=currency, code=stored,
            scale=scale is not None, quantity_milli=quantity, amount_minor=amount,
        )  # fmt: skip

    def search(
        self, merchant_id: int, text: str, limit: int = 20, *, shop_id: int | None = None
    ) -> list[Found]:
        """The cashier's search box: active products whose barcode is ``text``, whose SKU
        begins with it, or whose name does; at most ``limit``, priced for the shop
        ``shop_id`` (None: the products' own prices)."""
        if not 1 <= limit <= SEARCH_LIMIT:
            raise InvalidInput("page.limit", N_("A page holds 1 to {max} items"),
                               max=SEARCH_LIMIT)  # fmt: skip
        text = " ".join(text.split())[:120]
        if not text:
            return []
        stored = bc.normalise(text)[: bc.MAX_CODE_CHARS]
        p = PRODUCTS.c
        found: dict[int, Any] = {}
        with self.ctx.db.quick_read() as conn:
            by_code = select(ProductBarcode.product_id).where(
                ProductBarcode.merchant_id == merchant_id, ProductBarcode.code == stored
            )
            by_id = p.id == by_code.scalar_subquery()
            for where in (
                by_id,
                _prefix(p.sku, text),
                _prefix(p.name, text),
            ):
                query = _LOOKUP.where(p.merchant_id == merchant_id, p.active.is_(True), where)
                if where is not by_id:  # one product at most: no order to keep
                    query = query.order_by(p.name, p.id)
                query = query.limit(limit)
                for row in conn.execute(query, {"shop": shop_id}):
                    found.setdefault(row[0], row)
                if len(found) >= limit:
                    break
        return [
            Found(
                product_id=r[0], sku=r[1], name=r[2], category=r[3], unit=r[4],
                sold_by=SoldBy(r[5]), plu=r[6], price_minor=r[7], currency=r[8], code="",
                scale=False, quantity_milli=None, amount_minor=None,
            )
            for r in list(found.values())[:limit]
        ]  # fmt: skip


@contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic garbage collection while a page of changes is built: tens of thousands
    of small lists without cycles would set off collections that cost as much as the
    page (measured: CPU 0.69 s against 0.40 s for 100,000 products)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def _prefix(column: Any, text: str) -> Any:
    """``column`` begins with ``text``: a range the column's index serves, and the exact
    test (LIKE with its wildcards escaped) for collations that sort otherwise."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return and_(
        column >= text,
        column < text + "\U0010ffff",
        column.like(escaped + "%", escape="\\"),
    )


def _known_shop(shops: dict[int, tuple[int, str]], number: int) -> tuple[int, str]:
    if number not in shops:
        raise NotFound("shop.not_found", N_("No shop {number} of this merchant"), number=number)
    return shops[number]


def _parse_barcodes(codes: Iterable[str]) -> list[bc.Barcode]:
    parsed: dict[str, bc.Barcode] = {}
    for code in codes:
        barcode = bc.parse(code)
        parsed.setdefault(barcode.code, barcode)
    if len(parsed) > MAX_BARCODES:
        raise InvalidInput(
            "product.too_many_barcodes",
            N_("A product has at most {n} barcodes"),
            n=MAX_BARCODES,
            field="barcodes",
        )
    return list(parsed.values())


_p, _c = PRODUCTS.c, CATEGORIES.c
_sp = SHOP_PRICES.c
# A product as the cashier sells it, priced for the shop ``:shop`` (a bound parameter).
_LOOKUP = select(
    _p.id, _p.sku, _p.name, _c.name, _p.unit, _p.sold_by, _p.plu,
    func.coalesce(_sp.price_minor, _p.price_minor), _p.currency, _p.active,
).select_from(
    PRODUCTS.outerjoin(CATEGORIES, _c.id == _p.category_id).outerjoin(
        SHOP_PRICES,
        and_(_sp.product_id == _p.id, _sp.shop_id == bindparam("shop", type_=Integer())),
    )
)  # fmt: skip

# A till's page of changes, read straight from the driver on SQLite (``HotRead``): the
# enum and the flag as they are stored (text, 0/1), so that no result processor runs on
# a million rows.
_CHANGES = (
    select(
        _p.id, _p.sku, _p.name, _c.name, _p.unit, type_coerce(_p.sold_by, String),
        _p.plu, func.coalesce(_sp.price_minor, _p.price_minor),
        type_coerce(_p.active, Integer), _p.revision,
    )
    .select_from(
        PRODUCTS.outerjoin(CATEGORIES, _c.id == _p.category_id).outerjoin(
            SHOP_PRICES,
            and_(_sp.product_id == _p.id, _sp.shop_id == bindparam("shop", type_=Integer())),
        )
    )
    .where(
        _p.merchant_id == bindparam("m", type_=Integer()),
        _p.revision > bindparam("since", type_=BigInteger()),
    )
    .order_by(_p.revision)
    .limit(bindparam("n", type_=Integer()))
)  # fmt: skip
_b = BARCODES.c
_CHANGED_CODES = (
    select(_b.product_id, _b.code)
    .select_from(BARCODES.join(PRODUCTS, _p.id == _b.product_id))
    .where(
        _p.merchant_id == bindparam("m", type_=Integer()),
        _p.revision > bindparam("since", type_=BigInteger()),
        _p.revision <= bindparam("high", type_=BigInteger()),
    )
)
