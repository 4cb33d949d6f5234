"""Read-only copies of terminal records, JSON-ready."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from tillpoint.iso8583.mac import MacMethod
from tillpoint.merchants.models import MerchantKind
from tillpoint.terminals.models import OperatorRole, TerminalOrderState, TerminalStatus


class TerminalSecurityView(BaseModel):
    """A terminal's failed proofs of its keys and the throttles they started
    (docs/terminals.md, "Security events")."""

    model_config = ConfigDict(frozen=True)

    failed_sign_ons: int
    last_failed_sign_on_at: datetime | None
    last_failed_sign_on_address: str | None
    sign_on_throttles: int
    mac_failures: int
    last_mac_failure_at: datetime | None
    last_mac_failure_address: str | None
    mac_throttles: int


class TerminalPlaceView(BaseModel):
    """Where the terminal last said it was (field 59) and where its connection came
    from (docs/terminals.md, "Where a terminal is"). Each part is None until reported."""

    model_config = ConfigDict(frozen=True)

    device_type: str | None  # 01 countertop, 02 mobile, 03 smart POS
    serial_no: str | None  # as the device reports it
    latitude: Decimal | None  # degrees, six decimals
    longitude: Decimal | None
    cell: str | None  # MCC,MNC,LAC,CELL
    ip: str | None  # the terminal's own address, as it says
    reported_at: datetime | None  # when the host recorded this place
    source_address: str | None  # the address its connection came from
    source_seen_at: datetime | None


class TerminalView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    tid: str
    serial_no: str
    model: str
    capabilities: list[str]
    mac_method: MacMethod
    status: TerminalStatus
    status_reason: str | None
    mid: str | None
    merchant_name: str | None
    shop_number: int | None
    tmk_kcv: str
    created_at: datetime
    bound_at: datetime | None
    shipped_at: datetime | None
    activated_at: datetime | None
    require_operator_password: bool
    # Only in a single terminal's view (``get``), not in lists.
    security: TerminalSecurityView | None = None
    # In ``get`` and ``search`` only: the latest sign-on and the latest payment taken
    # at the terminal (in its latest batch that holds any).
    last_sign_on_at: datetime | None = None
    last_payment_at: datetime | None = None
    # Where it last said it was and the address it came from (None: never recorded).
    place: TerminalPlaceView | None = None


class Provisioned(BaseModel):
    """The result of provisioning: the clear TMK appears here once, for key injection,
    and is never retrievable again."""

    model_config = ConfigDict(frozen=True)

    terminal: TerminalView
    tmk_hex: str
    tmk_kcv: str


class Bound(BaseModel):
    """The result of binding: the new supervisor password appears here once."""

    model_config = ConfigDict(frozen=True)

    terminal: TerminalView
    supervisor_password: str


class TerminalEventView(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    from_status: TerminalStatus | None
    to_status: TerminalStatus
    actor: str
    reason: str | None
    at: datetime


class OperatorView(BaseModel):
    model_config = ConfigDict(from_attributes=True, frozen=True)

    code: str
    role: OperatorRole
    name: str | None
    locked: bool
    failed_attempts: int
    created_at: datetime


class TerminalOrderView(BaseModel):
    """A merchant's request for another terminal, with its merchant and shop named."""

    model_config = ConfigDict(frozen=True)

    id: int
    merchant_id: int
    mid: str
    merchant_name: str
    merchant_kind: MerchantKind
    shop_number: int
    shop_name: str
    shop_address: str
    note: str | None
    state: TerminalOrderState
    created_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    tid: str | None  # the terminal bound for it, once fulfilled


class FulfilledOrder(BaseModel):
    """A request fulfilled by binding a terminal: the supervisor's password (the one
    given, or a new one) appears here once, as in ``Bound``."""

    model_config = ConfigDict(frozen=True)

    order: TerminalOrderView
    supervisor_password: str


class Allowance(BaseModel):
    """A merchant's terminals against its limit: how many it may have, has bound, and
    has asked for in open requests."""

    model_config = ConfigDict(frozen=True)

    allowed: int
    have: int
    waiting: int

    @property
    def left(self) -> int:
        return max(0, self.allowed - self.have - self.waiting)
