"""How long a `tillpoint` command takes to start and finish, as a person at a shell or
a script calling the virtual terminal sees it.

    python -m bench.cli_start [--runs 7]

Starts `tillpoint serve --demo` on free ports (SQLite, in a temporary folder), sets up
the virtual terminal for demo terminal 1, signs it on and makes a sale (for the refunds
to give back 0.01 of, and the query to find), then runs each command of
``COMMANDS`` ``--runs`` times as its own process and prints, per command, the median and
the worst wall time, the CPU time of the process (user + system, from the kernel's
accounting of the finished child: the machine's speed, not its load) and the share of
the 0.5 s ceiling. For comparison, the same for `python -c pass` (the interpreter's
own start, which no command can go below) in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.ports import free_port, wait_for

from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid

CEILING_S = 0.5
TILLPOINT = [sys.executable, "-m", "tillpoint"]
COMMANDS: list[tuple[str, list[str]]] = [
    ("interpreter alone", [sys.executable, "-c", "pass"]),
    ("tillpoint --help", [*TILLPOINT, "--help"]),
    ("terminal --help", [*TILLPOINT, "terminal", "--help"]),
    ("terminal echo", [*TILLPOINT, "terminal", "echo", "--state", "{state}"]),
    ("terminal sale", [*TILLPOINT, "terminal", "sale", "--amount", "1.00",
                       "--card", "6212340000000000012", "--pin", "123456",
                       "--no-signature", "--state", "{state}"]),
    # The same with its e-signature drawn and uploaded (Pillow, 2-3 more exchanges).
    ("terminal sale signed", [*TILLPOINT, "terminal", "sale", "--amount", "1.00",
                              "--card", "6212340000000000012", "--pin", "123456",
                              "--state", "{state}"]),
    ("terminal balance", [*TILLPOINT, "terminal", "balance", "--card", "6212340000000000012",
                          "--pin", "123456", "--state", "{state}"]),
    # A refund checks the supervisor password (an Argon2id hash) before it is sent.
    ("terminal refund", [*TILLPOINT, "terminal", "refund", "--rrn", "{rrn}", "--amount", "0.01",
                         "--card", "6212340000000000012", "--supervisor-password", "123456",
                         "--state", "{state}"]),
    ("terminal query", [*TILLPOINT, "terminal", "query", "--rrn", "{rrn}", "--state", "{state}"]),
    ("terminal detail", [*TILLPOINT, "terminal", "detail", "--state", "{state}"]),
]  # fmt: skip


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        iso, http = free_port(), free_port()
        env = {**os.environ, "TILLPOINT_DATABASE_URL": f"sqlite:///{tmp}/cli.db",
               "TILLPOINT_NETWORK_DIR": f"{tmp}/network", "TILLPOINT_LOCALE": "en"}  # fmt: skip
        state = str(Path(tmp) / "terminal.json")
        with (Path(tmp) / "serve.log").open("w") as log:
            host = subprocess.Popen(
                [*TILLPOINT, "serve", "--demo", "--iso-port", str(iso), "--http-port", str(http)],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_for(iso)
            for setup in (
                ["terminal", "setup", "--tid", demo_tid(1), "--mid", demo_mid(1),
                 "--tmk", DEMO_TMK.hex().upper(), "--port", str(iso), "--state", state],
                ["terminal", "signon", "--state", state],
            ):  # fmt: skip
                timed([*TILLPOINT, *setup], env)
            # A sale of 100.00 for the refunds of 0.01 to give back, one per run.
            rrn = json.loads(subprocess.run(
                [*TILLPOINT, "terminal", "sale", "--amount", "100.00", "--card",
                 "6212340000000000012", "--pin", "123456", "--json", "--state", state],
                env=env, capture_output=True, text=True, check=True,
            ).stdout)["rrn"]  # fmt: skip
            print(f"{'command':<20} {'wall p50 s':>10} {'wall max s':>10} {'CPU p50 s':>10} "
                  f"{'p50 / 0.5 s':>11}")  # fmt: skip
            for name, template in COMMANDS:
                argv = [a.replace("{state}", state).replace("{rrn}", rrn) for a in template]
                timed(argv, env)  # warm-up: the file cache
                runs = [timed(argv, env) for _ in range(args.runs)]
                wall = statistics.median(w for w, _c in runs)
                cpu = statistics.median(c for _w, c in runs)
                print(f"{name:<20} {wall:>10.3f} {max(w for w, _c in runs):>10.3f} "
                      f"{cpu:>10.3f} {wall / CEILING_S:>10.0%}")  # fmt: skip
        finally:
            host.send_signal(signal.SIGINT)
            host.wait(timeout=20)


if __name__ == "__main__":
    main()
