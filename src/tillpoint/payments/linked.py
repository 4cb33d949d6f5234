"""An acquirer on the networks process, over the network link (networks/link.py): what
`tillpoint serve` runs. ``acquirer.simulated`` is the same acquirer with the simulators
in this process (the tests' and the in-process benchmark's)."""

from __future__ import annotations

from tillpoint.core.groupcommit import GroupCommitter
from tillpoint.networks.link import NetworkLink
from tillpoint.payments.acquirer import Acquirer, AcquirerServices


async def linked(
    app: AcquirerServices, address: tuple[str, int], public_url: str = "http://127.0.0.1:8000"
) -> Acquirer:
    """An acquirer whose card network and wallets are the networks process at
    ``address``, reached through this process's one link (``close()`` ends it). Returns
    once the link is up and has its zone PIN key; raises ``NetworkTimeout`` if no
    networks process answers within the network time-out. The wallets' QR codes open
    the customer page under ``public_url``."""
    timeout_s = app.ctx.settings.network_timeout_ms / 1000
    link = await NetworkLink(
        address,
        app.ctx.keystore,
        app.days.open_date,  # the networks' clearing files follow our business days
        timeout_s=timeout_s,
        qr_base_url=f"{public_url.rstrip('/')}/simulator/qr/",
    ).open()
    acquirer = Acquirer(
        app,
        link.cards,
        GroupCommitter(app.ctx.db),
        link.zpk,  # kept by the link for as long as it lives, across reconnections
        wallets=link.wallets,
        network_timeout_s=timeout_s,
    )
    acquirer.on_close.append(link.close)
    return acquirer
