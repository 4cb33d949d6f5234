"""One error for everything malformed on the wire, naming the field and byte position."""

from __future__ import annotations

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_


class FormatError(InvalidInput):
    """A message that does not follow the profile. ``field`` is the ISO field number
    (None for framing, MTI and bitmap), ``position`` the byte offset where it went wrong.
    The message never quotes field contents, so no card data can leak through it."""

    def __init__(
        self,
        message: str,
        /,
        *,
        field: int | None = None,
        position: int | None = None,
        mti: str | None = None,
        tid: str | None = None,
    ) -> None:
        super().__init__(
            "iso8583.format", N_("{what} (field {field}, byte {position})"),
            what=message, field=field if field is not None else "-",
            position=position if position is not None else "-",
        )  # fmt: skip
        self.field = field
        self.position = position
        # What could be read before it went wrong: enough to answer 30 to that terminal.
        self.mti = mti
        self.tid = tid
