"""A terminal's networks as screening tracks them (risk/engine.py ``_Networks``,
core/network.py): a new network's sales are counted, a known one's are not, a new
network becomes known after three days, and memory stays bounded."""

from __future__ import annotations

from tillpoint.core.network import network_of
from tillpoint.risk.engine import NETWORKS_KEPT, WARM_DAYS, _Networks

HOME = network_of("100.65.3.4")
AWAY = network_of("100.70.8.9")


def test_network_of_takes_the_16_or_the_48() -> None:
    assert network_of("100.65.3.4") == network_of("100.65.200.1") == "100.65.0.0/16"
    assert network_of("100.66.3.4") != HOME
    assert network_of("::ffff:100.65.9.9") == HOME  # IPv4-mapped
    assert network_of("2001:db8:1:2::5") == network_of("2001:db8:1:ff::1") == "2001:db8:1::/48"
    assert network_of("unknown") is None and network_of(None) is None


def test_the_first_network_is_known_and_a_new_one_is_counted() -> None:
    n = _Networks()
    n.connected(HOME, 100)
    for _ in range(5):
        assert n.value(100) == 0
        n.sold(100)
    n.connected(AWAY, 100)
    values = []
    for _ in range(3):
        values.append(n.value(100))
        n.sold(100)
    assert values == [1, 2, 3]  # this sale included


def test_back_home_resets_the_count() -> None:
    n = _Networks()
    n.connected(HOME, 100)
    n.connected(AWAY, 100)
    n.sold(100)
    n.sold(100)
    n.connected(HOME, 100)
    assert n.value(100) == 0
    n.sold(100)
    n.connected(AWAY, 101)
    assert n.value(101) == 1  # counted afresh


def test_a_new_network_becomes_known_after_three_days() -> None:
    n = _Networks()
    n.connected(HOME, 100)
    n.connected(AWAY, 100)
    seen = []
    for day in (100, 100, 101, 102, 102, 103):
        seen.append(n.value(day))
        n.sold(day)
    assert seen == [1, 2, 3, 4, 0, 0]  # its third day's first sale still counts
    # Not used for 30 days: new again.
    later = 103 + WARM_DAYS
    assert n.value(later) == 1


def test_no_address_counts_nothing() -> None:
    n = _Networks()
    n.connected(None, 100)
    n.sold(100)
    assert n.value(100) == 0
    n.connected(HOME, 100)  # its first network: its own
    assert n.value(100) == 0


def test_memory_is_bounded_the_least_recently_used_go() -> None:
    n = _Networks()
    n.connected(HOME, 100)
    for i in range(NETWORKS_KEPT + 3):
        n.connected(network_of(f"100.{80 + i}.1.1"), 101 + i)
        n.sold(101 + i)
    assert len(n.seen) == NETWORKS_KEPT
    assert HOME not in n.seen  # used least recently
    assert network_of(f"100.{80 + NETWORKS_KEPT + 2}.1.1") in n.seen
