"""What the virtual terminal reports in field 59 (spec 4.12): its place, serial number
and the address it reaches the host from."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from tillpoint.core.errors import InvalidInput
from tillpoint.core.geo import Position
from tillpoint.demo import DEMO_POSITION, demo_position
from tillpoint.iso8583 import fields as f
from tillpoint.iso8583.codec import Message
from tillpoint.terminal.client import TerminalClient
from tillpoint.terminal.device import Device, DeviceState, terminal_place


def test_demo_terminals_report_their_shops_position() -> None:
    state = DeviceState.demo(12)
    assert (state.place, state.serial_no) == (demo_position(12).text(), "DEMO00012")
    assert demo_position(1) == DEMO_POSITION and demo_position(12) != DEMO_POSITION
    place = Device(state).client.place
    assert place == f.Place(f.DEVICE_COUNTERTOP, "DEMO00012", demo_position(12))


def test_a_state_file_from_before_places_reports_the_demo_shop(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    DeviceState.demo(1).save(path)
    data = json.loads(path.read_text())
    del data["place"], data["serial_no"]  # as written before terminals reported places
    path.write_text(json.dumps(data))
    state = DeviceState.load(path)
    assert (state.place, state.serial_no) == (DEMO_POSITION.text(), "")
    assert Device(state).client.place == f.Place(f.DEVICE_COUNTERTOP, position=DEMO_POSITION)


def test_places_given_and_refused() -> None:
    assert terminal_place("39.9042/116.4074", "SN1") == f.Place(
        f.DEVICE_COUNTERTOP, "SN1", Position(39_904_200, 116_407_400)
    )
    assert terminal_place("", "") is None
    assert terminal_place("", "SN1") == f.Place(f.DEVICE_COUNTERTOP, "SN1")
    for place, serial in (("91/0", ""), ("here", ""), ("31.2", ""), ("31/121", " SN")):
        with pytest.raises(InvalidInput):
            terminal_place(place, serial)
    moved = Device(DeviceState.demo(1), place="-33.8688/151.2093").client.place
    assert moved is not None and moved.position == Position(-33_868_800, 151_209_300)


def test_the_client_adds_59_and_its_own_address() -> None:
    c = TerminalClient("10000001", "898310054110001", bytes(16), local_address="127.0.0.3",
                       place=f.Place(f.DEVICE_COUNTERTOP, "SN1", DEMO_POSITION))  # fmt: skip
    text = c.place_field()
    assert text is not None
    assert f.Place.parse(text).ip == ipaddress.ip_address("127.0.0.3")
    assert c.place_field() is text  # built once
    sale = Message("0200", {11: "000001"})
    assert c._placed_message(sale).fields[59] == text
    assert 59 not in c._placed_message(Message("0500", {11: "000001"})).fields
    assert c._placed_message(Message("0200", {59: "01002" + "02"})).fields[59] == "0100202"
    own = TerminalClient("10000001", "898310054110001", bytes(16), host="127.0.0.1",
                         place=f.Place(f.DEVICE_COUNTERTOP))  # fmt: skip
    assert f.Place.parse(own.place_field() or "").ip == ipaddress.ip_address("127.0.0.1")
    assert TerminalClient("10000001", "898310054110001", bytes(16)).place_field() is None
    unsure = TerminalClient("10000001", "898310054110001", bytes(16), local_address="localhost",
                            place=f.Place(f.DEVICE_COUNTERTOP))  # fmt: skip
    assert unsure.place_field() == "0100201"  # no address it can name: none reported
