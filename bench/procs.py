"""What Linux's /proc says about a `tillpoint serve` and its host processes: which
they are, how much CPU they used, and which of them holds a given connection.

The benchmarks and tests that start `serve` in a process of their own read it here
rather than ask the server: a server's own account is what they are checking.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name (which may hold spaces):
    [0] is the state, [1] the parent, [11] utime, [12] stime, [13] cutime and [14]
    cstime (in ticks)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def descendants(pid: int) -> list[int]:
    """Every living process below ``pid`` (children, their children...)."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                parents.setdefault(int(stat[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time these processes have used so far, with that of their
    children that ended and were waited for (a process's time goes to its parent's
    account when the parent reaps it: a host process that died and was started again
    still counts, in its supervisor's)."""
    ticks = 0
    for pid in pids:
        stat = _stat(pid)
        if stat is not None:
            ticks += sum(int(stat[n]) for n in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / TICKS_PER_S


def tree_cpu_seconds(pid: int) -> float:
    """``cpu_seconds`` of ``pid`` and every process below it."""
    return cpu_seconds([pid, *descendants(pid)])


def host_processes(serve_pid: int) -> dict[int, int]:
    """The host processes of a `tillpoint serve` (``--host-process N``): pid by N."""
    found = {}
    for pid in descendants(serve_pid):
        with contextlib.suppress(OSError):
            args = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
            if b"--host-process" in args:
                found[int(args[args.index(b"--host-process") + 1])] = pid
    return found


def networks_processes(serve_pid: int) -> list[int]:
    """The networks process `serve` started (`tillpoint networks serve`), if any."""
    found = []
    for pid in descendants(serve_pid):
        with contextlib.suppress(OSError):
            args = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
            if b"networks" in args and b"serve" in args:
                found.append(pid)
    return found


def _socket_inodes(server_port: int, client_port: int) -> set[str]:
    """The inodes of the server side of the TCP connection from ``client_port``."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                parts = line.split()
                local, remote, inode = parts[1], parts[2], parts[9]
                if (
                    int(local.rsplit(":", 1)[1], 16) == server_port
                    and int(remote.rsplit(":", 1)[1], 16) == client_port
                ):
                    inodes.add(inode)
    return inodes


def holder(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server side of the connection from local port
    ``client_port`` to ``server_port`` (None: none of them, or not accepted yet)."""
    wanted = {f"socket:[{inode}]" for inode in _socket_inodes(server_port, client_port)}
    if not wanted:
        return None
    for pid in pids:
        fds = PROC / str(pid) / "fd"
        with contextlib.suppress(OSError):
            for fd in fds.iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in wanted:
                        return pid
    return None


def listening(port: int, pid: int) -> bool:
    """Whether process ``pid`` holds a socket listening on ``port``."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            for line in (PROC / "net" / table).read_text().splitlines()[1:]:
                parts = line.split()
                if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{parts[9]}]")
    with contextlib.suppress(OSError):
        for fd in (PROC / str(pid) / "fd").iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd) in inodes:
                    return True
    return False
