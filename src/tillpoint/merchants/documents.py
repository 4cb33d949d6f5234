"""An application's documents: identity card photos, the bank card, the business
licence, shop photos.

- A document is a JPEG, PNG or PDF of at most ``MAX_DOCUMENT_BYTES``. Its type is found
  from its first bytes (its "magic number"), never from its name or the type the
  uploader declared: a file that is none of the three is refused.
- It is stored encrypted in the database (AES-256-GCM under a sub-key of the master key
  kept for documents, the merchant and document ids as associated data: a document's
  bytes copied onto another row do not decrypt). Its SHA-256 is kept in clear, to find
  the same file uploaded twice and to check what decrypts. Neither its content nor its
  name is ever logged.
- Uploading is allowed while the application is open (submitted, under review, more
  documents needed). When the reviewer asked for documents and one of every kind asked
  for has come in, the application goes back under review by itself.
- Every upload is an entry in the merchant's history (who, when, which kind).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from tillpoint.context import Context, check_actor
from tillpoint.core.errors import InvalidInput, InvariantViolation, NotFound, Refused
from tillpoint.core.i18n import N_
from tillpoint.merchants.models import (
    DocumentKind,
    MerchantAction,
    MerchantDocument,
    MerchantStatus,
)
from tillpoint.merchants.services import (
    OPEN_APPLICATIONS,
    MerchantService,
    check_document_kinds,
    find_merchant,
    merchant_label,
    outstanding_documents,
)
from tillpoint.merchants.views import DocumentView

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
MAX_DOCUMENTS = 30  # per merchant: enough for re-uploads and shop photos, and bounded

# Content type and the file name extension it is served with.
JPEG, PNG, PDF = "image/jpeg", "image/png", "application/pdf"
EXTENSIONS = {JPEG: "jpg", PNG: "png", PDF: "pdf"}
IMAGES = (JPEG, PNG)


def sniff(content: bytes) -> str | None:
    """The content type from the first bytes: JPEG, PNG or PDF, or None."""
    if content.startswith(b"\xff\xd8\xff"):
        return JPEG
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if content.startswith(b"%PDF-"):
        return PDF
    return None


def file_name(doc: DocumentView) -> str:
    """A safe name to download a document under: its kind and id, e.g. id_front-7.jpg."""
    return f"{doc.kind.value}-{doc.id}.{EXTENSIONS.get(doc.content_type, 'bin')}"


class DocumentService:
    def __init__(self, ctx: Context, merchants: MerchantService) -> None:
        self.ctx = ctx
        self.merchants = merchants

    def upload(
        self, ref: str, kind: DocumentKind | str, content: bytes, actor: str
    ) -> DocumentView:
        """Keep a document of an application (one unit of work: the document, its history
        entry and, when it was the last one asked for, the return under review)."""
        actor = check_actor(actor)
        try:
            kind = DocumentKind(kind)
        except ValueError:
            raise InvalidInput(
                "document.kind", N_("{kind!r} is not a kind of document"), kind=kind
            ) from None
        if not content:
            raise InvalidInput("document.empty", N_("The file is empty"))
        if len(content) > MAX_DOCUMENT_BYTES:
            raise InvalidInput(
                "document.too_large",
                N_("A document is at most {mb} MB"),
                mb=MAX_DOCUMENT_BYTES // (1024 * 1024),
            )
        content_type = sniff(content)
        if content_type is None:
            raise InvalidInput(
                "document.type", N_("A document is a JPEG or PNG image or a PDF file")
            )
        digest = hashlib.sha256(content).hexdigest()
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            if m.status not in OPEN_APPLICATIONS:
                raise Refused(
                    "document.application_closed",
                    N_("Merchant {ref} is {status}: its application takes no more documents"),
                    ref=merchant_label(m),
                    status=m.status,
                )
            check_document_kinds(m, [kind])
            count = s.scalar(
                select(func.count())
                .select_from(MerchantDocument)
                .where(MerchantDocument.merchant_id == m.id)
            )
            if (count or 0) >= MAX_DOCUMENTS:
                raise Refused(
                    "document.too_many",
                    N_("An application has at most {n} documents"),
                    n=MAX_DOCUMENTS,
                )
            doc = MerchantDocument(
                merchant_id=m.id,
                kind=kind,
                content_type=content_type,
                size_bytes=len(content),
                sha256=digest,
                content_enc=b"",  # sealed below, once the id names it
                uploaded_by=actor,
                uploaded_at=self.ctx.now(),
            )
            s.add(doc)
            s.flush()
            doc.content_enc = self.ctx.keystore.seal_document(content, m.id, doc.id)
            waiting = outstanding_documents(s, m)
            self.merchants.record(s, m, m.status, m.status, actor, None,
                                  action=MerchantAction.DOCUMENT_UPLOADED,
                                  detail=kind.value)  # fmt: skip
            if waiting and set(waiting) <= {kind}:
                self.merchants.transition(s, m, MerchantStatus.UNDER_REVIEW, actor,
                                          "the documents asked for have come in")  # fmt: skip
            s.flush()
            return DocumentView.model_validate(doc)

    def list(self, ref: str) -> list[DocumentView]:
        """An application's documents, in the order they came (metadata only)."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            rows = s.execute(
                select(
                    MerchantDocument.id,
                    MerchantDocument.kind,
                    MerchantDocument.content_type,
                    MerchantDocument.size_bytes,
                    MerchantDocument.sha256,
                    MerchantDocument.uploaded_by,
                    MerchantDocument.uploaded_at,
                )
                .where(MerchantDocument.merchant_id == m.id)
                .order_by(MerchantDocument.id)
                .limit(MAX_DOCUMENTS * 2)
            ).all()
            return [DocumentView.model_validate(row._asdict()) for row in rows]

    def content(self, ref: str, document_id: int) -> tuple[DocumentView, bytes]:
        """A document and its clear bytes (checked against the SHA-256 kept)."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            doc = s.get(MerchantDocument, document_id)
            if doc is None or doc.merchant_id != m.id:
                raise NotFound(
                    "document.not_found",
                    N_("Merchant {ref} has no document {id}"),
                    ref=ref,
                    id=document_id,
                )
            clear = self.ctx.keystore.open_document(doc.content_enc, m.id, doc.id)
            if hashlib.sha256(clear).hexdigest() != doc.sha256:
                raise InvariantViolation(
                    "document.digest", "A stored document does not match its SHA-256"
                )
            return DocumentView.model_validate(doc), clear
