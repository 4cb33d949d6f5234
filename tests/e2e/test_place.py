"""Where a terminal is (spec 4.12), through a real TCP connection to the host: field 59
on a sign-on and a sale is stored with the connection's address, shown by the API and
by `tillpoint terminals show`; a malformed 59 gets 30 and changes nothing; the virtual
terminal reports its shop's position, or the one ``--place`` says."""

from __future__ import annotations

import asyncio
import ipaddress
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.e2e.test_host import sale
from tests.hosting import run_with_host, terminal

from tillpoint.access.models import Role
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint
from tillpoint.cli import _common, main
from tillpoint.core.geo import Position
from tillpoint.demo import demo_position, demo_tid
from tillpoint.iso8583 import fields as f
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.models import Payment
from tillpoint.terminal.device import DeviceState

BEIJING = Position(39_904_200, 116_407_400)
NAT = ipaddress.ip_address("10.1.2.3")  # the address the terminal has behind its router


@pytest.fixture
def cli(demo: Tillpoint, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of `tillpoint ...` on the demo database (``run_cli`` runs it)."""
    monkeypatch.setenv("TILLPOINT_DATABASE_URL", db_url)
    monkeypatch.setenv("TILLPOINT_DEMO", "1")
    monkeypatch.setenv("TILLPOINT_LOCALE", "en")
    monkeypatch.setenv("TILLPOINT_NETWORK_DIR", str(tmp_path / "network"))
    monkeypatch.delenv("TILLPOINT_MASTER_KEY", raising=False)
    for console in (_common.out, _common.err):
        monkeypatch.setattr(console, "width", 200)


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """(exit code, output); callable from a thread: a terminal command runs its own event
    loop, beside the host's."""
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def payments(app: Tillpoint) -> int:
    with app.ctx.db.read() as s:
        return int(s.scalar(select(func.count()).select_from(Payment)) or 0)


def test_sign_on_and_sale_store_the_place_and_a_malformed_59_changes_nothing(
    demo: Tillpoint, cli: object, capsys: pytest.CaptureFixture[str]
) -> None:
    tid = demo_tid(1)

    async def scenario(port: int) -> None:
        # The terminal connects from 127.0.0.2 and says it is 10.1.2.3 (behind a router).
        t = terminal(port, 1, local_address="127.0.0.2",
                     place=f.Place(f.DEVICE_COUNTERTOP, "DEMO00001", demo_position(1), ip=NAT))  # fmt: skip
        assert (await t.sign_on()).text(39) == "00"
        signed = demo.terminals.get(tid).place
        assert signed is not None
        assert (signed.latitude, signed.longitude) == (Decimal("31.230400"), Decimal("121.473700"))
        assert (signed.ip, signed.source_address, signed.serial_no) == (
            "10.1.2.3", "127.0.0.2", "DEMO00001",
        )  # fmt: skip

        t.place = f.Place(f.DEVICE_MOBILE, "DEMO00001", BEIJING, ip=NAT)  # moved
        reply = await t.exchange(sale(t), with_mac=True)
        assert reply.text(39) == "00"
        moved = demo.terminals.get(tid).place
        assert moved is not None and moved.latitude == Decimal("39.904200")
        assert moved.device_type == "02"

        # A malformed 59 on a sale: 30, no payment, the place stays.
        before = payments(demo)
        bad = sale(t)
        bad.fields[59] = "04022+91.000000/+121.473701"  # latitude out of range
        answer = await t.exchange(bad, with_mac=True)
        assert answer.text(39) == "30" and payments(demo) == before
        assert demo.terminals.get(tid).place == moved

        # ... and on a sign-on: 30, the keys in use stay in use, the place stays.
        keys = t.keys
        t.place_field = lambda: "0100204"  # type: ignore[method-assign]
        assert (await t.sign_on()).text(39) == "30"
        assert t.keys is keys
        del t.place_field
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        assert demo.terminals.get(tid).place == moved
        await t.close()

    run_with_host(demo, scenario)

    # The API shows it ...
    acquirer = simulated(demo)
    key = demo.access.create_key(Role.OPS_ADMIN, "ops", "test").secret
    with TestClient(create_api(demo, acquirer)) as api:
        shown = api.get(f"/v1/terminals/{tid}", headers={"Authorization": f"Bearer {key}"})
    acquirer.close()
    place = shown.json()["place"]
    assert (place["latitude"], place["longitude"], place["device_type"]) == (
        "39.904200", "116.407400", "02",
    )  # fmt: skip
    assert (place["ip"], place["source_address"]) == ("10.1.2.3", "127.0.0.2")
    # ... and so does `tillpoint terminals show`.
    code, out = run_cli(capsys, "terminals", "show", tid)
    assert code == 0, out
    for line in ("Reported position", "39.904200, 116.407400", "mobile (02)", "10.1.2.3",
                 "Connection from", "127.0.0.2 at "):  # fmt: skip
        assert line in out, line


def test_the_virtual_terminal_reports_its_shop_or_where_it_is_told(
    demo: Tillpoint, cli: object, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state_file = tmp_path / "terminal.json"
    tid = demo_tid(2)

    def shown() -> Position | None:
        p = demo.terminals.get(tid).place
        return None if p is None or p.latitude is None else Position.of(p.latitude, p.longitude)  # type: ignore[arg-type]

    async def scenario(port: int) -> None:
        state = DeviceState.demo(2)
        state.port = port
        state.save(state_file)

        code, out = await asyncio.to_thread(
            run_cli, capsys, "terminal", "signon", "--state", str(state_file)
        )
        assert code == 0, out
        assert shown() == demo_position(2)  # its shop's position (demo shop 2)
        code, out = await asyncio.to_thread(
            run_cli, capsys, "terminal", "--place", "39.9042/116.4074", "sale", "--amount", "1.00",
            "--card", "6212340000000000012", "--state", str(state_file),
        )  # fmt: skip
        assert code == 0, out
        assert shown() == BEIJING  # for that command only: the state file keeps the shop's
        assert DeviceState.load(state_file).place == demo_position(2).text()
        code, out = await asyncio.to_thread(
            run_cli, capsys, "terminal", "--place", "91/0", "echo", "--state", str(state_file)
        )
        assert code == 2 and "is not a place" in out
        code, out = await asyncio.to_thread(
            run_cli, capsys, "terminal", "sale", "--amount", "1.00",
            "--card", "6212340000000000012", "--state", str(state_file),
        )  # fmt: skip
        assert code == 0, out
        assert shown() == demo_position(2)  # back at its shop

    run_with_host(demo, scenario)
    place = demo.terminals.get(tid).place
    assert place is not None and place.source_address == "127.0.0.1" and place.ip == "127.0.0.1"
    assert place.serial_no == "DEMO00002" and place.device_type == "01"


def test_shops_are_placed_from_the_cli(cli: object, capsys: pytest.CaptureFixture[str]) -> None:
    mid = "898310054110001"
    code, out = run_cli(capsys, "shops", "list", mid)
    assert code == 0 and "31.230400/121.473700" in out and "上海 Shanghai" in out, out
    code, out = run_cli(capsys, "shops", "update", mid, "1", "--latitude", "31.2",
                        "--longitude", "121.5", "--city", "Shanghai")  # fmt: skip
    assert code == 0 and "31.200000/121.500000" in out, out
    for wrong in (("--latitude", "95", "--longitude", "0"), ("--latitude", "31.2")):
        code, out = run_cli(capsys, "shops", "update", mid, "1", *wrong)
        assert code == 2 and "error" in out, out
    code, out = run_cli(capsys, "shops", "update", mid, "1", "--no-position", "--city", "")
    assert code == 0, out
    code, out = run_cli(capsys, "shops", "list", mid, "--json")
    assert '"latitude": null' in out and '"city": null' in out, out
    code, out = run_cli(capsys, "shops", "add", mid, "--name", "二号店", "--address",
                        "1 Demo Road", "--latitude", "31.25", "--longitude", "121.45")  # fmt: skip
    assert code == 0, out
    code, out = run_cli(capsys, "shops", "list", mid)
    assert "31.250000/121.450000" in out, out
