"""E-signature upload (电子签名上送, spec 4.11): a terminal's signature packets gathered
into the image that belongs to its payment.

The terminal sends the PNG of the cardholder's signature in packets (field 62: number,
count, at most 500 bytes), each an 0820 of its own with the sale's RRN (37) and amount
(4). What is decided, packet by packet, in one unit of work with the answer kept for
the duplicate rule (``acquirer/signatures.py`` runs it):

- ``25`` the RRN is not an approved card sale or completion of this terminal (another
  terminal's, a wallet payment, a declined or voided one, none at all);
- ``64`` field 4 is not the payment's amount;
- ``94`` the payment already has its signature and this packet is not part of it (a
  packet of it sent again, whatever its STAN, gets ``00`` again);
- ``30`` the packets cannot make a valid image: a malformed field 62, a packet out of
  order (packet ``n`` needs ``1..n-1`` of the same count), a packet that differs from
  the one kept under its number, or after the last packet bytes that are not a PNG of
  1 bit per pixel within 384 x 160 pixels and 4,000 bytes. The upload under
  way is dropped: the terminal starts again from packet 1;
- ``00`` the packet is kept (the same packet again: kept already); after the last one
  the image is the payment's signature (``payment_signatures``) and its packets go.

Packet 1 always starts an upload afresh (a different packet 1 replaces what was kept).
Packets wait in the database (``signature_packets``), so packets of one upload may reach
different host processes. Storage is bounded per terminal: at most
``MAX_OPEN_UPLOADS`` uploads under way (a new one drops the oldest) of at most 8 packets
of 500 bytes, and packets older than ``UPLOAD_TTL`` are dropped as the terminal's next
packet arrives (and by ``forget_stale``, which the API's housekeeping runs hourly). A
payment whose signature never arrives stays as it is.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.orm import Session

from tillpoint.core.db import Database
from tillpoint.iso8583.signature import Packet, png_header, within_bounds
from tillpoint.networks.connector import CardOrg
from tillpoint.payments.models import (
    Payment,
    PaymentKind,
    PaymentSignature,
    PaymentStatus,
    SignaturePacket,
)
from tillpoint.payments.rules import Refusal

PNG = "image/png"
MAX_OPEN_UPLOADS = 4  # per terminal; a new one drops the oldest
UPLOAD_TTL = timedelta(hours=1)

KEPT = "00"
NOT_FOUND = Refusal.NO_ORIGINAL.value  # 25
AMOUNT_MISMATCH = Refusal.AMOUNT_MISMATCH.value  # 64
SIGNED_ALREADY = Refusal.CHANGED_REQUEST.value  # 94
NOT_AN_IMAGE = "30"

SIGNABLE_KINDS = (PaymentKind.SALE, PaymentKind.COMPLETION)
# Approved, and still so or refunded since (the signature is of the sale, which stands).
SIGNABLE_STATUSES = (
    PaymentStatus.APPROVED,
    PaymentStatus.PARTLY_REFUNDED,
    PaymentStatus.REFUNDED,
)
CARD_ORGS = frozenset(o.value for o in CardOrg)

_PAYMENT = select(
    Payment.id, Payment.terminal_id, Payment.kind, Payment.status, Payment.amount_minor,
    Payment.card_org,
)  # fmt: skip


def signable(kind: PaymentKind, status: PaymentStatus, card_org: str | None) -> bool:
    """Whether a terminal's payment takes a signature: an approved card sale or
    completion (a wallet payment is never signed)."""
    return kind in SIGNABLE_KINDS and status in SIGNABLE_STATUSES and card_org in CARD_ORGS


def image_problem(png: bytes) -> str | None:
    """Why the bytes are not a signature image of the profile (None: they are one): a
    PNG (its header read as bytes, then Pillow reading every chunk's checksum and every
    pixel) of 1 bit per pixel, at most 384 x 160 pixels and 4,000 bytes."""
    header = png_header(png)
    if header is None:
        return "not a PNG"
    if not within_bounds(header, len(png)):
        return "outside the profile's bounds"
    from PIL import Image  # the host's only use of Pillow: loaded when first needed

    try:
        with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
            img.verify()  # every chunk's checksum; the image is unusable after this
        with Image.open(io.BytesIO(png), formats=["PNG"]) as img:
            img.load()  # and every pixel decodes
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return "a damaged PNG"
    return None


def sent_again(image: bytes, sizes: Sequence[int] | None, packet: Packet | None) -> bool:
    """Whether ``packet`` is one of those the kept image came in (``sizes``: each
    packet's size; None for an image attached over the API)."""
    if packet is None or sizes is None or packet.count != len(sizes):
        return False
    n = packet.number
    if sizes[n - 1] != len(packet.data):
        return False
    start = sum(sizes[: n - 1])
    return image[start : start + len(packet.data)] == packet.data


def receive(
    s: Session,
    terminal_id: int,
    rrn: str,
    amount_minor: int,
    packet: Packet | None,
    now: datetime,
) -> tuple[str, int | None]:
    """One packet of a terminal's upload for the payment ``rrn`` (``packet`` None: field
    62 was malformed): the answer's code and the payment it concerns. Writes through
    ``s`` only (a group commit may run it twice)."""
    conn = s.connection()
    found = conn.execute(_PAYMENT.where(Payment.rrn == rrn)).first()
    if found is None:
        return NOT_FOUND, None
    payment_id, owner, kind, status, amount, card_org = found
    if owner != terminal_id or not signable(kind, status, card_org):
        return NOT_FOUND, None
    if amount != amount_minor:
        return AMOUNT_MISMATCH, payment_id
    signed = conn.execute(
        select(PaymentSignature.image, PaymentSignature.packet_sizes).where(
            PaymentSignature.payment_id == payment_id
        )
    ).first()
    if signed is not None:
        again = sent_again(signed[0], signed[1], packet)
        return (KEPT if again else SIGNED_ALREADY), payment_id
    conn.execute(
        delete(SignaturePacket).where(
            SignaturePacket.terminal_id == terminal_id,
            SignaturePacket.created_at < now - UPLOAD_TTL,
        )
    )
    if packet is None:
        _drop(conn, payment_id)
        return NOT_AN_IMAGE, payment_id
    return _gather(conn, terminal_id, payment_id, packet, now), payment_id


def _gather(
    conn: Connection, terminal_id: int, payment_id: int, packet: Packet, now: datetime
) -> str:
    """Keep a packet of the upload for ``payment_id``; after the last, the image."""
    kept: dict[int, tuple[int, bytes]] = {
        number: (count, bytes(data))
        for number, count, data in conn.execute(
            select(SignaturePacket.number, SignaturePacket.count, SignaturePacket.data).where(
                SignaturePacket.payment_id == payment_id
            )
        )
    }
    n = packet.number
    if kept.get(n) == (packet.count, packet.data):
        return KEPT  # sent again: kept already
    if n == 1:
        if kept:
            _drop(conn, payment_id)  # a new packet 1 starts the upload afresh
            kept = {}
        else:
            _make_room(conn, terminal_id)
    elif set(kept) != set(range(1, n)) or any(c != packet.count for c, _d in kept.values()):
        _drop(conn, payment_id)  # out of order, or another count: start again
        return NOT_AN_IMAGE
    parts = [kept[i][1] for i in range(1, n)] + [packet.data]  # 8 x 500: 4,000 bytes at most
    if n < packet.count:
        conn.execute(
            insert(SignaturePacket),
            {"payment_id": payment_id, "number": n, "count": packet.count,
             "terminal_id": terminal_id, "data": packet.data, "created_at": now},
        )  # fmt: skip
        return KEPT
    image = b"".join(parts)
    _drop(conn, payment_id)
    if image_problem(image) is not None:
        return NOT_AN_IMAGE
    conn.execute(
        insert(PaymentSignature),
        {"payment_id": payment_id, "image": image, "content_type": PNG,
         "sha256": hashlib.sha256(image).hexdigest(), "created_at": now,
         "packet_sizes": [len(p) for p in parts]},
    )  # fmt: skip
    return KEPT


def _drop(conn: Connection, payment_id: int) -> None:
    conn.execute(delete(SignaturePacket).where(SignaturePacket.payment_id == payment_id))


def _make_room(conn: Connection, terminal_id: int) -> None:
    """Before a terminal starts another upload: drop its oldest until it has fewer than
    ``MAX_OPEN_UPLOADS`` under way."""
    open_uploads = conn.execute(
        select(SignaturePacket.payment_id, func.min(SignaturePacket.created_at).label("since"))
        .where(SignaturePacket.terminal_id == terminal_id)
        .group_by(SignaturePacket.payment_id)
        .order_by("since", SignaturePacket.payment_id)
    ).all()
    for payment_id, _since in open_uploads[: max(0, len(open_uploads) - MAX_OPEN_UPLOADS + 1)]:
        _drop(conn, payment_id)


def forget_stale(db: Database, now: datetime) -> int:
    """Drop every upload's packets older than ``UPLOAD_TTL`` (the API's housekeeping
    runs it hourly); how many went."""
    with db.transaction(invalidate=False) as s:
        stale = SignaturePacket.created_at < now - UPLOAD_TTL
        done = s.execute(delete(SignaturePacket).where(stale))
        return int(getattr(done, "rowcount", 0) or 0)
