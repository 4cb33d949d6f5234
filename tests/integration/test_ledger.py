"""Posting refuses an unbalanced entry; the check finds any imbalance in the tables."""

from datetime import date

import pytest
from sqlalchemy import text
from tests.conftest import approved, business_application

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvariantViolation
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind


def test_posting_and_checking(tp: Tillpoint) -> None:
    mid = approved(tp, business_application())
    assert ledger.payable(mid) in {b.code for b in tp.ledger.balances("merchant:")}
    day, now = date(2026, 11, 25), tp.ctx.now()
    with tp.ctx.db.transaction() as s:
        ledger.post(s, EntryKind.CAPTURE, ledger.capture_lines("CUP", mid, 10_000, 50),
                    business_date=day, at=now, memo="test")  # fmt: skip
    with pytest.raises(InvariantViolation), tp.ctx.db.transaction() as s:
        ledger.post(s, EntryKind.REFUND, [(ledger.payable(mid), 100)], business_date=day,
                    at=now, memo="one-sided")  # fmt: skip
    assert tp.ledger.check() == []
    balances = {b.code: b.balance.amount_minor for b in tp.ledger.balances()}
    assert balances[ledger.payable(mid)] == -9_950 and balances["income:fees"] == -50
    # Whatever writes to the tables behind the ledger's back is found.
    with tp.ctx.db.transaction() as s:
        s.execute(text("UPDATE journal_lines SET amount_minor = amount_minor + 1 WHERE id = 1"))
    problems = tp.ledger.check()
    assert [(p.what, p.imbalance_minor) for p in problems] == [("entry", 1), ("total", 1)]
    with tp.ctx.db.transaction() as s:  # put it back: the fixture checks the books after
        s.execute(text("UPDATE journal_lines SET amount_minor = amount_minor - 1 WHERE id = 1"))
    # A line keeps its entry's date and kind (the settlement run reads them from it).
    for change in (
        "UPDATE journal_lines SET business_date = '2026-11-26' WHERE id = 2",
        "UPDATE journal_lines SET kind = 'refund' WHERE id = 2",
    ):
        with tp.ctx.db.transaction() as s:
            s.execute(text(change))
        assert [(p.what, p.ref) for p in tp.ledger.check()] == [("line", "2")]
        with tp.ctx.db.transaction() as s:
            s.execute(text("UPDATE journal_lines SET business_date = '2026-11-25',"
                           " kind = 'capture' WHERE id = 2"))  # fmt: skip
