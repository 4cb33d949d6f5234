"""Application documents and the review's steps (more documents needed, notes, an
approval with its fee plan, limit and first shop), at the service layer."""

import hashlib

import pytest
from sqlalchemy import select
from tests.conftest import business_application, personal_application

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, InvariantViolation, NotFound, Refused
from tillpoint.merchants.documents import MAX_DOCUMENT_BYTES, sniff
from tillpoint.merchants.models import (
    DocumentKind,
    FeePlanAssignment,
    MerchantAction,
    MerchantDocument,
    MerchantStatus,
)

S = MerchantStatus
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"photo of an identity card" * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"a licence" * 10


def test_the_type_is_found_from_the_content_not_the_name() -> None:
    assert (sniff(JPEG), sniff(PNG), sniff(PDF)) == ("image/jpeg", "image/png", "application/pdf")
    assert sniff(b"<html><script>alert(1)</script>") is None
    assert sniff(b"GIF89a....") is None


def test_documents_are_kept_encrypted_and_come_back_whole(tp: Tillpoint) -> None:
    ref = str(tp.merchants.apply(personal_application(), "applicant").id)
    doc = tp.documents.upload(ref, "id_front", JPEG, "applicant")
    assert (doc.kind, doc.content_type, doc.size_bytes) == (
        DocumentKind.ID_FRONT, "image/jpeg", len(JPEG),
    )  # fmt: skip
    assert doc.sha256 == hashlib.sha256(JPEG).hexdigest()
    with tp.ctx.db.read() as s:
        stored = s.scalars(select(MerchantDocument.content_enc)).one()
    assert JPEG not in stored and b"identity card" not in stored and len(stored) > len(JPEG)
    view, clear = tp.documents.content(ref, doc.id)
    assert clear == JPEG and view == doc
    assert [d.id for d in tp.documents.list(ref)] == [doc.id]
    history = tp.merchants.history(ref)
    assert (history[-1].action, history[-1].detail) == (
        MerchantAction.DOCUMENT_UPLOADED,
        "id_front",
    )


def test_a_document_moved_to_another_row_does_not_decrypt(tp: Tillpoint) -> None:
    ref = str(tp.merchants.apply(personal_application(), "applicant").id)
    one = tp.documents.upload(ref, "id_front", JPEG, "applicant")
    two = tp.documents.upload(ref, "id_back", PNG, "applicant")
    with tp.ctx.db.transaction() as s:
        a, b = s.get(MerchantDocument, one.id), s.get(MerchantDocument, two.id)
        assert a is not None and b is not None
        b.content_enc = a.content_enc
    with pytest.raises(InvariantViolation):
        tp.documents.content(ref, two.id)


def test_uploads_refused_by_type_size_kind_and_state(tp: Tillpoint) -> None:
    ref = str(tp.merchants.apply(personal_application(), "applicant").id)
    for kind, content, code in (
        ("id_front", b"<svg onload=alert(1)>", "document.type"),
        ("id_front", b"", "document.empty"),
        ("id_front", b"\xff\xd8\xff" + b"\x00" * MAX_DOCUMENT_BYTES, "document.too_large"),
        ("business_licence", PDF, "document.kind_not_for_merchant"),
        ("passport", JPEG, "document.kind"),
    ):
        with pytest.raises(InvalidInput) as refused:
            tp.documents.upload(ref, kind, content, "applicant")
        assert refused.value.code == code
    assert tp.documents.list(ref) == []
    tp.merchants.reject(ref, "ops-amy", "not a real shop")
    with pytest.raises(Refused):
        tp.documents.upload(ref, "id_front", JPEG, "applicant")
    with pytest.raises(NotFound):
        tp.documents.content(ref, 999)


def test_more_documents_needed_until_every_kind_asked_for_came(tp: Tillpoint) -> None:
    ref = str(tp.merchants.apply(business_application(), "applicant").id)
    asked = tp.merchants.ask_for_documents(
        ref, [DocumentKind.SHOP_PHOTO, DocumentKind.BUSINESS_LICENCE], "clearer photos", "ops-amy"
    )
    assert asked.status is S.MORE_DOCUMENTS and asked.status_reason == "clearer photos"
    assert tp.merchants.asked_documents(ref) == [
        DocumentKind.BUSINESS_LICENCE, DocumentKind.SHOP_PHOTO,
    ]  # fmt: skip
    tp.documents.upload(ref, "shop_photo", JPEG, "applicant")
    assert tp.merchants.get(ref).status is S.MORE_DOCUMENTS
    assert tp.merchants.asked_documents(ref) == [DocumentKind.BUSINESS_LICENCE]
    tp.documents.upload(ref, "business_licence", PDF, "applicant")
    assert tp.merchants.get(ref).status is S.UNDER_REVIEW
    assert tp.merchants.asked_documents(ref) == []
    steps = [(e.action, e.from_status, e.to_status, e.actor) for e in tp.merchants.history(ref)]
    assert steps == [
        (MerchantAction.STATUS, None, S.SUBMITTED, "applicant"),
        (MerchantAction.STATUS, S.SUBMITTED, S.UNDER_REVIEW, "ops-amy"),
        (MerchantAction.DOCUMENTS_ASKED, S.UNDER_REVIEW, S.MORE_DOCUMENTS, "ops-amy"),
        (MerchantAction.DOCUMENT_UPLOADED, S.MORE_DOCUMENTS, S.MORE_DOCUMENTS, "applicant"),
        (MerchantAction.DOCUMENT_UPLOADED, S.MORE_DOCUMENTS, S.MORE_DOCUMENTS, "applicant"),
        (MerchantAction.STATUS, S.MORE_DOCUMENTS, S.UNDER_REVIEW, "applicant"),
    ]


def test_a_reviewer_resumes_or_rejects_while_documents_are_awaited(tp: Tillpoint) -> None:
    ref = str(tp.merchants.apply(personal_application(), "applicant").id)
    tp.merchants.ask_for_documents(ref, [DocumentKind.BANK_CARD], "the card's photo", "amy")
    with pytest.raises(Refused):
        tp.merchants.approve(ref, "amy")
    assert tp.merchants.start_review(ref, "amy").status is S.UNDER_REVIEW
    tp.merchants.ask_for_documents(ref, [DocumentKind.BANK_CARD], "still missing", "amy")
    tp.merchants.ask_for_documents(ref, [DocumentKind.ID_BACK], "and the back", "amy")  # again
    assert tp.merchants.asked_documents(ref) == [DocumentKind.ID_BACK]
    assert tp.merchants.reject(ref, "amy", "no answer").status is S.REJECTED
    with pytest.raises(InvalidInput):
        tp.merchants.ask_for_documents(ref, [], "nothing", "amy")


def test_notes_are_kept_in_the_history(tp: Tillpoint) -> None:
    ref = str(tp.merchants.apply(personal_application(), "applicant").id)
    note = tp.merchants.add_note(ref, "called the applicant", "amy")
    assert (note.action, note.to_status, note.reason) == (
        MerchantAction.NOTE, S.SUBMITTED, "called the applicant",
    )  # fmt: skip
    with pytest.raises(InvalidInput):
        tp.merchants.add_note(ref, "  ", "amy")
    assert tp.merchants.get(ref).status is S.SUBMITTED


def test_approval_sets_plan_limit_and_first_shop_or_nothing(tp: Tillpoint) -> None:
    ref = str(tp.merchants.apply(business_application(), "applicant").id)
    plans = [p.code for p in tp.fees.list_plans()]
    with pytest.raises(NotFound):
        tp.merchants.approve(ref, "amy", fee_plan="NO-SUCH-PLAN", shop_name="Renamed")
    with pytest.raises((InvalidInput, Refused)):
        tp.merchants.approve(ref, "amy", fee_plan=plans[-1], max_terminals=-1)
    unchanged = tp.merchants.get(ref)
    assert unchanged.status is S.SUBMITTED and unchanged.shops[0].name != "Renamed"

    done = tp.merchants.approve(ref, "amy", "fine", fee_plan=plans[-1], max_terminals=3,
                                shop_name="Renamed", shop_address="1 Renamed Road")  # fmt: skip
    assert done.status is S.APPROVED and done.max_terminals == 3
    assert (done.shops[0].name, done.shops[0].address) == ("Renamed", "1 Renamed Road")
    assert tp.fees.current_plan(ref).code == plans[-1]
    with tp.ctx.db.read() as s:
        assert len(s.scalars(select(FeePlanAssignment)).all()) >= 1


def test_checks_run_again_on_what_is_stored(tp: Tillpoint) -> None:
    first = tp.merchants.apply(personal_application(), "applicant")
    checks = tp.merchants.checks(str(first.id))
    assert all(c.passed for c in checks), checks
    tp.merchants.reject(str(first.id), "amy", "try again")
    second = tp.merchants.apply(personal_application(), "applicant")
    duplicate = tp.merchants.checks(str(second.id))[-1]
    assert not duplicate.passed and f"#{first.id}" in duplicate.detail
