"""Relocation by network through the real terminal host (docs/risk.md): a terminal
selling from its usual network raises nothing; three sales from a network it has not
used raise ``relocation_network``; back on its own network it counts nothing.

Every address in a test is a loopback one: the terminal's connection comes from
127.0.0.1 (network 127.0.0.0/16), then from 127.1.0.1 (127.1.0.0/16), which Linux
routes to the host like any other loopback address (the client binds it)."""

from __future__ import annotations

from tests.e2e.test_host import sale
from tests.e2e.test_risk import DEBIT, codes_of, only, signed_on
from tests.hosting import run_with_host

from tillpoint.app import Tillpoint
from tillpoint.demo import demo_mid, demo_tid
from tillpoint.risk.models import Action, Severity


def test_sales_from_a_new_network_alert_and_the_usual_network_does_not(
    demo: Tillpoint,
) -> None:
    only(demo, "relocation_network")
    home: list[tuple[str, str]] = []
    away: list[tuple[str, str]] = []
    back: list[tuple[str, str]] = []

    async def scenario(port: int) -> None:
        t = await signed_on(port, 1, local_address="127.0.0.1")
        for _ in range(5):  # ordinary traffic from its usual network
            a = await t.exchange(sale(t, DEBIT, 2_000), with_mac=True)
            home.append((a.text(39), a.text(37)))
        await t.close()
        t.local_address = "127.1.0.1"  # the same terminal, another network
        for _ in range(4):
            a = await t.exchange(sale(t, DEBIT, 2_000), with_mac=True)
            away.append((a.text(39), a.text(37)))
        await t.close()
        t.local_address = "127.0.0.9"  # home again (another address of its network)
        for _ in range(3):
            a = await t.exchange(sale(t, DEBIT, 2_000), with_mac=True)
            back.append((a.text(39), a.text(37)))

    run_with_host(demo, scenario)
    assert [c for c, _ in home + away + back] == ["00"] * 12  # an alert declines nothing
    assert all(codes_of(demo, rrn) == [] for _, rrn in home)
    assert [codes_of(demo, rrn) for _, rrn in away] == [[], [], ["relocation_network"],
                                                         ["relocation_network"]]  # fmt: skip
    assert all(codes_of(demo, rrn) == [] for _, rrn in back)
    [case] = demo.risk.cases()
    assert case.mid == demo_mid(1) and case.severity is Severity.MEDIUM
    [alert] = demo.risk.alerts(case_id=case.id)
    assert alert.rule == "relocation_network" and alert.action is Action.ALERT
    assert alert.tid == demo_tid(1)
    assert alert.evidence["values"]["terminal.sales_new_network"] == 3
    assert alert.evidence["repeats"] == 2
    place = demo.terminals.get(demo_tid(1)).place  # no field 59: by network alone
    assert place is not None and place.latitude is None
    assert place.source_address == "127.0.0.9"
