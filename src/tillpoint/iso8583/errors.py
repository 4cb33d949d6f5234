"""One error for everything malformed on the wire, naming the field and the byte position.

``FormatError`` is an :class:`~tillpoint.core.errors.InvalidInput`: the peer (or the
caller) sent something that does not follow the profile, and nothing was changed.

- ``field``: the ISO field number, or None when the problem is not inside a numbered
  field (length prefix, TPDU, header, MTI, bitmap). The message then names the part.
- ``position``: the byte offset where it went wrong, counted from the start of what the
  raising function was given: the payload after the length prefix for ``parse_frame``,
  the body from the MTI on for ``decode``/``mac_block``, the field's value for the
  sub-field helpers and for field 55's TLV. None when encoding (there is no input byte).
- ``mti``/``tid``: what could be read before decoding failed (both validated), so that a
  host can still answer ``30`` to that terminal.

Neither the message nor the parameters ever quote field contents: only field numbers,
positions, lengths and names chosen here. No card data (fields 2, 35, 52, 55) can leak
through an error.
"""

from __future__ import annotations

from tillpoint.core.errors import InvalidInput
from tillpoint.core.i18n import N_

CODE = "iso8583.format"

#: Shared templates (one catalogue entry each).
CUT_SHORT = N_("Byte {position}: the {part} is malformed or cut short")
MALFORMED = N_("The {part} is malformed")


class FormatError(InvalidInput):
    """A message, frame or sub-field that does not follow the POS 8583 profile.

    ``message`` is an English template (mark it with ``N_``), formatted with ``params``
    plus ``field``, ``position`` and ``part`` (each shown as ``-`` when unknown; ``field``
    shows ``part`` when there is no field number: ``MTI``, ``bitmap``, ``TPDU``,
    ``header``, ``length``, ``frame``). Parameters never hold field contents.
    """

    def __init__(
        self,
        message: str,
        /,
        *,
        field: int | None = None,
        position: int | None = None,
        part: str | None = None,
        mti: str | None = None,
        tid: str | None = None,
        code: str = CODE,
        **params: object,
    ) -> None:
        shown_field: object = field if field is not None else (part or "-")
        shown_position: object = position if position is not None else "-"
        super().__init__(
            code, message, field=shown_field, position=shown_position, part=part or "-", **params
        )
        self.field = field
        self.position = position
        self.part = part
        self.mti = mti
        self.tid = tid
