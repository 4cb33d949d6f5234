"""The cashier link's plain rules: what field 62 may hold, and which open checkout the
poll offers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from tillpoint.payments.checkouts import REF_BYTES, check_checkout_ref, first_offered
from tillpoint.payments.models import CheckoutStatus as S

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
LAPSED = NOW - timedelta(seconds=40)


@given(st.binary(max_size=40))
def test_a_checkout_reference_is_printable_ascii_of_1_to_32_bytes(raw: bytes) -> None:
    ref = check_checkout_ref(raw)
    fits = 0 < len(raw) <= REF_BYTES and all(33 <= b <= 126 for b in raw)
    assert (ref is not None) == fits
    if ref is not None:
        assert ref.encode("ascii") == raw  # nothing is changed on the way


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
               max_size=REF_BYTES))  # fmt: skip
def test_every_reference_the_host_could_give_is_taken_back(ref: str) -> None:
    assert check_checkout_ref(ref.encode("ascii")) == ref


def row(
    n: int, status: S = S.PENDING, expires_in_s: int = 60, claimed_s_ago: int | None = None
) -> tuple[object, ...]:
    claimed = None if claimed_s_ago is None else NOW - timedelta(seconds=claimed_s_ago)
    return (n, f"CK{n:014d}", 100 * n, "CNY", status,
            NOW + timedelta(seconds=expires_in_s), claimed)  # fmt: skip


def test_the_poll_offers_the_oldest_that_may_be_paid() -> None:
    assert first_offered([], NOW, LAPSED) is None
    offer = first_offered([row(1), row(2)], NOW, LAPSED)
    assert offer is not None and (offer.checkout_id, offer.amount_minor) == (1, 100)
    # past its deadline (even by nothing), or under way: skipped
    rows = [row(1, expires_in_s=0), row(2, S.PROCESSING, claimed_s_ago=5), row(3)]
    offer = first_offered(rows, NOW, LAPSED)
    assert offer is not None and offer.checkout_id == 3
    # a claim that lapsed makes it payable again
    offer = first_offered([row(2, S.PROCESSING, claimed_s_ago=41), row(3)], NOW, LAPSED)
    assert offer is not None and offer.checkout_id == 2
    assert first_offered([row(4, S.PROCESSING, claimed_s_ago=40)], NOW, LAPSED) is None
