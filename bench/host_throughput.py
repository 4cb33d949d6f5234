"""Terminal host throughput: N terminals sign on and send card sales with MAC and PIN
over loopback to a `tillpoint serve --demo` process (durable: SQLite or PostgreSQL),
then the same frames to a bare echo server on the same framing, in the same run.

    python -m bench.host_throughput [--terminals 64] [--seconds 15] [--warmup 3]
                                    [--host-workers N] [--database URL] [--max-rate R]
    python -m bench.host_throughput --in-process [--terminals 64] [--seconds 5]
                                    [--profile FILE] [--chip] [--screening-both]

What the clock measures is the host's work and nothing of the client's: every request
frame (its PIN block, its MAC) is built before the clock starts, and the answers are
only kept while it runs (decoded, to count the approvals, after it stops). A terminal
that runs out of its frames stops (the run says so: raise ``--max-rate``). Prints
approved sales/s and p50/p95/p99 latency for the host and for the echo server, their
ratio, and the CPU time `serve` and all its processes used per approved sale (from
/proc, before and after the measured span). Asserts nothing. Targets (2 cores,
SQLite): 5,000 sales/s, 40% of echo, p99 <= 25 ms.

``--host-workers`` is passed to `serve` (its default: one host process per CPU).
``--database URL`` names a PostgreSQL server (any database on it): the run creates a
database of its own there and drops it at the end; the default is a new SQLite file.

``--in-process --networks-process`` puts the simulators in a `tillpoint networks serve`
of their own behind the network link, as `serve` runs them.

``--in-process --place`` has every sign-on and sale carry field 59, as the demo
terminals send it (the same place every time: the host keeps it and writes nothing).

``--screening-both`` alternates spans with risk screening off and on; before each
span with it on, what the span before recorded is folded into the features (not
counted): a host that screens folds each sale in once, as it goes, never a backlog of
sales it did not screen.

``--in-process`` measures the host alone: the terminals' frames are built beforehand
and handed to the host's ``answer()`` by concurrent tasks in the same process, with no
sockets and no client sharing the CPU; it prints sales/s and the host's CPU per sale.
The sales are swiped, with a PIN; ``--chip`` makes them chip sales (23 and 55 with a
fresh ARQC each, verified by the simulated issuer, in the same process).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import itertools
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bench.ports import free_port, wait_for
from bench.procs import (
    cpu_seconds,
    host_processes,
    listening,
    networks_processes,
    tree_cpu_seconds,
)

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.demo import DEMO_TMK, demo_mid, demo_position, demo_serial, demo_tid
from tillpoint.iso8583 import framing
from tillpoint.iso8583.codec import Message, decode, encode_with_mac
from tillpoint.iso8583.fields import DEVICE_COUNTERTOP, Place
from tillpoint.security import tdes
from tillpoint.terminal import chip as card_chip
from tillpoint.terminal.client import TerminalClient

if TYPE_CHECKING:
    from tillpoint.app import Tillpoint

PAN = "6212340000000000012"


_ATC = itertools.count(1)


def sale(t: TerminalClient, chip: bool = False) -> bytes:
    """A swiped sale with a PIN; ``chip``: read from the chip instead (23 and 55, a
    fresh ARQC each), which the issuer verifies."""
    assert t.keys is not None
    fields: dict[int, str | bytes] = {
        3: "000000", 4: "000000000001", 11: t.next_stan(), 22: "021", 25: "00", 26: "12",
        35: f"{PAN}D30122010000", 41: t.tid, 42: t.mid, 49: "156",
        52: tdes.encrypt_pin_block(t.keys.pik, "123456", PAN), 53: "2600000000000000",
        60: f"22{t.batch}000",
    }  # fmt: skip
    if chip:
        read = card_chip.read(PAN, next(_ATC) % card_chip.MAX_ATC + 1, kind="sale",
                              amount_minor=1, pin=True, ifd_serial=t.tid,
                              today=datetime.now(BUSINESS_TZ).date())  # fmt: skip
        fields.update({22: "051", 23: card_chip.FIELD_23, 55: read.icc})
    if (place := t.place_field()) is not None:  # --place: where the terminal is (59)
        fields[59] = place
    body = encode_with_mac(Message("0200", fields), t.mac)
    return framing.request_tpdu() + framing.header() + body


def frames_for(clients: list[TerminalClient], rate: float, span_s: float) -> list[list[bytes]]:
    """Each terminal's frames for ``span_s`` at ``rate`` sales/s in all, and some more.
    The same terminals go on numbering their STANs, so that no request repeats an
    earlier one (a repeat would only fetch its stored answer)."""
    per = math.ceil(rate * span_s / len(clients)) + 50
    return [[sale(c) for _ in range(per)] for c in clients]


class Span:
    """What one timed span gave: the answers (undecoded), each exchange's latency, the
    wall time, and how many terminals ran out of frames before the end."""

    def __init__(self) -> None:
        self.replies: list[bytes] = []
        self.latencies: list[float] = []
        self.wall_s = 0.0
        self.ran_out = 0

    def approved(self) -> int:
        return sum(decode(framing.parse_frame(r).body).text(39) == "00" for r in self.replies)


async def timed(
    clients: list[TerminalClient], frames: list[list[bytes]], span_s: float, *, repeat: bool = False
) -> Span:
    """Every terminal sends its frames back to back until ``span_s`` has passed (with
    ``repeat``, over and over: for the echo server, to which a repeat is nothing)."""
    span = Span()

    async def run(c: TerminalClient, mine: list[bytes], until: float) -> None:
        replies, latencies = span.replies, span.latencies
        for frame in itertools.cycle(mine) if repeat else mine:
            if time.monotonic() >= until:
                return
            t0 = time.perf_counter()
            replies.append(await c.send_raw(frame))
            latencies.append(time.perf_counter() - t0)
        span.ran_out += 1

    started = time.monotonic()
    await asyncio.gather(
        *(run(c, f, started + span_s) for c, f in zip(clients, frames, strict=True))
    )
    span.wall_s = time.monotonic() - started
    span.latencies.sort()
    return span


def clients_on(port: int, terminals: int) -> list[TerminalClient]:
    return [
        TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK, port=port)
        for n in range(1, terminals + 1)
    ]


async def measure(
    clients: list[TerminalClient],
    warmup_s: float,
    seconds: float,
    max_rate: float,
    *,
    cpu_of: int | None = None,
) -> tuple[Span, Cpu, list[list[bytes]]]:
    """A warm-up (not counted), then the measured span, its frames built beforehand
    for twice the warm-up's rate (at least 200 sales/s, at most ``max_rate``).
    Gives the span, the CPU seconds process ``cpu_of`` and all below it used during
    it (and of that, the networks process's), and the measured frames (for the echo
    server)."""
    warm = await timed(clients, frames_for(clients, max_rate, warmup_s), warmup_s)
    rate = min(max_rate, max(200.0, 2 * len(warm.replies) / max(warm.wall_s, 1e-9)))
    frames = frames_for(clients, rate, seconds)
    before = Cpu.of(cpu_of)
    span = await timed(clients, frames, seconds)
    return span, Cpu.of(cpu_of) - before, frames


class Cpu:
    """CPU seconds of `serve` and everything below it, and of that, the networks
    process's (the issuers' side: not the host's work)."""

    def __init__(self, everything: float = 0.0, networks: float = 0.0) -> None:
        self.everything, self.networks = everything, networks

    @classmethod
    def of(cls, serve_pid: int | None) -> Cpu:
        if serve_pid is None:
            return cls()
        return cls(tree_cpu_seconds(serve_pid), cpu_seconds(networks_processes(serve_pid)))

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.everything - other.everything, self.networks - other.networks)

    @property
    def host(self) -> float:
        return self.everything - self.networks


async def host_run(
    port: int, terminals: int, warmup_s: float, seconds: float, max_rate: float, serve_pid: int
) -> tuple[Span, Cpu, list[list[bytes]]]:
    clients = clients_on(port, terminals)
    answers = await asyncio.gather(*(c.sign_on() for c in clients))
    refused = [f"{c.tid}: {a.text(39)}" for c, a in zip(clients, answers, strict=True)
               if a.text(39) != "00"]  # fmt: skip
    if refused:
        raise RuntimeError(f"sign-on refused: {refused}")
    span, cpu_s, frames = await measure(clients, warmup_s, seconds, max_rate, cpu_of=serve_pid)
    for c in clients:
        await c.close()
    return span, cpu_s, frames


async def echo_run(port: int, frames: list[list[bytes]], warmup_s: float, seconds: float) -> Span:
    """The host's measured frames again, over and over (the echo server sends each
    back as it came), after a warm-up on the same frames."""
    clients = clients_on(port, len(frames))
    await timed(clients, frames, warmup_s, repeat=True)
    span = await timed(clients, frames, seconds, repeat=True)
    for c in clients:
        await c.close()
    return span


ECHO_SERVER = """
import asyncio, sys
async def handle(r, w):
    try:
        while True:
            head = await r.readexactly(2)
            body = await r.readexactly(int.from_bytes(head, "big"))
            w.write(head + body)
            await w.drain()
    except Exception:
        w.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


@contextlib.contextmanager
def networks_process(directory: Path, *, wanted: bool) -> Iterator[int | None]:
    """`tillpoint networks serve --demo` on a free port, its books in ``directory``, if
    ``wanted``: its port."""
    if not wanted:
        yield None
        return
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLPOINT_")}
    env["TILLPOINT_NETWORK_DIR"] = str(directory)
    networks = subprocess.Popen(
        [sys.executable, "-m", "tillpoint", "networks", "serve", "--demo", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(port)
        yield port
    finally:
        networks.terminate()
        networks.wait(30)


async def _sell_in_process(
    answer: Callable[[bytes], Awaitable[bytes | None]], frames: list[bytes], until: float
) -> list[bytes]:
    """One terminal's frames to the host until ``until``; the replies are read after the
    clock stops: the client's work is not the host's."""
    replies = []
    for frame in frames:
        if time.monotonic() >= until:
            break
        reply = await answer(frame)
        if reply is not None:
            replies.append(reply)
    return replies


def _approved(reply: bytes) -> bool:
    return decode(framing.parse_frame(reply).body).text(39) == "00"


async def _measured(
    host: object,
    desk: object,
    clients: list[TerminalClient],
    spans: list[tuple[float, bool, bool]],
    chip: bool,
    profile: cProfile.Profile | None,
) -> tuple[dict[bool, list[float]], tuple[float, float]]:
    """Sell for each (seconds, counted, screening on) span; per screening on or off, the
    approved sales, CPU and wall time of the counted spans, and the engine's own CPU."""
    answer = host.answer  # type: ignore[attr-defined]
    screener = desk.screener  # type: ignore[attr-defined]
    timer = ScreeningTimer(screener)
    figures: dict[bool, list[float]] = {False: [0, 0.0, 0.0], True: [0, 0.0, 0.0]}
    split = [0.0, 0.0]  # screening on: catch-up, decision
    for span, counted, on in spans:
        desk.screener = timer if on and screener is not None else None  # type: ignore[attr-defined]
        per = int(5000 * span / len(clients)) + 50  # more than the host can take
        frames = [[sale(c, chip) for _ in range(per)] for c in clients]
        # The frames are the benchmark's, not the host's: out of the garbage collector's
        # sight, or its walks over them (some 40 µs a sale) would be counted as the host's.
        gc.collect()
        gc.freeze()
        if on and screener is not None:
            # What the span before recorded with screening off is folded in before the
            # clock starts: a host that screens folds each sale in once, as it goes.
            with screener.db.quick_read() as conn:
                screener.catch_up(conn, None)
        if counted and profile is not None:
            profile.enable()
        timer.reset()
        cpu, wall = time.process_time(), time.monotonic()
        until = wall + span
        done = await asyncio.gather(*(_sell_in_process(answer, f, until) for f in frames))
        if counted:
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            if profile is not None:
                profile.disable()
            got = figures[on]
            got[0] += sum(_approved(r) for replies in done for r in replies)
            got[1] += cpu
            got[2] += wall
            if on:
                catching, deciding = timer.split()
                split[0] += catching
                split[1] += deciding
    desk.screener = screener  # type: ignore[attr-defined]
    return figures, (split[0], split[1])


def in_process(
    terminals: int,
    warmup: float,
    seconds: float,
    profile_to: str | None = None,
    in_networks_process: bool = False,
    chip: bool = False,
    place: bool = False,
    screening_both: bool = False,
) -> None:
    """The host's own cost: a demo database in a temporary directory, the simulated
    networks, and ``TerminalHost.answer()`` called directly. ``screening_both``: the
    measured time is split in four, risk screening off, on, off, on."""
    import logging

    from tillpoint.app import open_app
    from tillpoint.core.settings import Settings
    from tillpoint.demo import ensure_demo
    from tillpoint.host.server import TerminalHost
    from tillpoint.payments.acquirer import simulated
    from tillpoint.payments.linked import linked

    logging.disable(logging.INFO)  # the log lines would go to the terminal
    profile = cProfile.Profile() if profile_to else None
    with tempfile.TemporaryDirectory() as tmp:
        tp = open_app(
            Settings(_env_file=None, database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",  # type: ignore[call-arg]
                     network_dir=str(Path(tmp) / "network"), demo=True),
            migrate="always",
        )  # fmt: skip
        ensure_demo(tp, terminals)
        quiet_rules(tp)
        off: list[float] = []
        screening = [0.0, 0.0]

        async def run() -> tuple[int, float, float]:
            acquirer = await linked(tp, ("127.0.0.1", port)) if port else simulated(tp)
            host = TerminalHost(tp, acquirer)
            clients = [TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK)
                       for n in range(1, terminals + 1)]  # fmt: skip
            for n, c in enumerate(clients, 1):
                c.send_raw = host.answer  # type: ignore[assignment, method-assign]
                if place:  # field 59 on the sign-on and every sale, as demo terminals send
                    c.place = Place(DEVICE_COUNTERTOP, demo_serial(n), demo_position(n))
                await c.sign_on()
            spans = [(warmup, False, True)]
            if screening_both:  # off and on, twice each, alternating, in the same run
                spans += [(seconds / 4, True, on) for on in (False, True, False, True)]
            else:
                spans += [(seconds, True, True)]
            figures, screened = await _measured(host, acquirer.desk, clients, spans, chip, profile)
            screening[:] = screened
            acquirer.close()
            approved, cpu, wall = figures[True]
            if screening_both:
                off[:] = figures[False]
            return int(approved), cpu, wall

        with networks_process(Path(tmp) / "network", wanted=in_networks_process) as port:
            approved, cpu, wall = asyncio.run(run())
        tp.close()
    if profile is not None and profile_to:
        profile.dump_stats(profile_to)
    where = "a networks process, over the link" if in_networks_process else "in process"
    what = "chip sales (ARQC verified, ARPC made)" if chip else "swiped sales with a PIN"
    print(
        f"terminals: {terminals}, in process (no sockets), {seconds:.0f} s after {warmup:.0f} s of warm-up, SQLite durable; the simulators {where}; {what}"
    )
    print(
        f"host  : {approved / wall:8.0f} approved sales/s   CPU {cpu / max(approved, 1) * 1e6:6.0f} us per sale"
    )
    print_screening(approved, cpu, (screening[0], screening[1]), off)


def quiet_rules(tp: Tillpoint) -> None:
    """Every risk rule stays live and runs on every sale, its thresholds a thousand times
    higher: the benchmark's few cards sell thousands of times a minute, which any
    velocity rule would stop, and a sale no rule fires on is the common case measured."""
    for rule in tp.risk.rules():
        params = {g: {k: v * 1000 for k, v in values.items()} for g, values in rule.params.items()}
        tp.risk.update(rule.code, "bench", "thresholds out of reach", params=params)


def quiet_rules_of(url: str) -> None:
    """``quiet_rules`` on the database `serve` runs on."""
    from tillpoint.app import open_app
    from tillpoint.core.settings import Settings

    tp = open_app(Settings(_env_file=None, database_url=url, demo=True))  # type: ignore[call-arg]
    try:
        quiet_rules(tp)
    finally:
        tp.close()


def print_screening(
    approved: int, cpu: float, screening: tuple[float, float], off: list[float]
) -> None:
    """Risk screening's own CPU per sale (catch-up and decision; its share of the budget
    and of the sale), and, when it was measured, the whole sale with screening off."""
    n = max(approved, 1)
    catching, deciding = screening[0] / n * 1e6, screening[1] / n * 1e6
    per_sale = catching + deciding
    whole_on = cpu / n * 1e6
    print(
        f"risk screening: {per_sale:6.1f} us of CPU per sale in the engine (catch-up "
        f"{catching:.1f}, decision {deciding:.1f}), {per_sale / 20:.0%} of its 20 us "
        f"budget, {per_sale / max(whole_on, 1e-9):.1%} of the sale's CPU"
    )
    if off:
        n_off, cpu_off, wall_off = off
        whole_off = cpu_off / max(n_off, 1) * 1e6
        print(
            f"screening off: {n_off / wall_off:8.0f} approved sales/s   CPU {whole_off:6.0f} us "
            f"per sale   (on - off: {whole_on - whole_off:+.0f} us per sale, whole sale, noisy)"
        )


class ScreeningTimer:
    """The engine, with the CPU time of its calls added up (the benchmark's only), the
    timer's own cost (two clock reads a call, measured once) taken off."""

    def __init__(self, engine: object) -> None:
        self.engine = engine
        n = 20_000
        t0 = time.thread_time()
        for _ in range(n):
            t = time.thread_time()
            self.clock_s = time.thread_time() - t
        self.clock_s = (time.thread_time() - t0) / n  # a call's two reads, and the sum
        self.reset()

    def reset(self) -> None:
        self.catch_up_s = self.decide_s = 0.0
        self.catch_ups = self.screens = 0

    def split(self) -> tuple[float, float]:
        """CPU seconds in catch-up and in deciding, the clock's own cost taken off."""
        return (
            max(0.0, self.catch_up_s - self.catch_ups * self.clock_s),
            max(0.0, self.decide_s - self.screens * self.clock_s),
        )

    def catch_up(self, conn: object, terminal_id: int | None) -> None:
        t = time.thread_time()
        self.engine.catch_up(conn, terminal_id)  # type: ignore[attr-defined]
        self.catch_up_s += time.thread_time() - t
        self.catch_ups += 1

    def screen(self, attempt: object) -> object:
        t = time.thread_time()
        verdict = self.engine.screen(attempt)  # type: ignore[attr-defined]
        self.decide_s += time.thread_time() - t
        self.screens += 1
        return verdict


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--terminals", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds of load before measuring (not counted)"
    )
    parser.add_argument(
        "--in-process", action="store_true", help="the host alone: no sockets, no client"
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="with --in-process: cProfile the measured span into FILE"
    )
    parser.add_argument(
        "--host-workers", type=int, help="host processes, passed to serve (default: serve's)"
    )
    parser.add_argument(
        "--database", metavar="URL", help="a PostgreSQL server to run on (default: SQLite)"
    )
    parser.add_argument(
        "--max-rate", type=float, default=4000.0,
        help="sales/s in all that the frames built beforehand can feed (default 4000)",
    )  # fmt: skip
    parser.add_argument(
        "--place",
        action="store_true",
        help="with --in-process: every sign-on and sale carries field 59 (where it is)",
    )
    parser.add_argument(
        "--networks-process",
        action="store_true",
        help="with --in-process: the simulators in a networks process, over the link",
    )
    parser.add_argument(
        "--screening-both",
        action="store_true",
        help="with --in-process: risk screening off and on, alternating, in the same run",
    )
    parser.add_argument(
        "--chip",
        action="store_true",
        help="with --in-process: chip sales (23 and 55 with an ARQC) instead of swiped ones",
    )
    args = parser.parse_args()
    if args.in_process:
        in_process(args.terminals, args.warmup, args.seconds, args.profile, args.networks_process,
                   args.chip, args.place, args.screening_both)  # fmt: skip
        return
    with tempfile.TemporaryDirectory() as tmp, database(args.database, Path(tmp)) as url:
        socket_mode(args, Path(tmp), url)


@contextlib.contextmanager
def database(server_url: str | None, tmp: Path) -> Iterator[str]:
    """A new SQLite file, or a new database on the PostgreSQL server named (dropped at
    the end)."""
    if server_url is None:
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    name = f"tillpoint_bench_{os.getpid()}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def socket_mode(args: argparse.Namespace, tmp: Path, url: str) -> None:
    iso, http = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLPOINT_")}
    env["TILLPOINT_DATABASE_URL"] = url
    env["TILLPOINT_NETWORK_DIR"] = str(tmp / "network")
    workers = [] if args.host_workers is None else ["--host-workers", str(args.host_workers)]
    log = tmp / "serve.log"
    with log.open("wb") as out:
        host = subprocess.Popen(
            [sys.executable, "-m", "tillpoint", "serve", "--demo",
             "--terminals", str(args.terminals), "--iso-port", str(iso), "--http-port", str(http),
             *workers],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    echo_port = free_port()
    echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(echo_port)])
    try:
        wait_for(iso)
        processes = wait_for_hosts(host.pid, iso, args.host_workers)
        wait_for(echo_port)
        quiet_rules_of(url)  # every host process reads the change within a second
        time.sleep(1.5)
        span, cpu_s, frames = asyncio.run(
            host_run(iso, args.terminals, args.warmup, args.seconds, args.max_rate, host.pid)
        )
        echoed = asyncio.run(echo_run(echo_port, frames, args.warmup, args.seconds))
    except BaseException:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)  # what serve said
        raise
    finally:
        host.send_signal(signal.SIGTERM)
        echo.terminate()
        host.wait(60)
        echo.wait(30)
    approved = span.approved()  # decoded now, the clock stopped
    rate, erate = approved / span.wall_s, len(echoed.replies) / echoed.wall_s
    lat, elat = span.latencies, echoed.latencies
    kind = "SQLite durable (WAL, synchronous=FULL)" if url.startswith("sqlite") else "PostgreSQL"
    print(f"terminals: {args.terminals}, {args.seconds:.0f} s each after {args.warmup:.0f} s of "
          f"warm-up, {kind}, host processes: {processes or '1 (in serve)'}")  # fmt: skip
    print(f"host  : {rate:8.0f} approved sales/s   p50 {pct(lat, 0.5):6.2f} ms  "
          f"p95 {pct(lat, 0.95):6.2f} ms  p99 {pct(lat, 0.99):6.2f} ms  "
          f"({approved} of {len(span.replies)} answers approved)")  # fmt: skip
    print(f"echo  : {erate:8.0f} exchanges/s       p50 {pct(elat, 0.5):6.2f} ms  "
          f"p95 {pct(elat, 0.95):6.2f} ms  p99 {pct(elat, 0.99):6.2f} ms")  # fmt: skip
    print(f"ratio : {rate / erate:8.1%} of echo")
    if approved:
        print(f"CPU   : {cpu_s.host:8.1f} s for serve and its host processes over the span, "
              f"{cpu_s.host / approved * 1e6:6.0f} us per approved sale; the networks "
              f"process beside them {cpu_s.networks / approved * 1e6:5.0f} us")  # fmt: skip
    for name, s in (("host", span), ("echo", echoed)):
        if s.ran_out:
            print(f"warning: {s.ran_out} terminals ran out of frames before the end of the "
                  f"{name} span (raise --max-rate): its figure is a lower bound")  # fmt: skip


def wait_for_hosts(serve_pid: int, port: int, asked: int | None, deadline_s: float = 120) -> int:
    """Wait until every host process of `serve` listens; how many there are (0: the
    host runs inside `serve`)."""
    want = asked if asked is not None else (os.cpu_count() or 1)
    if want <= 1:
        return 0
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        pids = host_processes(serve_pid)
        if len(pids) == want and all(listening(port, p) for p in pids.values()):
            return want
        time.sleep(0.1)
    raise TimeoutError("the host processes did not all listen")


if __name__ == "__main__":
    main()
