"""Risk screening through the real terminal host (docs/risk.md): each built-in rule
fires on its pattern and not on ordinary traffic; a decline is 59 with its decision
kept; a hold and a freeze happen, and are undone when the case is resolved as a false
positive; a shadow rule acts on nothing; a bad rule changes nothing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from tests.e2e.test_host import sale
from tests.hosting import run_with_host, terminal

from tillpoint.app import Tillpoint
from tillpoint.clearing.models import PayoutHold
from tillpoint.core.errors import InvalidInput
from tillpoint.core.geo import Position
from tillpoint.demo import demo_mid, demo_position, demo_tid
from tillpoint.iso8583 import fields as f
from tillpoint.payments.models import Payment
from tillpoint.risk.builtin import BUILTIN
from tillpoint.risk.models import Action, CaseStatus, Mode, Resolution, Severity
from tillpoint.terminal.client import TerminalClient
from tillpoint.terminals.models import TerminalStatus

DEBIT = "6212340000000000012"
CREDIT = "6250940000000000016"
BEIJING = Position(39_904_200, 116_407_400)


def luhn(body: str) -> str:
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return body + str((10 - total % 10) % 10)


def only(demo: Tillpoint, *codes: str) -> None:
    """Switch every rule off but ``codes``, which run with their built-in parameters
    (each rule is tested on its own; the demo gives the card rules room for its cards)."""
    builtin = {d.code: d for d in BUILTIN}
    for r in demo.risk.rules():
        if r.code not in codes:
            demo.risk.update(r.code, "test", "isolate the rule under test", mode=Mode.OFF)
        elif r.mode is not Mode.LIVE or r.params != builtin[r.code].params:
            demo.risk.update(r.code, "test", "as built in", mode=Mode.LIVE,
                             params=builtin[r.code].params)  # fmt: skip


def codes_of(demo: Tillpoint, rrn: str) -> list[str]:
    with demo.ctx.db.read() as s:
        payment_id = s.scalar(select(Payment.id).where(Payment.rrn == rrn))
    assert payment_id is not None
    decision = demo.risk.decision(payment_id)
    return [] if decision is None else [h["rule"] for h in decision.hits]


async def signed_on(port: int, n: int = 1, **kw: object) -> TerminalClient:
    t = terminal(port, n, **kw)
    assert (await t.sign_on()).text(39) == "00"
    return t


def test_card_velocity_declines_the_sixth_attempt_with_its_evidence(demo: Tillpoint) -> None:
    only(demo, "velocity_card")
    demo.risk.update("velocity_card", "test", "a limit of five", params={
        "default": {"max_10m": 5, "max_24h": 100}})  # fmt: skip
    answers: list[tuple[str, str]] = []

    async def scenario(port: int) -> None:
        t = await signed_on(port, 2)  # a business merchant: the default parameters
        for _ in range(6):
            a = await t.exchange(sale(t, DEBIT, 1_000), with_mac=True)
            answers.append((a.text(39), a.text(37)))

    run_with_host(demo, scenario)
    assert [code for code, _ in answers] == ["00"] * 5 + ["59"]
    assert codes_of(demo, answers[4][1]) == []
    assert codes_of(demo, answers[5][1]) == ["velocity_card"]
    [case] = demo.risk.cases(status=CaseStatus.OPEN)
    assert case.mid == demo_mid(2) and case.alerts == 1
    [alert] = demo.risk.alerts(case_id=case.id)
    assert alert.rule == "velocity_card" and alert.action is Action.DECLINE
    assert alert.evidence["values"]["card.count_10m"] == 5
    assert alert.evidence["values"]["max_10m"] == 5
    assert len(alert.evidence["linked"]) == 5  # the five earlier attempts, by reference
    # The decline is undone by resolving the case as a false positive.
    demo.risk.resolve(case.id, Resolution.FALSE_POSITIVE, "risk@acquirer.cn", "a regular")

    async def again(port: int) -> None:
        t = await signed_on(port, 2)
        assert (await t.exchange(sale(t, DEBIT, 1_000), with_mac=True)).text(39) == "00"

    run_with_host(demo, again)


def test_card_testing_on_a_terminal_and_not_on_ordinary_traffic(demo: Tillpoint) -> None:
    only(demo, "card_testing_terminal", "card_testing_sequence", "card_testing_card")
    answers: list[str] = []

    async def scenario(port: int) -> None:
        t = await signed_on(port, 2)
        for _ in range(10):  # ordinary: one known card, several times
            assert (await t.exchange(sale(t, CREDIT, 3_000), with_mac=True)).text(39) == "00"
        for n in range(12):  # a burst of generated numbers of one BIN, small amounts
            pan = luhn(f"621234000012{n:06d}")
            answers.append((await t.exchange(sale(t, pan, 100), with_mac=True)).text(39))

    run_with_host(demo, scenario)
    assert all(c.mid == demo_mid(2) for c in demo.risk.cases())
    # The issuer refuses the unknown numbers; the fourth in sequence is stopped by
    # screening, and so is the rest of the burst.
    assert answers == ["14"] * 3 + ["59"] * 9
    rules = [a.rule for a in demo.risk.alerts()]
    assert set(rules) & {"card_testing_terminal", "card_testing_sequence"}
    assert len(rules) == len(set(rules))  # nine declines, one alert a rule


def test_relocation_alerts_then_freezes_and_resolving_unfreezes(demo: Tillpoint) -> None:
    only(demo, "relocation", "relocation_freeze")
    answers: list[str] = []

    async def scenario(port: int) -> None:
        here = f.Place(f.DEVICE_COUNTERTOP, "DEMO00001", demo_position(1))
        t = await signed_on(port, 1, place=here)
        assert (await t.exchange(sale(t, DEBIT, 2_000), with_mac=True)).text(39) == "00"
        t.place = f.Place(f.DEVICE_MOBILE, "DEMO00001", BEIJING)  # 1,000 km away
        for _ in range(5):
            answers.append((await t.exchange(sale(t, DEBIT, 2_000), with_mac=True)).text(39))

    run_with_host(demo, scenario)
    # alerts for the first sales away, then a freeze (59), then the terminal is frozen
    assert answers[:3] == ["00", "00", "00"]
    assert answers[3] == "59"
    assert demo.terminals.get(demo_tid(1)).status is TerminalStatus.FROZEN
    [case] = demo.risk.cases()
    assert case.severity is Severity.CRITICAL
    detail = demo.risk.case(case.id)
    assert [e.kind for e in detail.events][:2] == ["opened", "alert"]
    assert any(e.kind == "action" and e.data["action"] == "freeze" for e in detail.events)
    # One alert a rule, terminal and day: the sales away count on the first one.
    assert sorted(a.rule for a in detail.alert_list) == ["relocation", "relocation_freeze"]
    [away] = [a for a in detail.alert_list if a.rule == "relocation"]
    assert away.evidence["repeats"] >= 4  # three approved, then declined 59 (the freeze)
    assert away.evidence["latest"]["rrn"] != away.evidence["rrn"]
    # A later sale away shows the alert it counted on, with its own decision.
    later = demo.risk.screening(away.evidence["latest"]["rrn"])
    assert later.decision is not None and away.id in {a.id for a in later.alerts}
    assert detail.alert_list[0].evidence["values"]["terminal.distance_km"] > 1000
    demo.risk.resolve(case.id, Resolution.FALSE_POSITIVE, "risk@acquirer.cn", "moved shop")
    assert demo.terminals.get(demo_tid(1)).status is TerminalStatus.ACTIVE


def test_a_hold_rule_holds_payouts_and_resolving_releases(demo: Tillpoint) -> None:
    only(demo)
    demo.risk.create(
        "big_ticket", "Big tickets", "amount >= 500000", Action.HOLD, Severity.HIGH, "test",
        mode=Mode.LIVE,
    )  # fmt: skip

    async def scenario(port: int) -> None:
        t = await signed_on(port, 2)
        answer = await t.exchange(sale(t, DEBIT, 600_000), with_mac=True)
        assert answer.text(39) == "00"  # allowed, and held
        holds.extend(await held(demo))

    holds: list[PayoutHold] = []
    run_with_host(demo, scenario)
    assert len(holds) == 1 and holds[0].held_by == "risk"
    [case] = demo.risk.cases()
    demo.risk.resolve(case.id, Resolution.FALSE_POSITIVE, "risk@acquirer.cn", "a wedding")
    with demo.ctx.db.read() as s:
        assert s.scalars(select(PayoutHold).where(PayoutHold.released_at.is_(None))).all() == []


async def held(demo: Tillpoint) -> list[PayoutHold]:
    """The payout holds in force, once the one a decision calls for is in: it follows
    the payment's record in the background."""
    for _ in range(100):
        with demo.ctx.db.read() as s:
            holds = list(s.scalars(select(PayoutHold).where(PayoutHold.released_at.is_(None))))
        if holds:
            return holds
        await asyncio.sleep(0.05)
    return []


def test_a_shadow_rule_records_but_acts_on_nothing(demo: Tillpoint) -> None:
    only(demo)
    demo.risk.create(
        "everything", "Everything", "amount > 0", Action.FREEZE, Severity.CRITICAL, "test",
        mode=Mode.SHADOW,
    )  # fmt: skip
    answers: list[tuple[str, str]] = []

    async def scenario(port: int) -> None:
        t = await signed_on(port, 2)
        a = await t.exchange(sale(t, DEBIT, 1_000), with_mac=True)
        answers.append((a.text(39), a.text(37)))

    run_with_host(demo, scenario)
    assert answers[0][0] == "00"
    assert codes_of(demo, answers[0][1]) == ["everything"]
    assert demo.risk.cases() == [] and demo.risk.alerts() == []
    assert demo.terminals.get(demo_tid(2)).status is TerminalStatus.ACTIVE


def test_a_bad_rule_is_refused_and_changes_nothing(demo: Tillpoint) -> None:
    before, versions = demo.risk.rules(), demo.risk.versions("velocity_card")
    for expression in ("card.count_10m >=", "__import__('os')", "nope > 1", "amount.real > 1"):
        with pytest.raises(InvalidInput) as e:
            demo.risk.create("bad", "Bad", expression, Action.ALERT, Severity.LOW, "test")
        assert e.value.code == "risk.expression"
    with pytest.raises(InvalidInput):
        demo.risk.update("velocity_card", "test", "typo", expression="card.count_10m >= max_1O")
    assert demo.risk.rules() == before
    assert demo.risk.versions("velocity_card") == versions


def test_rules_keep_their_versions(demo: Tillpoint) -> None:
    demo.risk.update("velocity_terminal", "alice", "busier shops", params={
        "default": {"max_10m": 120}, "personal": {"max_10m": 40}})  # fmt: skip
    demo.risk.update("velocity_terminal", "bob", "watch it first", mode=Mode.SHADOW)
    versions = demo.risk.versions("velocity_terminal")
    assert [(v.version, v.changed_by, v.note) for v in versions] == [
        (3, "bob", "watch it first"), (2, "alice", "busier shops"), (1, "system", "built-in rule"),
    ]  # fmt: skip
    assert versions[1].definition["params"]["default"] == {"max_10m": 120}
    assert versions[0].definition["mode"] == "shadow"
