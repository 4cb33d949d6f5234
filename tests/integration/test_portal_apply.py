"""A person applying for a POS on their own (the portal): they make an applicant's
account (``sign_up``: password rules, a limit per address, the audit log), then apply
(``submit_application``: the merchant and the account's link to it in one unit of work,
one open application at a time), and read the history without the reviewers' notes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from tests.conftest import business_application, personal_application

from tillpoint.access.accounts import SIGN_UP, SIGN_UP_WINDOW, SIGN_UPS_PER_ADDRESS
from tillpoint.access.models import Account, AccountRole, AuditRecord
from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, Refused
from tillpoint.merchants.models import DocumentKind, Merchant, MerchantAction, MerchantStatus

PASSWORD = "my own password 1"
ADDRESS = "203.0.113.7"


def sign_up(tp: Tillpoint, login: str = "zhang@example.com", address: str | None = ADDRESS):  # type: ignore[no-untyped-def]
    return tp.accounts.sign_up(name="张三 Zhang San", login=login, password=PASSWORD,
                               password_again=PASSWORD, address=address)  # fmt: skip


def audit(tp: Tillpoint, action: str) -> list[AuditRecord]:
    with tp.ctx.db.read() as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def merchants(tp: Tillpoint) -> int:
    with tp.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Merchant)) or 0)


def test_a_person_signs_up_as_an_applicant_and_is_signed_in(tp: Tillpoint) -> None:
    session = sign_up(tp, " Zhang@Example.com ")
    account = session.account
    assert (account.email, account.roles, account.merchant_id, account.mid) == (
        "zhang@example.com", (AccountRole.APPLICANT,), None, None,
    )  # fmt: skip
    assert account.portal and not account.staff and not account.must_change_password
    assert tp.accounts.session(session.token) is not None  # signed in at once
    signed = tp.accounts.sign_in("zhang@example.com", PASSWORD, ADDRESS)
    assert signed.account.id == account.id  # type: ignore[union-attr]
    (made,) = audit(tp, SIGN_UP)
    assert (made.status_code, made.client_ip, made.target) == (
        201,
        ADDRESS,
        f"account {account.id}",
    )
    by_mobile = sign_up(tp, "+86 139 1234 5678").account
    assert (by_mobile.mobile, by_mobile.email) == ("13912345678", None)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"password": "short"}, "account.password"),
        ({"password_again": "another password"}, "account.passwords_differ"),
        ({"login": "not an email@"}, "application.contact_email"),
        ({"login": "12345"}, "account.mobile"),
        ({"name": "  "}, "application.name"),
    ],
)
def test_bad_input_makes_no_account(tp: Tillpoint, changes: dict[str, str], code: str) -> None:
    given = {"name": "Zhang San", "login": "zhang@example.com", "password": PASSWORD,
             "password_again": PASSWORD, **changes}  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        tp.accounts.sign_up(**given, address=ADDRESS)
    assert refused.value.code == code
    assert tp.accounts.list() == []


def test_a_login_taken_is_refused_and_audited(tp: Tillpoint) -> None:
    tp.accounts.create(name="Staff", roles={AccountRole.REVIEWER}, actor="t",
                       email="zhang@example.com", password=PASSWORD)  # fmt: skip
    with pytest.raises(Refused) as refused:
        sign_up(tp)
    assert refused.value.code == "account.exists"
    assert len(tp.accounts.list()) == 1
    (tried,) = audit(tp, f"{SIGN_UP} refused")
    assert (tried.status_code, tried.client_ip) == (409, ADDRESS)


def test_one_address_makes_a_few_accounts_an_hour(tp: Tillpoint, clock: FixedClock) -> None:
    for n in range(SIGN_UPS_PER_ADDRESS):
        sign_up(tp, f"person{n}@example.com")
    with pytest.raises(Refused) as refused:
        sign_up(tp, "one.more@example.com")
    assert refused.value.code == "account.sign_up_throttled"
    assert len(tp.accounts.list()) == SIGN_UPS_PER_ADDRESS
    assert len(audit(tp, f"{SIGN_UP} throttled")) == 1
    sign_up(tp, "elsewhere@example.com", address="198.51.100.1")  # another address may
    clock.advance(SIGN_UP_WINDOW + timedelta(seconds=1))
    sign_up(tp, "one.more@example.com")  # and this one again, an hour on


def test_an_applicant_applies_and_the_account_names_the_application(tp: Tillpoint) -> None:
    account = sign_up(tp).account
    actor = f"console:{account.email}"
    made = tp.accounts.submit_application(account.id, personal_application(5), tp.merchants)
    assert made.status is MerchantStatus.SUBMITTED and made.mid is None
    linked = tp.accounts.get(str(account.id))
    assert (linked.merchant_id, linked.mid, linked.roles) == (
        made.id, None, (AccountRole.APPLICANT,),
    )  # fmt: skip
    assert tp.merchants.history(str(made.id))[0].actor == actor
    (audited,) = audit(tp, "console application submitted")
    assert audited.merchant_id == made.id and audited.detail == {"application": made.id}

    # One open application: a second, of any kind, is refused and leaves nothing.
    with pytest.raises(Refused) as refused:
        tp.accounts.submit_application(account.id, business_application(5), tp.merchants)
    assert refused.value.code == "account.applied"
    assert merchants(tp) == 1

    # Rejected, they may apply again; the account names the new application.
    tp.merchants.reject(str(made.id), "console:reviewer@acquirer.cn", "The photo is unreadable")
    again = tp.accounts.submit_application(account.id, business_application(5), tp.merchants)
    assert tp.accounts.get(str(account.id)).merchant_id == again.id != made.id


def test_an_application_refused_leaves_no_merchant_and_no_link(tp: Tillpoint) -> None:
    account = sign_up(tp).account
    bad = personal_application(5, bank_account_no="6212340000000000013")  # Luhn fails
    with pytest.raises(InvalidInput):
        tp.accounts.submit_application(account.id, bad, tp.merchants)
    assert merchants(tp) == 0 and tp.accounts.get(str(account.id)).merchant_id is None
    # The identity has an application already (another's): nothing is linked either.
    tp.merchants.apply(personal_application(5), "api:someone")
    with pytest.raises(Refused) as refused:
        tp.accounts.submit_application(account.id, personal_application(5), tp.merchants)
    assert refused.value.code == "merchant.duplicate_application"
    assert merchants(tp) == 1 and tp.accounts.get(str(account.id)).merchant_id is None


def test_the_link_is_checked_again_inside_the_unit_of_work(
    tp: Tillpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two submissions at once: the second finds the account linked when it takes the
    account's lock, and its merchant row is rolled back with it (no orphan)."""
    account = sign_up(tp).account
    first = tp.merchants.apply(personal_application(6), "t")
    real = tp.merchants.apply

    def racing(app, actor, *, then=None):  # type: ignore[no-untyped-def]
        # The other submission commits after this one's first check.
        with tp.ctx.db.transaction() as s:
            s.get_one(Account, account.id).merchant_id = first.id
        return real(app, actor, then=then)

    monkeypatch.setattr(tp.merchants, "apply", racing)
    with pytest.raises(Refused) as refused:
        tp.accounts.submit_application(account.id, personal_application(7), tp.merchants)
    assert refused.value.code == "account.applied"
    assert merchants(tp) == 1 and audit(tp, "console application submitted") == []


def test_only_an_applicant_applies_for_themselves(tp: Tillpoint) -> None:
    staff = tp.accounts.create(name="Rita", roles={AccountRole.REVIEWER}, actor="t",
                               email="rita@acquirer.cn", password=PASSWORD).account  # fmt: skip
    with pytest.raises(Refused) as refused:
        tp.accounts.submit_application(staff.id, personal_application(5), tp.merchants)
    assert refused.value.code == "account.not_applicant" and merchants(tp) == 0


def test_the_applicant_reads_the_history_without_the_reviewers_notes(tp: Tillpoint) -> None:
    account = sign_up(tp).account
    me = f"console:{account.email}"
    ref = str(tp.accounts.submit_application(account.id, personal_application(5),
                                             tp.merchants).id)  # fmt: skip
    reviewer = "console:rita@acquirer.cn"
    tp.merchants.start_review(ref, reviewer)
    tp.merchants.add_note(ref, "Called the bank: the card looks odd", reviewer)
    tp.merchants.ask_for_documents(ref, [DocumentKind.BANK_CARD], "A clearer photo, please",
                                   reviewer)  # fmt: skip
    tp.documents.upload(ref, "bank_card", b"\x89PNG\r\n\x1a\n" + b"card" * 50, me)
    tp.merchants.reject(ref, reviewer, "The card is not in your name")
    steps = tp.merchants.applicant_history(ref, me)
    assert [(s.action, s.to_status) for s in steps] == [
        (MerchantAction.STATUS, MerchantStatus.SUBMITTED),
        (MerchantAction.STATUS, MerchantStatus.UNDER_REVIEW),
        (MerchantAction.DOCUMENTS_ASKED, MerchantStatus.MORE_DOCUMENTS),
        (MerchantAction.DOCUMENT_UPLOADED, MerchantStatus.MORE_DOCUMENTS),
        (MerchantAction.STATUS, MerchantStatus.UNDER_REVIEW),  # it came in: back to review
        (MerchantAction.STATUS, MerchantStatus.REJECTED),
    ]
    messages = [s.message for s in steps]
    assert messages == [None, None, "A clearer photo, please", None, None,
                        "The card is not in your name"]  # fmt: skip
    assert [s.by_applicant for s in steps] == [True, False, False, True, True, False]
    assert "Called the bank" not in repr(steps) and "rita" not in repr(steps)
    assert steps[2].detail == "bank_card" and steps[3].detail == "bank_card"
