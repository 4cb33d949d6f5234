"""Application documents over the REST API: multipart upload, the body limit of that
route alone, the list and the content, and who may reach them."""

from __future__ import annotations

from tests.api.conftest import ApiEnv
from tests.conftest import business_application, personal_application
from tillpoint.access.models import Role
from tillpoint.merchants.documents import MAX_DOCUMENT_BYTES
from tillpoint.merchants.models import DocumentKind

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"card" * 100
PDF = b"%PDF-1.4\n" + b"licence" * 50


def upload(api: ApiEnv, who: str, ref: object, kind: str, content: bytes, name: str = "a.jpg"):  # type: ignore[no-untyped-def]
    return api.client.post(
        f"/v1/merchants/{ref}/documents",
        headers=api.headers(who),
        data={"kind": kind},
        files={"file": (name, content, "image/jpeg")},
    )


def test_operations_upload_list_and_read_a_document(api: ApiEnv) -> None:
    ref = api.tp.merchants.apply(personal_application(5), "applicant").id
    done = upload(api, "ops", ref, "id_front", JPEG, name="evil.html")
    assert done.status_code == 201, done.text
    doc = done.json()
    assert (doc["kind"], doc["content_type"], doc["size_bytes"]) == (
        "id_front", "image/jpeg", len(JPEG),
    )  # fmt: skip
    listed = api.get("reviewer", f"/v1/merchants/{ref}/documents").json()
    assert [d["id"] for d in listed["data"]] == [doc["id"]]
    got = api.get("reviewer", f"/v1/merchants/{ref}/documents/{doc['id']}")
    assert got.status_code == 200 and got.content == JPEG
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"] == f'attachment; filename="id_front-{doc["id"]}.jpg"'


def test_the_type_comes_from_the_content_and_the_size_is_limited(api: ApiEnv) -> None:
    ref = api.tp.merchants.apply(business_application(5), "applicant").id
    html = upload(api, "ops", ref, "business_licence", b"<html>hi</html>", name="x.pdf")
    assert html.status_code == 422 and html.json()["code"] == "document.type"
    assert upload(api, "ops", ref, "id_front", JPEG).json()["code"] == (
        "document.kind_not_for_merchant"
    )
    big = b"%PDF-" + b"0" * MAX_DOCUMENT_BYTES  # over 10 MB by 5 bytes: the service says so
    assert upload(api, "ops", ref, "business_licence", big).json()["code"] == "document.too_large"
    huge = b"%PDF-" + b"0" * (MAX_DOCUMENT_BYTES + 200_000)  # over the route's body limit
    assert upload(api, "ops", ref, "business_licence", huge).status_code == 413
    ok = upload(api, "ops", ref, "business_licence", PDF, name="licence.jpg")
    assert ok.status_code == 201 and ok.json()["content_type"] == "application/pdf"
    assert (
        api.get("ops", f"/v1/merchants/{ref}/documents").json()["data"][0]["id"]
        == (ok.json()["id"])
    )


def test_other_routes_keep_the_small_body_limit(api: ApiEnv) -> None:
    big = {"reason": "x" * 100_000}
    assert api.post("ops", f"/v1/merchants/{api.mid_a}/suspend", json=big).status_code == 413


def test_a_merchant_sees_only_its_own_documents(api: ApiEnv) -> None:
    # An application whose documents came in before it was approved, with an owner key.
    ref = api.tp.merchants.apply(personal_application(6), "applicant").id
    doc = upload(api, "ops", ref, "id_front", JPEG).json()
    mid = api.tp.merchants.approve(str(ref), "ops").mid
    assert mid is not None
    own = api.tp.access.create_key(Role.MERCHANT_OWNER, "own", "t", merchant_ref=mid).secret
    api.keys["owner_c"] = own
    path = f"/v1/merchants/{mid}/documents"
    assert api.get("owner_c", path).json()["data"][0]["id"] == doc["id"]
    assert api.get("owner_c", f"{path}/{doc['id']}").content == JPEG
    for other in ("owner_a", "owner_b"):  # another merchant's: as if it did not exist
        assert api.get(other, path).status_code == 404
        assert api.get(other, f"{path}/{doc['id']}").status_code == 404
        assert api.get(other, f"/v1/merchants/{ref}/documents").status_code == 404
    assert api.get("staff_a", f"/v1/merchants/{api.mid_a}/documents").status_code == 403
    # The owner of A asks for A's documents with B's document id: not found either.
    assert api.get("owner_a", f"/v1/merchants/{api.mid_a}/documents/{doc['id']}").status_code == (
        404
    )
    # An approved merchant's application is closed: no more uploads.
    assert upload(api, "owner_c", mid, "id_back", JPEG).status_code == 409
    assert upload(api, "owner_b", ref, "id_back", JPEG).status_code == 404


def test_asking_for_documents_and_the_upload_that_answers(api: ApiEnv) -> None:
    ref = api.tp.merchants.apply(personal_application(7), "applicant").id
    asked = api.post("reviewer", f"/v1/merchants/{ref}/ask_documents",
                     json={"kinds": ["bank_card"], "note": "a clearer photo"})  # fmt: skip
    assert asked.status_code == 200 and asked.json()["status"] == "more_documents"
    assert upload(api, "ops", ref, "bank_card", JPEG).status_code == 201
    assert api.get("ops", f"/v1/merchants/{ref}").json()["status"] == "under_review"
    history = api.get("ops", f"/v1/merchants/{ref}/history").json()["data"]
    assert [h["action"] for h in history][-3:] == [
        "documents_asked", "document_uploaded", "status",
    ]  # fmt: skip
    assert api.tp.merchants.asked_documents(str(ref)) == []
    approved = api.post("reviewer", f"/v1/merchants/{ref}/approve", json={"fee_plan": "NOPE"})
    assert approved.status_code == 404
    plan = api.tp.fees.list_plans()[-1].code
    approved = api.post("reviewer", f"/v1/merchants/{ref}/approve",
                        json={"fee_plan": plan, "max_terminals": 1})  # fmt: skip
    assert approved.status_code == 200 and approved.json()["max_terminals"] == 1
    assert api.tp.fees.current_plan(str(ref)).code == plan
    assert DocumentKind.BANK_CARD.value == "bank_card"
