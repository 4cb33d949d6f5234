"""A hypothesis state machine drives random sales, voids, refunds, reversals, pre-auth
completions and cut-offs with settlement runs across days and merchants, through the
acquirer and the card simulator, and checks the books after every step."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import bindparam, text

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.money import Money
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid, demo_tid, ensure_demo
from tillpoint.ledger import service as ledger
from tillpoint.payments.acquirer import Acquirer, Card, RequestKey, simulated
from tillpoint.payments.models import PaymentKind
from tillpoint.terminals.signon import Admitted

R = TypeVar("R")
CARDS = ("6212340000000000012", "6250940000000000016", "4761340000000019", "5222220000000005")
MERCHANTS = (1, 2)


class Books(RuleBasedStateMachine):
    def __init__(self, template: Path, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        # Each example starts from the same books and the cardholders' opening balances.
        path = template.with_name(f"example-{next(_EXAMPLES)}.db")
        shutil.copyfile(template, path)
        self.tp, self.loop = _open(path), loop
        self.acquirer: Acquirer = loop.run_until_complete(_make(self.tp))
        self.stans = itertools.count(1)
        self.captures: list[tuple[int, str, int, str, str]] = []  # n, rrn, amount, pan, stan
        self.holds: list[tuple[int, str, int, str]] = []  # n, auth code, amount, pan

    def teardown(self) -> None:
        self.acquirer.close()
        self.tp.close()

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        return self.loop.run_until_complete(coro)

    def terminal(self, n: int) -> Admitted:
        t = self.tp.signon.admitted(demo_tid(n), demo_mid(n))
        return t or self.tp.signon.admit(demo_tid(n), demo_mid(n))

    def key(self, t: Admitted, mti: str = "0200", stan: str | None = None) -> RequestKey:
        stan = stan or f"{next(self.stans) % 999_999:06d}"
        return RequestKey(mti, stan, t.batch_no, uuid.uuid4().hex)

    @rule(n=st.sampled_from(MERCHANTS), amount=st.integers(1, 50_000), pan=st.sampled_from(CARDS))
    def sale(self, n: int, amount: int, pan: str) -> None:
        t = self.terminal(n)
        key = self.key(t)
        out = self.run(self.acquirer.sale(t, key, Money(amount), Card(pan, "3012", "05")))
        if out.response_code == "00" and out.rrn:
            self.captures.append((n, out.rrn, amount, pan, key.stan))

    @precondition(lambda self: self.captures)
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        n, rrn, amount, _pan, _ = data.draw(st.sampled_from(self.captures))
        t = self.terminal(n)
        self.run(self.acquirer.void(t, self.key(t), Money(amount), rrn))

    @precondition(lambda self: self.captures)
    @rule(data=st.data(), share=st.integers(1, 100))
    def refund(self, data: st.DataObject, share: int) -> None:
        n, rrn, amount, pan, _ = data.draw(st.sampled_from(self.captures))
        t = self.terminal(n)
        part = Money(max(1, amount * share // 100))
        self.run(self.acquirer.refund(t, self.key(t, "0220"), part, rrn, Card(pan, "3012", "05")))

    @precondition(lambda self: self.captures)
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        n, _rrn, _amount, _pan, stan = data.draw(st.sampled_from(self.captures))
        t = self.terminal(n)
        self.run(self.acquirer.reverse(t, self.key(t, "0400", stan), "0200"))

    @rule(n=st.sampled_from(MERCHANTS), amount=st.integers(100, 50_000))
    def preauth(self, n: int, amount: int) -> None:
        t, pan = self.terminal(n), CARDS[1]
        card = Card(pan, "3012", "05")
        out = self.run(
            self.acquirer.sale(
                t, self.key(t, "0100"), Money(amount), card, kind=PaymentKind.PREAUTH
            )
        )
        if out.response_code == "00" and out.auth_code:
            self.holds.append((n, out.auth_code, amount, pan))

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), share=st.integers(1, 115))
    def complete(self, data: st.DataObject, share: int) -> None:
        n, auth, amount, pan = data.draw(st.sampled_from(self.holds))
        t = self.terminal(n)
        key = self.key(t)
        amt = max(1, amount * share // 100)
        out = self.run(self.acquirer.complete(t, key, Money(amt), auth, Card(pan, "3012", "05")))
        if out.response_code == "00" and out.rrn:
            self.captures.append((n, out.rrn, amt, pan, key.stan))

    @rule()
    def cut_off_and_settle(self) -> None:
        day = self.tp.days.cut_off("machine")
        first = self.tp.settlement.run(day)
        entries = self._entries()
        assert self.tp.settlement.run(day) == first  # a re-run changes nothing
        assert self._entries() == entries

    def _entries(self) -> int:
        with self.tp.ctx.db.engine.connect() as c:
            return int(c.execute(text("SELECT count(*) FROM journal_entries")).scalar() or 0)

    @invariant()
    def books_balance(self) -> None:
        assert self.tp.ledger.check() == []

    @invariant()
    def every_fen_of_every_merchant_is_accounted_for(self) -> None:
        balances = {b.code: b.balance.amount_minor for b in self.tp.ledger.balances()}
        for n in MERCHANTS:
            mid = demo_mid(n)
            earned = -self._payable_sum(mid, ("capture", "capture_undone", "refund"))
            paid = self._payable_sum(mid, ("payout",))
            # payouts + what is still payable - what it still owes = all it ever earned
            assert paid - balances[ledger.payable(mid)] - balances[ledger.carried(mid)] == earned

    def _payable_sum(self, mid: str, kinds: tuple[str, ...]) -> int:
        query = text(
            "SELECT coalesce(sum(l.amount_minor), 0) FROM journal_lines l JOIN journal_entries e "
            "ON e.id = l.entry_id WHERE l.account_code = :a AND e.kind IN :kinds"
        ).bindparams(bindparam("kinds", expanding=True))
        with self.tp.ctx.db.engine.connect() as c:
            return int(c.execute(query, {"a": ledger.payable(mid), "kinds": kinds}).scalar() or 0)

    @invariant()
    def settlements_add_up(self) -> None:
        with self.tp.ctx.db.engine.connect() as c:
            rows = c.execute(
                text("SELECT gross_minor, refunds_minor, fees_minor, net_minor, payout_minor, "
                     "carried_out_minor FROM settlements")
            ).all()  # fmt: skip
        for gross, refunds, fees, net, payout, carried_out in rows:
            assert net == gross - refunds - fees
            assert payout >= 0 and carried_out >= 0

    @invariant()
    def refunds_never_exceed_the_capture(self) -> None:
        with self.tp.ctx.db.engine.connect() as c:
            over = c.execute(
                text("SELECT count(*) FROM payments p WHERE p.kind IN ('sale', 'completion') AND "
                     "(SELECT coalesce(sum(r.amount_minor), 0) FROM payments r WHERE "
                     "r.original_id = p.id AND r.kind = 'refund' AND r.status = 'approved') "
                     "> p.amount_minor")
            ).scalar()  # fmt: skip
        assert over == 0


_EXAMPLES = itertools.count()


def _open(path: Path) -> Tillpoint:
    return open_app(Settings(_env_file=None, database_url=f"sqlite:///{path}",  # type: ignore[call-arg]
                             demo=True, locale="en"))  # fmt: skip


def test_the_books_hold_whatever_happens(tmp_path: Path) -> None:
    template = tmp_path / "template.db"
    tp = _open(template)
    ensure_demo(tp, len(MERCHANTS))
    for n in MERCHANTS:
        tp.signon.sign_on(demo_tid(n), demo_mid(n), "001")
    tp.close()
    seen: set[str] = set()
    loop = asyncio.new_event_loop()

    try:
        run_state_machine_as_test(
            lambda: Books(template, loop),
            settings=settings(
                max_examples=15,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        loop.close()
    for path in tmp_path.glob("example-*.db"):  # the machine did move money, every way
        books = _open(path)
        with books.ctx.db.engine.connect() as c:
            seen |= set(c.execute(text("SELECT DISTINCT kind FROM journal_entries")).scalars())
        books.close()
    assert {"capture", "capture_undone", "refund", "payout"} <= seen  # carry: test_ledger.py


async def _make(tp: Tillpoint) -> Acquirer:
    return simulated(tp)
