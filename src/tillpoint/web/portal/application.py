"""Applying for a POS (area P_APPLICATION: applicants, and owners after approval).

- ``GET/POST /portal/sign-up``: a person makes their own account (name, email or mobile
  number, the password twice), an applicant's, and is signed in at once
  (``AccountService.sign_up``: its password rules, a limit per address, the audit log).
  The form has its own token in a cookie (login CSRF), as the sign-in form does.
- ``GET /portal/application``: with no application, the choice of kind (a person,
  个人/小微, or a business), then the form of that kind's fields only; after applying,
  the application's state as the applicant reads it (what the reviewer asks for and
  why, a rejection's reason; never a reviewer's note), its documents and its history;
  once approved, the MID, the shops, the terminals bound and how a terminal signs on.
- ``POST /portal/application``: the application (``AccountService.submit_application``:
  the merchant and the account's link to it, one unit of work). Bad input shows on the
  form, with what was typed kept, and writes nothing.
- ``POST /portal/application/documents``: one document (JPEG, PNG or PDF, at most
  10 MB; ``DocumentService.upload`` checks its type by content and stores it encrypted)
  while the application is open. The route's body limit is the document's and the form's
  around it: a larger body is refused before it is read.
- ``GET /portal/application/documents/{id}``: one of the merchant's own documents (404
  for anyone else's), served as the console serves them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from tillpoint.access.accounts import SignedIn
from tillpoint.access.models import AccountRole
from tillpoint.core.errors import InvalidInput, NotFound, Refused, TillpointError
from tillpoint.core.i18n import N_, _, set_locale
from tillpoint.http.limits import DEFAULT_BODY_BYTES, body_limit
from tillpoint.iso8583.mac import MacMethod
from tillpoint.merchants.documents import IMAGES, MAX_DOCUMENT_BYTES
from tillpoint.merchants.mcc import BUSINESS_ONLY, MCC_NAMES
from tillpoint.merchants.models import DOCUMENT_KINDS, MerchantKind, MerchantStatus
from tillpoint.merchants.services import OPEN_APPLICATIONS, Application
from tillpoint.merchants.views import MerchantView
from tillpoint.web.auth import (
    CONSOLE,
    PORTAL,
    accounts,
    address,
    check_pre_session,
    new_pre_session,
    set_session_cookie,
    signed_in,
)
from tillpoint.web.page import (
    P_APPLICATION,
    PAGE,
    PORTAL_SITE,
    actor,
    after_action,
    audit,
    document_file,
    page,
    portal_guard,
    read_form,
    tp,
    trouble,
)
from tillpoint.web.render import choose_locale, page_text, render

router = APIRouter(include_in_schema=False)

Applicant = Annotated[SignedIn, portal_guard(P_APPLICATION)]  # an applicant or an owner
OnlyApplicant = Annotated[SignedIn, portal_guard(P_APPLICATION, AccountRole.APPLICANT)]
DocId = Annotated[int, Path(ge=1, le=2**62)]

BASE = P_APPLICATION.href
SIGN_UP = PORTAL + "/sign-up"
UPLOAD = BASE + "/documents"
UPLOAD_BODY_BYTES = MAX_DOCUMENT_BYTES + DEFAULT_BODY_BYTES  # the file and the form around it
S = MerchantStatus
# The states whose reason a reviewer wrote for the applicant to read.
TOLD = (S.MORE_DOCUMENTS, S.REJECTED)


# --- the form of an application ---------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One field of the application form: its name (Application's), its label and hint
    (English message ids) and how a phone should offer it."""

    name: str
    label: str
    required: bool = True
    hint: str = ""
    type: str = "text"  # an input's type, or "mcc" (the list of categories)
    inputmode: str = ""
    autocomplete: str = ""
    max_chars: int = 200


@dataclass(frozen=True)
class Section:
    legend: str
    fields: tuple[Field, ...]


_MCC = Field("mcc", N_("What you sell"), type="mcc")
_REGION = Field("region_code", N_("Region code"), hint=N_("4 digits, e.g. 3100 for Shanghai"),
                inputmode="numeric", max_chars=4)  # fmt: skip
_PHONE = Field("contact_phone", N_("Contact phone"), type="tel", inputmode="tel",
               autocomplete="tel", max_chars=20)  # fmt: skip
_EMAIL = Field("contact_email", N_("Contact email (optional)"), required=False, type="email",
               autocomplete="email")  # fmt: skip
_BANK = Field("bank_name", N_("Bank"), hint=N_("e.g. 工商银行 ICBC"), max_chars=100)
_ADDRESS = Field("shop_address", N_("Shop address"), autocomplete="street-address",
                 max_chars=300)  # fmt: skip

FORMS: dict[MerchantKind, tuple[Section, ...]] = {
    MerchantKind.PERSONAL: (
        Section(N_("About you"), (
            Field("legal_name", N_("Your full name, as on your identity card"),
                  autocomplete="name", max_chars=100),
            Field("id_number", N_("Identity card number"), hint=N_("18 characters"),
                  autocomplete="off", max_chars=18),
            _PHONE, _EMAIL,
        )),
        Section(N_("Your shop"), (
            Field("display_name", N_("Shop name on receipts (optional)"), required=False,
                  max_chars=100),
            _MCC, _REGION, _ADDRESS,
        )),
        Section(N_("Where you are paid"), (
            _BANK,
            Field("bank_account_no", N_("Bank card number"),
                  hint=N_("A debit card in your own name"), inputmode="numeric",
                  autocomplete="off", max_chars=30),
        )),
    ),
    MerchantKind.BUSINESS: (
        Section(N_("The business"), (
            Field("legal_name", N_("Company name, as on the business licence"),
                  autocomplete="organization"),
            Field("business_licence_no", N_("Unified social credit code"),
                  hint=N_("18 characters, on the business licence"), autocomplete="off",
                  max_chars=18),
            Field("tax_registration_no", N_("Tax registration number (optional)"),
                  required=False, hint=N_("Only when it is not the credit code"),
                  autocomplete="off", max_chars=20),
            Field("display_name", N_("Name on receipts (optional)"), required=False,
                  max_chars=100),
        )),
        Section(N_("Contact"), (
            Field("contact_name", N_("Contact name"), autocomplete="name", max_chars=100),
            _PHONE, _EMAIL,
        )),
        Section(N_("The first shop"), (
            Field("shop_name", N_("Shop name (optional)"), required=False, max_chars=100),
            _MCC, _REGION, _ADDRESS,
        )),
        Section(N_("Where you are paid"), (
            _BANK,
            Field("bank_account_name", N_("Account holder"),
                  hint=N_("The company's name at the bank")),
            Field("bank_account_no", N_("Account number"), inputmode="numeric",
                  autocomplete="off", max_chars=30),
        )),
    ),
}  # fmt: skip

FIELD_NAMES = sorted({f.name for sections in FORMS.values() for x in sections for f in x.fields})
# Where an error of the merchant service belongs on the form (its ``field``, or its code).
ERROR_FIELDS = {"bank_account": "bank_account_no", "merchant.malformed_region": "region_code"}


def _fields(kind: MerchantKind) -> dict[str, Field]:
    return {f.name: f for section in FORMS[kind] for f in section.fields}


def _application(kind: MerchantKind, values: dict[str, str]) -> Application:
    """The application the form's values make: only the kind's fields; a person's
    account and contact are in their own name."""
    given = {name: values.get(name, "") for name in _fields(kind)}

    def optional(name: str) -> str | None:
        return given.get(name) or None

    legal_name = given["legal_name"]
    personal = kind is MerchantKind.PERSONAL
    return Application(
        kind=kind, legal_name=legal_name, mcc=given["mcc"], region_code=given["region_code"],
        contact_name=legal_name if personal else given["contact_name"],
        contact_phone=given["contact_phone"], bank_name=given["bank_name"],
        bank_account_name=legal_name if personal else given["bank_account_name"],
        bank_account_no=given["bank_account_no"], shop_address=given["shop_address"],
        display_name=optional("display_name"), contact_email=optional("contact_email"),
        id_number=given["id_number"] if personal else None,
        business_licence_no=None if personal else given["business_licence_no"],
        tax_registration_no=optional("tax_registration_no"), shop_name=optional("shop_name"),
    )  # fmt: skip


def _error(kind: MerchantKind, error: TillpointError) -> tuple[str, str | None]:
    """The error in the page's language (the field it names called by the form's
    label), and the form's field it belongs to, if any."""
    field = error.params.get("field")
    if not isinstance(field, str):
        field = error.code.removeprefix("application.")
    name = ERROR_FIELDS.get(field, field)
    fields = _fields(kind)
    if name not in fields:
        return error.localized(), None
    labelled = {**error.params, "field": _(fields[name].label)}
    return InvalidInput(error.code, error.message, **labelled).localized(), name


def _mcc_options(kind: MerchantKind) -> list[tuple[str, str, str]]:
    """(code, English name, Chinese name) of the categories the kind may take."""
    return [
        (code, en, zh)
        for code, (en, zh) in sorted(MCC_NAMES.items())
        if kind is MerchantKind.BUSINESS or code not in BUSINESS_ONLY
    ]


def _kind(value: str) -> MerchantKind | None:
    return MerchantKind(value) if value in {k.value for k in MerchantKind} else None


def _form(
    request: Request,
    session: SignedIn,
    kind: MerchantKind,
    values: dict[str, str],
    *,
    error: str | None = None,
    invalid: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(request, session, "portal/application/form.html", status_code=status_code,
                kind=kind, sections=FORMS[kind], values=values, error=error, invalid=invalid,
                mccs=_mcc_options(kind))  # fmt: skip


def _prefill(session: SignedIn) -> dict[str, str]:
    """What the account says already: the person's name, phone and email."""
    a = session.account
    return {"legal_name": a.name, "contact_name": a.name, "contact_phone": a.mobile or "",
            "contact_email": a.email or ""}  # fmt: skip


# --- signing up ------------------------------------------------------------------------


def _sign_up_form(
    request: Request, values: dict[str, str], *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "portal/application/sign_up.html", status_code=status_code,
                      values=values, error=error, csrf_token=token, site=PORTAL_SITE)  # fmt: skip
    new_pre_session(request, response, token, path=SIGN_UP)
    return response


@router.get(SIGN_UP, response_class=HTMLResponse)
def sign_up_page(request: Request) -> Response:
    """The sign-up form; someone signed in already goes to their site's home."""
    if (session := signed_in(request)) is not None:
        return RedirectResponse(CONSOLE if session.account.staff else PORTAL, status_code=303)
    return _sign_up_form(request, {"name": "", "login": ""})


@router.post(SIGN_UP, response_class=HTMLResponse)
async def sign_up(request: Request) -> Response:
    await check_pre_session(request)
    form = await request.form()
    name, login, password, again = (
        str(form.get(k) or "") for k in ("name", "login", "password", "password_again")
    )
    values = {"name": name[:100], "login": login[:254]}
    try:
        session = accounts(request).sign_up(name=name[:200], login=login[:254],
                                            password=password[:256], password_again=again[:256],
                                            address=address(request))  # fmt: skip
    except (InvalidInput, Refused) as refusal:
        set_locale(choose_locale(request)[0])  # the form's language, for its message
        status = 429 if refusal.code == "account.sign_up_throttled" else refusal.http_status
        return _sign_up_form(request, values, error=refusal.localized(), status_code=status)
    response = RedirectResponse(BASE, status_code=303)
    set_session_cookie(request, response, session)
    return response


# --- the application -------------------------------------------------------------------


@router.get(BASE, response_class=HTMLResponse)
def application(request: Request, session: Applicant) -> Response:
    """The form (no application yet, or a rejected one and a kind chosen) or the
    application's state."""
    merchant_id = session.account.merchant_id
    applicant = AccountRole.APPLICANT in session.account.roles
    kind = _kind(request.query_params.get("kind", ""))
    merchant = tp(request).merchants.get(str(merchant_id)) if merchant_id else None
    may_apply = applicant and (merchant is None or merchant.status is S.REJECTED)
    if may_apply and kind is not None:
        return _form(request, session, kind, _prefill(session))
    if merchant is None:
        return page(request, session, "portal/application/choose.html")
    return _state(request, session, merchant, may_apply)


def _state(request: Request, session: SignedIn, m: MerchantView, may_apply: bool) -> Response:
    app = tp(request)
    ref = str(m.id)
    documents = app.documents.list(ref)
    asked = app.merchants.asked_documents(ref)
    kinds = [
        (k, "asked" if k in asked else "uploaded" if any(d.kind is k for d in documents)
         else "missing", [d for d in documents if d.kind is k])
        for k in DOCUMENT_KINDS[m.kind]
    ]  # fmt: skip
    terminals = app.terminals.search(merchant_ref=ref, limit=PAGE) if m.mid else []
    return page(request, session, "portal/application/state.html", m=m, kinds=kinds,
                asked=asked, told=m.status_reason if m.status in TOLD else None,
                history=app.merchants.applicant_history(ref, actor(session)),
                can_upload=m.status in OPEN_APPLICATIONS
                and AccountRole.APPLICANT in session.account.roles,
                may_apply=may_apply, terminals=terminals, images=IMAGES,
                mcc_name=MCC_NAMES.get(m.mcc),
                max_mb=MAX_DOCUMENT_BYTES // (1024 * 1024), max_bytes=MAX_DOCUMENT_BYTES,
                x919=MacMethod.X919)  # fmt: skip


@router.post(BASE, response_class=HTMLResponse)
async def submit(request: Request, session: OnlyApplicant) -> Response:
    values = await read_form(request, session, "kind", *FIELD_NAMES, max_chars=300)
    kind = _kind(values["kind"])
    if kind is None:
        return after_action(BASE, _("Choose the kind of merchant first."), error=True)
    try:
        done = tp(request).accounts.submit_application(
            session.account.id, _application(kind, values), tp(request).merchants
        )
    except (InvalidInput, Refused, NotFound) as refused:
        message, invalid = _error(kind, refused)
        audit(request, session, "application submit", BASE, refused, kind=kind.value)
        return _form(request, session, kind, values, error=message, invalid=invalid,
                     status_code=400)  # fmt: skip
    message = _("Your application #{ref} is sent. Now add its documents.").format(ref=done.id)
    return after_action(BASE + "#documents", message)


# --- documents -------------------------------------------------------------------------


@router.post(UPLOAD, openapi_extra=body_limit(UPLOAD_BODY_BYTES))
async def upload(request: Request, session: OnlyApplicant) -> Response:
    values = await read_form(request, session, "kind")
    merchant_id = session.account.merchant_id
    if merchant_id is None:
        return after_action(BASE, _("Send your application first."), error=True)
    file = (await request.form()).get("file")
    try:
        if not isinstance(file, UploadFile):
            raise InvalidInput("document.empty", N_("The file is empty"))
        content = await file.read(MAX_DOCUMENT_BYTES + 1)  # at most one byte too many
        doc = tp(request).documents.upload(str(merchant_id), values["kind"], content,
                                           actor(session))  # fmt: skip
    except (InvalidInput, Refused, NotFound) as refused:
        audit(request, session, "application document", UPLOAD, refused,
              merchant_id=merchant_id, kind=values["kind"][:30])  # fmt: skip
        return after_action(BASE + "#documents", refused.localized(), error=True)
    finally:
        if isinstance(file, UploadFile):
            await file.close()
    audit(request, session, "application document", UPLOAD, merchant_id=merchant_id,
          kind=doc.kind.value, document=doc.id)  # fmt: skip
    message = _("{kind} is uploaded.").format(kind=page_text(doc.kind.value))
    return after_action(BASE + "#documents", message)


@router.get(UPLOAD + "/{doc_id}")
def document(request: Request, session: Applicant, doc_id: DocId) -> Response:
    """One of the merchant's own documents; anyone else's is not found."""
    merchant_id = session.account.merchant_id
    try:
        if merchant_id is None:
            raise NotFound("document.not_found", N_("No document {id}"), id=doc_id)
        doc, content = tp(request).documents.content(str(merchant_id), doc_id)
    except (NotFound, InvalidInput):  # another merchant's is not found either
        missing = NotFound("document.not_found", N_("No document {id}"), id=doc_id)
        return trouble(request, session, missing, BASE)
    return document_file(request, doc, content)
