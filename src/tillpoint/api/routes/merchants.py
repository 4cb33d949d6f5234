"""/v1 routes: merchants (applications, review, lifecycle) and their shops.

Operations submit applications for merchants and review them; a merchant's keys see
their own merchant only (docs/merchants.md has the rules, docs/api-resources.md the
routes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Response, UploadFile

from tillpoint.access.models import Role
from tillpoint.access.service import Principal
from tillpoint.api.deps import ObjectId, Ops, Owner, Reader, Reviewer, Svc, allow
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.pagination import Cursor, Limit, Page, decode_cursor, page, whole
from tillpoint.api.schemas import (
    PROBLEMS,
    ApplicationIn,
    ApproveIn,
    DocumentsAskedIn,
    MerchantRef,
    ReasonIn,
    ShopIn,
    ShopUpdateIn,
)
from tillpoint.api.scope import merchant_ref
from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_
from tillpoint.http.limits import DEFAULT_BODY_BYTES, body_limit
from tillpoint.merchants import validation
from tillpoint.merchants.documents import MAX_DOCUMENT_BYTES, file_name
from tillpoint.merchants.models import DocumentKind, MerchantKind, MerchantStatus
from tillpoint.merchants.services import KEEP
from tillpoint.merchants.views import DocumentView, MerchantEventView, MerchantView, ShopView

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEMS)
ShopNumber = Annotated[int, Path(ge=1, le=9999, description="The shop's number")]
# Documents: operations upload and read them (risk only reads), and a merchant's owner
# for its own merchant.
DocumentKeeper = Annotated[
    Principal, Depends(allow(Role.OPS_ADMIN, Role.REVIEWER, Role.MERCHANT_OWNER))
]
DocumentReader = Annotated[
    Principal, Depends(allow(Role.OPS_ADMIN, Role.REVIEWER, Role.RISK, Role.MERCHANT_OWNER))
]


@router.post("/v1/merchants", status_code=201, tags=["merchants"], summary="Submit an application")
def apply(body: ApplicationIn, caller: Ops, svc: Svc, _key: Key) -> MerchantView:
    """Submit a merchant's application (operations, on the merchant's behalf); it waits
    for review. The answer shows the bank account and identity numbers masked."""
    return svc.tp.merchants.apply(body.application(), caller.actor)


@router.get("/v1/merchants", tags=["merchants"], summary="List merchants")
def list_merchants(
    caller: Reader,
    svc: Svc,
    limit: Limit = 20,
    cursor: Cursor = None,
    status: Annotated[MerchantStatus | None, Query(description="Only this status")] = None,
    kind: Annotated[MerchantKind | None, Query(description="Only this kind")] = None,
) -> Page[MerchantView]:
    """Merchants and applications in application order. A merchant's key lists only
    its own merchant."""
    after = decode_cursor(cursor) or 0
    if caller.operations:
        rows = svc.tp.merchants.search(status=status, kind=kind, after_id=after, limit=limit + 1)
    else:
        own = svc.tp.merchants.get(str(caller.merchant_id))
        wanted = own.id > after and status in (None, own.status) and kind in (None, own.kind)
        rows = [own] if wanted else []
    return page(rows, limit, lambda m: m.id)


@router.get("/v1/merchants/{ref}", tags=["merchants"], summary="Show a merchant")
def get_merchant(ref: MerchantRef, caller: Reader, svc: Svc) -> MerchantView:
    """One merchant, by MID or application number."""
    return svc.tp.merchants.get(merchant_ref(caller, ref))


@router.get("/v1/merchants/{ref}/history", tags=["merchants"], summary="A merchant's history")
def merchant_history(ref: MerchantRef, caller: Reader, svc: Svc) -> Page[MerchantEventView]:
    """Every status change, oldest first: from, to, who, when, why."""
    return whole(svc.tp.merchants.history(merchant_ref(caller, ref)))


# --- review (ops_admin, reviewer) ------------------------------------------------------


@router.post("/v1/merchants/{ref}/start_review", tags=["merchants"], summary="Take under review")
def start_review(ref: MerchantRef, caller: Reviewer, svc: Svc, _key: Key) -> MerchantView:
    """Take a submitted application under review."""
    return svc.tp.merchants.start_review(ref, caller.actor)


@router.post("/v1/merchants/{ref}/approve", tags=["merchants"], summary="Approve an application")
def approve(
    ref: MerchantRef, body: ApproveIn, caller: Reviewer, svc: Svc, _key: Key
) -> MerchantView:
    """Approve an application (a submitted one is reviewed on the way): the merchant
    gets its MID and the fee plan named (by default its kind's; change it later with
    `POST /v1/merchants/{ref}/fee_plan`), its own terminal limit if one is given, and
    its first shop the name and address confirmed. All of it happens, or none."""
    return svc.tp.merchants.approve(
        ref,
        caller.actor,
        body.reason,
        mid=body.mid,
        fee_plan=body.fee_plan,
        max_terminals=body.max_terminals,
        shop_name=body.shop_name,
        shop_address=body.shop_address,
    )


@router.post("/v1/merchants/{ref}/reject", tags=["merchants"], summary="Reject an application")
def reject(ref: MerchantRef, body: ReasonIn, caller: Reviewer, svc: Svc, _key: Key) -> MerchantView:
    """Reject an application, with a reason."""
    return svc.tp.merchants.reject(ref, caller.actor, body.reason)


@router.post("/v1/merchants/{ref}/ask_documents", tags=["merchants"], summary="Ask for documents")
def ask_documents(
    ref: MerchantRef, body: DocumentsAskedIn, caller: Reviewer, svc: Svc, _key: Key
) -> MerchantView:
    """Ask the applicant for documents: the application waits in `more_documents` until
    one of every kind asked for is uploaded (or a reviewer takes it back under review
    with `start_review`)."""
    return svc.tp.merchants.ask_for_documents(ref, body.kinds, body.note, caller.actor)


# --- application documents ---------------------------------------------------------------

UPLOAD_BODY_BYTES = MAX_DOCUMENT_BYTES + DEFAULT_BODY_BYTES  # the file and the form around it


@router.post(
    "/v1/merchants/{ref}/documents",
    status_code=201,
    tags=["documents"],
    summary="Upload an application document",
    openapi_extra=body_limit(UPLOAD_BODY_BYTES),
)
def upload_document(
    ref: MerchantRef,
    kind: Annotated[DocumentKind, Form(description="What the document is")],
    file: Annotated[UploadFile, File(description="A JPEG, PNG or PDF of at most 10 MB")],
    caller: DocumentKeeper,
    svc: Svc,
    _key: Key,
) -> DocumentView:
    """Upload a document of an open application (multipart/form-data: `kind` and
    `file`). Its type is found from its content (JPEG, PNG or PDF), whatever its name
    or declared type; it is stored encrypted. A document of the last kind the reviewer
    asked for takes the application back under review."""
    content = file.file.read(MAX_DOCUMENT_BYTES + 1)
    return svc.tp.documents.upload(merchant_ref(caller, ref), kind, content, caller.actor)


@router.get("/v1/merchants/{ref}/documents", tags=["documents"], summary="List documents")
def list_documents(ref: MerchantRef, caller: DocumentReader, svc: Svc) -> Page[DocumentView]:
    """An application's documents, oldest first: kind, type, size, SHA-256, who
    uploaded it and when (never the content)."""
    return whole(svc.tp.documents.list(merchant_ref(caller, ref)))


@router.get(
    "/v1/merchants/{ref}/documents/{document_id}",
    tags=["documents"],
    summary="Download a document",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "application/pdf": {}}}},
)
def get_document(
    ref: MerchantRef, document_id: ObjectId, caller: DocumentReader, svc: Svc
) -> Response:
    """The document's content, with the type found when it was uploaded."""
    doc, content = svc.tp.documents.content(merchant_ref(caller, ref), document_id)
    return Response(
        content,
        media_type=doc.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file_name(doc)}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


# --- lifecycle (ops_admin) ---------------------------------------------------------------


@router.post("/v1/merchants/{ref}/suspend", tags=["merchants"], summary="Suspend a merchant")
def suspend(ref: MerchantRef, body: ReasonIn, caller: Ops, svc: Svc, _key: Key) -> MerchantView:
    """Suspend an approved merchant: its terminals and keys stop taking payments; its
    keys can still read and refund."""
    return svc.tp.merchants.suspend(ref, caller.actor, body.reason)


@router.post("/v1/merchants/{ref}/reinstate", tags=["merchants"], summary="Lift a suspension")
def reinstate(ref: MerchantRef, body: ReasonIn, caller: Ops, svc: Svc, _key: Key) -> MerchantView:
    """Lift a suspension; the merchant keeps its MID."""
    return svc.tp.merchants.reinstate(ref, caller.actor, body.reason)


@router.post("/v1/merchants/{ref}/close", tags=["merchants"], summary="Close a merchant")
def close(ref: MerchantRef, body: ReasonIn, caller: Ops, svc: Svc, _key: Key) -> MerchantView:
    """Close a merchant for good; refused while terminals are bound to it."""
    return svc.tp.merchants.close(ref, caller.actor, body.reason)


# --- shops -------------------------------------------------------------------------------


@router.get("/v1/merchants/{ref}/shops", tags=["shops"], summary="A merchant's shops")
def list_shops(ref: MerchantRef, caller: Reader, svc: Svc) -> Page[ShopView]:
    """Every shop of the merchant, open and closed."""
    return whole(svc.tp.merchants.list_shops(merchant_ref(caller, ref)))


@router.post("/v1/merchants/{ref}/shops", status_code=201, tags=["shops"], summary="Open a shop")
def add_shop(ref: MerchantRef, body: ShopIn, caller: Owner, svc: Svc, _key: Key) -> ShopView:
    """Open another shop (门店); it gets the next shop number. ``latitude`` and
    ``longitude`` (decimal strings, together) and ``city`` say where it is."""
    return svc.tp.merchants.add_shop(
        merchant_ref(caller, ref),
        body.name,
        body.address,
        caller.actor,
        body.region_code,
        position=validation.position(body.latitude, body.longitude),
        city=body.city,
    )


@router.patch("/v1/merchants/{ref}/shops/{number}", tags=["shops"], summary="Locate a shop")
def update_shop(
    ref: MerchantRef, number: ShopNumber, body: ShopUpdateIn, caller: Owner, svc: Svc
) -> ShopView:
    """Change where a shop is registered to be: the fields present change, the others
    stay. ``latitude`` and ``longitude`` come together (both null: no position). The
    same body again changes nothing more: no ``Idempotency-Key`` is needed."""
    given = body.model_fields_set
    if ("latitude" in given) != ("longitude" in given):
        raise InvalidInput(
            "shop.position_half",
            N_("Give both the latitude and the longitude, or neither"),
            field="position",
        )
    position = validation.position(body.latitude, body.longitude) if "latitude" in given else KEEP
    city = body.city if "city" in given else KEEP
    return svc.tp.merchants.update_shop(
        merchant_ref(caller, ref), number, caller.actor, position=position, city=city
    )


@router.post("/v1/merchants/{ref}/shops/{number}/close", tags=["shops"], summary="Close a shop")
def close_shop(
    ref: MerchantRef, number: ShopNumber, caller: Owner, svc: Svc, _key: Key
) -> ShopView:
    """Close a shop; refused while terminals are bound to it."""
    return svc.tp.merchants.close_shop(merchant_ref(caller, ref), number, caller.actor)
