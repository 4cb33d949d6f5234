"""Ports for servers the benchmarks and tests start in processes of their own.

A port asked of the kernel (bind to 0) comes from the ephemeral range, the same range
every outgoing connection on the machine takes its local port from: a host killed and
restarted on it (bench/crash.py) can find it taken by some other test's client in the
meantime. These ports are drawn at random below that range instead, where no outgoing
connection lands, and checked free when drawn.
"""

from __future__ import annotations

import random
import socket
import time

_LOW, _HIGH = 20_000, 32_000  # Linux's ephemeral range starts at 32768


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on, outside the ephemeral range."""
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(_LOW, _HIGH)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError("no free port between 20000 and 32000")


def wait_for(port: int, deadline_s: float = 120.0) -> None:
    """Wait for a server to listen on ``port``: long enough for a loaded machine (it
    returns as soon as the server answers)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")
