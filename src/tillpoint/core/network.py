"""The network an address belongs to, as risk screening compares a terminal's
connections (docs/risk.md, "Relocation").

An IPv4 address's /16, an IPv6 address's /48. A mobile terminal's address changes with
its connections inside its carrier's pool (carrier-grade NAT), which a /24 would take
for another network every few hours; a carrier's pools are handed out by region, so a
/16 stays within a region where a /8 would span the country. For IPv6 a /48 is what a
site or a regional pool is given; the /64 below it changes with every attach.
"""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 16
IPV6_PREFIX = 48


def network_of(address: str | None) -> str | None:
    """``address``'s network (``100.64.0.0/16``, ``2001:db8:1::/48``); None for what is
    not an IP address (``unknown``, a host name). An IPv4-mapped IPv6 address counts as
    its IPv4 address."""
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix, bits = (IPV4_PREFIX, 32) if ip.version == 4 else (IPV6_PREFIX, 128)
    base = int(ip) >> (bits - prefix) << (bits - prefix)
    return str(ipaddress.ip_network((base, prefix)))
