"""Which MAC a terminal uses (chosen when it is provisioned), in one place for the host
and for terminals."""

from __future__ import annotations

from enum import StrEnum

from tillpoint.security import tdes


class MacMethod(StrEnum):
    """The MACs of the profile (docs/protocol.md); the fleet records each terminal's."""

    ECB = "ecb"  # the UnionPay "ECB" MAC (spec section 3), the default
    X919 = "x919"  # ISO 9797-1 algorithm 3, ANSI X9.19 retail MAC


def compute_mac(method: MacMethod, mak: bytes, mab: bytes) -> bytes:
    if method is MacMethod.X919:
        return tdes.mac_x919(mak, mab)
    return tdes.mac_unionpay_ecb(mak, mab)
