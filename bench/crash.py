"""Kill the host with SIGKILL under load, again and again, and count what an independent
tally of the terminals and the networks' own books say about the host's.

    python -m bench.crash [--kills 100] [--terminals 16] [--database-url URL]

Each round starts `tillpoint serve --demo` (SQLite by default, or the database named),
lets the terminals sell for a random moment, then kills the process. The terminals do
what real ones do: a sale that got no answer is reversed (0400) before anything else,
after the host is back. After the last round the host runs once more until every call
it noted is settled, then this prints, for all rounds together:

- lost: sales the terminals were told were approved (and did not reverse) that are not
  a live payment on the host's books;
- doubled: live sale payments on the host's books that the terminals do not count as
  approved (reversed by them, or never answered), or two for one request;
- stranded: authorisations the card network or wallet holds as charged with no live
  payment on the host's books (the money a cardholder would see taken for nothing);
- unbacked: live payments on the host's books that no network holds;
- and whether the ledger balances.

All five must be zero. CPU time is the host's, per approved sale, so that runs on
machines of different speed can be compared. Asserts nothing; tests/e2e/test_crash.py
runs ten rounds and asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.ports import free_port
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

    @property
    def clean(self) -> bool:
        return not (
            self.lost or self.doubled or self.stranded or self.unbacked or self.ledger_problems
        )


class Terminal:
    """One demo terminal selling: one request at a time, a reversal first whenever a
    sale got no answer, signing on again when the host asks."""

    def __init__(self, n: int, port: int, tally: Tally, rng: random.Random) -> None:
        self.client = TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK, port=port, timeout_s=5)
        self.tally = tally
        self.rng = rng
        self.pending: Message | None = None  # a sale that got no valid answer

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.step()
            except NO_ANSWER:
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
        return await self.client.exchange(message, with_mac=True)

    def sale(self) -> Message:
        t = self.client
        fields: dict[int, str | bytes] = {
            3: "000000", 4: f"{self.rng.randint(1, 999):012d}", 11: t.next_stan(),
            22: "021", 25: "00", 35: f"{PAN}D30122010000", 41: t.tid, 42: t.mid, 49: "156",
            60: f"22{t.batch}000",
        }  # fmt: skip
        return Message("0200", fields)


class Host:
    """`tillpoint serve --demo` in a process of its own, started and killed at will."""

    def __init__(self, workdir: Path, database_url: str, terminals: int) -> None:
        self.workdir = workdir
        self.port, self.http = free_port(), free_port()
        self.terminals = terminals
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
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tillpoint", "serve", "--demo",
             "--terminals", str(self.terminals), "--iso-port", str(self.port),
             "--http-port", str(self.http)],
            env=self.env, stdout=log, stderr=log,
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

    def stop(self, sig: int) -> None:
        assert self.proc is not None
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.proc.send_signal(sig)
        self.proc.wait(timeout=60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu_s += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


async def run(
    workdir: Path,
    database_url: str,
    *,
    kills: int,
    terminals: int = 8,
    load_s: tuple[float, float] = (0.3, 1.5),
    seed: int = 1,
    progress: bool = False,
) -> Result:
    rng = random.Random(seed)
    tally = Tally()
    host = Host(workdir, database_url, terminals)
    fleet = [Terminal(n, host.port, tally, rng) for n in range(1, terminals + 1)]
    for round_no in range(1, kills + 1):
        await host.start()
        stop = asyncio.Event()
        tasks = [asyncio.ensure_future(t.run(stop)) for t in fleet]
        await asyncio.sleep(rng.uniform(*load_s))
        host.stop(signal.SIGKILL)
        stop.set()
        await asyncio.gather(*tasks)
        if progress:
            print(f"round {round_no}: {len(tally.approved)} approved so far", flush=True)
    # The host once more: the terminals reverse what they still owe, the host settles
    # every call it noted (its recovery pass), then it stops cleanly.
    await host.start()
    await asyncio.gather(*(t.settle_pending(120) for t in fleet))
    for t in fleet:
        await t.client.close()
    settings = Settings(_env_file=None, database_url=database_url, demo=True)  # type: ignore[call-arg]
    app = open_app(settings)
    try:
        await _until_settled(app)
        host.stop(signal.SIGINT)
        return _compare(app, workdir / "network", tally, kills, host.cpu_s)
    finally:
        app.close()


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tillpoint-crash-") as tmp:
        workdir = Path(tmp)
        url = args.database_url or f"sqlite:///{workdir / 'crash.db'}"
        started = time.monotonic()
        result = asyncio.run(
            run(workdir, url, kills=args.kills, terminals=args.terminals, seed=args.seed,
                progress=True)
        )  # fmt: skip
        wall = time.monotonic() - started
    t = result.tally
    print(f"rounds (kill -9): {result.rounds}, terminals: {args.terminals}, {wall:.0f} s")
    print(f"terminals: approved {len(t.approved)}, declined {t.declined}, "
          f"unanswered and reversed by the terminal {t.unanswered}")  # fmt: skip
    print(f"reversed at the network by the host (recovery, failed writes): "
          f"{result.reversed_by_recovery}")  # fmt: skip
    print(f"lost: {len(result.lost)}  doubled: {len(result.doubled)}  "
          f"stranded: {len(result.stranded)}  unbacked: {len(result.unbacked)}  "
          f"ledger problems: {result.ledger_problems}")  # fmt: skip
    if t.approved:
        per_sale_ms = result.host_cpu_s / len(t.approved) * 1000
        print(f"host CPU: {result.host_cpu_s:.1f} s in all, {per_sale_ms:.2f} ms per approved "
              "sale (start-ups included)")  # fmt: skip
    print("CLEAN" if result.clean else "NOT CLEAN")


if __name__ == "__main__":
    main()
