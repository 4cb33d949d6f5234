"""Merchant applications, review and lifecycle, at the service layer."""

from datetime import timedelta

import pytest
from sqlalchemy import select, text
from tests.conftest import approved, business_application, personal_application

from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.merchants.models import Merchant, MerchantStatus


def test_personal_application_to_approval(tp: Tillpoint) -> None:
    m = tp.merchants.apply(personal_application(), "applicant")
    assert m.status is MerchantStatus.SUBMITTED
    assert m.mid is None
    assert m.bank_account_masked == "***************0012"
    assert m.id_document_masked is not None and m.id_document_masked.endswith(
        personal_application().id_number[-4:]  # type: ignore[index]
    )
    assert [s.number for s in m.shops] == [1]

    assert tp.merchants.start_review(str(m.id), "ops-amy").status is MerchantStatus.UNDER_REVIEW
    done = tp.merchants.approve(str(m.id), "ops-amy", "documents fine")
    assert done.status is MerchantStatus.APPROVED
    # MID: 898 + region 3100 + MCC 5812 + sequence 0001
    assert done.mid == "898310058120001"
    history = tp.merchants.history(done.mid)
    assert [(e.from_status, e.to_status, e.actor) for e in history] == [
        (None, MerchantStatus.SUBMITTED, "applicant"),
        (MerchantStatus.SUBMITTED, MerchantStatus.UNDER_REVIEW, "ops-amy"),
        (MerchantStatus.UNDER_REVIEW, MerchantStatus.APPROVED, "ops-amy"),
    ]
    assert history[-1].reason == "documents fine"


def test_mids_are_sequential_per_region_and_mcc(tp: Tillpoint) -> None:
    first = approved(tp, business_application(1))
    second = approved(tp, business_application(2))
    other = approved(tp, business_application(3, region_code="1000"))
    assert (first, second, other) == ("898310054110001", "898310054110002", "898100054110001")


def test_rejection_needs_a_reason_and_is_final(tp: Tillpoint) -> None:
    m = tp.merchants.apply(business_application(), "applicant")
    with pytest.raises(InvalidInput, match="reason"):
        tp.merchants.reject(str(m.id), "ops", "  ")
    rejected = tp.merchants.reject(str(m.id), "ops", "licence photo unreadable")
    assert rejected.status is MerchantStatus.REJECTED
    assert rejected.status_reason == "licence photo unreadable"
    with pytest.raises(Refused, match="rejected: it cannot become approved"):
        tp.merchants.approve(str(m.id), "ops")
    # A rejected applicant may apply again with the same licence.
    again = tp.merchants.apply(business_application(), "applicant")
    assert again.id != m.id


def test_approving_twice_is_refused(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    with pytest.raises(Refused, match=f"Merchant {mid} is already approved"):
        tp.merchants.approve(mid, "ops")


def test_duplicate_live_application_is_refused(tp: Tillpoint) -> None:
    tp.merchants.apply(personal_application(), "a")
    with pytest.raises(Refused, match="already has merchant"):
        tp.merchants.apply(personal_application(), "a")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mcc": "54x1"}, "MCC '54x1' is malformed"),
        ({"mcc": "1234"}, "not a category"),
        ({"bank_account_no": "6212340000000000013"}, "Bank account is malformed"),
        ({"bank_account_name": "Someone Else"}, "account in its own name"),
        ({"id_number": None}, "identity number"),
        ({"region_code": "31"}, "region code"),
        ({"contact_phone": "12"}, "Phone number"),
        ({"legal_name": "x"}, "legal_name must be"),
    ],
)
def test_malformed_personal_applications_change_nothing(
    tp: Tillpoint, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        tp.merchants.apply(personal_application(**changes), "a")
    assert tp.merchants.search() == []


def test_business_needs_a_valid_licence(tp: Tillpoint) -> None:
    with pytest.raises(InvalidInput, match="business licence"):
        tp.merchants.apply(business_application(business_licence_no=None), "a")
    with pytest.raises(InvalidInput, match="check character"):
        tp.merchants.apply(business_application(business_licence_no="91310104MA1FL00010"), "a")


def test_secrets_are_stored_encrypted(tp: Tillpoint) -> None:
    app = personal_application()
    m = tp.merchants.apply(app, "a")
    with tp.ctx.db.transaction() as s:
        row = s.get(Merchant, m.id)
        assert row is not None
        assert app.bank_account_no.encode() not in row.bank_account_enc
        assert app.id_number is not None and app.id_number.encode() not in (
            row.id_document_enc or b""
        )
        dump = " ".join(str(r) for r in s.execute(text("SELECT * FROM merchants")).all())
    assert app.bank_account_no not in dump and app.id_number not in dump
    assert tp.merchants.bank_account_number(str(m.id)) == app.bank_account_no


def test_suspend_reinstate_close(tp: Tillpoint, clock: FixedClock) -> None:
    mid = approved(tp, business_application())
    with pytest.raises(InvalidInput, match="reason"):
        tp.merchants.suspend(mid, "risk", "")
    assert tp.merchants.suspend(mid, "risk", "chargeback spike").status is MerchantStatus.SUSPENDED
    with pytest.raises(Refused, match="already suspended"):
        tp.merchants.suspend(mid, "risk", "again")
    clock.advance(timedelta(days=1))
    back = tp.merchants.reinstate(mid, "risk", "explained")
    assert (back.status, back.mid) == (MerchantStatus.APPROVED, mid)
    with pytest.raises(Refused, match="not suspended"):
        tp.merchants.reinstate(mid, "risk", "again")
    closed = tp.merchants.close(mid, "ops", "merchant moved away")
    assert closed.status is MerchantStatus.CLOSED
    with pytest.raises(Refused):
        tp.merchants.reinstate(mid, "ops", "oops")


def test_lookup_errors(tp: Tillpoint) -> None:
    with pytest.raises(NotFound):
        tp.merchants.get("898310054119999")
    with pytest.raises(InvalidInput, match="neither a MID"):
        tp.merchants.get("abc")


def test_shops(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    second = tp.merchants.add_shop(mid, "浦东店 Pudong", "上海市浦东新区世纪大道100号", "ops")
    assert second.number == 2
    with pytest.raises(Refused, match="already has an open shop"):
        tp.merchants.add_shop(mid, "浦东店 Pudong", "another address 1", "ops")
    assert [s.number for s in tp.merchants.list_shops(mid)] == [1, 2]
    assert tp.merchants.close_shop(mid, 2, "ops").status.value == "closed"


def test_listing_pages_and_filters(tp: Tillpoint) -> None:
    for n in range(1, 6):
        tp.merchants.apply(business_application(n), "a")
    approved_mid = tp.merchants.approve("1", "ops").mid
    first = tp.merchants.search(limit=2)
    rest = tp.merchants.search(after_id=first[-1].id, limit=10)
    assert [m.id for m in first + rest] == [1, 2, 3, 4, 5]
    assert [m.mid for m in tp.merchants.search(status=MerchantStatus.APPROVED)] == [approved_mid]
    with pytest.raises(InvalidInput):
        tp.merchants.search(limit=0)


def test_database_keeps_mid_and_status_consistent(tp: Tillpoint) -> None:
    m = tp.merchants.apply(business_application(), "a")
    with pytest.raises(Exception, match=r"(?i)constraint|check"), tp.ctx.db.transaction() as s:
        s.execute(select(Merchant).where(Merchant.id == m.id)).scalar_one().mid = "898310054110001"
