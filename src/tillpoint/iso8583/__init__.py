"""The POS 8583 profile (docs/protocol.md): the spec as data, pure codecs, framing.

- ``spec``: every field of section 2 as a pyiso8583 spec, with its ISO type;
- ``codec``: ``Message``, ``encode``/``decode`` from the MTI on, the MAC block (MAB);
- ``framing``: length prefix, TPDU, header, ``Frame``, ``MAX_FRAME_BYTES``;
- ``fields``: typed sub-fields (22, 35, 44, 48, 54, 60, 61, 62, 63);
- ``tlv``: BER-TLV for field 55;
- ``errors``: ``FormatError``, naming the field and byte position, never the contents.

No I/O and no keys in any of them; the TCP host (``host``) is an adapter on top.
"""
