"""Which MAC a terminal uses (chosen when it is provisioned), in one place for the host
and for terminals."""

from __future__ import annotations

from tillpoint.security import tdes
from tillpoint.terminals.models import MacMethod


def compute_mac(method: MacMethod, mak: bytes, mab: bytes) -> bytes:
    if method is MacMethod.X919:
        return tdes.mac_x919(mak, mab)
    return tdes.mac_unionpay_ecb(mak, mab)
