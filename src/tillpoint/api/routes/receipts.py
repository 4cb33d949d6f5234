"""Receipts and e-signatures: /v1/payments/{id}/receipt (its link, and the same receipt
as ESC/POS bytes) and /v1/payments/{id}/signature; and the public receipt pages under
/r/, which need no key: the unguessable link is the key (receipts/service.py).

Whatever is wrong with a public link (malformed, wrong token, no such payment, a payment
without a receipt) the answer is the same 404 page, so a link reveals nothing but itself.
"""

from __future__ import annotations

import base64
import math
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from tillpoint.api.deps import ObjectId, Reader, Svc, Taker
from tillpoint.api.idempotency import IdempotentRoute, Key
from tillpoint.api.problems import PROBLEM_RESPONSES
from tillpoint.core.errors import InvalidInput, NotFound
from tillpoint.core.i18n import N_
from tillpoint.http.limits import body_limit
from tillpoint.http.text import Text
from tillpoint.receipts.escpos import Columns
from tillpoint.receipts.service import MAX_SIGNATURE_BYTES, PNG, ReceiptService, qr_svg
from tillpoint.receipts.views import ReceiptView, SignatureView

router = APIRouter(route_class=IdempotentRoute, responses=PROBLEM_RESPONSES)
MAX_BASE64_CHARS = 4 * math.ceil(MAX_SIGNATURE_BYTES / 3)

# Receipts show masked card numbers and amounts: no caching by anyone in between, no
# search engines, and the link (a secret) never leaks to another site as a Referer.
PRIVATE = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}
PUBLIC = {**PRIVATE, "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow"}
PAGE = {**PUBLIC, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
        "img-src 'self'; frame-ancestors 'none'"}  # fmt: skip


def receipts(svc: Svc) -> ReceiptService:
    return ReceiptService(svc.tp.ctx)


Receipts = Annotated[ReceiptService, Depends(receipts)]


def base_url(request: Request, svc: Svc) -> str:
    """Where people reach this server: the public_url setting, else as this request did."""
    return svc.tp.ctx.settings.public_url or str(request.base_url)


BaseUrl = Annotated[str, Depends(base_url)]


class ReceiptLinks(BaseModel):
    payment_id: int
    url: str = Field(description="The receipt page: anyone who has this link can open it")
    qr_svg_url: str = Field(description="The QR code of the receipt page's link, as SVG")
    escpos_url: str = Field(description="The receipt as ESC/POS bytes (needs a key)")
    signature_url: str | None = Field(description="The signature image, if one is attached")
    receipt: ReceiptView


class NewSignature(BaseModel):
    image_base64: Text = Field(
        min_length=1,
        max_length=MAX_BASE64_CHARS,
        description=f"The PNG image, base64 (no line breaks); at most "
        f"{MAX_SIGNATURE_BYTES // 1024} KiB decoded",
    )
    content_type: Text = Field(default=PNG, max_length=100, examples=[PNG])


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:  # binascii.Error, or characters that are not even ASCII
        raise InvalidInput(
            "signature.base64", N_("image_base64 is not valid base64 (no line breaks)")
        ) from None


@router.get("/v1/payments/{payment_id}/receipt", tags=["receipts"])
def get_receipt(
    payment_id: ObjectId, caller: Reader, service: Receipts, base: BaseUrl
) -> ReceiptLinks:
    """A payment's receipt and the links to it. Approved, refunded, voided and completed
    payments (and refunds) have one; pending, declined or expired ones do not (404)."""
    r = service.receipt(payment_id, merchant_id=caller.merchant_id)
    url = service.url(payment_id, base)
    return ReceiptLinks(
        payment_id=payment_id,
        url=url,
        qr_svg_url=f"{url}/qr.svg",
        escpos_url=f"{base.rstrip('/')}/v1/payments/{payment_id}/receipt.escpos",
        signature_url=f"{url}/signature.png" if r.signed else None,
        receipt=r,
    )


@router.get(
    "/v1/payments/{payment_id}/receipt.escpos",
    tags=["receipts"],
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "ESC/POS"}},
)
def get_receipt_escpos(
    payment_id: ObjectId,
    caller: Reader,
    service: Receipts,
    base: BaseUrl,
    columns: Columns = Columns.NARROW,
) -> Response:
    """The receipt as ESC/POS bytes for a thermal printer: 32 columns (58 mm paper) or
    48 (80 mm), Chinese in GB18030, the amount in double size, the link's QR code, the
    signature, and a cut. Send it to the printer as it is."""
    data = service.printout(payment_id, base, columns=columns, merchant_id=caller.merchant_id)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={
            **PRIVATE,
            "Content-Disposition": f'attachment; filename="receipt-{payment_id}.bin"',
        },
    )


@router.post(
    "/v1/payments/{payment_id}/signature",
    status_code=201,
    tags=["receipts"],
    openapi_extra=body_limit(MAX_BASE64_CHARS + 4096),  # the image, base64, and its JSON
)
def attach_signature(
    payment_id: ObjectId, body: NewSignature, caller: Taker, service: Receipts, _key: Key
) -> SignatureView:
    """Attach the cardholder's signature (电签) to an approved card payment, once: a PNG
    of at most 256 KiB and 2048 pixels a side."""
    return service.attach_signature(
        payment_id, _decode(body.image_base64), body.content_type, merchant_id=caller.merchant_id
    )


@router.get(
    "/v1/payments/{payment_id}/signature",
    tags=["receipts"],
    response_class=Response,
    responses={200: {"content": {PNG: {}}, "description": "The signature image"}},
)
def get_signature(payment_id: ObjectId, caller: Reader, service: Receipts) -> Response:
    """The signature attached to a payment."""
    sig = service.signature(payment_id, merchant_id=caller.merchant_id)
    return Response(sig.image, media_type=sig.content_type, headers=PRIVATE)


# --- the public pages ----------------------------------------------------------------------


def _not_found() -> HTMLResponse:
    return HTMLResponse(ReceiptService.not_found_html(), status_code=404, headers=PAGE)


@router.get("/r/{ref}", response_class=HTMLResponse, include_in_schema=False)
def receipt_page(ref: Text, service: Receipts, base: BaseUrl) -> HTMLResponse:
    """The receipt page of the link ``/r/<payment id>-<token>``."""
    try:
        r = service.public_receipt(ref)
    except NotFound:
        return _not_found()
    return HTMLResponse(service.html(r, service.url(r.payment_id, base)), headers=PAGE)


@router.get("/r/{ref}/qr.svg", include_in_schema=False)
def receipt_qr(ref: Text, service: Receipts, base: BaseUrl) -> Response:
    """The QR code of the receipt page's link."""
    try:
        r = service.public_receipt(ref)
    except NotFound:
        return _not_found()
    return Response(qr_svg(service.url(r.payment_id, base)), media_type="image/svg+xml",
                    headers=PUBLIC)  # fmt: skip


@router.get("/r/{ref}/signature.png", include_in_schema=False)
def receipt_signature(ref: Text, service: Receipts) -> Response:
    """The signature on the receipt (the page shows it)."""
    try:
        sig = service.public_signature(ref)
    except NotFound:
        return _not_found()
    return Response(sig.image, media_type=sig.content_type, headers=PUBLIC)
