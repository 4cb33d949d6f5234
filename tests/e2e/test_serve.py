"""`tillpoint serve --demo --terminals N --iso-port P --http-port H`, exactly as other
tools start it: a real process, a real terminal signing on, a real HTTP request."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.ports import free_port, wait_for

from tillpoint.access.models import AccountRole
from tillpoint.app import open_app
from tillpoint.core.db import Database
from tillpoint.core.migrate import upgrade
from tillpoint.core.settings import Settings
from tillpoint.demo import (
    DEMO_ADMIN,
    DEMO_CASHIER,
    DEMO_PASSWORD,
    DEMO_PRODUCTS,
    DEMO_TMK,
    demo_mid,
    demo_owner,
    demo_tid,
    ensure_demo,
)
from tillpoint.terminal.client import TerminalClient


def serve_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a `tillpoint` process on the demo database in ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLPOINT_")}
    env["TILLPOINT_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    return env


def serve_demo(tmp_path: Path) -> tuple[subprocess.Popen[str], int, int]:
    """`tillpoint serve --demo --terminals 2` on free ports, listening on both."""
    iso, http = free_port(), free_port()
    env = serve_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tillpoint", "serve", "--demo", "--terminals", "2",
         "--iso-port", str(iso), "--http-port", str(http)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(iso)
        wait_for(http)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    return proc, iso, http


@dataclass(frozen=True)
class Served:
    iso_port: int
    http_port: int
    env: dict[str, str]  # for other `tillpoint` commands on the same database

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def demo_copy(path: Path, terminals: int) -> None:
    """At ``path``, the database `serve --demo --terminals N` makes before it serves
    (migrated, the demo in it), copied from one made once per test process: making it
    cost each served module ~2 s of CPU. (`serve --demo` finds it made and adds nothing;
    the tests above and the CLI's start from nothing.)"""
    made = path.parent.parent / f"demo-{terminals}.sqlite"
    if not made.exists():
        building = made.with_suffix(".building")
        url = f"sqlite:///{building}"
        db = Database(url)
        upgrade(db)
        db.dispose()
        tp = open_app(Settings(_env_file=None, database_url=url, demo=True, locale="en",  # type: ignore[call-arg]
                               network_dir=str(made.with_suffix(".network"))))  # fmt: skip
        ensure_demo(tp, terminals, shop=True)
        tp.close()
        assert not building.with_name(f"{building.name}-wal").exists()
        building.rename(made)
    shutil.copyfile(made, path)


@contextmanager
def served(tmp: Path, terminals: int, host_workers: int = 1, **settings: str) -> Iterator[Served]:
    """`tillpoint serve --demo` for a whole test module, its output in a log file (not a
    pipe: nobody reads it until the end), stopped with Ctrl-C and checked to end well.
    The terminal host in the serving process unless ``host_workers`` says more (a page
    test has no use for host processes, which each cost a start). ``settings``: more
    TILLPOINT_* variables."""
    iso, http = free_port(), free_port()
    env = {**serve_env(tmp), **settings}
    demo_copy(tmp / "serve.db", terminals)
    with (tmp / "serve.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tillpoint", "serve", "--demo", "--terminals", str(terminals),
             "--iso-port", str(iso), "--http-port", str(http),
             "--host-workers", str(host_workers)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_for(iso)
            wait_for(http)
            yield Served(iso, http, env)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
    assert proc.returncode == 0, (tmp / "serve.log").read_text()[-3000:]


def test_serve_demo(tmp_path: Path) -> None:
    proc, iso, http = serve_demo(tmp_path)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/health", timeout=5) as r:
            assert json.load(r)["status"] == "ok"

        async def sign_on() -> str | None:
            t = TerminalClient(demo_tid(2), demo_mid(2), DEMO_TMK, port=iso)
            answer = await t.sign_on()
            await t.close()
            return answer.text(39)

        assert asyncio.run(sign_on()) == "00"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "DEMO MODE" in err
    assert '"mti": "0800", "tid": "10000002"' in err and '"rc": "00"' in err


def test_serve_stops_cleanly_with_terminals_connected(tmp_path: Path) -> None:
    """A graceful stop while terminals hold their connections open: each connection is
    closed by the host, and the log has no traceback and no error in it."""
    proc, iso, _ = serve_demo(tmp_path)
    stopping = False
    try:

        async def stop_while_connected() -> list[bytes]:
            nonlocal stopping
            clients = [TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK, port=iso) for n in (1, 2)]
            for t in clients:
                assert (await t.sign_on()).text(39) == "00"
            _, idle = await asyncio.open_connection("127.0.0.1", iso)  # never sends
            proc.send_signal(signal.SIGINT)
            stopping = True
            rest = []
            for t in clients:
                assert t._reader is not None
                rest.append(await asyncio.wait_for(t._reader.read(), 60))
                await t.close()
            idle.close()
            return rest

        assert asyncio.run(stop_while_connected()) == [b"", b""]  # closed by the host
    finally:
        if not stopping:  # once is enough: a second Ctrl-C would cut the stop short
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "ERROR" not in err, err


def test_the_demo_has_an_admin_and_an_owner_per_merchant(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'd.db'}",  # type: ignore[call-arg]
                        demo=True, network_dir=str(tmp_path / "network"))  # fmt: skip
    app = open_app(settings)
    try:
        ensure_demo(app, 2)
        ensure_demo(app, 2)  # again: nothing more
        assert [a.login for a in app.accounts.list()] == [DEMO_ADMIN, demo_owner(1), demo_owner(2)]
        admin = app.accounts.sign_in(DEMO_ADMIN, DEMO_PASSWORD).account
        assert admin.has(AccountRole.ADMIN) and not admin.must_change_password
        owner = app.accounts.sign_in(demo_owner(2), DEMO_PASSWORD).account
        assert (owner.roles, owner.mid) == ((AccountRole.OWNER,), demo_mid(2))
    finally:
        app.close()


def test_the_demo_shop_is_ready_to_sell_at_the_till(tmp_path: Path) -> None:
    """What `tillpoint serve --demo` puts in: merchant 1's shop with a catalogue whose
    codes scan (an EAN-13, a scale's label for a weighed product), its goods in stock,
    and a cashier of that shop; put in once (the owner's own changes stay)."""
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'd.db'}",  # type: ignore[call-arg]
                        demo=True, network_dir=str(tmp_path / "network"))  # fmt: skip
    app = open_app(settings)
    try:
        ensure_demo(app, 1, shop=True)
        merchant_id = app.merchants.get(demo_mid(1)).id
        shop_id = app.catalogue.shop_id(merchant_id, 1)
        water = app.catalogue.lookup(merchant_id, shop_id, "6901234000016")
        assert (water.sku, water.price_minor) == ("D001", 200)
        apples = app.catalogue.lookup(merchant_id, shop_id, "2501001004557")  # 455 g
        assert (apples.sku, apples.quantity_milli) == ("D009", 455)
        assert app.stock.level(merchant_id, 1, water.product_id).quantity_milli == 120_000
        app.catalogue.set_active(merchant_id, water.product_id, False)
        ensure_demo(app, 1, shop=True)  # again: nothing more, nothing undone
        assert app.catalogue.count(merchant_id) == len(DEMO_PRODUCTS)
        assert not app.catalogue.get(merchant_id, water.product_id).active
        cashier = app.accounts.sign_in(DEMO_CASHIER, DEMO_PASSWORD).account
        assert (cashier.roles, cashier.mid, cashier.shop_id) == (
            (AccountRole.CASHIER,),
            demo_mid(1),
            shop_id,
        )
    finally:
        app.close()


def test_a_port_in_use_is_said_plainly_and_nothing_is_touched(tmp_path: Path) -> None:
    """Another program on the terminal port: one line saying which port and what to do,
    exit 2, no traceback, and no database made."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tillpoint", "serve", "--demo",
             "--iso-port", str(port), "--http-port", str(free_port())],
            check=False, env=serve_env(tmp_path), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"Cannot listen on 127.0.0.1:{port}: Address already in use." in done.stderr
    assert "--iso-port" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "serve.db").exists()
