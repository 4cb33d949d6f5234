"""E-signature upload (4.11) at the service level: packets gathered into the payment's
signature, every refusal (25, 64, 30, 94), packets sent again, and the bounds on what a
terminal can leave half uploaded."""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.clock import FixedClock
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_tid, ensure_demo
from tillpoint.iso8583.errors import FormatError
from tillpoint.iso8583.signature import Packet, cut
from tillpoint.merchants.models import PaymentMethod
from tillpoint.payments import signatures
from tillpoint.payments.models import (
    Payment,
    PaymentKind,
    PaymentSignature,
    PaymentStatus,
    SignaturePacket,
)
from tillpoint.payments.signatures import MAX_OPEN_UPLOADS, UPLOAD_TTL, forget_stale
from tillpoint.terminal.signature import from_name

_rrns = itertools.count(1)
AMOUNT = 123_456


@pytest.fixture
def tp(db_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Tillpoint]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        demo=True,
        locale="en",
    )
    app = open_app(settings, clock=clock)
    ensure_demo(app, 2)
    yield app
    app.close()


def terminal_id(tp: Tillpoint, n: int = 1) -> int:
    return tp.terminals.get(demo_tid(n)).id


def payment(tp: Tillpoint, n: int = 1, **fields: Any) -> tuple[int, str]:
    """A payment of demo terminal ``n`` as the host writes it (an approved UnionPay sale
    unless told otherwise): its id and RRN."""
    t = tp.terminals.get(demo_tid(n))
    with tp.ctx.db.read() as s:
        from tillpoint.merchants.models import Merchant, Shop

        merchant = s.execute(select(Merchant).where(Merchant.mid == t.mid)).scalar_one()
        shop_id = (
            s.execute(select(Shop.id).where(Shop.merchant_id == merchant.id)).scalars().first()
        )
    now = tp.ctx.now()
    rrn = f"{next(_rrns):012d}"
    values: dict[str, Any] = {
        "kind": PaymentKind.SALE, "status": PaymentStatus.APPROVED, "response_code": "00",
        "merchant_id": merchant.id, "shop_id": shop_id, "terminal_id": t.id, "rrn": rrn,
        "auth_code": "100001", "amount_minor": AMOUNT, "currency": "CNY",
        "method": PaymentMethod.DEBIT, "card_org": "CUP", "domestic": True,
        "pan_masked": "621234*********0012", "pan_token": "t" * 64, "entry_mode": "05",
        "business_date": tp.ctx.today(), "refunded_minor": 0, "created_at": now,
        "updated_at": now, **fields,
    }  # fmt: skip
    with tp.ctx.db.transaction() as s:
        p = Payment(**values)
        s.add(p)
        s.flush()
        return p.id, rrn


def send(
    tp: Tillpoint,
    rrn: str,
    packet: Packet | bytes | None,
    *,
    n: int = 1,
    amount: int = AMOUNT,
    at: datetime | None = None,
) -> str:
    """One packet as the host hands it over (bytes: field 62 as sent; None: malformed)."""
    if isinstance(packet, bytes):
        try:
            packet = Packet.parse(packet)
        except FormatError:
            packet = None
    with tp.ctx.db.transaction() as s:
        code, _pid = signatures.receive(
            s, terminal_id(tp, n), rrn, amount, packet, at or tp.ctx.now()
        )
    return code


def upload(tp: Tillpoint, rrn: str, png: bytes, **kw: Any) -> list[str]:
    return [send(tp, rrn, p, **kw) for p in cut(png)]


def kept(tp: Tillpoint, payment_id: int) -> PaymentSignature | None:
    with tp.ctx.db.read() as s:
        sig = s.get(PaymentSignature, payment_id)
        if sig is not None:
            s.expunge(sig)
        return sig


def waiting(tp: Tillpoint) -> dict[int, list[int]]:
    """Packets waiting, by payment: their numbers."""
    with tp.ctx.db.read() as s:
        rows = s.execute(select(SignaturePacket.payment_id, SignaturePacket.number)).all()
    out: dict[int, list[int]] = {}
    for pid, number in sorted(rows):
        out.setdefault(pid, []).append(number)
    return out


PNG = from_name("Zhang San")  # three packets


def test_packets_make_the_payments_signature(tp: Tillpoint) -> None:
    pid, rrn = payment(tp)
    packets = cut(PNG)
    assert len(packets) == 3
    assert send(tp, rrn, packets[0]) == "00"
    assert send(tp, rrn, packets[1]) == "00"
    assert waiting(tp) == {pid: [1, 2]} and kept(tp, pid) is None
    assert send(tp, rrn, packets[2]) == "00"
    sig = kept(tp, pid)
    assert sig is not None
    assert (sig.image, sig.content_type) == (PNG, "image/png")
    assert sig.sha256 == hashlib.sha256(PNG).hexdigest()
    assert sig.packet_sizes == [len(p.data) for p in packets]
    assert waiting(tp) == {}


def test_a_completion_and_a_refunded_sale_take_one_too(tp: Tillpoint) -> None:
    for fields in ({"kind": PaymentKind.COMPLETION}, {"status": PaymentStatus.REFUNDED}):
        pid, rrn = payment(tp, **fields)
        assert upload(tp, rrn, PNG) == ["00"] * 3
        assert kept(tp, pid) is not None


def test_each_packet_sent_again_gets_the_same_answer(tp: Tillpoint) -> None:
    pid, rrn = payment(tp)
    first, second, last = cut(PNG)
    assert [send(tp, rrn, p) for p in (first, first, second, first, second)] == ["00"] * 5
    assert waiting(tp) == {pid: [1, 2]}
    assert send(tp, rrn, last) == "00"
    # After the last one: every packet of it is known for what it is...
    assert [send(tp, rrn, p) for p in (last, first, second, last)] == ["00"] * 4
    assert kept(tp, pid) is not None and waiting(tp) == {}
    # ...and any other is not: the payment has its signature (94).
    other = cut(from_name("Someone Else"))
    assert send(tp, rrn, other[0]) == "94"
    assert send(tp, rrn, Packet(3, 3, last.data[:-1])) == "94"
    assert kept(tp, pid).image == PNG  # type: ignore[union-attr]
    assert waiting(tp) == {}


@pytest.mark.parametrize(
    "fields",
    [
        {"status": PaymentStatus.DECLINED, "response_code": "51"},
        {"status": PaymentStatus.VOIDED},
        {"status": PaymentStatus.REVERSED},
        {"kind": PaymentKind.PREAUTH},
        {"kind": PaymentKind.REFUND},
        {"card_org": "ALP", "method": PaymentMethod.ALIPAY, "entry_mode": "03"},
    ],
)
def test_what_is_not_an_approved_card_sale_gets_25(tp: Tillpoint, fields: dict[str, Any]) -> None:
    pid, rrn = payment(tp, **fields)
    assert upload(tp, rrn, PNG) == ["25"] * 3
    assert kept(tp, pid) is None and waiting(tp) == {}


def test_another_terminals_sale_and_an_unknown_rrn_get_25(tp: Tillpoint) -> None:
    pid, rrn = payment(tp, n=2)
    assert upload(tp, rrn, PNG, n=1) == ["25"] * 3
    assert upload(tp, "999999999999", PNG) == ["25"] * 3
    assert kept(tp, pid) is None and waiting(tp) == {}
    assert upload(tp, rrn, PNG, n=2) == ["00"] * 3  # its own terminal may


def test_another_amount_gets_64(tp: Tillpoint) -> None:
    pid, rrn = payment(tp)
    assert send(tp, rrn, cut(PNG)[0], amount=AMOUNT - 1) == "64"
    assert waiting(tp) == {} and kept(tp, pid) is None


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    "image",
    [
        _png(Image.new("L", (200, 80), 255)),  # 8 bits a pixel
        _png(Image.new("1", (400, 100), 1)),  # too wide
        b"GIF89a" + bytes(700),  # not a PNG
        PNG[:-30] + bytes(30),  # damaged
    ],
)
def test_packets_that_make_no_valid_image_get_30(tp: Tillpoint, image: bytes) -> None:
    pid, rrn = payment(tp)
    answers = upload(tp, rrn, image)
    assert answers[:-1] == ["00"] * (len(answers) - 1) and answers[-1] == "30"
    assert kept(tp, pid) is None and waiting(tp) == {}
    assert upload(tp, rrn, PNG) == ["00"] * 3  # the terminal may start again


def test_bad_numbering_gets_30_and_the_upload_starts_again(tp: Tillpoint) -> None:
    pid, rrn = payment(tp)
    first, second, last = cut(PNG)
    assert send(tp, rrn, second) == "30"  # no packet 1 before it
    assert send(tp, rrn, None) == "30"  # a malformed field 62
    assert send(tp, rrn, b"\x01\x09" + first.data) == "30"  # 9 packets
    assert send(tp, rrn, first) == "00"
    assert send(tp, rrn, last) == "30"  # packet 2 is missing
    assert waiting(tp) == {}
    assert send(tp, rrn, first) == "00"
    assert send(tp, rrn, Packet(2, 4, second.data)) == "30"  # another count
    assert send(tp, rrn, first) == "00"
    assert send(tp, rrn, second) == "00"
    assert send(tp, rrn, Packet(2, 3, second.data[::-1])) == "30"  # packet 2 changed
    assert waiting(tp) == {} and kept(tp, pid) is None


def test_a_new_packet_1_starts_the_upload_afresh(tp: Tillpoint) -> None:
    pid, rrn = payment(tp)
    other = cut(from_name("Another Try"))
    assert send(tp, rrn, other[0]) == "00"
    assert upload(tp, rrn, PNG) == ["00"] * 3
    assert kept(tp, pid).image == PNG  # type: ignore[union-attr]


def test_a_terminal_has_a_few_uploads_under_way_at_most(tp: Tillpoint, clock: FixedClock) -> None:
    first = cut(PNG)[0]
    paid = [payment(tp) for _ in range(MAX_OPEN_UPLOADS + 2)]
    for _pid, rrn in paid:
        assert send(tp, rrn, first) == "00"
        clock.advance(timedelta(seconds=1))
    # The oldest gave way to the newest; another terminal's are not touched.
    assert list(waiting(tp)) == [pid for pid, _ in paid[-MAX_OPEN_UPLOADS:]]
    elsewhere, rrn2 = payment(tp, n=2)
    assert send(tp, rrn2, first, n=2) == "00"
    assert elsewhere in waiting(tp) and len(waiting(tp)) == MAX_OPEN_UPLOADS + 1
    # A dropped upload's next packet gets 30; it may start again.
    dropped_rrn = paid[0][1]
    assert send(tp, dropped_rrn, cut(PNG)[1]) == "30"


def test_packets_left_waiting_expire(tp: Tillpoint, clock: FixedClock) -> None:
    (_old, old_rrn), (new, new_rrn) = payment(tp), payment(tp)
    first, second, _last = cut(PNG)
    assert send(tp, old_rrn, first) == "00"
    clock.advance(UPLOAD_TTL + timedelta(seconds=1))
    assert send(tp, new_rrn, first) == "00"  # the terminal's next packet drops the stale
    assert list(waiting(tp)) == [new]
    assert send(tp, old_rrn, second) == "30"
    # What no packet of its terminal clears, the housekeeping does.
    _elsewhere, rrn2 = payment(tp, n=2)
    assert send(tp, rrn2, first, n=2) == "00"
    clock.advance(UPLOAD_TTL + timedelta(seconds=1))
    assert forget_stale(tp.ctx.db, tp.ctx.now()) == 2
    assert waiting(tp) == {}
    with tp.ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(SignaturePacket)) == 0
