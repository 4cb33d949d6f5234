"""/v1 routes: a merchant's catalogue (docs/store.md, docs/api-resources.md).

Products, their barcodes, shop prices and pictures, categories, imports and exports of
the catalogue, the cashier's lookup of a scanned code and a till's changes since its
last read. A merchant's keys see and change their own catalogue only (its owner key
changes it); the acquirer's operations keys read every merchant's, naming it with
``mid`` where a route needs one merchant.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from tillpoint.access.service import Principal
from tillpoint.api.deps import ObjectId, Owner, Reader, Svc
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page
from tillpoint.api.problems import MEDIA_TYPE, TITLES, Problem
from tillpoint.api.schemas import PROBLEMS
from tillpoint.api.scope import own_or_named, scoped_merchant_id
from tillpoint.core.i18n import _, get_locale
from tillpoint.http.limits import DEFAULT_BODY_BYTES, body_limit
from tillpoint.http.text import Bool, Int, Text
from tillpoint.store.catalogue import (
    CHANGES_LIMIT,
    KEEP,
    MAX_IMAGE_BYTES,
    CategoryView,
    Found,
    ProductChanges,
    ProductIn,
    ProductView,
)
from tillpoint.store.imports import (
    CSV_TYPE,
    MAX_IMPORT_BYTES,
    XLSX_TYPE,
    ImportRefused,
    csv_file,
    file_name,
    xlsx_file,
)
from tillpoint.store.models import SoldBy

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
TAGS: list[str | Any] = ["products"]
MAX_MINOR = 9_999_999_999

Mid = Annotated[
    Text | None,
    Query(max_length=20, description="The merchant (operations keys; a merchant key: its own)"),
]
ShopNumber = Annotated[int, Query(ge=1, le=9999, description="The shop's number")]
ShopInPath = Annotated[int, Path(ge=1, le=9999, description="The shop's number")]
Minor = Annotated[Int, Field(ge=0, le=MAX_MINOR, description="Fen")]


# --- bodies ---------------------------------------------------------------------------------


class ShopPriceIn(BaseModel):
    shop: Int = Field(ge=1, le=9999, description="The shop's number")
    price_minor: Minor


class ProductBody(BaseModel):
    """A new product. ``category`` by name (created if new); ``unit`` by default 个 (or
    kg for one sold by weight); ``barcodes`` EAN-13, EAN-8, UPC-A (check digits
    verified) or the merchant's own codes."""

    sku: Text = Field(max_length=40, examples=["COLA-330"])
    name: Text = Field(max_length=120, examples=["可口可乐 330ml"])
    price_minor: Minor
    sold_by: SoldBy = SoldBy.PIECE
    unit: Text | None = Field(default=None, max_length=10)
    category: Text | None = Field(default=None, max_length=100)
    plu: Int | None = Field(default=None, ge=1, le=999_999, description="The scales' number")
    cost_minor: Minor | None = None
    active: Bool = True
    barcodes: list[Annotated[Text, Field(max_length=40)]] = Field(default=[], max_length=20)
    shop_prices: list[ShopPriceIn] = Field(default=[], max_length=1000)
    mid: Text | None = Field(default=None, max_length=20, description="Operations keys only")


class ProductPatch(BaseModel):
    """The fields sent change; the others stay (``category``, ``plu`` and ``cost_minor``
    may be null: none)."""

    sku: Text | None = Field(default=None, max_length=40)
    name: Text | None = Field(default=None, max_length=120)
    price_minor: Minor | None = None
    sold_by: SoldBy | None = None
    unit: Text | None = Field(default=None, max_length=10)
    category: Text | None = Field(default=None, max_length=100)
    plu: Int | None = Field(default=None, ge=1, le=999_999)
    cost_minor: Minor | None = None
    active: Bool | None = None


class BarcodeIn(BaseModel):
    code: Text = Field(max_length=40, examples=["6901234567892"])


class PriceIn(BaseModel):
    price_minor: Minor


class CategoryIn(BaseModel):
    name: Text = Field(max_length=100, examples=["饮料 Drinks"])
    mid: Text | None = Field(default=None, max_length=20, description="Operations keys only")


class CategoryRename(BaseModel):
    name: Text = Field(max_length=100)


class ImportDone(BaseModel):
    object: Literal["product_import"] = "product_import"
    rows: int
    created: int
    updated: int
    unchanged: int
    revision: int = Field(description="The catalogue's revision after the import")


class BadRow(BaseModel):
    line: int = Field(description="The line in the file (the header is line 1)")
    code: str
    detail: str


class ImportProblem(Problem):
    rows: int
    bad_row_count: int
    bad_rows: list[BadRow] = Field(description="The first 1,000 bad rows, by line")


# --- whose catalogue -----------------------------------------------------------------------


def _merchant(svc: Svc, caller: Principal, mid: str | None) -> int:
    """The one merchant a route works on: a merchant key's own; the one an operations
    key names (it must name one)."""
    return svc.tp.merchants.get(own_or_named(caller, mid, "product.mid_required")).id


def _owner_of(svc: Svc, caller: Principal, product_id: int) -> int:
    """The merchant whose product it is, if the caller may see it (else 404, as for a
    product that does not exist)."""
    if caller.operations:
        return svc.tp.catalogue.merchant_of(product_id)
    assert caller.merchant_id is not None
    return caller.merchant_id


# --- the cashier and the tills (before /v1/products/{id}) -----------------------------------


@router.get("/v1/products/lookup", tags=TAGS, summary="Look a scanned code up")
def lookup(
    shop: ShopNumber,
    code: Annotated[Text, Query(min_length=1, max_length=64, description="As scanned")],
    caller: Reader,
    svc: Svc,
    mid: Mid = None,
) -> Found:
    """The product a barcode names, with its price in the shop; an in-store scale's
    label (``2…``) names its product by PLU and carries the weight (`quantity_milli`,
    grams) or the amount (`amount_minor`). Unknown: 404 `product.unknown_code`; an
    inactive product: 409 `product.inactive`."""
    merchant_id = _merchant(svc, caller, mid)
    return svc.tp.catalogue.lookup(merchant_id, svc.tp.catalogue.shop_id(merchant_id, shop), code)


@router.get(
    "/v1/products/changes",
    tags=TAGS,
    summary="What changed since a revision",
    responses={200: {"content": {"application/json": {}}}},
    response_class=Response,
)
def changes(
    shop: ShopNumber,
    caller: Reader,
    svc: Svc,
    since: Annotated[int, Query(ge=0, le=2**62, description="The last revision held")] = 0,
    limit: Annotated[int, Query(ge=1, le=CHANGES_LIMIT)] = 10_000,
    mid: Mid = None,
) -> Response:
    """The products changed after revision ``since`` (0: all), oldest change first, for
    a till's copy of the catalogue: ``columns`` names the fields once, ``rows`` holds
    one array per product (the shop's price; inactive ones too), ``revision`` is the
    newest among them: ask again with ``since`` = ``revision`` while ``has_more``."""
    merchant_id = _merchant(svc, caller, mid)
    found = svc.tp.catalogue.changes_since(
        merchant_id, svc.tp.catalogue.shop_id(merchant_id, shop), since, limit
    )
    return Response(found.json(merchant_id, shop), media_type="application/json")


@router.get(
    "/v1/products/export",
    tags=TAGS,
    summary="Export the catalogue",
    response_class=StreamingResponse,
    responses={200: {"content": {CSV_TYPE: {}, XLSX_TYPE: {}}}},
)
def export(
    caller: Reader,
    svc: Svc,
    format: Annotated[Literal["csv", "xlsx"], Query(description="csv or xlsx")] = "csv",
    mid: Mid = None,
) -> StreamingResponse:
    """The catalogue as a file in the import's columns (headers in the caller's
    language), written as it is read: it imports back unchanged."""
    merchant_id = _merchant(svc, caller, mid)
    merchant = svc.tp.merchants.get(str(merchant_id))
    chinese = get_locale().startswith("zh")
    table = svc.tp.catalogue_files.export_rows(merchant_id, chinese=chinese)
    name = file_name(merchant.mid or str(merchant.id), format, svc.tp.ctx.today().isoformat())
    pieces = csv_file(table) if format == "csv" else xlsx_file(table, _("Products"))
    return StreamingResponse(
        pieces,
        media_type=CSV_TYPE if format == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"',
                 "Cache-Control": "no-store"},
    )  # fmt: skip


IMPORT_BODY_BYTES = MAX_IMPORT_BYTES + DEFAULT_BODY_BYTES


@router.post(
    "/v1/products/import",
    tags=TAGS,
    summary="Import a catalogue file",
    openapi_extra=body_limit(IMPORT_BODY_BYTES),
    responses={422: {"model": ImportProblem, "content": {MEDIA_TYPE: {}},
                     "description": "Bad rows: nothing was imported"}},
)  # fmt: skip
def import_file(
    file: Annotated[UploadFile, File(description="A CSV (UTF-8 or GBK) or XLSX file")],
    caller: Owner,
    svc: Svc,
    _key: Key,
    mid: Annotated[Text | None, Form(max_length=20, description="Operations keys only")] = None,
) -> Any:
    """Import products, all or nothing (docs/store.md has the columns). Rows match
    products by `sku`; the same file again changes nothing. A file with bad rows imports
    nothing: 422 `product_import.bad_rows` lists each with its line and reason."""
    merchant_id = _merchant(svc, caller, mid)
    content = file.file.read(MAX_IMPORT_BYTES + 1)
    try:
        report = svc.tp.catalogue_files.import_file(merchant_id, content)
    except ImportRefused as refused:
        r = refused.report
        body = ImportProblem(
            type=f"urn:tillpoint:problem:{refused.code}", title=_(TITLES[422]), status=422,
            detail=refused.localized(), code=refused.code, instance="/v1/products/import",
            rows=r.rows, bad_row_count=r.problem_count,
            bad_rows=[BadRow(line=p.line, code=p.code, detail=p.localized())
                      for p in r.problems],
        )  # fmt: skip
        return JSONResponse(
            body.model_dump(exclude_none=True), status_code=422, media_type=MEDIA_TYPE
        )
    return ImportDone(rows=report.rows, created=report.created, updated=report.updated,
                      unchanged=report.unchanged, revision=report.revision)  # fmt: skip


# --- categories ---------------------------------------------------------------------------------


@router.get("/v1/product-categories", tags=TAGS, summary="List categories")
def list_categories(caller: Reader, svc: Svc, mid: Mid = None) -> Page[CategoryView]:
    """The merchant's categories by name, with how many products each holds (an
    operations key without ``mid``: every merchant's)."""
    merchant_id = scoped_merchant_id(svc, caller, mid)
    return Page[CategoryView](data=svc.tp.catalogue.categories(merchant_id), has_more=False)


@router.post("/v1/product-categories", status_code=201, tags=TAGS, summary="Add a category")
def add_category(body: CategoryIn, caller: Owner, svc: Svc, _key: Key) -> CategoryView:
    return svc.tp.catalogue.add_category(_merchant(svc, caller, body.mid), body.name)


@router.patch("/v1/product-categories/{category_id}", tags=TAGS, summary="Rename a category")
def rename_category(
    category_id: ObjectId, body: CategoryRename, caller: Owner, svc: Svc
) -> CategoryView:
    """A new name; every product in the category gets a new revision (tills show it)."""
    merchant_id = (
        svc.tp.catalogue.category_merchant(category_id) if caller.operations else caller.merchant_id
    )
    assert merchant_id is not None
    return svc.tp.catalogue.rename_category(merchant_id, category_id, body.name)


# --- products ----------------------------------------------------------------------------------


@router.get("/v1/products", tags=TAGS, summary="List products")
def list_products(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    q: Annotated[Text | None, Query(max_length=120, description="SKU or name begins")] = None,
    category_id: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    active: Annotated[bool | None, Query(description="Only active (or inactive) ones")] = None,
    mid: Mid = None,
) -> Page[ProductView]:
    """Products in id order (a merchant key: its own; an operations key: every
    merchant's, or ``mid``'s)."""
    rows = svc.tp.catalogue.products(
        scoped_merchant_id(svc, caller, mid), after_id=decode_cursor(cursor) or 0,
        limit=limit + 1, search=q or None, category_id=category_id, active=active,
    )  # fmt: skip
    return page(rows, limit, lambda p: p.id)


@router.post("/v1/products", status_code=201, tags=TAGS, summary="Add a product")
def create_product(body: ProductBody, caller: Owner, svc: Svc, _key: Key) -> ProductView:
    merchant_id = _merchant(svc, caller, body.mid)
    return svc.tp.catalogue.create(
        merchant_id,
        ProductIn(
            sku=body.sku, name=body.name, price_minor=body.price_minor, sold_by=body.sold_by,
            unit=body.unit, category=body.category, plu=body.plu, cost_minor=body.cost_minor,
            active=body.active, barcodes=body.barcodes,
            shop_prices={x.shop: x.price_minor for x in body.shop_prices},
        ),
    )  # fmt: skip


@router.get("/v1/products/{product_id}", tags=TAGS, summary="Show a product")
def get_product(product_id: ObjectId, caller: Reader, svc: Svc) -> ProductView:
    return svc.tp.catalogue.get(_owner_of(svc, caller, product_id), product_id)


@router.patch("/v1/products/{product_id}", tags=TAGS, summary="Change a product")
def update_product(
    product_id: ObjectId, body: ProductPatch, caller: Owner, svc: Svc
) -> ProductView:
    """The fields sent change, the others stay; sending the same again changes nothing
    (no new revision), so no ``Idempotency-Key`` is needed."""
    sent = body.model_fields_set

    def given(name: str) -> Any:
        value = getattr(body, name)
        if name not in sent:
            return KEEP
        if value is None and name not in ("category", "plu", "cost_minor"):
            return KEEP  # null for a required field: unchanged
        return value

    changes = ProductChanges(**{name: given(name) for name in ProductPatch.model_fields})
    return svc.tp.catalogue.update(_owner_of(svc, caller, product_id), product_id, changes)


@router.post("/v1/products/{product_id}/deactivate", tags=TAGS, summary="Take off sale")
def deactivate(product_id: ObjectId, caller: Owner, svc: Svc, _key: Key) -> ProductView:
    """The product stays in the catalogue (and in past orders), but no till sells it."""
    return svc.tp.catalogue.set_active(_owner_of(svc, caller, product_id), product_id, False)


@router.post("/v1/products/{product_id}/activate", tags=TAGS, summary="Put back on sale")
def activate(product_id: ObjectId, caller: Owner, svc: Svc, _key: Key) -> ProductView:
    return svc.tp.catalogue.set_active(_owner_of(svc, caller, product_id), product_id, True)


@router.post("/v1/products/{product_id}/barcodes", tags=TAGS, summary="Add a barcode")
def add_barcode(
    product_id: ObjectId, body: BarcodeIn, caller: Owner, svc: Svc, _key: Key
) -> ProductView:
    """An EAN-13, EAN-8 or UPC-A with its check digit verified, or an own code."""
    return svc.tp.catalogue.add_barcode(_owner_of(svc, caller, product_id), product_id,
                                        body.code)  # fmt: skip


@router.delete("/v1/products/{product_id}/barcodes/{barcode}", tags=TAGS,
               summary="Remove a barcode")  # fmt: skip
def remove_barcode(
    product_id: ObjectId,
    barcode: Annotated[Text, Path(max_length=40)],
    caller: Owner,
    svc: Svc,
) -> ProductView:
    return svc.tp.catalogue.remove_barcode(_owner_of(svc, caller, product_id), product_id,
                                           barcode)  # fmt: skip


@router.put("/v1/products/{product_id}/shop-prices/{number}", tags=TAGS,
            summary="Set the price in a shop")  # fmt: skip
def set_shop_price(
    product_id: ObjectId, number: ShopInPath, body: PriceIn, caller: Owner, svc: Svc
) -> ProductView:
    return svc.tp.catalogue.set_shop_price(_owner_of(svc, caller, product_id), product_id,
                                           number, body.price_minor)  # fmt: skip


@router.delete("/v1/products/{product_id}/shop-prices/{number}", tags=TAGS,
               summary="Use the product's own price in a shop")  # fmt: skip
def remove_shop_price(
    product_id: ObjectId, number: ShopInPath, caller: Owner, svc: Svc
) -> ProductView:
    return svc.tp.catalogue.set_shop_price(_owner_of(svc, caller, product_id), product_id,
                                           number, None)  # fmt: skip


IMAGE_BODY_BYTES = MAX_IMAGE_BYTES + DEFAULT_BODY_BYTES


@router.post(
    "/v1/products/{product_id}/image",
    tags=TAGS,
    summary="Upload the picture",
    openapi_extra=body_limit(IMAGE_BODY_BYTES),
)
def upload_image(
    product_id: ObjectId,
    file: Annotated[UploadFile, File(description="PNG, JPEG or WebP, at most 1 MB")],
    caller: Owner,
    svc: Svc,
    _key: Key,
) -> ProductView:
    """The product's picture; its type is found from its content."""
    merchant_id = _owner_of(svc, caller, product_id)
    return svc.tp.catalogue.set_image(merchant_id, product_id,
                                      file.file.read(MAX_IMAGE_BYTES + 1))  # fmt: skip


@router.get(
    "/v1/products/{product_id}/image",
    tags=TAGS,
    summary="The picture",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
def get_image(product_id: ObjectId, caller: Reader, svc: Svc) -> Response:
    image = svc.tp.catalogue.image(_owner_of(svc, caller, product_id), product_id)
    return Response(image.data, media_type=image.content_type,
                    headers={"X-Content-Type-Options": "nosniff",
                             "ETag": f'"{image.sha256}"', "Cache-Control": "private"})  # fmt: skip


@router.delete("/v1/products/{product_id}/image", tags=TAGS, summary="Remove the picture")
def remove_image(product_id: ObjectId, caller: Owner, svc: Svc) -> ProductView:
    return svc.tp.catalogue.remove_image(_owner_of(svc, caller, product_id), product_id)
