"""tillpoint networks serve: the card network and wallet simulators in a process of
their own, which the hosts reach through their network links; and that process as the
child of `tillpoint serve` (``NetworksChild``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from typing import Annotated

import typer

from tillpoint.cli._common import bound_socket, err, handles_errors, settings
from tillpoint.core.errors import ConfigurationError
from tillpoint.core.i18n import N_, _

networks = typer.Typer(no_args_is_help=True)
log = logging.getLogger("tillpoint.networks")

DEFAULT_PORT = 5801
READY = "listening on port "  # the line a child says on its standard output when ready
CHILD_START_S = 60.0  # a loaded machine may take a while to import and open the books
WATCH_EVERY_S = 0.5
STOP_S = 10.0


@networks.command(
    "serve",
    help=_(
        "Run the card network and wallet simulators alone, for hosts to reach through "
        "their network links; their books stay in the networks' directory."
    ),
)
@handles_errors
def serve(
    bind: Annotated[str, typer.Option(help=_("Address to listen on."))] = "127.0.0.1",
    port: Annotated[int, typer.Option(help=_("TCP port of the network links."))] = DEFAULT_PORT,
    demo: Annotated[
        bool, typer.Option("--demo", help=_("Demo mode: the public demo master key."))
    ] = False,
    with_parent: Annotated[bool, typer.Option("--with-parent", hidden=True)] = False,
    fd: Annotated[int | None, typer.Option("--fd", hidden=True)] = None,
) -> None:
    # --with-parent: as `tillpoint serve`'s child, say the port on standard output and
    # stop when standard input closes (the parent is gone, however it ended).
    # --fd: listen on the parent's socket, inherited (see NetworksChild).
    from tillpoint.networks.service import NetworksService
    from tillpoint.security.keystore import Keystore

    s = settings(demo=demo)
    keystore = Keystore(s.master_key_bytes())  # both ends of a link need the same one
    sock = _listen(bind, port) if fd is None else socket.socket(fileno=fd)
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    directory = s.network_directory()

    async def run() -> None:
        service = NetworksService(keystore, directory, cutoff=s.cutoff)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if with_parent:
            loop.add_reader(sys.stdin.fileno(), _parent_gone, stop)
        await service.start_on(sock)
        bound = sock.getsockname()[1]
        err.print(
            _("Card network and wallet simulators on {bind}:{port} (books in {dir}).").format(
                bind=bind, port=bound, dir=directory
            )
        )
        if with_parent:
            sys.stdout.write(f"{READY}{bound}\n")
            sys.stdout.flush()
        await stop.wait()
        await service.close()

    asyncio.run(run())


def _listen(bind: str, port: int) -> socket.socket:
    return bound_socket(
        bind,
        port,
        N_("Cannot listen on {bind}:{port}: {reason}. Choose another with --port, or "
           "stop what holds it."),
    )  # fmt: skip


def _parent_gone(stop: asyncio.Event) -> None:
    if not os.read(sys.stdin.fileno(), 512):
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        stop.set()


class NetworksChild:
    """`tillpoint networks serve` as the child of `tillpoint serve`: on a loopback port,
    in a session of its own (a Ctrl-C at the terminal is for the parent, which stops it
    after its last call); it stops by itself when the parent dies, even by kill -9 (its
    standard input closes). ``watch`` starts it again if it dies.

    The parent binds the port and keeps the socket for its whole life; each child
    listens on it, inherited. So a restarted child always has its port back (no other
    program can take it in between), and links that connect while none runs wait in the
    socket's backlog for the next one."""

    def __init__(self, *, demo: bool) -> None:
        self.demo = demo
        self.sock = _listen("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.proc: subprocess.Popen[str] | None = None
        self.restarts = 0
        self._stopping = False

    def start(self) -> None:
        fd = self.sock.fileno()
        command = [sys.executable, "-m", "tillpoint", "networks", "serve", "--with-parent",
                   "--fd", str(fd)]  # fmt: skip
        self.proc = subprocess.Popen(  # noqa: S603 - this program, as it was started
            command + (["--demo"] if self.demo else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True,
            pass_fds=(fd,),
        )  # fmt: skip

    async def ready(self) -> tuple[str, int]:
        """Its address, once it listens."""
        proc = self.proc
        assert proc is not None
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(CHILD_START_S):
                line = await asyncio.to_thread(proc.stdout.readline)
        except TimeoutError:
            line = ""
        if not line.startswith(READY):
            self._end(proc)
            raise ConfigurationError(
                "networks.not_started",
                N_("The card network and wallet simulators did not start (see above)"),
            )
        return "127.0.0.1", self.port

    async def watch(self) -> None:
        """Start it again whenever it dies (the host's link reconnects by itself)."""
        while not self._stopping:
            await asyncio.sleep(WATCH_EVERY_S)
            if self.proc is None or self.proc.poll() is None or self._stopping:
                continue
            log.warning(json.dumps({"event": "networks_process_died",
                                    "exit": self.proc.returncode}))  # fmt: skip
            self._end(self.proc)  # its pipes
            self.restarts += 1
            try:
                self.start()
                await self.ready()
            except (OSError, ConfigurationError):
                await asyncio.sleep(1.0)  # and again at the next look

    def stop(self) -> None:
        self._stopping = True
        if self.proc is not None:
            self._end(self.proc)
        self.sock.close()

    @staticmethod
    def _end(proc: subprocess.Popen[str]) -> None:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
