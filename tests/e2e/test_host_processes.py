"""The terminal host in several processes on one port (`tillpoint serve --host-workers
N`): what one process or a CLI command changes is honoured by every host process
within a second, a stop ends them all, and none outlives a `serve` killed outright.

The first tests run two hosts in this process, each on an application of its own over
the same database: to each other they are what two host processes are (nothing in
memory shared), minus the processes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from bench.ports import free_port, wait_for
from bench.procs import holder, host_processes, listening
from sqlalchemy import func, select
from tests.e2e.test_host import sale
from tests.e2e.test_stranded import settlement

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.errors import ConfigurationError
from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
from tillpoint.host.server import TerminalHost
from tillpoint.payments.acquirer import simulated
from tillpoint.terminal.client import TerminalClient, WorkingKeys
from tillpoint.terminals.models import TerminalSecurityEvent

DEADLINE_S = 30.0  # how long a test waits for something that must happen


def _client(host: TerminalHost, n: int = 1) -> TerminalClient:
    t = TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK)
    t.send_raw = host.answer  # type: ignore[method-assign]
    return t


@contextmanager
def two_hosts(app: Tillpoint) -> Iterator[tuple[TerminalHost, TerminalHost]]:
    """Host A on ``app``, host B on a second application over the same database. A
    keeps what it admits for a minute instead of a second, so that only a check of the
    database (not the passing second) can tell it of B's changes."""
    other = open_app(app.ctx.settings)
    app.signon._admitted.ttl_s = 60.0
    a, b = simulated(app), simulated(other)
    try:
        yield TerminalHost(app, a, process=1), TerminalHost(other, b, process=2)
    finally:
        a.close()
        b.close()
        other.close()


def test_a_sign_on_through_another_host_process_is_honoured_at_once(demo: Tillpoint) -> None:
    """The terminal signs on again through B (new keys); its next sale reaches A, which
    still keeps the admission with the old keys. A checks the database before it calls
    the MAC wrong: the sale is approved and no MAC failure is recorded."""

    async def scenario(a: TerminalHost, b: TerminalHost) -> None:
        t = _client(a)
        assert (await t.sign_on()).text(39) == "00"
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"  # A keeps it
        t.send_raw = b.answer  # type: ignore[method-assign]
        assert (await t.sign_on()).text(39) == "00"
        t.send_raw = a.answer  # type: ignore[method-assign]
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        # and with a MAC that is wrong under every key, still refused
        assert t.keys is not None
        t.keys = WorkingKeys(t.keys.pik, bytes(16), t.keys.tdk)
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "A0"

    with two_hosts(demo) as (a, b):
        asyncio.run(scenario(a, b))
    with demo.ctx.db.read() as s:
        failures = s.scalar(select(func.count()).select_from(TerminalSecurityEvent))
    assert failures == 1  # the wrong MAC only


def test_a_velocity_limit_holds_across_host_processes(demo: Tillpoint) -> None:
    """A card's limit of five sales in ten minutes is five whichever host process each
    request reaches: A and B take turns, and the sixth is declined (59) by the process
    that saw only three of the five before it in its own memory."""
    for r in demo.risk.rules():
        if r.code != "velocity_card":
            demo.risk.update(r.code, "test", "only the rule under test", mode="off")
    demo.risk.update(
        "velocity_card", "test", "five", params={"default": {"max_10m": 5, "max_24h": 100}}
    )
    codes: list[str] = []

    async def scenario(a: TerminalHost, b: TerminalHost) -> None:
        t = _client(a, 2)
        assert (await t.sign_on()).text(39) == "00"
        for n in range(7):
            t.send_raw = (a if n % 2 == 0 else b).answer  # type: ignore[method-assign]
            codes.append((await t.exchange(sale(t), with_mac=True)).text(39))

    with two_hosts(demo) as (a, b):
        asyncio.run(scenario(a, b))
    assert codes == ["00"] * 5 + ["59", "59"]


def test_a_batch_settled_through_another_host_process_is_honoured_at_once(
    demo: Tillpoint,
) -> None:
    """The terminal settles its batch through B and sells in the next batch through A,
    which still keeps the settled batch: A checks the database and books the sale in
    the new batch (not 12, and not into the settled one)."""

    async def scenario(a: TerminalHost, b: TerminalHost) -> None:
        t = _client(a)
        assert (await t.sign_on()).text(39) == "00"
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"
        t.send_raw = b.answer  # type: ignore[method-assign]
        assert (await t.exchange(settlement(t), with_mac=True)).text(39) == "00"
        t.send_raw = a.answer  # type: ignore[method-assign]
        t.batch = f"{int(t.batch) + 1:06d}"
        assert (await t.exchange(sale(t), with_mac=True)).text(39) == "00"

    with two_hosts(demo) as (a, b):
        asyncio.run(scenario(a, b))


# --- `tillpoint serve --host-workers 2` --------------------------------------------------


@dataclass
class Serve:
    proc: subprocess.Popen[bytes]
    iso: int
    env: dict[str, str]
    log: Path

    def hosts(self) -> dict[int, int]:
        return host_processes(self.proc.pid)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def serve(tmp: Path, db_url: str, workers: int = 2) -> Iterator[Serve]:
    """`tillpoint serve --demo --host-workers N` in a process group of its own, until
    each host process listens; whatever is left of it is killed at the end."""
    iso, http = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLPOINT_")}
    env.update(TILLPOINT_DATABASE_URL=db_url, TILLPOINT_NETWORK_DIR=str(tmp / "network"),
               TILLPOINT_DEMO="1")  # fmt: skip
    log = tmp / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tillpoint", "serve", "--demo", "--terminals", "2",
             "--iso-port", str(iso), "--http-port", str(http), "--host-workers", str(workers)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    s = Serve(proc, iso, env, log)
    try:
        wait_for(iso)
        end = time.monotonic() + DEADLINE_S
        while not (
            len(pids := s.hosts()) == workers and all(listening(iso, p) for p in pids.values())
        ):
            assert time.monotonic() < end, s.log_text()[-3000:]
            time.sleep(0.1)
        yield s
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(60)


async def on_each_process(s: Serve, keys_from: TerminalClient) -> dict[int, TerminalClient]:
    """One connection of the terminal to each host process (new connections go to
    one or the other as the kernel picks), with the terminal's keys, each numbering
    its own STANs."""
    pids = list(s.hosts().values())
    found: dict[int, TerminalClient] = {}
    for attempt in range(1, 200):
        c = TerminalClient(keys_from.tid, keys_from.mid, DEMO_TMK, port=s.iso,
                           keys=keys_from.keys, batch=keys_from.batch, stan=attempt * 10_000)  # fmt: skip
        await c.connect()
        assert c._writer is not None
        port = c._writer.get_extra_info("sockname")[1]
        await c.echo()  # accepted and answered: the connection is the process's
        pid = holder(s.iso, port, pids)
        if pid is None or pid in found:
            await c.close()
            continue
        found[pid] = c
        if len(found) == len(pids):
            return found
    raise AssertionError(f"no connection reached every host process: {found}")


def test_a_freeze_from_the_cli_reaches_every_host_process(db_url: str, tmp_path: Path) -> None:
    """Terminal 1 holds a connection to each of two host processes and sells on each,
    one sale after another (so each process keeps its admission in memory), while
    `tillpoint terminals freeze` runs from the CLI: each process then refuses the
    terminal's sales with 58, at the latest once its kept admission is a second old
    (polled until a deadline; how soon after the command ended is logged, not
    asserted)."""
    with serve(tmp_path, db_url) as s:

        async def sell_until_refused(c: TerminalClient) -> float:
            while True:
                code = (await c.exchange(sale(c), with_mac=True)).text(39)
                if code == "58":
                    return time.monotonic()
                assert code in ("00", "59")  # 59: the one card's velocity, at 50 sales/s
                await asyncio.sleep(0.02)

        async def scenario() -> dict[int, float]:
            t = TerminalClient(demo_tid(1), demo_mid(1), DEMO_TMK, port=s.iso)
            assert (await t.sign_on()).text(39) == "00"
            clients = await on_each_process(s, t)
            selling = {
                pid: asyncio.ensure_future(sell_until_refused(c)) for pid, c in clients.items()
            }
            done = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "tillpoint", "terminals", "freeze", demo_tid(1),
                 "--reason", "lost in transit"],
                env=s.env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            frozen_at = time.monotonic()
            async with asyncio.timeout(DEADLINE_S):
                refused = {pid: await task for pid, task in selling.items()}
            for c in [t, *clients.values()]:
                await c.close()
            return {pid: round(at - frozen_at, 3) for pid, at in refused.items()}

        refused_after = asyncio.run(scenario())
        logging.getLogger(__name__).info("refused after (s), by host process: %s", refused_after)
        assert len(refused_after) == 2
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(60) == 0
    log = s.log_text()
    assert "Traceback" not in log and '"rc": "58"' in log
    assert '"host": 1' in log and '"host": 2' in log  # each line says which answered


@pytest.mark.parametrize("stop", ["sigterm", "ctrl-c"])
def test_a_stop_ends_every_host_process(tmp_path: Path, stop: str) -> None:
    """SIGTERM to `serve`, or Ctrl-C (SIGINT to the whole process group, as a
    terminal sends it): every host process ends, `serve` exits 0, no traceback."""
    with serve(tmp_path, f"sqlite:///{tmp_path / 'serve.db'}") as s:
        pids = list(s.hosts().values())
        if stop == "sigterm":
            s.proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(s.proc.pid, signal.SIGINT)
        assert s.proc.wait(60) == 0
        assert not [p for p in pids if Path(f"/proc/{p}").exists()]
    log = s.log_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    assert "host_process_ended" not in log  # stopped, not lost and started again


def test_no_host_process_outlives_a_killed_serve(tmp_path: Path) -> None:
    """`serve` killed outright (SIGKILL, no chance to stop anything): its host
    processes see their pipe from it end, and stop by themselves."""
    with serve(tmp_path, f"sqlite:///{tmp_path / 'serve.db'}") as s:
        pids = list(s.hosts().values())
        s.proc.kill()
        s.proc.wait(60)
        end = time.monotonic() + DEADLINE_S
        while [p for p in pids if Path(f"/proc/{p}/stat").exists() and not _zombie(p)]:
            assert time.monotonic() < end, "a host process outlived serve"
            time.sleep(0.1)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


def test_how_many_host_processes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One per CPU by default; where the platform cannot share a port (no Linux
    SO_REUSEPORT), one, and a line saying so; fewer than one is refused."""
    from tillpoint.cli import serve as cli

    monkeypatch.setattr(cli, "reuseport_available", lambda: True)
    assert cli._host_count(None) == (os.cpu_count() or 1)
    assert cli._host_count(3) == 3
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(cli, "reuseport_available", lambda: False)
    assert cli._host_count(4) == 1
    assert "SO_REUSEPORT" in capsys.readouterr().err
    with pytest.raises(ConfigurationError, match="1 or more"):
        cli._host_count(0)
