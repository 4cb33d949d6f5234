"""The POS 8583 profile (shared/specs/pos8583.md): the spec as data, pure codecs, framing."""
