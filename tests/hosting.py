"""A terminal host on a free loopback port for a test scenario, and demo terminals."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tillpoint.app import Tillpoint
from tillpoint.demo import DEMO_TMK, demo_mid, demo_tid
from tillpoint.iso8583.host import TerminalHost
from tillpoint.payments.acquirer import simulated
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
