"""Receipts and e-signatures of payments.

Every payment that moved money (or held it: a pre-authorisation) has a receipt: approved,
partly or fully refunded, voided or completed payments, refunds included. Pending,
declined, timed-out, reversed, expired and canceled payments have none, and their
receipt links answer "not found" like a wrong link: there is nothing a customer could
keep as a record of a payment.

A receipt link needs no stored secret: its token is a keyed hash of the payment id under
the master key (the keystore's ``token``), 128 bits of it, so nobody can guess the link
of a payment, and checking a link costs no database read until the token is right.

The cardholder's signature (电签) is one PNG per approved card payment, attached once.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tillpoint.context import Context
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.merchants.models import Merchant, Shop
from tillpoint.payments.models import Payment, PaymentSignature, PaymentStatus
from tillpoint.payments.online import visible_payment
from tillpoint.receipts import escpos, layout
from tillpoint.receipts.slip import NO_SIGNATURE, signature_needed
from tillpoint.receipts.views import CARD_ORGS, ReceiptView, SignatureView
from tillpoint.terminals.models import Terminal, TerminalBatch

_TEMPLATES = Path(__file__).resolve().parent / "templates"

RECEIPT_STATUSES = frozenset(layout.STATUSES)
UNDONE = (PaymentStatus.VOIDED, PaymentStatus.REFUNDED)  # shown in red
SIGNABLE_STATUSES = (PaymentStatus.APPROVED, PaymentStatus.COMPLETED)
TOKEN_HEX = 32  # 128 bits of the keyed hash
PATH_PREFIX = "/r/"
_REF = re.compile(rf"([1-9][0-9]{{0,18}})-([0-9a-f]{{{TOKEN_HEX}}})")

PNG = "image/png"
ENTRY_TAPPED = "07"  # field 22's contactless entry mode, as a payment keeps it
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 256 * 1024
MAX_SIGNATURE_SIDE_PX = 2048  # signature pads give a few hundred; this bounds decoding


class SignatureFile(NamedTuple):
    image: bytes
    content_type: str


@cache
def _templates() -> Environment:
    return Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))


def qr_svg(url: str) -> str:
    """The QR code of a link, as an ``<svg>`` element that scales (a viewBox, no size)
    and stands alone as a file too (its namespace)."""
    out = io.BytesIO()
    segno.make_qr(url, error="m").save(
        out, kind="svg", xmldecl=False, omitsize=True, border=2, dark="#1d1d1f", nl=False
    )
    return out.getvalue().decode()


class ReceiptService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- links --------------------------------------------------------------------------

    def token(self, payment_id: int) -> str:
        return self.ctx.keystore.token(f"receipt:{payment_id}", kind="receipt")[:TOKEN_HEX]

    def path(self, payment_id: int) -> str:
        """``/r/<payment id>-<token>``: the receipt page, for anyone who has the link."""
        return f"{PATH_PREFIX}{payment_id}-{self.token(payment_id)}"

    def url(self, payment_id: int, base_url: str) -> str:
        """The receipt page's absolute address under ``base_url`` (``https://pay.example``)."""
        return base_url.rstrip("/") + self.path(payment_id)

    def resolve(self, ref: str) -> int:
        """The payment a link's ``<id>-<token>`` names; a malformed or wrong one is not
        found, exactly as a payment that does not exist."""
        match = _REF.fullmatch(ref)
        if match is None or not hmac.compare_digest(
            match[2], self.token(payment_id := int(match[1]))
        ):
            raise _no_such_receipt()
        return payment_id

    # --- receipts -----------------------------------------------------------------------

    def receipt(self, payment_id: int, *, merchant_id: int | None = None) -> ReceiptView:
        """A payment's receipt; with ``merchant_id``, only that merchant's payment."""
        with self.ctx.db.read() as s:
            p = visible_payment(s, payment_id, merchant_id)
            if p.status not in RECEIPT_STATUSES:
                raise NotFound(
                    "receipt.not_available",
                    N_("Payment {id} is {status}: it has no receipt"),
                    id=payment_id,
                    status=p.status,
                )
            return _view(s, p)

    def public_receipt(self, ref: str) -> ReceiptView:
        """The receipt a link (``<id>-<token>``) opens; whatever is wrong, not found."""
        try:
            return self.receipt(self.resolve(ref))
        except NotFound:
            raise _no_such_receipt() from None

    def html(self, r: ReceiptView, url: str) -> str:
        """The receipt page for the link ``url``: both languages, inline styles and QR
        code, the signature loaded from ``<url>/signature.png``."""
        return (
            _templates()
            .get_template("receipt.html")
            .render(
                r=r,
                rows=layout.rows(r),
                L=layout.LABELS,
                status=layout.STATUSES[r.status],
                amount=layout.amount_parts(r),
                undone=r.status in UNDONE,
                acknowledgement=layout.ACKNOWLEDGEMENT,
                qr=qr_svg(url),
                signature_src=url.rsplit("/", 1)[-1] + "/signature.png",  # beside the page
                no_signature=NO_SIGNATURE,
            )
        )

    @staticmethod
    def not_found_html() -> str:
        return _templates().get_template("not_found.html").render(L=layout.LABELS)

    def printout(
        self,
        payment_id: int,
        base_url: str,
        *,
        columns: int = escpos.Columns.NARROW,
        merchant_id: int | None = None,
    ) -> bytes:
        """The receipt as ESC/POS bytes for a printer ``columns`` characters wide."""
        r = self.receipt(payment_id, merchant_id=merchant_id)
        signature = self.signature(payment_id).image if r.signed else None
        return escpos.render(
            r, self.url(payment_id, base_url), columns=columns, signature=signature
        )

    # --- signatures ---------------------------------------------------------------------

    def attach_signature(
        self,
        payment_id: int,
        image: bytes,
        content_type: str = PNG,
        *,
        merchant_id: int | None = None,
    ) -> SignatureView:
        """Attach the cardholder's signature to an approved card payment, once."""
        with self.ctx.db.read() as s:
            visible_payment(s, payment_id, merchant_id)  # another merchant's: not found, first
        check_png(image, content_type)
        now = self.ctx.now()
        digest = hashlib.sha256(image).hexdigest()
        try:
            with self.ctx.db.transaction(invalidate=False) as s:
                p = visible_payment(s, payment_id, merchant_id)
                if p.card_org not in CARD_ORGS:
                    raise Refused(
                        "signature.not_card",
                        N_("Payment {id} was not paid by card: only card payments are signed"),
                        id=payment_id,
                    )
                if p.status not in SIGNABLE_STATUSES:
                    raise Refused(
                        "signature.status",
                        N_("Payment {id} is {status}: only an approved card payment is signed"),
                        id=payment_id,
                        status=p.status,
                    )
                if _signed(s, payment_id):
                    raise _signed_already(payment_id)
                s.add(
                    PaymentSignature(
                        payment_id=payment_id,
                        image=image,
                        content_type=content_type,
                        sha256=digest,
                        created_at=now,
                    )
                )
        except IntegrityError:  # the same signature raced itself in
            raise _signed_already(payment_id) from None
        return SignatureView(
            payment_id=payment_id,
            content_type=content_type,
            size_bytes=len(image),
            sha256=digest,
            created_at=now,
        )

    def signature(self, payment_id: int, *, merchant_id: int | None = None) -> SignatureFile:
        with self.ctx.db.read() as s:
            visible_payment(s, payment_id, merchant_id)
            sig = s.get(PaymentSignature, payment_id)
            if sig is None:
                raise NotFound(
                    "signature.not_found", N_("Payment {id} has no signature"), id=payment_id
                )
            return SignatureFile(sig.image, sig.content_type)

    def public_signature(self, ref: str) -> SignatureFile:
        """The signature on the receipt a link opens; whatever is wrong, not found."""
        try:
            return self.signature(self.public_receipt(ref).payment_id)
        except NotFound:
            raise _no_such_receipt() from None


def check_png(image: bytes, content_type: str = PNG) -> None:
    """A signature must really be a PNG (its magic bytes, then Pillow reading all of
    it), of at most ``MAX_SIGNATURE_BYTES`` and ``MAX_SIGNATURE_SIDE_PX`` a side."""
    if content_type != PNG:
        raise InvalidInput(
            "signature.content_type",
            N_("A signature is a PNG image: send content_type {png}"),
            png=PNG,
        )
    if len(image) > MAX_SIGNATURE_BYTES:
        raise signature_too_large()
    not_png = InvalidInput("signature.not_png", N_("The signature is not a readable PNG image"))
    if not image.startswith(PNG_MAGIC):
        raise not_png
    try:
        with Image.open(io.BytesIO(image), formats=["PNG"]) as img:
            width, height = img.size
            if max(width, height) > MAX_SIGNATURE_SIDE_PX:
                raise InvalidInput(
                    "signature.dimensions",
                    N_("A signature image is at most {px} × {px} pixels"),
                    px=MAX_SIGNATURE_SIDE_PX,
                )
            img.verify()  # every chunk's checksum; the image is unusable after this
        with Image.open(io.BytesIO(image), formats=["PNG"]) as img:
            img.load()  # and every pixel decodes
    except InvalidInput:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise not_png from None


def signature_too_large() -> InvalidInput:
    return InvalidInput(
        "signature.too_large",
        N_("A signature image is at most {kib} KiB"),
        kib=MAX_SIGNATURE_BYTES // 1024,
    )


def _no_such_receipt() -> NotFound:
    return NotFound("receipt.not_found", N_("No such receipt"))


def _signed_already(payment_id: int) -> Refused:
    return Refused("signature.exists", N_("Payment {id} already has a signature"), id=payment_id)


def _view(s: Session, p: Payment) -> ReceiptView:
    merchant = s.get_one(Merchant, p.merchant_id)
    shop = s.get_one(Shop, p.shop_id)
    tid = (
        s.scalar(select(Terminal.tid).where(Terminal.id == p.terminal_id))
        if p.terminal_id
        else None
    )
    batch_no = (
        s.scalar(select(TerminalBatch.batch_no).where(TerminalBatch.id == p.batch_id))
        if p.batch_id
        else None
    )
    original_rrn = (
        s.scalar(select(Payment.rrn).where(Payment.id == p.original_id)) if p.original_id else None
    )
    return ReceiptView(
        payment_id=p.id,
        kind=p.kind,
        status=p.status,
        merchant_name=merchant.display_name or merchant.legal_name,
        mid=merchant.mid or "",
        shop_number=shop.number,
        shop_name=shop.name,
        shop_address=shop.address,
        tid=tid,
        batch_no=batch_no,
        voucher_no=p.stan,
        method=p.method,
        card_org=p.card_org,
        pan_masked=p.pan_masked,
        amount_minor=p.amount_minor,
        currency=p.currency,
        refunded_minor=p.refunded_minor,
        rrn=p.rrn,
        auth_code=p.auth_code,
        original_rrn=original_rrn,
        reference=p.reference,
        at=p.created_at,
        signed=_signed(s, p.id),
        needs_signature=signature_needed(
            p.kind.value,
            p.amount_minor,
            tapped=p.entry_mode == ENTRY_TAPPED,
            scanned=p.card_org not in CARD_ORGS,
        ),
    )


def _signed(s: Session, payment_id: int) -> bool:
    found = s.scalar(
        select(PaymentSignature.payment_id).where(PaymentSignature.payment_id == payment_id)
    )
    return found is not None
