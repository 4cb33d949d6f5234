"""tillpoint serve: the terminal host (TCP) and the HTTP side in one process."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import socket
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from tillpoint.api.app import create_api
from tillpoint.api.worker import housekeeping
from tillpoint.app import Tillpoint
from tillpoint.clearing.worker import DayWorker
from tillpoint.cli._common import CliState, app, err, handles_errors, say, settings
from tillpoint.cli.networks import NetworksChild
from tillpoint.core.errors import ConfigurationError
from tillpoint.core.i18n import N_, _
from tillpoint.demo import ensure_demo
from tillpoint.host.server import TerminalHost
from tillpoint.networks.connector import NetworkTimeout
from tillpoint.networks.link import parse_address
from tillpoint.notify.webhooks import WebhookWorker
from tillpoint.payments.acquirer import Acquirer
from tillpoint.payments.linked import linked
from tillpoint.payments.tallies import TallyWorker

GRACEFUL_S = 5


def _listen(bind: str, port: int) -> socket.socket:
    """``bind:port`` taken for this process, or a plain refusal when it cannot be had
    (the port is in use, the address is not this machine's) before anything has
    started. The socket is bound but not listening yet: connections are refused until
    the server is ready to answer them (asyncio and uvicorn listen when they start)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
    except OSError as e:
        sock.close()
        raise ConfigurationError(
            "port_unavailable",
            N_(
                "Cannot listen on {bind}:{port}: {reason}. Choose another with --iso-port or "
                "--http-port, or stop what holds it."
            ),
            bind=bind,
            port=port,
            reason=os.strerror(e.errno) if e.errno else str(e),
        ) from None
    return sock


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


async def _acquirer(tp: Tillpoint, child: NetworksChild | None, public_url: str) -> Acquirer:
    """The acquirer on the networks process, through this process's network link."""
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
    if child:
        say(_("Card network and wallet simulators on {address}, a child process.").format(
            address=where))  # fmt: skip
    else:
        say(_("Card network and wallet simulators on {address}.").format(address=where))
    return acquirer


async def _run(
    tp: Tillpoint, bind: str, iso: socket.socket, http_sock: socket.socket,
    child: NetworksChild | None = None,
) -> None:  # fmt: skip
    iso_port, http_port = iso.getsockname()[1], http_sock.getsockname()[1]
    host_name = "127.0.0.1" if bind in ("0.0.0.0", "::") else bind  # noqa: S104
    public_url = tp.ctx.settings.public_url or f"http://{host_name}:{http_port}"
    acquirer = await _acquirer(tp, child, public_url)
    host = await TerminalHost(tp, acquirer).start_on(iso)
    api = create_api(tp, acquirer)
    # proxy_headers off: uvicorn would believe X-Forwarded-For from 127.0.0.1; the API
    # reads it itself, from TILLPOINT_TRUSTED_PROXIES only (http/services.py).
    # Live streams (the console's feed, /v1/events/stream) stay open as long as their
    # browsers do: a stop waits for them 5 s at most, then ends them.
    config = uvicorn.Config(api, log_level="warning", proxy_headers=False,
                            timeout_graceful_shutdown=GRACEFUL_S)  # fmt: skip
    http = uvicorn.Server(config)
    say(
        _("Terminal host (ISO 8583) on {bind}:{iso}, HTTP on {bind}:{http}. Ctrl-C stops.").format(
            bind=bind, iso=iso_port, http=http_port
        )
    )
    workers = [
        # Calls a network approved that are not on our books (the last run stopped
        # between the two) are reversed there: at once, then every few seconds.
        asyncio.create_task(acquirer.intents.run()),
        asyncio.create_task(DayWorker(tp).run()),
        asyncio.create_task(housekeeping(api.state.services)),
        asyncio.create_task(WebhookWorker(tp).run()),
        # The dashboard's figures, folded from the payment events off the payment path.
        asyncio.create_task(TallyWorker(tp.tallies).run()),
        *([asyncio.create_task(child.watch())] if child else []),  # restarted if it dies
    ]
    try:
        await http.serve(sockets=[http_sock])  # returns on Ctrl-C or SIGTERM
    finally:
        for worker in workers:
            worker.cancel()
        host.close()
        await host.wait_closed()
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
) -> None:
    CliState.demo = demo
    iso, http_sock = _listen(bind, iso_port), _listen(bind, http_port)
    # force: python-escpos calls logging.basicConfig() when it is imported
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    child = _networks_child(demo)
    tp = app(demo=demo, migrate="always")
    if demo:
        made = ensure_demo(tp, terminals)
        err.print(
            _("Demo terminals {first} to {last} ready.").format(
                first=made[0].tid, last=made[-1].tid
            )
        )
    # uvicorn handles Ctrl-C and SIGTERM, shuts down, then re-raises the signal: a stop
    # that was asked for ends the process normally.
    signal.signal(signal.SIGTERM, _stop)
    try:
        asyncio.run(_run(tp, bind, iso, http_sock, child))
    except KeyboardInterrupt:
        err.print(_("Stopped."))


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
