"""The customer display on another device (a tablet facing the customer): the till
page sends what its display shows (``POST /cashier/api/display``), and a display page
signed in to the same shop, on any device, waits for the next one
(``GET /cashier/api/display?after=``, a long poll). A display in a second window of the
till's own browser needs none of this: it follows the till through the browser
(``BroadcastChannel``).

What a display shows is kept in this process's memory only, the latest per till, and
only what the customer sees anyway (the cart's names, quantities and amounts, the
total, the QR code's image address, the change, the e-receipt's image address). The
HTTP side runs in one process (``tillpoint serve``), so every till and display of a
shop meet here."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tillpoint.web.cashier.api import At, Till_, json

router = APIRouter(prefix="/cashier/api", include_in_schema=False)

MAX_TILLS = 10_000  # displays kept; the least recently told forgotten first
MAX_WAIT_S = 25.0
MAX_LINES = 500
_NAME = Annotated[str, Field(max_length=200)]
# an image of this site: a QR code to pay (the till's API) or an e-receipt's (/o/...)
_IMAGE = Annotated[str, Field(max_length=400, pattern=r"^/(cashier/api|o)/[0-9A-Za-z/_.?=&-]*$")]
_MINOR = Annotated[int, Field(strict=True, ge=-(10**13), le=10**13)]


class DisplayLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: _NAME
    qty: Annotated[str, Field(max_length=40)]
    amount: _MINOR


class DisplayMessage(BaseModel):
    """What the customer display shows now: nothing (``idle``), the cart, the QR code
    to pay (``qr``), or the sale paid."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["idle", "cart", "qr", "paid"]
    merchant: _NAME | None = None
    lines: list[DisplayLine] = Field(default=[], max_length=MAX_LINES)
    total: _MINOR | None = None
    discount: _MINOR | None = None
    due: _MINOR | None = None
    change: _MINOR | None = None
    src: _IMAGE | None = None  # the QR code to pay
    receipt: _IMAGE | None = None  # the e-receipt's QR code


@dataclass
class _Slot:
    version: int = 0
    message: dict[str, Any] | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class DisplayHub:
    """The latest message of each till's display, and the displays waiting for the
    next. Used from the event loop only (the routes are coroutines)."""

    def __init__(self, max_tills: int = MAX_TILLS) -> None:
        self.max_tills = max_tills
        self._slots: OrderedDict[tuple[int, int, str], _Slot] = OrderedDict()

    def _slot(self, key: tuple[int, int, str]) -> _Slot:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
            while len(self._slots) > self.max_tills:
                _, old = self._slots.popitem(last=False)
                old.changed.set()  # its waiters answer with what they have
        self._slots.move_to_end(key)
        return slot

    def tell(self, key: tuple[int, int, str], message: dict[str, Any]) -> int:
        slot = self._slot(key)
        slot.version += 1
        slot.message = message
        slot.changed.set()
        slot.changed = asyncio.Event()
        return slot.version

    async def next(
        self, key: tuple[int, int, str], after: int, wait_s: float
    ) -> tuple[int, dict[str, Any] | None]:
        """The till's latest message once it is newer than ``after`` (at once if it is
        already), or what there is after ``wait_s``."""
        slot = self._slot(key)
        if slot.version <= after and wait_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(slot.changed.wait(), wait_s)
        return slot.version, slot.message


def hub(request: Request) -> DisplayHub:
    state = request.app.state
    found: DisplayHub | None = getattr(state, "display_hub", None)
    if found is None:
        found = state.display_hub = DisplayHub()
    return found


@router.post("/display")
async def tell_display(
    request: Request, at: At, body: DisplayMessage, till_name: Annotated[Till_, Query(alias="till")]
) -> JSONResponse:
    """What the till's customer display shows now (for a display on another device)."""
    key = (at.merchant_id, at.shop_number, till_name)
    version = hub(request).tell(key, body.model_dump(mode="json", exclude_defaults=True))
    return json({"version": version})


@router.get("/display")
async def follow_display(
    request: Request,
    at: At,
    till_name: Annotated[Till_, Query(alias="till")],
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    wait_s: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0,
) -> JSONResponse:
    """The till's display as it is now, once newer than ``after``: a display on another
    device asks again with the version it has."""
    key = (at.merchant_id, at.shop_number, till_name)
    version, message = await hub(request).next(key, after, wait_s)
    return json({"version": version, "message": message})
