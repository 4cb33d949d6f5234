"""A terminal host on a free loopback port for a test scenario, and demo terminals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from tillpoint.app import Tillpoint
from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
from tillpoint.host.server import TerminalHost
from tillpoint.networks.held import held_charges
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.models import Payment
from tillpoint.terminal.client import TerminalClient

Scenario = Callable[[int], Awaitable[None]]


def run_with_host(app: Tillpoint, scenario: Scenario) -> None:
    async def main() -> None:
        acquirer = simulated(app)
        server = await TerminalHost(app, acquirer).start("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            await scenario(port)
        finally:
            server.close()
            await server.wait_closed()
            acquirer.close()

    asyncio.run(main())


def terminal(port: int, n: int = 1, **kw: object) -> TerminalClient:
    return TerminalClient(demo_tid(n), demo_mid(n), DEMO_TMK, port=port, **kw)  # type: ignore[arg-type]


# --- the networks' books against ours -------------------------------------------------

#: A payment in one of these owes (or took) what the network recorded for it.
LIVE = ("approved", "partly_refunded", "refunded", "completed")


def stranded(app: Tillpoint, network_dir: Path) -> list[str]:
    """References the networks hold as charged (or refunded) with no payment on our
    books that says so: money moved that we do not know about."""
    with app.ctx.db.read() as s:
        live = set(s.scalars(select(Payment.rrn).where(Payment.status.in_(LIVE))))
    return sorted(ref for ref in held_charges(network_dir) if ref not in live)


def unbacked(app: Tillpoint, network_dir: Path) -> list[str]:
    """Our payments that count as charged while the network holds nothing for them."""
    charges = held_charges(network_dir)
    with app.ctx.db.read() as s:
        live = s.scalars(
            select(Payment.rrn).where(Payment.status.in_(LIVE), Payment.kind != "preauth")
        )
        return sorted(rrn for rrn in live if rrn not in charges)
