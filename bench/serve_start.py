"""How long `tillpoint serve` takes to come back: the terminals wait that long after a
crash (docs/performance.md, "Server start-up").

    python -m bench.serve_start [--runs 5] [--terminals 8] [--host-workers 2]

Makes the demo database once, then starts `serve --demo` on it ``--runs`` times, each
time until the terminal host listens, and kills it (the whole process group, as a
crash would). Prints, per run and as medians: the wall time until the host listened,
and the CPU time the whole process tree had used by then (the serving process, its
host processes and the networks child). The CPU time is the figure that does not
depend on how busy the machine is; a fresh interpreter importing the host process's
modules (`tillpoint.cli.serve`) is printed beside it, with `python -c pass` as the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.crash import Host
from bench.procs import tree_cpu_seconds


def _child_cpu(code: str) -> float:
    """CPU seconds of a fresh interpreter running ``code``."""
    probe = (
        "import resource, subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {code!r}], check=True)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(r.ru_utime + r.ru_stime)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True)
    return float(done.stdout)


async def _starts(runs: int, terminals: int, workers: int, tmp: Path) -> list[tuple[float, float]]:
    host = Host(tmp, f"sqlite:///{tmp / 'serve.db'}", terminals, workers)
    await host.start()  # the demo database, made once
    await host.stop(signal.SIGKILL)
    found = []
    for _ in range(runs):
        began = time.perf_counter()
        await host.start()
        listening = time.perf_counter() - began
        assert host.proc is not None
        cpu = await asyncio.to_thread(tree_cpu_seconds, host.proc.pid)
        await host.stop(signal.SIGKILL)
        found.append((listening, cpu))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--terminals", type=int, default=8)
    parser.add_argument("--host-workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        found = asyncio.run(_starts(args.runs, args.terminals, args.host_workers, Path(tmp)))
    for n, (wall, cpu) in enumerate(found, 1):
        print(f"run {n}: listening after {wall:.2f} s, {cpu:.2f} s of CPU in the process tree")
    walls, cpus = [w for w, _ in found], [c for _, c in found]
    print(
        f"serve --demo --terminals {args.terminals} --host-workers {args.host_workers}: "
        f"median {statistics.median(walls):.2f} s to listen, "
        f"{statistics.median(cpus):.2f} s of CPU"
    )
    floor = _child_cpu("pass")
    host = _child_cpu("import tillpoint.cli.serve")
    print(f"a host process's imports: {host:.2f} s of CPU (python -c pass: {floor:.2f} s)")


if __name__ == "__main__":
    main()
