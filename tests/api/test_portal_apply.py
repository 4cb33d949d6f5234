"""Applying for a POS in the portal, through the browser's requests: signing up, the
application form of each kind, its errors (which write nothing), the documents (their
types, sizes and who may open them), and the states as the applicant reads them."""

from __future__ import annotations

import dataclasses
import html
import re

import httpx
from sqlalchemy import func, select

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import CSRF
from tests.api.test_console_auth import sign_in as console_sign_in
from tests.conftest import business_application, personal_application
from tillpoint.access.models import AccountRole, AuditRecord
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner
from tillpoint.merchants.documents import MAX_DOCUMENT_BYTES
from tillpoint.merchants.models import DocumentKind, Merchant, MerchantDocument
from tillpoint.merchants.services import Application

PASSWORD = "my own password 1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n" + b"licence" * 50
REVIEWER = "console:rita@acquirer.cn"


def sign_up(api: ApiEnv, login: str = "zhang@example.com", **changes: str) -> httpx.Response:
    api.client.cookies.clear()
    form = api.client.get("/portal/sign-up?lang=en")
    token = CSRF.search(form.text)
    assert token is not None
    data = {"csrf_token": token.group(1), "name": "张三 Zhang San", "login": login,
            "password": PASSWORD, "password_again": PASSWORD, **changes}  # fmt: skip
    return api.client.post("/portal/sign-up", data=data, follow_redirects=False)


def token(api: ApiEnv) -> str:
    found = CSRF.search(api.client.get("/portal/application").text)
    assert found is not None
    return found.group(1)


def form_of(app: Application) -> dict[str, str]:
    """What a person types into the form for ``app``."""
    values = {k: str(v) for k, v in dataclasses.asdict(app).items() if v is not None}
    return {**values, "kind": app.kind.value}


def apply(api: ApiEnv, values: dict[str, str]) -> httpx.Response:
    data = {**values, "csrf_token": token(api)}
    return api.client.post("/portal/application?lang=en", data=data, follow_redirects=False)


def upload(api: ApiEnv, kind: str, content: bytes, name: str = "doc.png") -> httpx.Response:
    return api.client.post("/portal/application/documents",
                           data={"csrf_token": token(api), "kind": kind},
                           files={"file": (name, content, "image/png")},
                           follow_redirects=False)  # fmt: skip


def flash(api: ApiEnv, response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    shown = api.client.get(response.headers["location"].split("#")[0] + "?lang=en")
    found = re.search(r'<p class="flash (ok|error)"[^>]*>([^<]*)</p>', shown.text)
    assert found is not None
    return f"{found.group(1)}: {html.unescape(found.group(2))}"


def my_merchant(api: ApiEnv, login: str = "zhang@example.com") -> int:
    merchant_id = api.tp.accounts.get(login).merchant_id
    assert merchant_id is not None
    return merchant_id


def applicants(api: ApiEnv) -> list[str]:
    return [a.login for a in api.tp.accounts.list(role=AccountRole.APPLICANT)]


def count(api: ApiEnv, table: type[Merchant] | type[MerchantDocument]) -> int:
    with api.tp.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


def test_a_person_signs_up_and_is_taken_to_the_application(api: ApiEnv) -> None:
    sign_in = api.client.get("/portal/sign-in?lang=en").text
    assert 'href="/portal/sign-up"' in sign_in
    assert 'href="/portal/sign-up"' not in api.client.get("/console/sign-in").text
    form = api.client.get("/portal/sign-up?lang=en")
    assert form.status_code == 200 and "Apply for a POS" in form.text
    assert "Path=/portal/sign-up" in form.headers["set-cookie"]  # the form's own token
    refused = api.client.post("/portal/sign-up", data={"name": "X", "login": "x@example.com",
                              "password": PASSWORD, "password_again": PASSWORD})  # fmt: skip
    assert refused.status_code == 403 and applicants(api) == []

    done = sign_up(api)
    assert (done.status_code, done.headers["location"]) == (303, "/portal/application")
    assert "tp_session=" in done.headers["set-cookie"]
    assert api.client.get("/portal", follow_redirects=False).headers["location"] == (
        "/portal/application"
    )
    page = api.client.get("/portal/application?lang=en").text
    assert 'href="/portal/application?kind=personal"' in page
    assert 'href="/portal/application?kind=business"' in page
    assert api.tp.accounts.get("zhang@example.com").roles == (AccountRole.APPLICANT,)
    # Signed in, the sign-up page leads home: the portal's, or a member of staff's.
    home = api.client.get("/portal/sign-up", follow_redirects=False)
    assert (home.status_code, home.headers["location"]) == (303, "/portal")
    api.client.cookies.clear()
    assert console_sign_in(api, DEMO_ADMIN, DEMO_PASSWORD).status_code == 303
    assert api.client.get("/portal/sign-up", follow_redirects=False).headers["location"] == (
        "/console"
    )


def test_a_bad_sign_up_says_why_keeps_what_was_typed_and_makes_nothing(api: ApiEnv) -> None:
    differ = sign_up(api, "li@example.com", password_again="another password")
    assert differ.status_code == 422 and "The two passwords differ" in differ.text
    assert 'value="li@example.com"' in differ.text and PASSWORD not in differ.text
    short = sign_up(api, "li@example.com", password="short", password_again="short")
    assert short.status_code == 422 and "10 to 200 printable characters" in short.text
    assert applicants(api) == []
    assert sign_up(api).status_code == 303
    taken = sign_up(api)
    assert taken.status_code == 409 and "exists already" in taken.text
    assert len(applicants(api)) == 1


def test_sign_ups_from_one_address_are_limited(api: ApiEnv) -> None:
    for n in range(5):
        assert sign_up(api, f"person{n}@example.com").status_code == 303
    throttled = sign_up(api, "person5@example.com")
    assert throttled.status_code == 429 and "Too many accounts made from here" in throttled.text
    assert len(applicants(api)) == 5


def test_a_person_applies_and_sees_the_application(api: ApiEnv) -> None:
    sign_up(api)
    form = api.client.get("/portal/application?kind=personal&lang=en").text
    assert 'name="id_number"' in form and 'name="business_licence_no"' not in form
    assert 'name="bank_account_name"' not in form  # a person is paid in their own name
    assert 'value="张三 Zhang San"' in form  # the account's name, to start with
    assert '<option value="5812">Restaurants (5812)</option>' in form
    assert 'value="6010"' not in form  # a category only a business may take
    app = personal_application(8, legal_name="张三 Zhang San", bank_account_name="")
    done = apply(api, form_of(app))
    assert flash(api, done).startswith("ok: Your application #")
    merchant = api.tp.merchants.get(str(my_merchant(api)))
    assert (merchant.legal_name, merchant.bank_account_name, merchant.contact_name) == (
        "张三 Zhang San", "张三 Zhang San", "张三 Zhang San",
    )  # fmt: skip
    page = api.client.get("/portal/application?lang=en").text
    assert f"Your application #{merchant.id}" in page and "Submitted" in page
    assert app.bank_account_no not in page and app.id_number not in page  # type: ignore[operator]
    assert merchant.bank_account_masked in page
    assert page.count('class="status status-doc-missing"') == 3
    assert page.count('enctype="multipart/form-data"') == 3  # one upload per kind
    # The form is not offered again while the application is open.
    again = api.client.get("/portal/application?kind=business&lang=en").text
    assert 'name="business_licence_no"' not in again
    second = apply(api, form_of(business_application(8)))
    assert second.status_code == 400 and "You have applied already" in second.text
    assert count(api, Merchant) == 3  # the two demo merchants and this one


def test_a_business_applies(api: ApiEnv) -> None:
    sign_up(api, "13912345678")
    form = api.client.get("/portal/application?kind=business&lang=en").text
    assert 'name="business_licence_no"' in form and 'name="id_number"' not in form
    assert 'value="13912345678"' in form  # the contact phone, from the account
    assert flash(api, apply(api, form_of(business_application(8)))).startswith("ok:")
    merchant = api.tp.merchants.get(str(my_merchant(api, "13912345678")))
    assert merchant.kind.value == "business" and merchant.shops[0].address.startswith("上海")
    page = api.client.get("/portal/application?lang=en").text
    assert page.count('class="status status-doc-missing"') == 5


def test_bad_input_shows_on_the_form_keeps_it_and_writes_nothing(api: ApiEnv) -> None:
    sign_up(api)
    before = count(api, Merchant)
    values = form_of(personal_application(8, id_number="110101199001011230"))
    bad = apply(api, values)
    assert bad.status_code == 400
    assert "Identity number fails its check digit" in html.unescape(bad.text)
    assert re.search(r'<input id="id_number"[^>]*aria-invalid="true"', bad.text)
    assert 'value="110101199001011230"' in bad.text  # kept in its field, for correcting
    assert f'value="{values["bank_account_no"]}"' in bad.text
    assert bad.text.count(values["bank_account_no"]) == 1  # in its field, nowhere else
    assert '<option value="5812" selected>' in bad.text
    short = apply(api, {**form_of(personal_application(8)), "shop_address": "x"})
    assert "Shop address must be 4-300 printable characters" in html.unescape(short.text)
    assert re.search(r'<input id="shop_address"[^>]*aria-invalid="true"', short.text)
    region = apply(api, {**form_of(personal_application(8)), "region_code": "abc"})
    assert re.search(r'<input id="region_code"[^>]*aria-invalid="true"', region.text)
    assert count(api, Merchant) == before
    assert api.tp.accounts.get("zhang@example.com").merchant_id is None
    with api.tp.ctx.db.read() as s:
        refusals = s.scalars(select(AuditRecord.detail).where(
            AuditRecord.action == "console application submit")).all()  # fmt: skip
    assert len(refusals) == 3 and refusals[0]["refused"] == "application.id_number"  # type: ignore[index]
    # Without the session's token nothing is even read.
    data = form_of(personal_application(8))
    assert api.client.post("/portal/application", data=data).status_code == 403
    assert count(api, Merchant) == before


def test_documents_are_uploaded_checked_and_kept_for_their_merchant_only(api: ApiEnv) -> None:
    sign_up(api)
    apply(api, form_of(personal_application(8)))
    ref = my_merchant(api)
    assert flash(api, upload(api, "id_front", PNG)) == "ok: Id front is uploaded."
    assert flash(api, upload(api, "bank_card", PDF, "card.pdf")).startswith("ok:")
    not_image = upload(api, "id_back", b"MZ\x90\x00 an executable", "id.png")
    assert flash(api, not_image) == "error: A document is a JPEG or PNG image or a PDF file"
    licence = upload(api, "business_licence", PDF)
    assert flash(api, licence).startswith("error: A personal merchant has no business")
    assert flash(api, upload(api, "id_back", b"")).startswith("error: The file is empty")
    # One byte over 10 MB reaches the service, which refuses it; a body well over the
    # route's limit is refused before it is read (413), and a megabyte is fine.
    over = upload(api, "id_back", PNG + b"\x00" * (MAX_DOCUMENT_BYTES + 1 - len(PNG)))
    assert flash(api, over) == "error: A document is at most 10 MB"
    huge = upload(api, "id_back", PNG + b"\x00" * (MAX_DOCUMENT_BYTES + 200_000))
    assert huge.status_code == 413
    assert flash(api, upload(api, "id_back", PNG + b"\x00" * 1_000_000)).startswith("ok:")
    docs = api.tp.documents.list(str(ref))
    assert [d.kind for d in docs] == [
        DocumentKind.ID_FRONT, DocumentKind.BANK_CARD, DocumentKind.ID_BACK,
    ]  # fmt: skip
    page = api.client.get("/portal/application?lang=en").text
    assert page.count('class="status status-doc-uploaded"') == 3
    image, pdf = docs[0], docs[1]
    assert f'href="/portal/application/documents/{pdf.id}?download=1"' in page
    shown = api.client.get(f"/portal/application/documents/{image.id}")
    assert shown.content == PNG and shown.headers["content-type"] == "image/png"
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.headers["content-disposition"].startswith("inline;")
    got = api.client.get(f"/portal/application/documents/{pdf.id}")
    assert got.headers["content-disposition"] == f'attachment; filename="bank_card-{pdf.id}.pdf"'

    # Another applicant, a demo merchant's owner, and nobody signed in: none of them.
    other = api.tp.merchants.apply(personal_application(9), "api:someone").id
    theirs = api.tp.documents.upload(str(other), "id_front", PNG, "api:someone")
    sign_up(api, "li@example.com")
    assert api.client.get(f"/portal/application/documents/{image.id}").status_code == 404
    assert flash(api, upload(api, "id_front", PNG)) == "error: Send your application first."
    apply(api, form_of(personal_application(10)))  # an applicant with an application
    mine = api.tp.documents.upload(str(my_merchant(api, "li@example.com")), "id_front", PNG,
                                   "console:li@example.com")  # fmt: skip
    assert api.client.get(f"/portal/application/documents/{mine.id}").status_code == 200
    for doc_id in (image.id, pdf.id, theirs.id, 99999):
        missing = api.client.get(f"/portal/application/documents/{doc_id}")
        assert missing.status_code == 404 and PNG not in missing.content
    api.client.cookies.clear()
    signed = api.client.get("/portal/sign-in")
    form = {"csrf_token": CSRF.search(signed.text).group(1),  # type: ignore[union-attr]
            "login": demo_owner(1), "password": DEMO_PASSWORD, "next": ""}  # fmt: skip
    assert api.client.post("/portal/sign-in", data=form).status_code == 200
    assert api.client.get(f"/portal/application/documents/{image.id}").status_code == 404
    api.client.cookies.clear()
    away = api.client.get(f"/portal/application/documents/{image.id}", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/portal/sign-in")
    assert count(api, MerchantDocument) == 5


def test_the_states_as_the_applicant_reads_them(api: ApiEnv) -> None:
    sign_up(api)
    apply(api, form_of(personal_application(8)))
    ref = str(my_merchant(api))
    api.tp.merchants.start_review(ref, REVIEWER)
    assert "A reviewer is checking" in api.client.get("/portal/application?lang=en").text
    api.tp.merchants.add_note(ref, "Staff only: the bank card looks odd", REVIEWER)
    api.tp.merchants.ask_for_documents(ref, [DocumentKind.BANK_CARD],
                                       "A clearer photo of the card, please", REVIEWER)  # fmt: skip
    page = api.client.get("/portal/application?lang=en").text
    assert "The reviewer needs more documents: Bank card" in page
    assert "A clearer photo of the card, please" in page
    assert 'class="status status-doc-asked"' in page
    assert "Staff only" not in page and "rita@acquirer.cn" not in page
    upload(api, "bank_card", PNG)
    page = api.client.get("/portal/application?lang=en").text
    assert "A reviewer is checking" in page and "Uploaded: Bank card" in page
    assert "Staff only" not in page

    mid = api.tp.merchants.approve(ref, REVIEWER, "Staff only: approved on a call").mid
    assert mid is not None
    page = api.client.get("/portal/application?lang=en").text
    assert api.tp.accounts.get("zhang@example.com").roles == (AccountRole.OWNER,)  # promoted
    assert mid in page and "A terminal will be assigned" in page
    assert "Staff only" not in page and 'enctype="multipart/form-data"' not in page
    assert f"--tid TID --mid {mid}" in page
    refused = upload(api, "id_back", PNG)
    assert refused.status_code == 403  # an owner uploads no more
    added = api.tp.terminals.add("SN-APPLY-1", "Test POS", "fleet")
    api.tp.terminals.bind(added.terminal.tid, mid, "fleet")
    page = api.client.get("/portal/application?lang=en").text
    assert f'<td class="apply-tid">{added.terminal.tid}</td>' in page and "SN-APPLY-1" in page
    assert f"tillpoint terminal setup --tid {added.terminal.tid} --mid {mid}" in page
    assert "tillpoint terminal signon" in page
    assert "Shops and terminals" in page  # an owner's menu now


def test_a_rejected_applicant_reads_why_and_may_apply_again(api: ApiEnv) -> None:
    sign_up(api)
    apply(api, form_of(personal_application(8)))
    first = my_merchant(api)
    api.tp.merchants.reject(str(first), REVIEWER, "The identity card has expired")
    page = api.client.get("/portal/application?lang=en").text
    assert "Your application was rejected." in page and "The identity card has expired" in page
    assert 'href="/portal/application?kind=business"' in page  # apply again
    assert flash(api, apply(api, form_of(business_application(8)))).startswith("ok:")
    assert my_merchant(api) != first


def test_the_pages_speak_chinese(api: ApiEnv) -> None:
    sign_up(api)
    assert "个人" in api.client.get("/portal/application?lang=zh_CN").text
    form = api.client.get("/portal/application?kind=personal").text
    assert "身份证号码" in form and "餐馆 (5812)" in form
    apply(api, form_of(personal_application(8)))
    page = api.client.get("/portal/application").text
    assert "身份证人像面" in page and "已提交" in page
