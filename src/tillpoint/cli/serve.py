"""tillpoint serve: the terminal host (TCP) and the HTTP side.

With ``--host-workers N`` above 1 the terminal host runs in N processes of its own on
the one port (host/processes.py); this process keeps the HTTP side and the background
workers and supervises them. With 1 everything runs in this process, as tests and the
in-process benchmark run the host.

A host process imports none of the HTTP side (cli/serve_http.py, loaded by the serving
process only): the API's and pages' routes take seconds of CPU to build, which each
host process would pay at every start, restarts after a crash included.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from types import FrameType
from typing import Annotated

import typer

from tillpoint.app import Tillpoint
from tillpoint.cli._common import (
    CliState,
    app,
    bound_socket,
    err,
    handles_errors,
    say,
    settings,
)
from tillpoint.cli.networks import NetworksChild
from tillpoint.core.errors import ConfigurationError
from tillpoint.core.i18n import N_, _
from tillpoint.demo import ensure_demo
from tillpoint.host.processes import (
    HostProcesses,
    HostProcessFailed,
    on_supervisor_gone,
    reuseport_available,
    reuseport_socket,
    say_ready,
)
from tillpoint.host.server import HostLimits, TerminalHost
from tillpoint.networks.connector import NetworkTimeout
from tillpoint.networks.link import parse_address
from tillpoint.payments.acquirer import Acquirer
from tillpoint.payments.linked import linked
from tillpoint.payments.reads import DayTotals


def _listen(bind: str, port: int) -> socket.socket:
    return bound_socket(
        bind,
        port,
        N_(
            "Cannot listen on {bind}:{port}: {reason}. Choose another with --iso-port or "
            "--http-port, or stop what holds it."
        ),
    )


def _networks_child(demo: bool) -> NetworksChild | None:
    """The card network and wallet simulators' process, started now (it gets ready while
    the database is opened), unless TILLPOINT_NETWORKS_ADDRESS names one running."""
    s = settings(demo=demo)
    if s.networks_address:
        return None
    try:
        s.master_key_bytes()  # the child needs it as much as the host
    except ConfigurationError:
        return None  # opening the application says why, once, and serve stops there
    child = NetworksChild(demo=demo)
    child.start()
    atexit.register(child.stop)  # however serve ends, after the host's last call
    return child


async def _acquirer(
    tp: Tillpoint, child: NetworksChild | None, public_url: str, *, quiet: bool = False
) -> tuple[Acquirer, str]:
    """The acquirer on the networks process, through this process's network link, and
    the networks process's address (``host:port``)."""
    address = await child.ready() if child else parse_address(tp.ctx.settings.networks_address)
    try:
        acquirer = await linked(tp, address, public_url)
    except NetworkTimeout:
        raise ConfigurationError(
            "networks.unreachable",
            N_("No card network answers at {address} (TILLPOINT_NETWORKS_ADDRESS), or it "
               "holds another master key"),
            address=f"{address[0]}:{address[1]}",
        ) from None  # fmt: skip
    where = f"{address[0]}:{address[1]}"
    if not quiet and child:
        say(_("Card network and wallet simulators on {address}, a child process.").format(
            address=where))  # fmt: skip
    elif not quiet:
        say(_("Card network and wallet simulators on {address}.").format(address=where))
    return acquirer, where


def _started() -> None:
    """What the start-up made (modules, routes, models, caches, the risk features) lives
    as long as the process: it is moved out of the collector's sight. Its full
    collections, every few seconds under load, then walk only what serving makes,
    instead of the whole heap (0.1 to 0.2 s each, during which no terminal is answered)."""
    gc.collect()
    gc.freeze()


def _public_url(tp: Tillpoint, bind: str, http_port: int) -> str:
    host_name = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind  # noqa: S104
    return tp.ctx.settings.public_url or f"http://{host_name}:{http_port}"


async def _run(
    tp: Tillpoint, bind: str, iso: socket.socket, http_sock: socket.socket,
    child: NetworksChild | None,
) -> None:  # fmt: skip
    from tillpoint.cli.serve_http import background, http_server

    iso_port, http_port = iso.getsockname()[1], http_sock.getsockname()[1]
    acquirer, _networks = await _acquirer(tp, child, _public_url(tp, bind, http_port))
    host = await TerminalHost(tp, acquirer).start_on(iso)
    api, http = http_server(tp, acquirer)
    _started()
    say(
        _("Terminal host (ISO 8583) on {bind}:{iso}, HTTP on {bind}:{http}. Ctrl-C stops.").format(
            bind=bind, iso=iso_port, http=http_port
        )
    )
    workers = background(tp, acquirer, api, child)
    try:
        await http.serve(sockets=[http_sock])  # returns on Ctrl-C or SIGTERM
    finally:
        for worker in workers:
            worker.cancel()
        host.close()
        await host.wait_closed()
        acquirer.close()


# --- several host processes ------------------------------------------------------------


def _host_count(asked: int | None) -> int:
    """How many host processes: as asked, else one per CPU; one where the platform
    cannot share a port between processes."""
    count = asked if asked is not None else (os.cpu_count() or 1)
    if count < 1:
        raise ConfigurationError(
            "serve.host_workers", N_("--host-workers must be 1 or more, not {count}"), count=count
        )
    if count > 1 and not reuseport_available():
        err.print(
            _(
                "This platform cannot share a port between processes (SO_REUSEPORT): the "
                "terminal host runs in one process."
            )
        )
        return 1
    return count


def _host_command(bind: str, iso_port: int, http_port: int, demo: bool) -> list[str]:
    """The command line of host process ``index`` without the index (a fresh
    interpreter: nothing of this process's state is inherited)."""
    command = [sys.executable, "-m", "tillpoint", "serve", "--bind", bind,
               "--iso-port", str(iso_port), "--http-port", str(http_port)]  # fmt: skip
    return [*command, "--demo"] if demo else command


async def _run_with_host_processes(
    tp: Tillpoint,
    bind: str,
    iso: socket.socket,
    http_sock: socket.socket,
    count: int,
    demo: bool,
    child: NetworksChild | None,
) -> None:
    """The HTTP side and the background workers here; the terminal host in ``count``
    processes on the ISO port, which ``iso`` (bound, never listening) keeps for them."""
    from tillpoint.cli.serve_http import GRACEFUL_S, background, http_server

    iso_port, http_port = iso.getsockname()[1], http_sock.getsockname()[1]
    # This process's acquirer serves the API's payments and reverses the calls a host
    # process left open when it died (payments/intents.py: it reads the database).
    acquirer, networks = await _acquirer(tp, child, _public_url(tp, bind, http_port))
    api, http = http_server(tp, acquirer)
    _started()
    base = _host_command(bind, iso_port, http_port, demo)
    # Each host process opens its own link to the networks process (a child restarted
    # after a crash keeps its port).
    hosts = HostProcesses(
        count,
        lambda index: [*base, "--host-process", str(index)],
        grace_s=HostLimits().shutdown_timeout_s + GRACEFUL_S,
        env={**os.environ, "TILLPOINT_NETWORKS_ADDRESS": networks},
    )
    http.on_exit = hosts.stopping  # before the host processes end: none is restarted
    try:
        await hosts.start()
    except HostProcessFailed as e:
        acquirer.close()
        raise ConfigurationError(
            "serve.host_process_failed",
            N_("Host process {index} stopped before it listened (exit code {code}); see above"),
            index=e.index,
            code=e.returncode,
        ) from None
    say(
        _(
            "Terminal host (ISO 8583) on {bind}:{iso} in {count} processes, HTTP on "
            "{bind}:{http}. Ctrl-C stops."
        ).format(bind=bind, iso=iso_port, http=http_port, count=count)
    )
    workers = background(tp, acquirer, api, child)
    try:
        await http.serve(sockets=[http_sock])  # returns on Ctrl-C or SIGTERM
    finally:
        for worker in workers:
            worker.cancel()
        await hosts.stop()
        acquirer.close()


def _host_process(index: int, bind: str, iso_port: int, http_port: int, demo: bool) -> None:
    """One host process (``--host-process``, started by the above): its own
    application, database engine, acquirer and group commit, on its own socket."""
    from tillpoint.app import open_app
    from tillpoint.cli._common import settings

    tp = open_app(settings(demo=demo))  # the supervisor has brought the schema up to date
    try:
        sock = reuseport_socket(bind, iso_port)
        asyncio.run(_serve_host_process(tp, sock, index, _public_url(tp, bind, http_port)))
    finally:
        tp.close()


async def _serve_host_process(tp: Tillpoint, sock: socket.socket, index: int, url: str) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    on_supervisor_gone(stop.set)
    acquirer, _networks = await _acquirer(tp, None, url, quiet=True)
    # A merchant's daily limit: read the day's takings again every second, for what
    # the other host processes took (this process adds its own as it goes).
    acquirer.desk.day_totals = DayTotals(reseed_s=1.0)
    server = await TerminalHost(tp, acquirer, process=index).start_on(sock)
    _started()
    say_ready()
    try:
        await stop.wait()
    finally:
        server.close()  # graceful: the answers in flight are written first
        await server.wait_closed()
        acquirer.close()


@handles_errors
def serve(
    demo: Annotated[
        bool,
        typer.Option("--demo", help=_("Demo mode, with the fixed demo merchants and terminals.")),
    ] = False,
    terminals: Annotated[int, typer.Option(help=_("How many demo terminals (with --demo)."))] = 3,
    iso_port: Annotated[int, typer.Option(help=_("TCP port of the terminal host."))] = 5800,
    http_port: Annotated[int, typer.Option(help=_("HTTP port."))] = 8000,
    bind: Annotated[
        str, typer.Option(help=_("Address to listen on (0.0.0.0 for every interface)."))
    ] = "127.0.0.1",
    host_workers: Annotated[
        int | None,
        typer.Option(
            "--host-workers",
            help=_(
                "Terminal host processes on the ISO port (default: one per CPU). 1 runs "
                "the host in this process."
            ),
            show_default=False,
        ),
    ] = None,
    host_process: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    CliState.demo = demo
    # force: a library may have set up logging when it was imported
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Ctrl-C as SIGTERM: a stop that waits for the answers in flight (asyncio's own
    # handler would cancel them).
    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    if host_process is not None:  # one of several host processes, started by serve
        with contextlib.suppress(KeyboardInterrupt):
            _host_process(host_process, bind, iso_port, http_port, demo)
        return
    count = _host_count(host_workers)
    iso, http_sock = _listen(bind, iso_port), _listen(bind, http_port)
    child = _networks_child(demo)
    tp = app(demo=demo, migrate="always")
    if demo:
        made = ensure_demo(tp, terminals, shop=True)
        err.print(
            _("Demo terminals {first} to {last} ready.").format(
                first=made[0].tid, last=made[-1].tid
            )
        )
    # uvicorn handles Ctrl-C and SIGTERM, shuts down, then re-raises the signal: a stop
    # that was asked for ends the process normally.
    try:
        if count > 1:
            asyncio.run(_run_with_host_processes(tp, bind, iso, http_sock, count, demo, child))
        else:
            asyncio.run(_run(tp, bind, iso, http_sock, child))
    except KeyboardInterrupt:
        err.print(_("Stopped."))


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
