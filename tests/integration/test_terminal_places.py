"""Where a terminal is (spec 4.12): the place it last reported in field 59 and its
connection's address, written at a sign-on and, between sign-ons, only when it changed."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import timedelta
from decimal import Decimal

import pytest
from tests.conftest import approved, business_application

from tillpoint.app import Tillpoint
from tillpoint.core.clock import FixedClock
from tillpoint.core.geo import Position
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583.errors import FormatError
from tillpoint.terminals import places as places_module
from tillpoint.terminals.places import TerminalPlaces

SHANGHAI = f.Place(
    f.DEVICE_COUNTERTOP,
    "SN0001",
    Position(31_230_400, 121_473_700),
    f.Cell("460", "00", "6334", "12345"),
    ipaddress.ip_address("10.0.0.17"),
)
BEIJING = f.Place(f.DEVICE_MOBILE, position=Position(39_904_200, 116_407_400))


@pytest.fixture
def terminal(tp: Tillpoint) -> tuple[int, str, str]:
    mid = approved(tp, business_application())
    p = tp.terminals.add("SN0001", "P1", "w")
    tp.terminals.bind(p.terminal.tid, mid, "ops")
    return p.terminal.id, p.terminal.tid, mid


def test_nothing_until_reported(tp: Tillpoint, terminal: tuple[int, str, str]) -> None:
    _, tid, mid = terminal
    assert tp.terminals.get(tid).place is None
    tp.signon.sign_on(tid, mid, "001")  # a tool's sign-on: no address, nothing recorded
    assert tp.terminals.get(tid).place is None


def test_a_sign_on_records_place_and_address(
    tp: Tillpoint, clock: FixedClock, terminal: tuple[int, str, str]
) -> None:
    _, tid, mid = terminal
    tp.signon.sign_on(tid, mid, "001", place=SHANGHAI, source="192.0.2.7")
    place = tp.terminals.get(tid).place
    assert place is not None
    assert (place.device_type, place.serial_no, place.cell, place.ip) == (
        "01", "SN0001", "460,00,6334,12345", "10.0.0.17",
    )  # fmt: skip
    assert (place.latitude, place.longitude) == (Decimal("31.230400"), Decimal("121.473700"))
    assert place.source_address == "192.0.2.7"
    assert place.reported_at == place.source_seen_at == clock.now()
    # A later sign-on without 59 keeps the place and records the new address.
    clock.advance(timedelta(minutes=1))
    tp.signon.sign_on(tid, mid, "001", source="198.51.100.2")
    later = tp.terminals.get(tid).place
    assert later is not None and later.latitude == Decimal("31.230400")
    assert later.reported_at == place.reported_at
    assert (later.source_address, later.source_seen_at) == ("198.51.100.2", clock.now())


def test_a_new_report_replaces_the_whole_place(
    tp: Tillpoint, clock: FixedClock, terminal: tuple[int, str, str]
) -> None:
    terminal_id, tid, _ = terminal
    places = TerminalPlaces(tp.ctx)
    assert places.record(terminal_id, SHANGHAI, "192.0.2.7", clock.now())
    clock.advance(timedelta(seconds=1))
    assert places.record(terminal_id, BEIJING, "192.0.2.7", clock.now())
    place = tp.terminals.get(tid).place
    assert place is not None
    assert (place.device_type, place.latitude, place.longitude) == (
        "02", Decimal("39.904200"), Decimal("116.407400"),
    )  # fmt: skip
    assert place.serial_no is None and place.cell is None and place.ip is None


def test_last_write_wins_by_its_time(
    tp: Tillpoint, clock: FixedClock, terminal: tuple[int, str, str]
) -> None:
    """Two host processes: the one whose report is older writes last, and changes
    nothing."""
    terminal_id, tid, mid = terminal
    earlier = clock.now()
    clock.advance(timedelta(seconds=5))
    later = clock.now()
    places = TerminalPlaces(tp.ctx)
    assert places.record(terminal_id, BEIJING, "192.0.2.8", later)
    assert not places.record(terminal_id, SHANGHAI, "192.0.2.7", earlier)
    place = tp.terminals.get(tid).place
    assert place is not None
    assert (place.source_address, place.latitude) == ("192.0.2.8", Decimal("39.904200"))
    # A sign-on's clock behind the stored report leaves it too; its keys still change.
    clock.set(earlier)
    tp.signon.sign_on(tid, mid, "001", place=SHANGHAI, source="192.0.2.7")
    assert tp.terminals.get(tid).place == place


def test_each_process_writes_only_what_changed(
    tp: Tillpoint, terminal: tuple[int, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal_id, tid, _ = terminal
    places = TerminalPlaces(tp.ctx)
    writes: list[tuple[f.Place | None, str]] = []
    record = places.record

    def counted(tid_: int, place: f.Place | None, source: str, at: object) -> bool:
        writes.append((place, source))
        return record(tid_, place, source, at)  # type: ignore[arg-type]

    monkeypatch.setattr(places, "record", counted)
    raw = SHANGHAI.build()

    async def message(raw59: str | None, source: str) -> None:
        if not places.unchanged(tid, raw59, source):
            await places.note(terminal_id, tid, raw59, source)

    async def day() -> None:
        await message(raw, "192.0.2.7")  # news: written
        await message(raw, "192.0.2.7")  # the same: nothing
        await message(None, "192.0.2.7")  # no 59, same address: nothing
        await message(None, "192.0.2.9")  # a new address: written, place kept
        await message(BEIJING.build(), "192.0.2.9")  # moved: written

    asyncio.run(day())
    assert writes == [(SHANGHAI, "192.0.2.7"), (None, "192.0.2.9"), (BEIJING, "192.0.2.9")]
    place = tp.terminals.get(tid).place
    assert place is not None and place.device_type == "02"
    # After REFRESH_S the same report is written again (another process may have
    # written an older one meanwhile).
    monkeypatch.setattr(places_module, "REFRESH_S", 0.0)
    assert not places.unchanged(tid, BEIJING.build(), "192.0.2.9")


def test_a_malformed_59_writes_nothing(tp: Tillpoint, terminal: tuple[int, str, str]) -> None:
    terminal_id, tid, _ = terminal
    places = TerminalPlaces(tp.ctx)
    with pytest.raises(FormatError):
        asyncio.run(places.note(terminal_id, tid, "0100209", "192.0.2.7"))
    assert tp.terminals.get(tid).place is None
    assert not places.unchanged(tid, "0100209", "192.0.2.7")


def test_memory_is_bounded(tp: Tillpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(places_module, "MAX_KEPT", 3)
    places = TerminalPlaces(tp.ctx)
    for n in range(5):
        places.remember(f"{n:08d}", None, "192.0.2.7")
    assert [places.unchanged(f"{n:08d}", None, "192.0.2.7") for n in range(5)] == [
        False, False, True, True, True,
    ]  # fmt: skip


def test_the_hooks_hear_of_a_new_place_or_network_not_a_new_address_in_it(
    tp: Tillpoint,
) -> None:
    places = TerminalPlaces(tp.ctx)
    told: list[str] = []
    places.moved.append(told.append)
    raw = SHANGHAI.build()
    places.remember("T1", raw, "100.65.3.4")  # first seen: told
    places.remember("T1", raw, "100.65.9.1")  # another address, same /16: not told
    places.remember("T1", None, "100.70.3.4")  # another network: told
    places.remember("T1", BEIJING.build(), "100.70.3.4")  # another place: told
    places.remember("T1", None, "100.70.3.4")  # nothing new
    assert told == ["T1"] * 3
