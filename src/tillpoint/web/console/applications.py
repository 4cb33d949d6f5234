"""The review queue (area APPLICATIONS: reviewers and admins work it; risk analysts
read it, without its forms).

- ``GET /console/applications``: applications oldest first, by state (the open ones by
  default), kind and a search of name or phone; counts per state; 50 a page (keyset).
- ``GET /console/applications/{id}``: the applicant's data (bank account and identity
  number masked), the automatic checks, the documents, the history and notes, and the
  actions the application's state allows.
- ``GET /console/applications/{id}/documents/{doc}``: one document, with the type found
  when it was uploaded (``nosniff``); images inline, PDFs as a download.
- ``POST`` start review, note, ask for documents, approve, reject: each through the
  merchant service (which keeps the history), audited, then back to the page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from tillpoint.access.accounts import SignedIn
from tillpoint.core.errors import InvalidInput, TillpointError
from tillpoint.core.i18n import N_, _
from tillpoint.merchants.documents import IMAGES
from tillpoint.merchants.models import DOCUMENT_KINDS, DocumentKind, MerchantKind, MerchantStatus
from tillpoint.merchants.services import APPLICATION_STATES, OPEN_APPLICATIONS
from tillpoint.web.page import (
    APPLICATIONS,
    PAGE,
    R,
    actor,
    after_action,
    area_guard,
    audit,
    document_file,
    page,
    page_link,
    query_int,
    query_text,
    read_form,
    tp,
)

router = APIRouter(include_in_schema=False)
Reader = Annotated[SignedIn, area_guard(APPLICATIONS)]
Reviewer = Annotated[SignedIn, area_guard(APPLICATIONS, R.REVIEWER)]
AppId = Annotated[int, Path(ge=1, le=2**62)]
DocId = Annotated[int, Path(ge=1, le=2**62)]
BASE = "/console/applications"
S = MerchantStatus


def _states(value: str) -> tuple[MerchantStatus, ...]:
    """The states a queue filter names: one of the queue's, or the open ones."""
    for state in APPLICATION_STATES:
        if value == state.value:
            return (state,)
    return OPEN_APPLICATIONS


@router.get(BASE, response_class=HTMLResponse)
def queue(request: Request, session: Reader) -> Response:
    app = tp(request)
    state = query_text(request, "state")
    kind_text = query_text(request, "kind")
    kind = MerchantKind(kind_text) if kind_text in {k.value for k in MerchantKind} else None
    search = query_text(request, "q")
    rows = app.merchants.applications(
        statuses=_states(state), kind=kind, search=search,
        after_id=query_int(request, "after"), limit=PAGE + 1,
    )  # fmt: skip
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    next_href = page_link(request, after=rows[-1].id) if more else None
    counts = app.merchants.application_counts()
    return page(request, session, "console/applications/queue.html", rows=rows,
                next_href=next_href, counts=counts, states=APPLICATION_STATES,
                state=state if _states(state) != OPEN_APPLICATIONS else "",
                kinds=list(MerchantKind), kind=kind.value if kind else "", q=search,
                filtered=bool(state or kind or search))  # fmt: skip


@router.get(BASE + "/{ref}", response_class=HTMLResponse)
def application(request: Request, session: Reader, ref: AppId) -> Response:
    app = tp(request)
    try:
        merchant = app.merchants.get(str(ref))
    except TillpointError as missing:
        return page(request, session, "console/applications/missing.html", status_code=404,
                    message=missing.localized())  # fmt: skip
    plans = app.fees.list_plans()
    limits = next(x for x in app.limits.list() if x.kind is merchant.kind)
    default_plan = next((p.code for p in plans if p.default_for is merchant.kind), "")
    return page(request, session, "console/applications/detail.html", m=merchant,
                checks=app.merchants.checks(str(ref)), documents=app.documents.list(str(ref)),
                history=app.merchants.history(str(ref)),
                asked=app.merchants.asked_documents(str(ref)),
                document_kinds=DOCUMENT_KINDS[merchant.kind], images=IMAGES, plans=plans,
                default_plan=default_plan, limits=limits,
                first_shop=min(merchant.shops, key=lambda x: x.number),
                may_review=session.account.has(R.REVIEWER),
                can_review=merchant.status in OPEN_APPLICATIONS,
                can_start=merchant.status in (S.SUBMITTED, S.MORE_DOCUMENTS),
                can_approve=merchant.status in (S.SUBMITTED, S.UNDER_REVIEW))  # fmt: skip


@router.get(BASE + "/{ref}/documents/{doc_id}")
def document(request: Request, session: Reader, ref: AppId, doc_id: DocId) -> Response:
    try:
        doc, content = tp(request).documents.content(str(ref), doc_id)
    except TillpointError as missing:
        return page(request, session, "console/applications/missing.html", status_code=404,
                    message=missing.localized())  # fmt: skip
    return document_file(request, doc, content)


# --- actions -------------------------------------------------------------------------------


def _done(request: Request, session: SignedIn, ref: int, what: str, message: str) -> Response:
    audit(request, session, f"application {what}", f"{BASE}/{ref}",
          merchant_id=_merchant_id(request, ref))  # fmt: skip
    return after_action(f"{BASE}/{ref}", message)


def _merchant_id(request: Request, ref: int) -> int | None:
    try:
        return tp(request).merchants.get(str(ref)).id
    except TillpointError:
        return None


def _refused(
    request: Request, session: SignedIn, ref: int, what: str, error: TillpointError
) -> Response:
    audit(request, session, f"application {what}", f"{BASE}/{ref}", error,
          merchant_id=_merchant_id(request, ref))  # fmt: skip
    return after_action(f"{BASE}/{ref}", error.localized(), error=True)


@router.post(BASE + "/{ref}/start-review")
async def start_review(request: Request, session: Reviewer, ref: AppId) -> Response:
    await read_form(request, session)
    try:
        tp(request).merchants.start_review(str(ref), actor(session))
    except TillpointError as e:
        return _refused(request, session, ref, "start_review", e)
    return _done(request, session, ref, "start_review", _("The application is under review."))


@router.post(BASE + "/{ref}/note")
async def add_note(request: Request, session: Reviewer, ref: AppId) -> Response:
    form = await read_form(request, session, "note")
    try:
        tp(request).merchants.add_note(str(ref), form["note"], actor(session))
    except TillpointError as e:
        return _refused(request, session, ref, "note", e)
    return _done(request, session, ref, "note", _("The note is kept in the history."))


@router.post(BASE + "/{ref}/ask-documents")
async def ask_documents(request: Request, session: Reviewer, ref: AppId) -> Response:
    form = await read_form(request, session, "note")
    posted = (await request.form()).getlist("kinds")
    try:
        kinds = []
        for value in posted[:10]:
            if not isinstance(value, str) or value not in {k.value for k in DocumentKind}:
                wrong = N_("Choose the kinds of document from the list")
                raise InvalidInput("document.kind", wrong)
            kinds.append(DocumentKind(value))
        tp(request).merchants.ask_for_documents(str(ref), kinds, form["note"], actor(session))
    except TillpointError as e:
        return _refused(request, session, ref, "ask_documents", e)
    message = _("The applicant is asked for the documents.")
    return _done(request, session, ref, "ask_documents", message)


@router.post(BASE + "/{ref}/approve")
async def approve(request: Request, session: Reviewer, ref: AppId) -> Response:
    form = await read_form(request, session, "fee_plan", "max_terminals", "shop_name",
                           "shop_address", "note")  # fmt: skip
    try:
        limit_text = form["max_terminals"]
        if limit_text and not (limit_text.isdigit() and len(limit_text) <= 5):
            raise InvalidInput(
                "merchant.max_terminals", N_("A terminal limit is between 0 and 10000")
            )
        done = tp(request).merchants.approve(
            str(ref), actor(session), form["note"] or None,
            fee_plan=form["fee_plan"] or None,
            max_terminals=int(limit_text) if limit_text else None,
            shop_name=form["shop_name"] or None, shop_address=form["shop_address"] or None,
        )  # fmt: skip
    except TillpointError as e:
        return _refused(request, session, ref, "approve", e)
    message = _("Approved: the merchant's MID is {mid}.").format(mid=done.mid)
    return _done(request, session, ref, "approve", message)


@router.post(BASE + "/{ref}/reject")
async def reject(request: Request, session: Reviewer, ref: AppId) -> Response:
    form = await read_form(request, session, "reason")
    try:
        tp(request).merchants.reject(str(ref), actor(session), form["reason"])
    except TillpointError as e:
        return _refused(request, session, ref, "reject", e)
    return _done(request, session, ref, "reject", _("The application is rejected."))
