"""Where webhooks may go: public addresses only, unless the operator says otherwise.

A merchant chooses a webhook URL, and Tillpoint POSTs to it from inside the acquirer's
network. Unchecked, a URL could reach what only that network should see: the database,
an admin page on loopback, a cloud's metadata service and the credentials it hands out
(server-side request forgery). So a webhook's host must be, and resolve only to, public
addresses: not loopback, private (RFC 1918, fc00::/7), shared (100.64/10), link-local
(169.254/16, fe80::/10), unspecified, multicast, reserved or documentation ranges, nor
a cloud metadata name or address (which are among those anyway). IPv4 addresses inside
IPv6 ones (::ffff:a.b.c.d, 6to4, NAT64) are judged as the IPv4 address they carry.

- When an endpoint is registered or its URL changed, its host is checked: an address
  as it is, a name by what it resolves to now (a name that does not resolve yet is
  accepted: it is checked again on every delivery).
- On every delivery the name is resolved again, every address checked, and the request
  sent to the first checked address (the name stays in ``Host`` and in TLS's SNI and
  certificate check), so nothing can resolve the name anew between check and connection
  (DNS rebinding).

``TILLPOINT_WEBHOOKS_ALLOW_PRIVATE`` lets an operator on a closed network send webhooks
anywhere; demo mode allows loopback only, so the walkthrough's local receiver works.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

import httpx

from tillpoint.core.settings import Settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTS = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data"}
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, Azure, GCP, OpenStack...
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class NotAllowed(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


@dataclass(frozen=True)
class Reach:
    """Which addresses webhooks may go to beyond the public ones."""

    private: bool = False  # every address: an operator's closed network
    loopback: bool = False  # 127.0.0.0/8 and ::1: demo mode

    @classmethod
    def of(cls, settings: Settings) -> Reach:
        return cls(private=settings.webhooks_allow_private, loopback=settings.demo)

    def allows(self, address: Address) -> bool:
        if self.private:
            return True
        return all(self._allows_one(a) for a in _with_embedded(address))

    def _allows_one(self, address: Address) -> bool:
        if self.loopback and address.is_loopback:
            return True
        return (
            address.is_global
            and not address.is_multicast
            and not address.is_reserved
            and address not in METADATA_ADDRESSES
        )

    def allows_name(self, host: str) -> bool:
        return self.private or host.lower().rstrip(".") not in METADATA_HOSTS


def _with_embedded(address: Address) -> list[Address]:
    """The address, and the IPv4 address an IPv6 one carries, if any."""
    found: list[Address] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        for inner in (address.ipv4_mapped, address.sixtofour):
            if inner is not None:
                found.append(inner)
        if address in NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return found


def lookup(host: str, port: int) -> list[Address]:
    """Every address ``host`` (a name or an address) resolves to, in the resolver's
    order. Blocking; raises OSError when it does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = (ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos)
    return list(dict.fromkeys(addresses))


def _host_and_port(url: httpx.URL) -> tuple[str, int]:
    return url.raw_host.decode("ascii"), url.port or (443 if url.scheme == "https" else 80)


def check_registered(url: str, reach: Reach) -> None:
    """Raise NotAllowed when ``url``'s host is, or now resolves to, an address
    webhooks may not reach. A name that does not resolve passes (for now)."""
    host, port = _host_and_port(httpx.URL(url))
    if not reach.allows_name(host):
        raise NotAllowed(host)
    if reach.private:
        return
    try:
        addresses = lookup(host, port)
    except (OSError, UnicodeError):
        return
    if not all(reach.allows(a) for a in addresses):
        raise NotAllowed(host)


@dataclass(frozen=True)
class Pinned:
    """A request to send to a checked address: ``url`` names the address; ``headers``
    and ``extensions`` keep the name the merchant gave for Host and TLS."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, str]


async def pin(url: str, reach: Reach) -> Pinned:
    """Resolve ``url``'s host, check every address, and aim at the first: raises
    NotAllowed, or OSError when the name does not resolve."""
    parsed = httpx.URL(url)
    host, port = _host_and_port(parsed)
    if not reach.allows_name(host):
        raise NotAllowed(host)
    addresses = await asyncio.to_thread(lookup, host, port)
    if not addresses or not all(reach.allows(a) for a in addresses):
        raise NotAllowed(host)
    return Pinned(
        url=parsed.copy_with(host=str(addresses[0])),
        headers={"Host": parsed.netloc.decode("ascii")},
        extensions={"sni_hostname": host},
    )
