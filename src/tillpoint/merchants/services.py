"""Merchant applications, review and lifecycle; shops.

Every public method is one unit of work: it commits everything or nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from tillpoint.context import Context, check_actor, check_reason
from tillpoint.core.errors import InvalidInput, NotFound, Refused, invariant
from tillpoint.core.geo import Position
from tillpoint.core.i18n import N_
from tillpoint.core.ids import check_mid, check_region, looks_like_mid, make_mid
from tillpoint.core.models import next_counter
from tillpoint.core.paging import check_limit
from tillpoint.ledger.service import open_merchant_accounts
from tillpoint.merchants import validation as v
from tillpoint.merchants.models import (
    DOCUMENT_KINDS,
    DocumentKind,
    FeePlan,
    FeePlanAssignment,
    Merchant,
    MerchantAction,
    MerchantEvent,
    MerchantKind,
    MerchantStatus,
    Shop,
    ShopStatus,
)
from tillpoint.merchants.views import (
    ApplicantStepView,
    MerchantEventView,
    MerchantView,
    ShopView,
)
from tillpoint.security.keystore import mask_tail

S = MerchantStatus


class Keep(Enum):
    """An update's "leave this as it is"."""

    KEEP = "keep"


KEEP = Keep.KEEP
# The lifecycle: application -> under review (<-> more documents needed) -> approved or
# rejected -> suspended -> closed.
TRANSITIONS: dict[MerchantStatus, frozenset[MerchantStatus]] = {
    S.SUBMITTED: frozenset({S.UNDER_REVIEW}),
    S.UNDER_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.MORE_DOCUMENTS}),
    S.MORE_DOCUMENTS: frozenset({S.UNDER_REVIEW, S.REJECTED}),
    S.APPROVED: frozenset({S.SUSPENDED, S.CLOSED}),
    S.SUSPENDED: frozenset({S.APPROVED, S.CLOSED}),
    S.REJECTED: frozenset(),
    S.CLOSED: frozenset(),
}
LIVE = (S.SUBMITTED, S.UNDER_REVIEW, S.MORE_DOCUMENTS, S.APPROVED, S.SUSPENDED)
# An application still waiting for a decision.
OPEN_APPLICATIONS = (S.SUBMITTED, S.UNDER_REVIEW, S.MORE_DOCUMENTS)
# The states the review queue shows.
APPLICATION_STATES = (S.SUBMITTED, S.UNDER_REVIEW, S.MORE_DOCUMENTS, S.REJECTED, S.APPROVED)


@dataclass(frozen=True)
class Application:
    """What a merchant applies with. Personal merchants give an identity number;
    business merchants their business licence (and tax number, if different)."""

    kind: MerchantKind
    legal_name: str
    mcc: str
    region_code: str
    contact_name: str
    contact_phone: str
    bank_name: str
    bank_account_name: str
    bank_account_no: str
    shop_address: str
    display_name: str | None = None
    contact_email: str | None = None
    id_number: str | None = None
    business_licence_no: str | None = None
    tax_registration_no: str | None = None
    shop_name: str | None = None


@dataclass(frozen=True)
class CheckResult:
    """One automatic check of an application: what was checked (an English message
    id), whether it passed, and what it found (never a clear number)."""

    name: str
    passed: bool
    detail: str = ""


MAX_APPLICANT_STEPS = 200  # an application's steps: its states and at most 30 uploads


def _for_applicant(e: MerchantEvent) -> bool:
    """Whether an entry's reason was written for the applicant to read."""
    if e.action is MerchantAction.DOCUMENTS_ASKED:
        return True
    return e.action is MerchantAction.STATUS and e.to_status is S.REJECTED


def _check(name: str, check: Callable[..., object], *args: object) -> CheckResult:
    try:
        check(*args)
    except InvalidInput as failed:
        return CheckResult(name, False, failed.code)
    return CheckResult(name, True)


def outstanding_documents(s: Session, m: Merchant) -> list[DocumentKind]:
    """The kinds the last request for documents named that have not come in since."""
    if m.status is not S.MORE_DOCUMENTS:
        return []
    asked = s.execute(
        select(MerchantEvent)
        .where(
            MerchantEvent.merchant_id == m.id,
            MerchantEvent.action == MerchantAction.DOCUMENTS_ASKED,
        )
        .order_by(MerchantEvent.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if asked is None or not asked.detail:
        return []
    came = set(
        s.scalars(
            select(MerchantEvent.detail).where(
                MerchantEvent.merchant_id == m.id,
                MerchantEvent.action == MerchantAction.DOCUMENT_UPLOADED,
                MerchantEvent.id > asked.id,
            )
        )
    )
    return [DocumentKind(k) for k in asked.detail.split(",") if k not in came]


def _application_number(text: str) -> bool:
    """Digits that can be an application number: a merchant's id, which the database
    keeps as a 32-bit integer (a larger number is no merchant's, and PostgreSQL would
    refuse to compare it). ``isascii`` first: ``int()`` fails on "¹"."""
    return text.isascii() and text.isdigit() and len(text) <= 10 and int(text) < 2**31


def find_merchant(session: Session, ref: str, *, lock: bool = False) -> Merchant:
    """A merchant by MID (15 digits, 898...) or by application number (its id)."""
    query = select(Merchant)
    ref = ref.strip()
    if looks_like_mid(ref):
        query = query.where(Merchant.mid == ref)
    elif _application_number(ref):
        query = query.where(Merchant.id == int(ref))
    else:
        raise InvalidInput(
            "merchant.malformed_ref",
            N_("{ref!r} is neither a MID nor an application number"),
            ref=ref,
        )
    if lock:
        query = query.with_for_update()
    merchant = session.execute(query).scalar_one_or_none()
    if merchant is None:
        raise NotFound("merchant.not_found", N_("No merchant {ref}"), ref=ref)
    return merchant


def merchant_label(m: Merchant) -> str:
    return m.mid or f"#{m.id}"


def find_shop(session: Session, merchant: Merchant, number: int | None) -> Shop:
    """One of the merchant's shops; with no number, its only open shop."""
    shops = [s for s in merchant.shops if number is None or s.number == number]
    if number is None:
        shops = [s for s in shops if s.status is ShopStatus.OPEN]
        if len(shops) != 1:
            raise InvalidInput(
                "shop.ambiguous",
                N_("Merchant {ref} has {n} open shops: name one (--shop, or shop_number)"),
                ref=merchant_label(merchant),
                n=len(shops),
            )
    if not shops:
        raise NotFound(
            "shop.not_found",
            N_("Merchant {ref} has no shop {number}"),
            ref=merchant_label(merchant),
            number=number,
        )
    return shops[0]


def check_max_terminals(m: Merchant, limit: int) -> None:
    """A merchant's own terminal limit: 0-10000, at most 1 for a personal merchant."""
    if not 0 <= limit <= 10_000:
        raise InvalidInput("merchant.max_terminals", N_("A terminal limit is between 0 and 10000"))
    if m.kind is MerchantKind.PERSONAL and limit > 1:
        raise Refused(
            "merchant.personal_terminal_limit",
            N_("A personal merchant may have at most one terminal"),
        )


def check_document_kinds(m: Merchant, kinds: list[DocumentKind]) -> None:
    """Only the documents of the merchant's kind (a licence is a business's)."""
    for kind in kinds:
        if kind not in DOCUMENT_KINDS[m.kind]:
            raise InvalidInput(
                "document.kind_not_for_merchant",
                N_("A {merchant_kind} merchant has no {kind} document"),
                merchant_kind=m.kind,
                kind=kind,
            )


class TerminalCount(Protocol):
    """How many terminals a merchant has bound, or a shop has (the terminals package
    counts them: the composition root hands the counter to the service)."""

    def __call__(
        self, s: Session, *, merchant_id: int | None = None, shop_id: int | None = None
    ) -> int: ...


class MerchantService:
    def __init__(self, ctx: Context, terminal_count: TerminalCount) -> None:
        self.ctx = ctx
        self.terminal_count = terminal_count

    # --- applications -----------------------------------------------------------------

    def apply(
        self,
        app: Application,
        actor: str,
        *,
        then: Callable[[Session, Merchant], None] | None = None,
    ) -> MerchantView:
        """A new application (status ``submitted``), its first shop and its history's
        first entry. ``then`` runs in the same unit of work once the merchant has its id
        (the portal links the applicant's account to it): when it raises, nothing of the
        application is kept."""
        actor = check_actor(actor)
        kind = MerchantKind(app.kind)
        legal_name = v.text("legal_name", app.legal_name, min_len=2)
        display_name = v.text("display_name", app.display_name or legal_name, max_len=100)
        mcc = v.mcc(app.mcc, kind)
        region = check_region(app.region_code)
        account_name = v.text("bank_account_name", app.bank_account_name, min_len=2)
        account = v.bank_account(app.bank_account_no, kind)
        if kind is MerchantKind.PERSONAL:
            if app.id_number is None:
                raise InvalidInput(
                    "application.id_number",
                    N_("A personal merchant applies with an identity number"),
                )
            if app.business_licence_no:
                raise InvalidInput(
                    "application.business_licence_no",
                    N_("A business licence means a business merchant, not a personal one"),
                )
            identity = v.resident_id(app.id_number)
            if account_name != legal_name:
                raise InvalidInput(
                    "application.bank_account_name",
                    N_(
                        "A personal merchant is paid only into an account in its own name: "
                        "the account holder must be {name}"
                    ),
                    name=legal_name,
                )
            licence = tax = None
        else:
            if app.business_licence_no is None:
                raise InvalidInput(
                    "application.business_licence_no",
                    N_("A business merchant applies with its business licence number"),
                )
            licence = v.credit_code("business_licence_no", app.business_licence_no)
            tax = v.tax_number(app.tax_registration_no or licence)
            identity = licence
        contact = v.text("contact_name", app.contact_name, max_len=100)
        phone = v.phone(app.contact_phone)
        email = v.email(app.contact_email)
        bank = v.text("bank_name", app.bank_name, min_len=2, max_len=100)
        shop_name = v.text("shop_name", app.shop_name or display_name, max_len=100)
        address = v.text("shop_address", app.shop_address, min_len=4, max_len=300)
        ks = self.ctx.keystore
        token = ks.token(identity, kind="merchant-identity")
        now = self.ctx.now()
        with self.ctx.db.transaction() as s:
            existing = s.execute(
                select(Merchant).where(Merchant.identity_token == token, Merchant.status.in_(LIVE))
            ).scalar_one_or_none()
            if existing is not None:
                raise Refused(
                    "merchant.duplicate_application",
                    N_("This identity already has merchant {ref} ({status})"),
                    ref=merchant_label(existing),
                    status=existing.status,
                )
            m = Merchant(
                kind=kind,
                status=S.SUBMITTED,
                legal_name=legal_name,
                display_name=display_name,
                mcc=mcc,
                region_code=region,
                contact_name=contact,
                contact_phone=phone,
                contact_email=email,
                business_licence_no=licence,
                tax_registration_no=tax,
                identity_token=token,
                bank_name=bank,
                bank_account_name=account_name,
                bank_account_enc=b"",  # sealed below, once the id names the owner
                id_document_enc=b"" if kind is MerchantKind.PERSONAL else None,
                bank_account_masked=mask_tail(account),
                created_at=now,
            )
            s.add(m)
            s.flush()  # the id names the ciphertexts' owner
            m.bank_account_enc = ks.seal_text(account, f"merchant:{m.id}:bank-account")
            if kind is MerchantKind.PERSONAL:
                m.id_document_enc = ks.seal_text(identity, f"merchant:{m.id}:identity")
                m.id_document_masked = identity[:1] + mask_tail(identity[1:], 4)
            s.add(
                Shop(
                    merchant=m,
                    number=1,
                    name=shop_name,
                    address=address,
                    region_code=region,
                    status=ShopStatus.OPEN,
                    created_at=now,
                )
            )
            self.record(s, m, None, S.SUBMITTED, actor, None)
            s.flush()
            if then is not None:
                then(s, m)
            return self._view(s, m)

    # --- review and lifecycle ---------------------------------------------------------

    def start_review(self, ref: str, actor: str) -> MerchantView:
        return self._move(ref, S.UNDER_REVIEW, actor, None)

    def approve(
        self,
        ref: str,
        actor: str,
        note: str | None = None,
        *,
        mid: str | None = None,
        fee_plan: str | None = None,
        max_terminals: int | None = None,
        shop_name: str | None = None,
        shop_address: str | None = None,
    ) -> MerchantView:
        """Approve an application and give the merchant its MID: the next free one of
        its region and MCC, or ``mid`` for a merchant that brings its number along.

        In the same unit of work (all of it happens, or none): the merchant starts on
        ``fee_plan`` (by code; its kind's default plan without one), gets its own
        terminal limit ``max_terminals`` (without one, its kind's), and its first shop
        takes the name and address the reviewer confirmed."""
        actor = check_actor(actor)
        note = check_reason(note, required=False)
        name = None if shop_name is None else v.text("shop_name", shop_name, max_len=100)
        address = (
            None
            if shop_address is None
            else v.text("shop_address", shop_address, min_len=4, max_len=300)
        )
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            if max_terminals is not None:
                check_max_terminals(m, max_terminals)
            if fee_plan is not None:
                plan = s.execute(
                    select(FeePlan).where(FeePlan.code == fee_plan.strip())
                ).scalar_one_or_none()
                if plan is None:
                    raise NotFound("fee.plan_not_found", N_("No fee plan {plan}"), plan=fee_plan)
                reason = "chosen on approval"
            else:
                plan = s.execute(select(FeePlan).where(FeePlan.default_for == m.kind)).scalar_one()
                reason = "default plan on approval"
            if m.status is S.SUBMITTED:  # approving straight away includes the review
                self.transition(s, m, S.UNDER_REVIEW, actor, None)
            s.flush()
            with s.no_autoflush:  # MID and status change together (a CHECK insists)
                new_mid = self._allocate_mid(s, m, mid)
            self.transition(s, m, S.APPROVED, actor, note)
            m.mid = new_mid
            m.approved_at = self.ctx.now()
            if max_terminals is not None:
                m.max_terminals = max_terminals
            if name is not None or address is not None:
                first = min(m.shops, key=lambda x: x.number)
                if name is not None:
                    first.name = name
                if address is not None:
                    first.address = address
            open_merchant_accounts(s, m.id, new_mid, m.approved_at)
            s.add(
                FeePlanAssignment(
                    merchant_id=m.id,
                    fee_plan_id=plan.id,
                    effective_from=self.ctx.today(),
                    actor=actor,
                    reason=reason,
                    at=self.ctx.now(),
                )
            )
            return self._view(s, m)

    def ask_for_documents(
        self, ref: str, kinds: list[DocumentKind], note: str, actor: str
    ) -> MerchantView:
        """Ask the applicant for documents (one or more kinds, with a note saying what
        is wanted): the application waits in ``more_documents`` until a document of
        every kind asked for has come in (or a reviewer resumes the review)."""
        actor = check_actor(actor)
        why = check_reason(note, required=True)
        wanted = sorted({DocumentKind(k) for k in kinds})
        if not wanted:
            raise InvalidInput(
                "application.documents_none", N_("Name at least one kind of document")
            )
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            check_document_kinds(m, wanted)
            if m.status is S.SUBMITTED:
                self.transition(s, m, S.UNDER_REVIEW, actor, None)
            detail = ",".join(k.value for k in wanted)
            if m.status is S.MORE_DOCUMENTS:  # asking again: the new list replaces the old
                self.record(s, m, m.status, m.status, actor, why,
                            action=MerchantAction.DOCUMENTS_ASKED, detail=detail)  # fmt: skip
                m.status_reason = why
            else:
                if S.MORE_DOCUMENTS not in TRANSITIONS[m.status]:
                    self.transition(s, m, S.MORE_DOCUMENTS, actor, why)  # refused, and says why
                self.record(s, m, m.status, S.MORE_DOCUMENTS, actor, why,
                            action=MerchantAction.DOCUMENTS_ASKED, detail=detail)  # fmt: skip
                m.status, m.status_reason = S.MORE_DOCUMENTS, why
            return self._view(s, m)

    def add_note(self, ref: str, note: str, actor: str) -> MerchantEventView:
        """A reviewer's note on an application, kept in its history (staff only: the
        applicant never sees notes)."""
        actor = check_actor(actor)
        text = check_reason(note, required=True)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            event = self.record(s, m, m.status, m.status, actor, text, action=MerchantAction.NOTE)
            s.flush()
            return MerchantEventView.model_validate(event)

    def reject(self, ref: str, actor: str, reason: str) -> MerchantView:
        actor = check_actor(actor)
        why = check_reason(reason, required=True)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            if m.status is S.SUBMITTED:
                self.transition(s, m, S.UNDER_REVIEW, actor, None)
            self.transition(s, m, S.REJECTED, actor, why)
            return self._view(s, m)

    def suspend(self, ref: str, actor: str, reason: str) -> MerchantView:
        return self._move(ref, S.SUSPENDED, actor, reason)

    def reinstate(self, ref: str, actor: str, reason: str) -> MerchantView:
        with self.ctx.db.read() as s:
            if find_merchant(s, ref).status is not S.SUSPENDED:
                raise Refused(
                    "merchant.not_suspended",
                    N_("Merchant {ref} is not suspended"),
                    ref=ref,
                )
        return self._move(ref, S.APPROVED, actor, reason)

    def close(self, ref: str, actor: str, reason: str) -> MerchantView:
        actor = check_actor(actor)
        why = check_reason(reason, required=True)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            bound = self.terminal_count(s, merchant_id=m.id)
            if bound:
                raise Refused(
                    "merchant.has_terminals",
                    N_("Merchant {ref} still has {n} bound terminal(s): unbind them first"),
                    ref=merchant_label(m),
                    n=bound,
                )
            self.transition(s, m, S.CLOSED, actor, why)
            return self._view(s, m)

    def set_max_terminals(self, ref: str, limit: int | None, actor: str) -> MerchantView:
        """Give one business merchant its own terminal limit (None: the kind's)."""
        check_actor(actor)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            if limit is not None:
                check_max_terminals(m, limit)
            m.max_terminals = limit
            return self._view(s, m)

    # --- reading ----------------------------------------------------------------------

    def get(self, ref: str) -> MerchantView:
        with self.ctx.db.read() as s:
            return self._view(s, find_merchant(s, ref))

    def search(
        self,
        *,
        status: MerchantStatus | None = None,
        kind: MerchantKind | None = None,
        text: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[MerchantView]:
        """Merchants in id order after ``after_id``. ``text`` finds a MID or contact
        phone by its beginning, an application number, or a word of the legal or shop
        sign's name (any case)."""
        check_limit(limit)
        query = (
            select(Merchant)
            .options(selectinload(Merchant.shops))
            .where(Merchant.id > after_id)
            .order_by(Merchant.id)
            .limit(limit)
        )
        text = " ".join((text or "").split())[:100]
        if text:
            if text.isascii() and text.isdigit():
                found = [
                    Merchant.mid.startswith(text, autoescape=True),
                    Merchant.contact_phone.startswith(text, autoescape=True),
                ]
                if _application_number(text):
                    found.append(Merchant.id == int(text))
                query = query.where(or_(*found))
            else:
                query = query.where(
                    or_(
                        Merchant.legal_name.icontains(text, autoescape=True),
                        Merchant.display_name.icontains(text, autoescape=True),
                    )
                )
        if status is not None:
            query = query.where(Merchant.status == status)
        if kind is not None:
            query = query.where(Merchant.kind == kind)
        with self.ctx.db.read() as s:
            return [self._view(s, m) for m in s.scalars(query)]

    def applications(
        self,
        *,
        statuses: tuple[MerchantStatus, ...] = OPEN_APPLICATIONS,
        kind: MerchantKind | None = None,
        search: str = "",
        after_id: int = 0,
        limit: int = 50,
    ) -> list[MerchantView]:
        """The review queue: applications in these states, oldest first (by application
        number), optionally of one kind and matching ``search`` in the legal or shop
        name or the contact phone."""
        check_limit(limit)
        query = (
            select(Merchant)
            .options(selectinload(Merchant.shops))
            .where(Merchant.id > after_id, Merchant.status.in_(statuses))
            .order_by(Merchant.id)
            .limit(limit)
        )
        if kind is not None:
            query = query.where(Merchant.kind == kind)
        words = " ".join(search.split())[:100]
        if words:
            like = "%" + re.sub(r"([\\%_])", r"\\\1", words) + "%"
            query = query.where(
                or_(
                    Merchant.legal_name.like(like, escape="\\"),
                    Merchant.display_name.like(like, escape="\\"),
                    Merchant.contact_phone.like(like, escape="\\"),
                )
            )
        with self.ctx.db.read() as s:
            return [self._view(s, m) for m in s.scalars(query)]

    def application_counts(self) -> dict[MerchantStatus, int]:
        """How many merchants are in each state of the review queue."""
        with self.ctx.db.read() as s:
            rows = s.execute(
                select(Merchant.status, func.count())
                .where(Merchant.status.in_(APPLICATION_STATES))
                .group_by(Merchant.status)
            ).all()
        counts = dict.fromkeys(APPLICATION_STATES, 0)
        counts.update({MerchantStatus(status): n for status, n in rows})
        return counts

    def asked_documents(self, ref: str) -> list[DocumentKind]:
        """The kinds of document the reviewer is waiting for (none unless the
        application is in ``more_documents``)."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            return outstanding_documents(s, m)

    def checks(self, ref: str) -> list[CheckResult]:
        """The automatic checks on an application, run again on what is stored: the
        identity number's or licence's check digit, the bank account, the name on a
        personal merchant's account, and other applications with the same identity.
        The clear numbers never leave this method."""
        ks = self.ctx.keystore
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            results: list[CheckResult] = []
            account = ks.open_text(m.bank_account_enc, f"merchant:{m.id}:bank-account")
            if m.kind is MerchantKind.PERSONAL:
                assert m.id_document_enc is not None  # a CHECK constraint insists
                identity = ks.open_text(m.id_document_enc, f"merchant:{m.id}:identity")
                results.append(_check(N_("Identity number check digit"), v.resident_id, identity))
                results.append(
                    _check(N_("Bank card check digit (Luhn)"), v.bank_account, account, m.kind)
                )
                results.append(
                    CheckResult(
                        N_("Account holder is the applicant"),
                        m.bank_account_name == m.legal_name,
                    )
                )
            else:
                licence = m.business_licence_no or ""
                results.append(
                    _check(N_("Credit code check character"), v.credit_code, "licence", licence)
                )
                results.append(
                    _check(N_("Bank account number format"), v.bank_account, account, m.kind)
                )
            others = s.execute(
                select(Merchant.id, Merchant.mid, Merchant.status)
                .where(Merchant.identity_token == m.identity_token, Merchant.id != m.id)
                .order_by(Merchant.id)
                .limit(20)
            ).all()
            results.append(
                CheckResult(
                    N_("No other application with this identity"),
                    not others,
                    ", ".join(f"{mid or f'#{i}'} ({status})" for i, mid, status in others),
                )
            )
            return results

    def history(self, ref: str) -> list[MerchantEventView]:
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            events = s.scalars(
                select(MerchantEvent)
                .where(MerchantEvent.merchant_id == m.id)
                .order_by(MerchantEvent.id)
            )
            return [MerchantEventView.model_validate(e) for e in events]

    def applicant_history(self, ref: str, applicant: str) -> list[ApplicantStepView]:
        """The history as the applicant reads it: every step but the reviewers' notes,
        without who took it (only whether it was ``applicant``, as the history names
        them), and a message only for documents asked for and a rejection: what the
        reviewer wrote for the applicant to read."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            events = s.scalars(
                select(MerchantEvent)
                .where(
                    MerchantEvent.merchant_id == m.id,
                    MerchantEvent.action != MerchantAction.NOTE,
                )
                .order_by(MerchantEvent.id)
                .limit(MAX_APPLICANT_STEPS)
            )
            return [
                ApplicantStepView(
                    at=e.at,
                    action=e.action,
                    from_status=e.from_status,
                    to_status=e.to_status,
                    detail=e.detail,
                    message=e.reason if _for_applicant(e) else None,
                    by_applicant=e.actor == applicant,
                )
                for e in events
            ]

    def bank_account_number(self, ref: str) -> str:
        """The clear settlement account, for the payout file only. Never displayed."""
        with self.ctx.db.read() as s:
            m = find_merchant(s, ref)
            return self.ctx.keystore.open_text(m.bank_account_enc, f"merchant:{m.id}:bank-account")

    # --- shops ------------------------------------------------------------------------

    def add_shop(
        self,
        ref: str,
        name: str,
        address: str,
        actor: str,
        region_code: str | None = None,
        *,
        position: Position | None = None,
        city: str | None = None,
    ) -> ShopView:
        """Open another shop; ``position`` and ``city`` are where it is registered to
        be (``validation.position`` reads a position from text)."""
        check_actor(actor)
        name = v.text("shop_name", name, max_len=100)
        address = v.text("shop_address", address, min_len=4, max_len=300)
        city = v.city(city)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            if m.status not in LIVE:
                raise Refused(
                    "shop.merchant_not_live",
                    N_("Merchant {ref} is {status}: it cannot open shops"),
                    ref=merchant_label(m),
                    status=m.status,
                )
            if any(shop.name == name and shop.status is ShopStatus.OPEN for shop in m.shops):
                raise Refused(
                    "shop.duplicate_name",
                    N_("Merchant {ref} already has an open shop called {name!r}"),
                    ref=merchant_label(m),
                    name=name,
                )
            shop = Shop(
                merchant=m,
                number=max((x.number for x in m.shops), default=0) + 1,
                name=name,
                address=address,
                region_code=check_region(region_code or m.region_code),
                status=ShopStatus.OPEN,
                created_at=self.ctx.now(),
                latitude_e6=None if position is None else position.latitude_e6,
                longitude_e6=None if position is None else position.longitude_e6,
                city=city,
            )
            s.add(shop)
            s.flush()
            return ShopView.model_validate(shop)

    def update_shop(
        self,
        ref: str,
        number: int,
        actor: str,
        *,
        position: Position | Keep | None = KEEP,
        city: str | Keep | None = KEEP,
    ) -> ShopView:
        """Change where a shop is registered to be: its ``position`` (None: none) and
        its ``city`` (None or blank: none); what is not given stays."""
        check_actor(actor)
        if city is not KEEP:
            city = v.city(city)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            shop = find_shop(s, m, number)
            if not isinstance(position, Keep):
                shop.latitude_e6 = None if position is None else position.latitude_e6
                shop.longitude_e6 = None if position is None else position.longitude_e6
            if not isinstance(city, Keep):
                shop.city = city
            s.flush()
            return ShopView.model_validate(shop)

    def close_shop(self, ref: str, number: int, actor: str) -> ShopView:
        check_actor(actor)
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            shop = find_shop(s, m, number)
            bound = self.terminal_count(s, shop_id=shop.id)
            if bound:
                raise Refused(
                    "shop.has_terminals",
                    N_("Shop {number} still has {n} terminal(s): unbind them first"),
                    number=number,
                    n=bound,
                )
            shop.status = ShopStatus.CLOSED
            return ShopView.model_validate(shop)

    def list_shops(self, ref: str) -> list[ShopView]:
        with self.ctx.db.read() as s:
            return [ShopView.model_validate(x) for x in find_merchant(s, ref).shops]

    # --- internals --------------------------------------------------------------------

    def _move(self, ref: str, to: MerchantStatus, actor: str, reason: str | None) -> MerchantView:
        actor = check_actor(actor)
        why = check_reason(reason, required=to in (S.SUSPENDED, S.REJECTED, S.CLOSED))
        with self.ctx.db.transaction() as s:
            m = find_merchant(s, ref, lock=True)
            self.transition(s, m, to, actor, why)
            return self._view(s, m)

    def transition(
        self, s: Session, m: Merchant, to: MerchantStatus, actor: str, reason: str | None
    ) -> None:
        if to not in TRANSITIONS[m.status]:
            if m.status is to:
                raise Refused(
                    "merchant.already",
                    N_("Merchant {ref} is already {status}"),
                    ref=merchant_label(m),
                    status=to,
                )
            raise Refused(
                "merchant.bad_transition",
                N_("Merchant {ref} is {status}: it cannot become {to}"),
                ref=merchant_label(m),
                status=m.status,
                to=to,
            )
        self.record(s, m, m.status, to, actor, reason)
        m.status = to
        m.status_reason = reason

    def record(
        self,
        s: Session,
        m: Merchant,
        frm: MerchantStatus | None,
        to: MerchantStatus,
        actor: str,
        reason: str | None,
        *,
        action: MerchantAction = MerchantAction.STATUS,
        detail: str | None = None,
    ) -> MerchantEvent:
        """One entry of the merchant's history (a status change, or a step of the
        review that leaves the status as it is)."""
        event = MerchantEvent(
            merchant_id=m.id,
            from_status=frm,
            to_status=to,
            actor=actor,
            reason=reason,
            at=self.ctx.now(),
            action=action,
            detail=detail,
        )
        s.add(event)
        return event

    def _allocate_mid(self, s: Session, m: Merchant, wanted: str | None) -> str:
        if wanted is not None:
            if s.execute(select(Merchant.id).where(Merchant.mid == check_mid(wanted))).first():
                raise Refused("merchant.mid_taken", N_("MID {mid} is taken"), mid=wanted)
            return wanted
        name = f"mid:{m.region_code}{m.mcc}"
        for _ in range(10_000):
            mid = make_mid(m.region_code, m.mcc, next_counter(s, name))
            if s.execute(select(Merchant.id).where(Merchant.mid == mid)).first() is None:
                return mid
        raise Refused(  # pragma: no cover - 9,999 merchants of one category in one region
            "merchant.mid_exhausted",
            N_("No MID is left for region {region} and MCC {mcc}"),
            region=m.region_code,
            mcc=m.mcc,
        )

    @staticmethod
    def _view(s: Session, m: Merchant) -> MerchantView:
        s.flush()
        invariant((m.mid is not None) == (m.status in (S.APPROVED, S.SUSPENDED, S.CLOSED)), "MID")
        return MerchantView.model_validate(m)
