"""Several terminal-host processes on one port, and the process that keeps them running.

Each host process binds its own socket to the terminal port with ``SO_REUSEPORT`` and
runs its own event loop, application, acquirer and group commit; Linux hands each new
connection to one of the listening sockets. The supervising process (``tillpoint
serve``) holds the port bound but not listening between them, so that nothing else can
take it while a host process restarts, and:

- starts each host process as a fresh interpreter running a command line it is given;
- waits for each to say it listens (one line, ``ready``, on its standard output);
- starts again, after a pause that grows while it keeps failing, one that ends while
  nothing asked it to;
- stops them all on request: ``SIGTERM``, which a host process answers by closing its
  port and finishing the answers in flight, and ``SIGKILL`` for one still running after
  ``grace_s``.

A host process's standard input is a pipe from the supervisor that is never written:
when the supervisor dies (even by ``SIGKILL``) the pipe ends, and the host process
stops as if asked. No host process outlives the ``serve`` that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("tillpoint.host")

READY = b"ready\n"
START_TIMEOUT_S = 120.0  # a host process that has not said it listens by then is stopped
RESTART_FIRST_S = 0.5  # the pause before the first restart; doubles while it keeps failing
RESTART_MAX_S = 30.0
STEADY_S = 30.0  # a host process that ran this long counts as well again


def reuseport_available() -> bool:
    """Whether several processes can share one listening port, the kernel spreading new
    connections among them: Linux's ``SO_REUSEPORT`` (BSD's option of that name hands
    every connection to the last socket bound, which shares nothing)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def reuseport_socket(bind: str, port: int) -> socket.socket:
    """A socket bound to ``bind:port`` beside the other host processes' (not listening
    yet: asyncio listens when the host starts)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((bind, port))
    except BaseException:
        sock.close()
        raise
    return sock


def say_ready() -> None:
    """Tell the supervisor this host process listens. Standard output is then pointed at
    standard error: nobody reads the pipe any more, and a full pipe would stop the
    process."""
    out = sys.stdout.buffer
    out.write(READY)
    out.flush()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        os.dup2(2, 1)


def on_supervisor_gone(stop: Callable[[], object]) -> None:
    """Call ``stop`` when standard input ends (the supervisor closed it, or died). On
    the running event loop: a thread blocked reading would stop the interpreter's exit."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop()

    os.set_blocking(fd, False)
    loop.add_reader(fd, readable)


class HostProcessFailed(RuntimeError):
    """A host process ended before it said it listens, at the first start."""

    def __init__(self, index: int, returncode: int | None) -> None:
        super().__init__(f"host process {index} ended before it listened ({returncode})")
        self.index = index
        self.returncode = returncode


@dataclass(eq=False)
class _Child:
    index: int
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    failures: int = 0  # consecutive ends soon after a start
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class HostProcesses:
    """``count`` host processes, each started by ``command(index)`` (1-based)."""

    def __init__(
        self,
        count: int,
        command: Callable[[int], Sequence[str]],
        *,
        grace_s: float = 15.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.command = command
        self.grace_s = grace_s
        self.env = env
        self._children = [_Child(i) for i in range(1, count + 1)]
        self._stopping = False

    def stopping(self) -> None:
        """A stop is coming (``serve`` got Ctrl-C or SIGTERM, which a terminal's Ctrl-C
        also sends the host processes): one that ends now is not started again."""
        self._stopping = True

    async def start(self) -> None:
        """Start every host process and wait until each listens; then keep them running.
        Raises ``HostProcessFailed`` (and stops the others) when one ends first."""
        try:
            await asyncio.gather(*(self._start(c, first=True) for c in self._children))
        except BaseException:
            await self.stop()
            raise
        for child in self._children:
            child.task = asyncio.create_task(self._keep(child))

    async def _start(self, child: _Child, *, first: bool) -> None:
        child.started_at = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *self.command(child.index),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self.env,
        )
        child.proc = proc
        assert proc.stdout is not None
        line = b""
        with contextlib.suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            async with asyncio.timeout(START_TIMEOUT_S):
                line = await proc.stdout.readline()
        if line != READY:
            if proc.returncode is None:
                proc.kill()
            code = await proc.wait()
            if first:
                raise HostProcessFailed(child.index, code)
            log.error(json.dumps({"event": "host_process_failed", "host": child.index,
                                  "pid": proc.pid, "exit": code}))  # fmt: skip
            return
        log.info(json.dumps({"event": "host_process_ready", "host": child.index,
                             "pid": proc.pid}))  # fmt: skip

    async def _keep(self, child: _Child) -> None:
        """Wait for the host process to end; unless asked to, start it again."""
        while not self._stopping:
            proc = child.proc
            assert proc is not None
            code = await proc.wait()
            if self._stopping:
                return
            ran_s = time.monotonic() - child.started_at
            child.failures = 0 if ran_s >= STEADY_S else child.failures + 1
            pause_s = 0.0
            if child.failures:
                pause_s = min(RESTART_MAX_S, RESTART_FIRST_S * 2 ** (child.failures - 1))
            log.warning(json.dumps({"event": "host_process_ended", "host": child.index,
                                    "pid": proc.pid, "exit": code,
                                    "restart_in_s": pause_s}))  # fmt: skip
            await asyncio.sleep(pause_s)
            if self._stopping:
                return
            try:
                await self._start(child, first=False)
            except Exception:  # it could not even be started: the next round tries again
                log.exception(json.dumps({"event": "host_process_failed", "host": child.index}))

    async def stop(self) -> None:
        """Stop every host process: ``SIGTERM`` (it finishes its answers in flight),
        then ``SIGKILL`` for any still running after ``grace_s``."""
        self._stopping = True
        for child in self._children:
            if child.task is not None:
                child.task.cancel()
        running = [c.proc for c in self._children if c.proc is not None]
        for proc in running:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            if proc.stdin is not None:
                proc.stdin.close()
        if not running:
            return
        waits = [asyncio.ensure_future(p.wait()) for p in running]
        _, late = await asyncio.wait(waits, timeout=self.grace_s)
        for proc in running:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        if late:
            await asyncio.wait(late)
