"""Terminal host throughput: N terminals sign on and send card sales with MAC and PIN
over loopback to a `tillpoint serve --demo` process (SQLite, durable), then the same
frames to a bare echo server on the same framing, in the same run.

    python -m bench.host_throughput [--terminals 64] [--seconds 15] [--warmup 3]
    python -m bench.host_throughput --in-process [--terminals 64] [--seconds 5]

Prints approved sales/s and p50/p95/p99 latency for both and their ratio, and the CPU
the serve process (the host) and its children (the networks process) spent in the
measured span, per approved sale (Linux: read from /proc); asserts nothing. Targets (2
cores, SQLite): 5,000 sales/s, 40% of echo, p99 <= 25 ms.

``--in-process`` measures the host alone: the terminals' frames are built beforehand
and handed to the host's ``answer()`` by concurrent tasks in the same process, with no
sockets and no client sharing the CPU; it prints sales/s and the host's CPU per sale.
The card network and wallet simulators run in the same process (``simulated``), or
with ``--networks-process`` in a `tillpoint networks serve` of their own behind the
network link (``linked``), as `serve` runs them: the CPU is then this process's alone.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.ports import free_port, wait_for

from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
from tillpoint.iso8583 import framing
from tillpoint.iso8583.codec import Message, decode, encode_with_mac
from tillpoint.security import tdes
from tillpoint.terminal.client import TerminalClient

PAN = "6212340000000000012"


def sale(t: TerminalClient) -> bytes:
    assert t.keys is not None
    fields: dict[int, str | bytes] = {
        3: "000000", 4: "000000000001", 11: t.next_stan(), 22: "051", 25: "00", 26: "12",
        35: f"{PAN}D30122010000", 41: t.tid, 42: t.mid, 49: "156",
        52: tdes.encrypt_pin_block(t.keys.pik, "123456", PAN), 53: "2600000000000000",
        60: f"22{t.batch}000",
    }  # fmt: skip
    body = encode_with_mac(Message("0200", fields), t.mac)
    return framing.request_tpdu() + framing.header() + body


async def load(
    port: int,
    terminals: int,
    warmup: float,
    seconds: float,
    *,
    sign_on: bool,
    mark: Callable[[], None] = lambda: None,
) -> tuple[int, list[float]]:
    """Every terminal sends sales back to back: ``warmup`` seconds not counted, then
    ``seconds`` measured. The same terminals go on numbering their STANs, so that no
    request repeats an earlier one (a repeat would only fetch its stored answer)."""
    clients = [
        TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK, port=port)
        for n in range(1, terminals + 1)
    ]
    if sign_on:
        await asyncio.gather(*(c.sign_on() for c in clients))
    else:  # the echo server needs no keys; any MAK makes the same-sized frames
        for c in clients:
            c.keys = type("K", (), {"pik": DEMO_TMK, "mak": DEMO_TMK, "tdk": DEMO_TMK})()  # type: ignore[assignment]
    latencies: list[float] = []
    approved = 0

    async def run(c: TerminalClient, until: float, counted: bool) -> None:
        nonlocal approved
        while time.monotonic() < until:
            payload = sale(c)
            t0 = time.perf_counter()
            reply = await c.send_raw(payload)
            if counted:
                latencies.append(time.perf_counter() - t0)
                if not sign_on or decode(framing.parse_frame(reply).body).text(39) == "00":
                    approved += 1

    for span, counted in ((warmup, False), (seconds, True)):
        until = time.monotonic() + span
        await asyncio.gather(*(run(c, until, counted) for c in clients))
        mark()  # the end of the warm-up, then of the measured span
    for c in clients:
        await c.close()
    return approved, sorted(latencies)


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


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of a live process so far (Linux), 0 if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class CpuMarks:
    """The host's and its children's CPU at each mark."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.marks: list[tuple[float, float]] = []

    def __call__(self) -> None:
        self.marks.append((cpu_s(self.pid), sum(cpu_s(c) for c in children(self.pid))))

    def spent(self) -> tuple[float, float]:
        (host0, kids0), (host1, kids1) = self.marks[-2:]
        return host1 - host0, kids1 - kids0


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


@contextmanager
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


def in_process(
    terminals: int,
    warmup: float,
    seconds: float,
    profile_to: str | None = None,
    in_networks_process: bool = False,
) -> None:
    """The host's own cost: a demo database in a temporary directory, the simulated
    networks, and ``TerminalHost.answer()`` called directly."""
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

        async def run() -> tuple[int, float, float]:
            acquirer = await linked(tp, ("127.0.0.1", port)) if port else simulated(tp)
            host = TerminalHost(tp, acquirer)
            clients = [TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK)
                       for n in range(1, terminals + 1)]  # fmt: skip
            for c in clients:
                c.send_raw = host.answer  # type: ignore[assignment, method-assign]
                await c.sign_on()
            approved = 0

            async def sell(c: TerminalClient, frames: list[bytes], until: float) -> list[bytes]:
                replies = []  # read after the clock stops: the client's work is not the host's
                for frame in frames:
                    if time.monotonic() >= until:
                        break
                    reply = await host.answer(frame)
                    if reply is not None:
                        replies.append(reply)
                return replies

            for span, counted in ((warmup, False), (seconds, True)):
                per = int(5000 * span / terminals) + 50  # more than the host can take
                frames = [[sale(c) for _ in range(per)] for c in clients]
                if counted and profile is not None:
                    profile.enable()
                cpu, wall = time.process_time(), time.monotonic()
                until = wall + span
                done = await asyncio.gather(
                    *(sell(c, f, until) for c, f in zip(clients, frames, strict=True))
                )
                if counted:
                    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
                    if profile is not None:
                        profile.disable()
                    approved = sum(
                        decode(framing.parse_frame(r).body).text(39) == "00"
                        for replies in done
                        for r in replies
                    )
            acquirer.close()
            return approved, cpu, wall

        with networks_process(Path(tmp) / "network", wanted=in_networks_process) as port:
            approved, cpu, wall = asyncio.run(run())
        tp.close()
    if profile is not None and profile_to:
        profile.dump_stats(profile_to)
    where = "a networks process, over the link" if in_networks_process else "in process"
    print(
        f"terminals: {terminals}, in process (no sockets), {seconds:.0f} s after {warmup:.0f} s of warm-up, SQLite durable; the simulators {where}\n"
        f"host  : {approved / wall:8.0f} approved sales/s   CPU {cpu / max(approved, 1) * 1e6:6.0f} us per sale"
    )


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
        "--networks-process",
        action="store_true",
        help="with --in-process: the simulators in a networks process, over the link",
    )
    parser.add_argument(
        "--profile", metavar="FILE", help="with --in-process: cProfile the measured span into FILE"
    )
    args = parser.parse_args()
    if args.in_process:
        in_process(args.terminals, args.warmup, args.seconds, args.profile, args.networks_process)
        return
    with tempfile.TemporaryDirectory() as tmp:
        iso, http = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("TILLPOINT_")}
        env["TILLPOINT_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.db'}"
        host = subprocess.Popen(
            [sys.executable, "-m", "tillpoint", "serve", "--demo", "--terminals", str(args.terminals),
             "--iso-port", str(iso), "--http-port", str(http)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        echo_port = free_port()
        echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(echo_port)])
        try:
            wait_for(iso)
            wait_for(echo_port)
            cpu = CpuMarks(host.pid)
            sales, lat = asyncio.run(
                load(iso, args.terminals, args.warmup, args.seconds, sign_on=True, mark=cpu)
            )
            echoes, elat = asyncio.run(
                load(echo_port, args.terminals, args.warmup, args.seconds, sign_on=False)
            )
        finally:
            host.terminate()
            echo.terminate()
            host.wait(30)
            echo.wait(30)
    rate, erate = sales / args.seconds, echoes / args.seconds
    print(
        f"terminals: {args.terminals}, {args.seconds:.0f} s each after {args.warmup:.0f} s of warm-up, SQLite durable (WAL, synchronous=FULL)"
    )
    print(
        f"host  : {rate:8.0f} approved sales/s   p50 {pct(lat, 0.5):6.2f} ms  p95 {pct(lat, 0.95):6.2f} ms  p99 {pct(lat, 0.99):6.2f} ms"
    )
    print(
        f"echo  : {erate:8.0f} exchanges/s       p50 {pct(elat, 0.5):6.2f} ms  p95 {pct(elat, 0.95):6.2f} ms  p99 {pct(elat, 0.99):6.2f} ms"
    )
    print(f"ratio : {rate / erate:8.1%} of echo")
    host_s, networks_s = cpu.spent()
    per = 1e6 / max(sales, 1)
    print(
        f"CPU   : host process {host_s / args.seconds:5.0%} of a core, {host_s * per:5.0f} us a sale;"
        f" its children (networks) {networks_s / args.seconds:5.0%}, {networks_s * per:5.0f} us a sale"
    )


if __name__ == "__main__":
    main()
