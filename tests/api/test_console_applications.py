"""The console's review queue: who may open it, the queue's filters and counts, an
application's page, its documents, and each action (CSRF, audit, bad input)."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import CSRF, sign_in
from tests.conftest import business_application, personal_application
from tillpoint.access.models import AccountRole, AuditRecord
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner
from tillpoint.merchants.models import DocumentKind, MerchantStatus

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"card" * 100
PDF = b"%PDF-1.4\n" + b"licence" * 50
PASSWORD = "a reviewer's password"
S = MerchantStatus


def person(api: ApiEnv, role: AccountRole) -> None:
    """Sign in as a new member of staff holding ``role``."""
    login = f"{role.value}@acquirer.cn"
    api.client.cookies.clear()  # whoever was signed in before
    api.tp.accounts.create(name=role.value, roles={role}, actor="t", email=login,
                           password=PASSWORD)  # fmt: skip
    assert sign_in(api, login, PASSWORD).status_code == 303


def token(api: ApiEnv, path: str = "/console/applications") -> str:
    found = CSRF.search(api.client.get(path).text)
    assert found is not None
    return found.group(1)


def post(api: ApiEnv, path: str, data: dict[str, object] | None = None, csrf: bool = True):  # type: ignore[no-untyped-def]
    form = dict(data or {})
    if csrf:
        form["csrf_token"] = token(api)
    return api.client.post(path, data=form, follow_redirects=False)


def flash(api: ApiEnv, response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, response.text
    page = api.client.get(response.headers["location"] + "?lang=en")
    found = re.search(r'<p class="flash (ok|error)"[^>]*>([^<]*)</p>', page.text)
    assert found is not None
    return f"{found.group(1)}: {html.unescape(found.group(2))}"


def test_reviewers_and_admins_open_the_queue_others_do_not(api: ApiEnv) -> None:
    ref = api.tp.merchants.apply(personal_application(3), "applicant").id
    for role in (AccountRole.REVIEWER, AccountRole.ADMIN):
        person(api, role)
        assert api.client.get("/console/applications").status_code == 200
        assert api.client.get(f"/console/applications/{ref}").status_code == 200
    for role in (AccountRole.FLEET, AccountRole.FINANCE):
        person(api, role)
        for path in ("/console/applications", f"/console/applications/{ref}"):
            assert api.client.get(path, follow_redirects=False).status_code == 403, (role, path)
    api.client.cookies.clear()
    assert sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303
    assert api.client.get("/console/applications", follow_redirects=False).status_code == 403
    assert post(api, f"/console/applications/{ref}/start-review", csrf=False).status_code == 403
    assert api.tp.merchants.get(str(ref)).status is S.SUBMITTED


def test_the_queue_filters_counts_and_pages(api: ApiEnv) -> None:
    first = api.tp.merchants.apply(personal_application(3), "applicant").id
    second = api.tp.merchants.apply(business_application(3), "applicant").id
    api.tp.merchants.start_review(str(second), "t")
    person(api, AccountRole.REVIEWER)
    queue = api.client.get("/console/applications?lang=en").text
    assert queue.index(f"#{first}<") < queue.index(f"#{second}<")  # oldest first
    assert "Li Si 3" in queue and "Morning Trading 3" in queue
    demo = api.tp.merchants.get(api.mid_a).legal_name
    assert demo not in queue  # the demo merchants are approved, not waiting
    under = api.client.get("/console/applications?state=under_review").text
    assert f"#{second}<" in under and f"#{first}<" not in under
    personal = api.client.get("/console/applications?kind=personal").text
    assert f"#{first}<" in personal and f"#{second}<" not in personal
    found = api.client.get("/console/applications?q=Morning").text
    assert f"#{second}<" in found and f"#{first}<" not in found
    by_phone = api.client.get("/console/applications?q=021-6123").text
    assert f"#{second}<" in by_phone and f"#{first}<" not in by_phone
    assert f"#{first}<" not in api.client.get("/console/applications?q=%25").text
    approved = api.client.get("/console/applications?state=approved&lang=en").text
    assert html.escape(demo) in approved  # the demo's
    assert f"#{first}<" not in api.client.get(f"/console/applications?after={first}").text
    counts = api.tp.merchants.application_counts()
    assert counts[S.SUBMITTED] == 1 and counts[S.UNDER_REVIEW] == 1 and counts[S.APPROVED] >= 2


def test_the_application_page_masks_numbers_and_shows_checks_and_documents(
    api: ApiEnv,
) -> None:
    app = personal_application(3)
    ref = api.tp.merchants.apply(app, "applicant").id
    doc = api.tp.documents.upload(str(ref), "id_front", JPEG, "applicant")
    pdf_ref = api.tp.merchants.apply(business_application(3), "applicant").id
    pdf = api.tp.documents.upload(str(pdf_ref), "business_licence", PDF, "applicant")
    person(api, AccountRole.REVIEWER)
    page = api.client.get(f"/console/applications/{ref}?lang=en").text
    assert app.id_number not in page and app.bank_account_no not in page  # type: ignore[operator]
    assert app.bank_account_no[-4:] in page  # the masked tail
    assert "Identity number check digit" in page and "Passed" in page
    assert f'<img src="/console/applications/{ref}/documents/{doc.id}"' in page
    shown = api.client.get(f"/console/applications/{ref}/documents/{doc.id}")
    assert shown.content == JPEG and shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.headers["content-disposition"].startswith("inline;")
    business = api.client.get(f"/console/applications/{pdf_ref}?lang=zh_CN").text
    assert "统一社会信用代码校验位" in business and "营业执照" in business
    assert "下载" in business and f'<img src="/console/applications/{pdf_ref}' not in business
    got = api.client.get(f"/console/applications/{pdf_ref}/documents/{pdf.id}")
    assert got.headers["content-type"] == "application/pdf" and got.content == PDF
    assert got.headers["content-disposition"] == (
        f'attachment; filename="business_licence-{pdf.id}.pdf"'
    )
    # Another application's document through this one's address: not found.
    assert api.client.get(f"/console/applications/{ref}/documents/{pdf.id}").status_code == 404
    assert api.client.get("/console/applications/99999").status_code == 404


def test_each_action_works_is_kept_and_audited(api: ApiEnv) -> None:
    ref = api.tp.merchants.apply(personal_application(3), "applicant").id
    base = f"/console/applications/{ref}"
    person(api, AccountRole.REVIEWER)
    assert flash(api, post(api, f"{base}/start-review")).startswith("ok:")
    assert api.tp.merchants.get(str(ref)).status is S.UNDER_REVIEW
    assert flash(api, post(api, f"{base}/note", {"note": "called them"})).startswith("ok:")
    asked = post(
        api, f"{base}/ask-documents", {"kinds": ["bank_card", "id_back"], "note": "clearer"}
    )
    assert flash(api, asked).startswith("ok:")
    assert api.tp.merchants.asked_documents(str(ref)) == [
        DocumentKind.BANK_CARD, DocumentKind.ID_BACK,
    ]  # fmt: skip
    assert flash(api, post(api, f"{base}/start-review")).startswith("ok:")  # resume
    plan = api.tp.fees.list_plans()[-1].code
    done = post(api, f"{base}/approve", {"fee_plan": plan, "max_terminals": "1",
                "shop_name": "New Name", "shop_address": "2 New Road, Shanghai", "note": ""})  # fmt: skip
    assert "Approved: the merchant's MID is 898" in flash(api, done)
    m = api.tp.merchants.get(str(ref))
    assert m.status is S.APPROVED and m.max_terminals == 1 and m.shops[0].name == "New Name"
    assert api.tp.fees.current_plan(str(ref)).code == plan
    history = api.tp.merchants.history(str(ref))
    assert {e.actor for e in history[1:]} == {"console:reviewer@acquirer.cn"}
    with api.tp.ctx.db.read() as s:
        actions = list(s.scalars(select(AuditRecord.action).where(
            AuditRecord.actor == "console:reviewer@acquirer.cn")))  # fmt: skip
    assert [a for a in actions if a.startswith("console application")] == [
        "console application start_review", "console application note",
        "console application ask_documents", "console application start_review",
        "console application approve",
    ]  # fmt: skip


def test_reject_needs_a_reason_and_bad_input_changes_nothing(api: ApiEnv) -> None:
    ref = api.tp.merchants.apply(personal_application(3), "applicant").id
    base = f"/console/applications/{ref}"
    person(api, AccountRole.REVIEWER)
    assert flash(api, post(api, f"{base}/reject", {"reason": " "})) == (
        "error: A reason is required for this change"
    )
    assert "error:" in flash(api, post(api, f"{base}/ask-documents", {"kinds": ["passport"],
                                                                    "note": "x"}))  # fmt: skip
    assert "error:" in flash(api, post(api, f"{base}/ask-documents", {"note": "nothing named"}))
    assert "error:" in flash(api, post(api, f"{base}/approve", {"fee_plan": "NOPE"}))
    assert "error:" in flash(api, post(api, f"{base}/approve", {"max_terminals": "five"}))
    assert "error:" in flash(api, post(api, f"{base}/approve", {"max_terminals": "3"}))  # personal
    assert "error:" in flash(api, post(api, f"{base}/note", {"note": ""}))
    assert api.tp.merchants.get(str(ref)).status is S.SUBMITTED
    assert len(api.tp.merchants.history(str(ref))) == 1
    for action in ("start-review", "note", "ask-documents", "approve", "reject"):
        refused = post(api, f"{base}/{action}", {"reason": "r", "note": "n"}, csrf=False)
        assert refused.status_code == 403, action
    assert api.tp.merchants.get(str(ref)).status is S.SUBMITTED
    assert flash(api, post(api, f"{base}/reject", {"reason": "not a shop"})) == (
        "ok: The application is rejected."
    )
    assert api.tp.merchants.get(str(ref)).status is S.REJECTED
    after = api.client.get(f"{base}?lang=en").text
    assert "Approve the application" not in after and "Add the note" in after


def test_admin_too(api: ApiEnv) -> None:
    assert sign_in(api, DEMO_ADMIN, DEMO_PASSWORD).status_code == 303
    assert api.client.get("/console/applications?state=approved").status_code == 200
