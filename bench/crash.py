"""Kill the host with SIGKILL under load, again and again, and count what an independent
tally of the terminals and the networks' own books say about the host's.

    python -m bench.crash [--kills 100] [--terminals 16] [--database-url URL]
                          [--host-workers N] [--kill all|one]

Each round starts `tillpoint serve --demo` (SQLite by default, or the database named;
``--host-workers`` is passed on), lets the terminals sell for a random moment, then
kills it with every host process (``--kill all``, the default). The terminals do what
real ones do: a sale that got no answer is reversed (0400) before anything else, after
the host is back. After the last round the host runs once more until every call it
noted is settled.

``--kill one`` starts `serve` once, with several host processes (``--host-workers``,
default 2), and each round kills ONE of them while the terminals sell: the terminals
connected to it reconnect (to another) and reverse what got no answer, while those on
the others must see no error at all (no lost connection, no 96) from the kill to the
end of the round; `serve` starts the dead one again before the next round.

Then this prints, for all rounds together:

- lost: sales the terminals were told were approved (and did not reverse) that are not
  a live payment on the host's books;
- doubled: live sale payments on the host's books that the terminals do not count as
  approved (reversed by them, or never answered), or two for one request;
- stranded: authorisations the card network or wallet holds as charged with no live
  payment on the host's books (the money a cardholder would see taken for nothing);
- unbacked: live payments on the host's books that no network holds;
- and whether the ledger balances.

All five must be zero (with ``--kill one`` also: errors seen by the terminals of the
processes left running, and terminals of the killed one that did not get an answer
again). CPU time is the host's (`serve` and every host process, from /proc), per
approved sale, so that runs on machines of different speed can be compared. Asserts
nothing; tests/e2e/test_crash.py runs a few rounds of each and asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.ports import free_port
from bench.procs import holder, host_processes, listening, tree_cpu_seconds
from sqlalchemy import func, select

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
from tillpoint.iso8583.codec import Message
from tillpoint.networks.held import held_charges
from tillpoint.payments.models import IntentState, NetworkIntent, Payment, PaymentKind
from tillpoint.terminal.client import TerminalClient, TerminalError

PAN = "6212340000000000012"
LIVE = ("approved", "partly_refunded", "refunded", "completed")
NO_ANSWER = (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError, TerminalError)


@dataclass
class Tally:
    """What the terminals were told."""

    approved: dict[str, int] = field(default_factory=dict)  # RRN: amount
    reversed_stans: set[tuple[str, str]] = field(default_factory=set)  # (TID, STAN)
    declined: int = 0
    unanswered: int = 0


@dataclass
class Result:
    rounds: int
    tally: Tally
    lost: list[str]
    doubled: list[str]
    stranded: list[str]
    unbacked: list[str]
    ledger_problems: int
    reversed_by_recovery: int
    host_cpu_s: float
    # --kill one: what the terminals of the processes left running saw (each an error
    # they should not have seen), and the killed one's terminals that never got an
    # answer again; how many terminals were on each side at the kills.
    survivor_errors: list[str] = field(default_factory=list)
    not_reconnected: list[str] = field(default_factory=list)
    on_survivors: int = 0
    on_killed: int = 0

    @property
    def clean(self) -> bool:
        return not (
            self.lost or self.doubled or self.stranded or self.unbacked or self.ledger_problems
            or self.survivor_errors or self.not_reconnected
        )  # fmt: skip


class Terminal:
    """One demo terminal selling: one request at a time, a reversal first whenever a
    sale got no answer, signing on again when the host asks."""

    def __init__(self, n: int, port: int, tally: Tally, rng: random.Random) -> None:
        self.client = TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK, port=port, timeout_s=5)
        self.tally = tally
        self.rng = rng
        self.pending: Message | None = None  # a sale that got no valid answer
        self.errors: list[tuple[float, str]] = []  # (when, what): no answer, or 96
        self.answered_at = 0.0  # when the last valid answer came
        self.move = False  # connect again before the next exchange (to be spread out)

    def local_port(self) -> int | None:
        """The local port of the terminal's connection, if it has one."""
        writer = self.client._writer
        if writer is None or writer.is_closing():
            return None
        name = writer.get_extra_info("sockname")
        return int(name[1]) if name else None

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.move:
                self.move = False
                await self.client.close()
            try:
                await self.step()
            except NO_ANSWER as e:
                self.errors.append((time.monotonic(), type(e).__name__))
                await self.client.close()
                await asyncio.sleep(0.05)

    async def settle_pending(self, deadline_s: float) -> None:
        """Reverse what is still unanswered (the host is up again)."""
        end = time.monotonic() + deadline_s
        while self.pending is not None and time.monotonic() < end:
            try:
                await self.step(sell=False)
            except NO_ANSWER:
                await self.client.close()
                await asyncio.sleep(0.1)

    async def step(self, *, sell: bool = True) -> None:
        t = self.client
        if t.keys is None and (await t.sign_on()).text(39) != "00":
            await asyncio.sleep(0.1)
            return
        if self.pending is not None:
            await self.reverse(self.pending)
            return
        if not sell:
            return
        message = self.sale()
        self.pending = message  # until a valid answer arrives
        answer = await self.exchange(message)
        self.pending = None
        code = answer.text(39)
        if code == "A0":  # stale keys: nothing happened; sign on and go on
            t.keys = None
        elif code == "00":
            self.tally.approved[answer.text(37) or ""] = int(message.text(4) or 0)
        else:
            self.tally.declined += 1

    async def reverse(self, original: Message) -> None:
        fields = {n: v for n, v in original.fields.items() if n not in (35, 52, 53, 26, 64)}
        fields[2], fields[14], fields[39] = PAN, "3012", "98"
        answer = await self.exchange(Message("0400", fields))
        if answer.text(39) == "A0":
            self.client.keys = None  # sign on, then reverse again
            return
        if answer.text(39) == "00":
            self.tally.reversed_stans.add((self.client.tid, original.text(11) or ""))
            self.tally.unanswered += 1
            self.pending = None

    async def exchange(self, message: Message) -> Message:
        answer = await self.client.exchange(message, with_mac=True)
        self.answered_at = time.monotonic()
        if answer.text(39) == "96":
            self.errors.append((self.answered_at, "96"))
        return answer

    def sale(self) -> Message:
        """0.01 to 0.99 CNY: the test card's 100,000 CNY then lasts for a hundred
        thousand sales and more, and sales are asked of its issuer, not declined."""
        t = self.client
        fields: dict[int, str | bytes] = {
            3: "000000", 4: f"{self.rng.randint(1, 99):012d}", 11: t.next_stan(),
            22: "021", 25: "00", 35: f"{PAN}D30122010000", 41: t.tid, 42: t.mid, 49: "156",
            60: f"22{t.batch}000",
        }  # fmt: skip
        return Message("0200", fields)


class Host:
    """`tillpoint serve --demo` in a process of its own, started and killed at will."""

    def __init__(
        self, workdir: Path, database_url: str, terminals: int, host_workers: int | None = None
    ) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.port, self.http = free_port(), free_port()
        self.terminals = terminals
        self.host_workers = host_workers
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TILLPOINT_")}
        self.env.update(
            TILLPOINT_DATABASE_URL=database_url,
            TILLPOINT_NETWORK_DIR=str(workdir / "network"),
            TILLPOINT_NETWORK_TIMEOUT_MS="2000",
            TILLPOINT_DEMO="1",
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu_s = 0.0

    async def start(self) -> None:
        log = (self.workdir / "host.log").open("ab")
        workers = [] if self.host_workers is None else ["--host-workers", str(self.host_workers)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tillpoint", "serve", "--demo",
             "--terminals", str(self.terminals), "--iso-port", str(self.port),
             "--http-port", str(self.http), *workers],
            env=self.env, stdout=log, stderr=log,
            start_new_session=True,  # a group of its own: kill -9 reaches every process
        )  # fmt: skip
        end = time.monotonic() + 120
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            if self.proc.poll() is not None:
                tail = (self.workdir / "host.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the host stopped; the end of its log:\n{tail}")
            await asyncio.sleep(0.05)
        raise TimeoutError("the host did not listen")

    async def stop(self, sig: int) -> None:
        """``SIGKILL``: `serve` and every host process at once; anything else: to
        `serve` alone, which stops its host processes. What /proc is asked runs in a
        thread: the terminals sell on meanwhile, so that the kill comes with requests
        in flight (a pause of their event loop would let the host answer them all
        first)."""
        assert self.proc is not None
        cpu_s = await asyncio.to_thread(tree_cpu_seconds, self.proc.pid)
        if sig == signal.SIGKILL:
            os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            self.proc.send_signal(sig)
        await asyncio.to_thread(self.proc.wait, 60)
        self.cpu_s += cpu_s  # (the moments after the sample are not counted)

    def abandon(self) -> None:
        """Kill whatever of `serve` is left (a run that failed)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)

    def host_pids(self) -> dict[int, int]:
        assert self.proc is not None
        return host_processes(self.proc.pid)

    async def restarted(self, index: int, dead_pid: int, deadline_s: float = 120.0) -> int:
        """Wait until host process ``index`` runs again (another pid) and listens."""

        def running() -> int | None:
            pid = self.host_pids().get(index)
            return (
                pid if pid is not None and pid != dead_pid and listening(self.port, pid) else None
            )

        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            pid = await asyncio.to_thread(running)
            if pid is not None:
                return pid
            await asyncio.sleep(0.1)
        raise TimeoutError(f"host process {index} was not started again")

    async def spread(self, fleet: list[Terminal], deadline_s: float = 60.0) -> dict[int, int]:
        """Wait until every host process holds a fair share of the terminals'
        connections (at least half of an even share, and one), moving terminals off the
        most crowded one if need be (they connect again: the kernel picks a process);
        which pid holds which terminal's, by terminal."""

        def holders(ports: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
            pids = self.host_pids()
            held = {n: holder(self.port, port, list(pids.values())) for n, port in ports.items()}
            return pids, {n: pid for n, pid in held.items() if pid is not None}

        end = time.monotonic() + deadline_s
        while True:
            ports = {n: p for n, t in enumerate(fleet) if (p := t.local_port()) is not None}
            pids, held = await asyncio.to_thread(holders, ports)
            counts = {pid: list(held.values()).count(pid) for pid in pids.values()}
            share = max(1, len(fleet) // (2 * max(len(pids), 1)))
            if len(pids) > 1 and min(counts.values()) >= share:
                return held
            if time.monotonic() > end:
                raise TimeoutError(f"the terminals stay on one host process: {counts}")
            crowded = max(counts, key=lambda p: counts[p], default=None)
            lacking = share - min(counts.values(), default=0)
            for n, pid in held.items():
                if pid == crowded and lacking > 0 and counts[crowded] > share:
                    fleet[n].move = True
                    counts[crowded] -= 1
                    lacking -= 1
            await asyncio.sleep(0.3)


async def run(
    workdir: Path,
    database_url: str,
    *,
    kills: int,
    terminals: int = 8,
    load_s: tuple[float, float] = (0.3, 1.5),
    seed: int = 1,
    progress: bool = False,
    host_workers: int | None = None,
    kill: str = "all",
) -> Result:
    """``kill="all"``: each round kills `serve` whole; ``"one"``: one `serve` with
    ``host_workers`` host processes (2 unless given), each round killing one of them (the
    next in turn) and waiting for `serve` to start it again."""
    if kill == "one":
        host_workers = host_workers or 2
    rounds = _kill_one_rounds if kill == "one" else _kill_all_rounds
    rng = random.Random(seed)
    tally = Tally()
    host = Host(workdir, database_url, terminals, host_workers)
    fleet = [Terminal(n, host.port, tally, rng) for n in range(1, terminals + 1)]
    try:
        return await rounds(host, fleet, tally, rng, kills, load_s, progress)
    except BaseException:
        host.abandon()
        raise


async def _first_answer(fleet: list[Terminal], since: float, limit_s: float = 30.0) -> None:
    """Until a terminal has had an answer since ``since``: the kill is to come under
    load, not while a host that just started is still getting ready (on a busy machine
    that can take longer than a round's whole load time)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end and not any(t.answered_at > since for t in fleet):
        await asyncio.sleep(0.02)


async def _kill_all_rounds(
    host: Host,
    fleet: list[Terminal],
    tally: Tally,
    rng: random.Random,
    kills: int,
    load_s: tuple[float, float],
    progress: bool,
) -> Result:
    for round_no in range(1, kills + 1):
        await host.start()
        started = time.monotonic()
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(t.run(stop)) for t in fleet]
        await _first_answer(fleet, started)
        await asyncio.sleep(rng.uniform(*load_s))
        await host.stop(signal.SIGKILL)
        stop.set()
        await asyncio.gather(*tasks)
        if progress:
            print(f"round {round_no}: {len(tally.approved)} approved so far", flush=True)
    # The host once more: the terminals reverse what they still owe, the host settles
    # every call it noted (its recovery pass), then it stops cleanly.
    await host.start()
    return await _finish(host.workdir, host.database_url, host, fleet, tally, kills)


async def _finish(
    workdir: Path, database_url: str, host: Host, fleet: list[Terminal], tally: Tally, rounds: int
) -> Result:
    """The host running: the terminals reverse what they still owe, the host settles
    every call it noted (its recovery pass), then it stops cleanly and the books are
    compared."""
    await asyncio.gather(*(t.settle_pending(120) for t in fleet))
    for t in fleet:
        await t.client.close()
    settings = Settings(_env_file=None, database_url=database_url, demo=True)  # type: ignore[call-arg]
    app = open_app(settings)
    try:
        await _until_settled(app)
        await host.stop(signal.SIGINT)
        return _compare(app, workdir / "network", tally, rounds, host.cpu_s)
    finally:
        app.close()


async def _kill_one_rounds(
    host: Host,
    fleet: list[Terminal],
    tally: Tally,
    rng: random.Random,
    kills: int,
    load_s: tuple[float, float],
    progress: bool,
) -> Result:
    await host.start()
    stop = asyncio.Event()
    tasks = [asyncio.ensure_future(t.run(stop)) for t in fleet]
    survivor_errors: list[str] = []
    not_reconnected: list[str] = []
    on_survivors = on_killed = 0
    try:
        for round_no in range(1, kills + 1):
            await asyncio.sleep(rng.uniform(*load_s))
            held = await host.spread(fleet)
            pids = await asyncio.to_thread(host.host_pids)
            index = (round_no - 1) % len(pids) + 1
            victim = pids[index]
            await asyncio.sleep(rng.uniform(0.01, 0.1))  # requests in flight again
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            await asyncio.sleep(max(1.0, rng.uniform(*load_s)))  # the others sell on
            await host.restarted(index, victim)
            for n, pid in held.items():
                t = fleet[n]
                if pid == victim:
                    on_killed += 1
                    if t.answered_at <= killed_at:
                        not_reconnected.append(f"round {round_no}: {t.client.tid}")
                else:
                    on_survivors += 1
                    survivor_errors += [f"round {round_no}: {t.client.tid} {what}"
                                        for at, what in t.errors if at >= killed_at]  # fmt: skip
            if progress:
                print(f"round {round_no}: host process {index} (pid {victim}) killed, "
                      f"{len(tally.approved)} approved so far", flush=True)  # fmt: skip
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    result = await _finish(host.workdir, host.database_url, host, fleet, tally, kills)
    result.survivor_errors, result.not_reconnected = survivor_errors, not_reconnected
    result.on_survivors, result.on_killed = on_survivors, on_killed
    return result


async def _until_settled(app: Tillpoint, deadline_s: float = 120.0) -> None:
    unsettled = (IntentState.OPEN, IntentState.REVERSING)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        with app.ctx.db.read() as s:
            left = s.scalar(
                select(func.count())
                .select_from(NetworkIntent)
                .where(NetworkIntent.state.in_(unsettled))
            )
        if not left:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("calls were left unsettled")


def _compare(app: Tillpoint, network_dir: Path, tally: Tally, rounds: int, cpu_s: float) -> Result:
    charges = held_charges(network_dir)
    with app.ctx.db.read() as s:
        live_rrns = list(
            s.scalars(
                select(Payment.rrn).where(
                    Payment.status.in_(LIVE), Payment.kind == PaymentKind.SALE
                )
            )
        )
        reversed_by_recovery = s.scalar(
            select(func.count())
            .select_from(NetworkIntent)
            .where(NetworkIntent.state == IntentState.REVERSED, NetworkIntent.rrn.is_not(None))
        )
    lost = sorted(rrn for rrn in tally.approved if rrn not in live_rrns)
    doubled = sorted({rrn for rrn in live_rrns if rrn not in tally.approved}
                     | {rrn for rrn in live_rrns if live_rrns.count(rrn) > 1})  # fmt: skip
    stranded = sorted(ref for ref in charges if ref not in live_rrns)
    unbacked = sorted(rrn for rrn in live_rrns if rrn not in charges)
    return Result(
        rounds, tally, lost, doubled, stranded, unbacked, len(app.ledger.check()),
        int(reversed_by_recovery or 0), cpu_s,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--terminals", type=int, default=16)
    parser.add_argument("--database-url", help="default: a new SQLite file")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--host-workers", type=int, help="host processes (serve's default: one per CPU)"
    )
    parser.add_argument(
        "--kill", choices=("all", "one"), default="all",
        help="kill serve with every host process (all), or one host process a round (one)",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tillpoint-crash-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'crash.db'}"
        started = time.monotonic()
        result = asyncio.run(
            run(workdir, url, kills=args.kills, terminals=args.terminals, seed=args.seed,
                progress=True, host_workers=args.host_workers, kill=args.kill)
        )  # fmt: skip
        wall = time.monotonic() - started
    t = result.tally
    what = "one host process" if args.kill == "one" else "serve and its host processes"
    print(f"rounds (kill -9 of {what}): {result.rounds}, terminals: {args.terminals}, "
          f"host processes: {args.host_workers or 'default'}, {wall:.0f} s")  # fmt: skip
    print(f"terminals: approved {len(t.approved)}, declined {t.declined}, "
          f"unanswered and reversed by the terminal {t.unanswered}")  # fmt: skip
    print(f"reversed at the network by the host (recovery, failed writes): "
          f"{result.reversed_by_recovery}")  # fmt: skip
    print(f"lost: {len(result.lost)}  doubled: {len(result.doubled)}  "
          f"stranded: {len(result.stranded)}  unbacked: {len(result.unbacked)}  "
          f"ledger problems: {result.ledger_problems}")  # fmt: skip
    if args.kill == "one":
        print(f"at the kills, terminals on the killed process: {result.on_killed}, on the "
              f"others: {result.on_survivors}; errors the others' terminals saw: "
              f"{len(result.survivor_errors)}; terminals not answered again: "
              f"{len(result.not_reconnected)}")  # fmt: skip
        for line in (result.survivor_errors + result.not_reconnected)[:20]:
            print(f"  {line}")
    if t.approved:
        per_sale_ms = result.host_cpu_s / len(t.approved) * 1000
        print(f"host CPU: {result.host_cpu_s:.1f} s in all, {per_sale_ms:.2f} ms per approved "
              "sale (start-ups included)")  # fmt: skip
    print("CLEAN" if result.clean else "NOT CLEAN")


if __name__ == "__main__":
    main()
