"""The host's answers are kept as JSON for the duplicate rule: nothing may be lost."""

from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from tillpoint.payments.acquirer import Outcome

text = st.none() | st.text("0123456789", min_size=1, max_size=12)


@given(
    rc=st.text("0123456789A", min_size=2, max_size=2),
    rrn=text,
    auth=text,
    org=st.none() | st.sampled_from(["CUP", "VIS", "ALP"]),
    issuer=st.text("0123456789", max_size=11),
    balance=st.none() | st.integers(min_value=-(10**12), max_value=10**12),
    day=st.none() | st.dates().map(lambda d: d.isoformat()),
    balanced=st.none() | st.tuples(st.sampled_from("12"), st.sampled_from("12")),
    icc=st.none() | st.binary(min_size=1, max_size=255).map(bytes.hex),
)
def test_an_outcome_survives_its_json(
    rc: str,
    rrn: str | None,
    auth: str | None,
    org: str | None,
    issuer: str,
    balance: int | None,
    day: str | None,
    balanced: tuple[str, str] | None,
    icc: str | None,
) -> None:
    outcome = Outcome(rc, rrn, auth, org, issuer, balance, day, balanced, icc)
    assert set(outcome.to_json()) == {f.name for f in fields(Outcome)}
    assert Outcome.from_json(outcome.to_json()) == outcome


def test_an_answer_kept_before_chip_cards_still_loads() -> None:
    kept = {"response_code": "00", "rrn": "000000000001", "auth_code": "100001",
            "card_org": "CUP", "issuer_id": "", "balance_minor": None,
            "business_date": "2026-12-04", "balanced": None}  # fmt: skip
    assert Outcome.from_json(kept).icc is None
