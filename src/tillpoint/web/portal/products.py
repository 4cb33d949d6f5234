"""The portal's catalogue (``/portal/products``), for the merchant's owner and managers:
the products with a search, a product's page (its fields, barcodes, prices per shop and
picture), the categories, and the import of a CSV or XLSX file (the bad rows shown with
their lines, nothing imported) with the export links.

Everything is the signed-in person's merchant's: a product is looked up within it, so
another merchant's product is answered 404 exactly as one that does not exist. Every
change, and every refusal of one, is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _, get_locale
from tillpoint.core.money import Money
from tillpoint.http.limits import DEFAULT_BODY_BYTES, body_limit
from tillpoint.store.catalogue import (
    KEEP,
    MAX_IMAGE_BYTES,
    ProductChanges,
    ProductIn,
    parse_yuan,
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
from tillpoint.web.page import (
    P_PRODUCTS,
    PAGE,
    after_action,
    audit,
    page,
    page_link,
    portal_guard,
    query_int,
    query_text,
    read_form,
    speak,
    tp,
    trouble,
)

router = APIRouter(include_in_schema=False)

CatalogueUser = Annotated[SignedIn, portal_guard(P_PRODUCTS)]

HERE = P_PRODUCTS.href  # /portal/products
CATEGORIES = "/portal/product-categories"
IMPORT = HERE + "/import"
EXPORT = HERE + "/export"
# Words the pages show for values (a product's state, a barcode's kind).
SHOWN = (N_("inactive"), N_("own code"))
KINDS = {"ean13": "EAN-13", "ean8": "EAN-8", "upca": "UPC-A", "own": "own code"}
FIELDS = ("sku", "name", "price", "cost", "unit", "sold_by", "plu", "category", "active")


def merchant_of(session: SignedIn) -> int:
    """The signed-in person's merchant (an owner's or a manager's always names one)."""
    if session.account.merchant_id is None:
        raise HTTPException(status_code=403)
    return session.account.merchant_id


def yuan(minor: int | None) -> str:
    """Fen as the yuan a form shows (``3.50``)."""
    return "" if minor is None else str(Money(minor).to_decimal())


def _product_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise InvalidInput("portal.product_id", N_("A product number is a whole number"))
    return int(text)


def _plu(text: str) -> int | None:
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise InvalidInput("product.plu", N_("A PLU is a whole number from 1 to 999999"))
    return int(text)


def _sold_by(text: str) -> SoldBy:
    return SoldBy.WEIGHT if text == SoldBy.WEIGHT.value else SoldBy.PIECE


def _act(
    request: Request, session: SignedIn, back: str, what: str, target: str,
    change: Callable[[], str],
) -> Response:  # fmt: skip
    """One change: its message (or why it was refused: nothing changed), back to
    ``back``; audited either way. Another merchant's product is not found."""
    merchant_id = merchant_of(session)
    try:
        done = change()
    except TillpointError as e:
        audit(request, session, what, target, e, merchant_id=merchant_id)
        if e.code == "product.not_found":
            return trouble(request, session, e, HERE)
        return after_action(back, e.localized(), error=True)
    audit(request, session, what, target, merchant_id=merchant_id)
    return after_action(back, done)


# --- the list ------------------------------------------------------------------------------


@router.get(HERE, response_class=HTMLResponse)
def products_page(request: Request, session: CatalogueUser) -> Response:
    merchant_id = merchant_of(session)
    app = tp(request)
    search = query_text(request, "q", 120)
    category = query_int(request, "category") or None
    state = query_text(request, "active", 5)
    active = {"yes": True, "no": False}.get(state)
    rows = app.catalogue.products(merchant_id, after_id=query_int(request, "after"),
                                  limit=PAGE + 1, search=search or None,
                                  category_id=category, active=active)  # fmt: skip
    more, rows = len(rows) > PAGE, rows[:PAGE]
    return page(request, session, "portal/products/list.html", rows=rows,
                categories=app.catalogue.categories(merchant_id),
                total=app.catalogue.count(merchant_id),
                revision=app.catalogue.revision(merchant_id),
                values={"q": search, "category": category, "active": state},
                shops=app.merchants.list_shops(str(merchant_id)), yuan=yuan,
                next_href=page_link(request, after=rows[-1].id) if more else "")  # fmt: skip


@router.post(HERE + "/add")
async def add_product(request: Request, session: CatalogueUser) -> Response:
    form = await read_form(request, session, *FIELDS, "barcodes")
    merchant_id = merchant_of(session)
    made: list[int] = []

    def change() -> str:
        sold_by = _sold_by(form["sold_by"])
        p = tp(request).catalogue.create(merchant_id, ProductIn(
            sku=form["sku"], name=form["name"], price_minor=parse_yuan(form["price"]),
            cost_minor=parse_yuan(form["cost"], "cost") if form["cost"] else None,
            unit=form["unit"] or None, sold_by=sold_by, plu=_plu(form["plu"]),
            category=form["category"] or None,
            barcodes=form["barcodes"].replace(",", " ").split(),
        ))  # fmt: skip
        made.append(p.id)
        return _("Product {sku} added.").format(sku=p.sku)

    response = _act(request, session, HERE, "product added", f"merchant {merchant_id} product",
                    change)  # fmt: skip
    if made:
        response.headers["location"] = f"{HERE}/{made[0]}"
    return response


# --- import and export ----------------------------------------------------------------


@router.get(IMPORT, response_class=HTMLResponse)
def import_page(request: Request, session: CatalogueUser) -> Response:
    merchant_of(session)
    return page(request, session, "portal/products/import.html", report=None, refused=None)


IMPORT_BODY_BYTES = MAX_IMPORT_BYTES + DEFAULT_BODY_BYTES


@router.post(IMPORT, response_class=HTMLResponse, openapi_extra=body_limit(IMPORT_BODY_BYTES))
async def import_file(request: Request, session: CatalogueUser) -> Response:
    """The import's outcome on the page itself: the counts, or every bad row (the first
    thousand listed) with its line and reason, nothing imported (422)."""
    await read_form(request, session)
    merchant_id = merchant_of(session)
    file = (await request.form()).get("file")
    content = await file.read(MAX_IMPORT_BYTES + 1) if isinstance(file, UploadFile) else b""
    name = file.filename if isinstance(file, UploadFile) else ""
    try:
        if not content:
            raise InvalidInput("product_import.empty", N_("The file has no rows"))
        report = tp(request).catalogue_files.import_file(merchant_id, content)
    except ImportRefused as refused:
        audit(request, session, "products imported", f"merchant {merchant_id}", refused,
              merchant_id=merchant_id, bad_rows=refused.report.problem_count)  # fmt: skip
        return page(request, session, "portal/products/import.html", status_code=422,
                    report=refused.report, refused=refused.localized(), file=name)  # fmt: skip
    except TillpointError as e:
        audit(request, session, "products imported", f"merchant {merchant_id}", e,
              merchant_id=merchant_id)  # fmt: skip
        return page(request, session, "portal/products/import.html", status_code=422,
                    report=None, refused=e.localized(), file=name)  # fmt: skip
    audit(request, session, "products imported", f"merchant {merchant_id}",
          merchant_id=merchant_id, created=report.created, updated=report.updated)  # fmt: skip
    return page(request, session, "portal/products/import.html", report=report, refused=None,
                file=name)  # fmt: skip


@router.get(EXPORT)
def export(request: Request, session: CatalogueUser) -> Response:
    merchant_id = merchant_of(session)
    speak(request, session)
    fmt = "xlsx" if query_text(request, "format", 5) == "xlsx" else "csv"
    app = tp(request)
    table = app.catalogue_files.export_rows(merchant_id, chinese=get_locale().startswith("zh"))
    name = file_name(session.account.mid or str(merchant_id), fmt, app.ctx.today().isoformat())
    pieces = csv_file(table) if fmt == "csv" else xlsx_file(table, _("Products"))
    return StreamingResponse(pieces, media_type=CSV_TYPE if fmt == "csv" else XLSX_TYPE,
                             headers={"Content-Disposition": f'attachment; filename="{name}"',
                                      "Cache-Control": "no-store, private"})  # fmt: skip


# --- one product -------------------------------------------------------------------------------


@router.get(HERE + "/{product_id}", response_class=HTMLResponse)
def product_page(request: Request, session: CatalogueUser, product_id: str) -> Response:
    merchant_id = merchant_of(session)
    app = tp(request)
    try:
        p = app.catalogue.get(merchant_id, _product_id(product_id))
    except TillpointError as e:
        return trouble(request, session, e, HERE)
    prices = {x.shop_number: x.price_minor for x in p.shop_prices}
    return page(request, session, "portal/products/product.html", p=p, yuan=yuan, kinds=KINDS,
                shops=app.merchants.list_shops(str(merchant_id)), prices=prices,
                categories=app.catalogue.categories(merchant_id))  # fmt: skip


@router.post(HERE + "/{product_id}")
async def change_product(request: Request, session: CatalogueUser, product_id: str) -> Response:
    form = await read_form(request, session, *FIELDS)
    merchant_id = merchant_of(session)

    def change() -> str:
        pid = _product_id(product_id)
        p = tp(request).catalogue.update(merchant_id, pid, ProductChanges(
            sku=form["sku"], name=form["name"], price_minor=parse_yuan(form["price"]),
            cost_minor=parse_yuan(form["cost"], "cost") if form["cost"] else None,
            unit=form["unit"] or KEEP, sold_by=_sold_by(form["sold_by"]), plu=_plu(form["plu"]),
            category=form["category"] or None, active=form["active"] == "yes",
        ))  # fmt: skip
        return _("Product {sku} saved.").format(sku=p.sku)

    return _act(request, session, f"{HERE}/{product_id[:18]}", "product changed",
                f"product {product_id[:18]}", change)  # fmt: skip


@router.post(HERE + "/{product_id}/barcodes")
async def add_barcode(request: Request, session: CatalogueUser, product_id: str) -> Response:
    form = await read_form(request, session, "code")
    merchant_id = merchant_of(session)

    def change() -> str:
        tp(request).catalogue.add_barcode(merchant_id, _product_id(product_id), form["code"])
        return _("Barcode {code} added.").format(code=form["code"][:40])

    return _act(request, session, f"{HERE}/{product_id[:18]}#barcodes", "barcode added",
                f"product {product_id[:18]}", change)  # fmt: skip


@router.post(HERE + "/{product_id}/barcodes/remove")
async def remove_barcode(request: Request, session: CatalogueUser, product_id: str) -> Response:
    form = await read_form(request, session, "code")
    merchant_id = merchant_of(session)

    def change() -> str:
        tp(request).catalogue.remove_barcode(merchant_id, _product_id(product_id), form["code"])
        return _("Barcode {code} removed.").format(code=form["code"][:40])

    return _act(request, session, f"{HERE}/{product_id[:18]}#barcodes", "barcode removed",
                f"product {product_id[:18]}", change)  # fmt: skip


@router.post(HERE + "/{product_id}/shop-prices")
async def shop_price(request: Request, session: CatalogueUser, product_id: str) -> Response:
    form = await read_form(request, session, "shop", "price")
    merchant_id = merchant_of(session)

    def change() -> str:
        if not (form["shop"].isascii() and form["shop"].isdigit() and len(form["shop"]) <= 4):
            raise InvalidInput("portal.shop_number", N_("A shop number is a whole number"))
        price = parse_yuan(form["price"]) if form["price"] else None
        tp(request).catalogue.set_shop_price(merchant_id, _product_id(product_id),
                                             int(form["shop"]), price)  # fmt: skip
        if price is None:
            return _("Shop {number} sells it at the product's own price.").format(
                number=form["shop"]
            )
        return _("Shop {number}'s price is saved.").format(number=form["shop"])

    return _act(request, session, f"{HERE}/{product_id[:18]}#prices", "shop price set",
                f"product {product_id[:18]}", change)  # fmt: skip


IMAGE_BODY_BYTES = MAX_IMAGE_BYTES + DEFAULT_BODY_BYTES


@router.post(HERE + "/{product_id}/image", openapi_extra=body_limit(IMAGE_BODY_BYTES))
async def upload_image(request: Request, session: CatalogueUser, product_id: str) -> Response:
    await read_form(request, session)
    merchant_id = merchant_of(session)
    file = (await request.form()).get("file")
    content = await file.read(MAX_IMAGE_BYTES + 1) if isinstance(file, UploadFile) else b""

    def change() -> str:
        if not content:
            raise InvalidInput("product.image_empty", N_("Choose a picture to upload"))
        tp(request).catalogue.set_image(merchant_id, _product_id(product_id), content)
        return _("The picture is saved.")

    return _act(request, session, f"{HERE}/{product_id[:18]}#picture", "product picture",
                f"product {product_id[:18]}", change)  # fmt: skip


@router.get(HERE + "/{product_id}/image")
def image(request: Request, session: CatalogueUser, product_id: str) -> Response:
    merchant_id = merchant_of(session)
    try:
        found = tp(request).catalogue.image(merchant_id, _product_id(product_id))
    except TillpointError as e:
        return trouble(request, session, e, HERE)
    return Response(found.data, media_type=found.content_type,
                    headers={"X-Content-Type-Options": "nosniff",
                             "Cache-Control": "no-store, private"})  # fmt: skip


# --- categories ---------------------------------------------------------------------------------


@router.get(CATEGORIES, response_class=HTMLResponse)
def categories_page(request: Request, session: CatalogueUser) -> Response:
    merchant_id = merchant_of(session)
    return page(request, session, "portal/products/categories.html",
                categories=tp(request).catalogue.categories(merchant_id))  # fmt: skip


@router.post(CATEGORIES)
async def add_category(request: Request, session: CatalogueUser) -> Response:
    form = await read_form(request, session, "name")
    merchant_id = merchant_of(session)

    def change() -> str:
        made = tp(request).catalogue.add_category(merchant_id, form["name"])
        return _("Category {name} added.").format(name=made.name)

    return _act(request, session, CATEGORIES, "category added", f"merchant {merchant_id}",
                change)  # fmt: skip


@router.post(CATEGORIES + "/{category_id}")
async def rename_category(request: Request, session: CatalogueUser, category_id: str) -> Response:
    form = await read_form(request, session, "name")
    merchant_id = merchant_of(session)

    def change() -> str:
        done = tp(request).catalogue.rename_category(merchant_id, _product_id(category_id),
                                                     form["name"])  # fmt: skip
        return _("Category renamed to {name}.").format(name=done.name)

    return _act(request, session, CATEGORIES, "category renamed", f"category {category_id[:18]}",
                change)  # fmt: skip
