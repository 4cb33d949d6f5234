"""Receipts and e-signatures at the service level: links, what a receipt shows for a
card sale, a wallet payment and a refund, who has a receipt, the signature rules, and
the printout."""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import re
from typing import Any

import pytest
from PIL import Image, ImageDraw
from rich.cells import cell_len
from sqlalchemy import select
from tests.conftest import approved, business_application, personal_application

from tillpoint.app import Tillpoint
from tillpoint.core.errors import InvalidInput, NotFound, Refused
from tillpoint.merchants.models import Merchant, PaymentMethod, Shop
from tillpoint.payments.models import Payment, PaymentKind, PaymentSignature, PaymentStatus
from tillpoint.receipts import escpos
from tillpoint.receipts.layout import LABELS, STATUSES, rows
from tillpoint.receipts.service import (
    MAX_SIGNATURE_BYTES,
    RECEIPT_STATUSES,
    ReceiptService,
    check_png,
)

_rrns = itertools.count(1)
BASE = "https://pay.example.com"


def png(width: int = 300, height: int = 100, *, transparent: bool = True) -> bytes:
    """A signature as pads make it: dark strokes on a transparent background."""
    img = Image.new("RGBA", (width, height), (255, 255, 255, 0 if transparent else 255))
    wave = [
        (x, height / 2 + height / 3 * math.sin(x / 17) * math.cos(x / 53))
        for x in range(width // 10, width - width // 10, 2)
    ]
    ImageDraw.Draw(img).line(wave, fill=(20, 20, 70, 255), width=max(1, height // 40))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def merchant_ids(tp: Tillpoint, mid: str) -> tuple[int, int]:
    with tp.ctx.db.read() as s:
        m = s.execute(select(Merchant).where(Merchant.mid == mid)).scalar_one()
        shop = s.execute(select(Shop).where(Shop.merchant_id == m.id)).scalar_one()
        return m.id, shop.id


def payment(tp: Tillpoint, mid: str, **fields: Any) -> int:
    """A payment row as the host or the API writes it (an approved UnionPay sale unless
    told otherwise); no ledger entries, which receipts never read."""
    merchant_id, shop_id = merchant_ids(tp, mid)
    now = tp.ctx.now()
    values: dict[str, Any] = {
        "kind": PaymentKind.SALE,
        "status": PaymentStatus.APPROVED,
        "response_code": "00",
        "merchant_id": merchant_id,
        "shop_id": shop_id,
        "rrn": f"{next(_rrns):012d}",
        "auth_code": "100001",
        "amount_minor": 123_456,
        "currency": "CNY",
        "method": PaymentMethod.DEBIT,
        "card_org": "CUP",
        "domestic": True,
        "pan_masked": "621234*********0012",
        "pan_token": "t" * 64,
        "entry_mode": "051",
        "business_date": tp.ctx.today(),
        "refunded_minor": 0,
        "created_at": now,
        "updated_at": now,
        **fields,
    }
    with tp.ctx.db.transaction() as s:
        p = Payment(**values)
        s.add(p)
        s.flush()
        return p.id


@pytest.fixture
def receipts(tp: Tillpoint) -> ReceiptService:
    return ReceiptService(tp.ctx)


@pytest.fixture
def mid(tp: Tillpoint) -> str:
    return approved(tp, business_application(1))


@pytest.fixture
def other_mid(tp: Tillpoint) -> str:
    return approved(tp, personal_application(2))


# --- links ---------------------------------------------------------------------------------


def test_a_link_is_the_payment_and_a_keyed_token(
    tp: Tillpoint, receipts: ReceiptService, mid: str
) -> None:
    pid = payment(tp, mid)
    path = receipts.path(pid)
    assert re.fullmatch(rf"/r/{pid}-[0-9a-f]{{32}}", path)
    assert receipts.url(pid, BASE + "/") == BASE + path
    assert receipts.token(pid) == tp.ctx.keystore.token(f"receipt:{pid}", kind="receipt")[:32]
    assert receipts.token(pid) != receipts.token(pid + 1)
    ref = path.removeprefix("/r/")
    assert receipts.resolve(ref) == pid
    assert receipts.public_receipt(ref).payment_id == pid


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "1",
        "1-",
        "0-" + "0" * 32,
        "01-" + "0" * 32,
        "1-" + "0" * 31,
        "1-" + "0" * 33,
        "1-" + "G" * 32,
        "-1-" + "0" * 32,
        "99999999999999999999-" + "0" * 32,
    ],
)
def test_a_malformed_link_is_not_found(receipts: ReceiptService, bad: str) -> None:
    with pytest.raises(NotFound) as err:
        receipts.public_receipt(bad)
    assert err.value.code == "receipt.not_found"


def test_a_wrong_token_and_a_missing_payment_look_the_same(
    tp: Tillpoint, receipts: ReceiptService, mid: str
) -> None:
    pid = payment(tp, mid)
    token = receipts.token(pid)
    wrong = f"{pid}-{token[:-1]}{'0' if token[-1] != '0' else '1'}"
    missing = receipts.path(pid + 1000).removeprefix("/r/")  # a right token, no payment
    other = f"{pid}-{receipts.token(pid + 1)}"  # another payment's token
    errors = []
    for ref in (wrong, missing, other):
        with pytest.raises(NotFound) as err:
            receipts.public_receipt(ref)
        errors.append((err.value.code, str(err.value)))
    assert len(set(errors)) == 1
    with pytest.raises(NotFound):
        receipts.public_signature(wrong)


# --- what a receipt shows ------------------------------------------------------------------


def test_a_card_sale(tp: Tillpoint, receipts: ReceiptService, mid: str) -> None:
    pid = payment(tp, mid, stan="000004", reference="order-7")
    r = receipts.receipt(pid)
    assert (r.mid, r.kind, r.status, r.card_org, r.is_card) == (
        mid, PaymentKind.SALE, PaymentStatus.APPROVED, "CUP", True,
    )  # fmt: skip
    assert r.merchant_name.startswith("晨光贸易1")
    assert r.shop_address.startswith("上海市徐汇区")
    assert (r.voucher_no, r.auth_code, r.reference, r.signed) == (
        "000004",
        "100001",
        "order-7",
        False,
    )
    shown = {row.en: row.value for row in rows(r)}
    assert shown["CARD NO."] == "621234*********0012"
    assert shown["CARD ORG."] == "银联 UnionPay"
    assert shown["TRANS TYPE"] == "消费 SALE"
    assert shown["DATE/TIME"] == "2026-11-25 10:00:00"  # Shanghai time
    assert shown["STATUS"] == "交易成功 APPROVED"
    assert "TERMINAL NO." not in shown and "REFUNDED" not in shown  # only what it has
    html = receipts.html(r, receipts.url(pid, BASE))
    assert r.merchant_name in html and "商户编号" in html and "MERCHANT NO." in html
    assert "1,234.56" in html
    assert "<svg" in html and "6212340000000000012" not in html


def test_a_wallet_payment_and_its_refund(tp: Tillpoint, receipts: ReceiptService, mid: str) -> None:
    sale = payment(
        tp, mid, method=PaymentMethod.ALIPAY, card_org="ALP", pan_masked="284000********0001",
        auth_code=None, status=PaymentStatus.PARTLY_REFUNDED, refunded_minor=23_456,
    )  # fmt: skip
    refund = payment(
        tp, mid, kind=PaymentKind.REFUND, method=PaymentMethod.ALIPAY, card_org="ALP",
        amount_minor=23_456, original_id=sale, auth_code=None,
    )  # fmt: skip
    r = receipts.receipt(sale)
    assert not r.is_card
    shown = {row.en: row.value for row in rows(r)}
    assert shown["PAID WITH"] == "支付宝 Alipay"
    assert shown["PAYMENT CODE"] == "284000********0001"
    assert shown["REFUNDED"] == "CNY 234.56"
    assert shown["STATUS"] == "部分退款 PARTLY REFUNDED"
    assert "CARD NO." not in shown and "AUTH NO." not in shown
    back = receipts.receipt(refund)
    shown = {row.en: row.value for row in rows(back)}
    assert shown["TRANS TYPE"] == "退货 REFUND"
    assert shown["ORIG. REF. NO."] == r.rrn
    assert "CNY -234.56" in escpos.render(back, BASE).decode("gb18030")


@pytest.mark.parametrize("status", list(PaymentStatus))
def test_only_payments_that_moved_or_held_money_have_a_receipt(
    tp: Tillpoint, receipts: ReceiptService, mid: str, status: PaymentStatus
) -> None:
    pid = payment(tp, mid, status=status)
    has = status in {
        PaymentStatus.APPROVED,
        PaymentStatus.PARTLY_REFUNDED,
        PaymentStatus.REFUNDED,
        PaymentStatus.VOIDED,
        PaymentStatus.COMPLETED,
    }
    assert (status in RECEIPT_STATUSES) is has
    if has:
        assert receipts.receipt(pid).status is status
        assert status in STATUSES
        return
    with pytest.raises(NotFound) as err:
        receipts.receipt(pid)
    assert err.value.code == "receipt.not_available"
    with pytest.raises(NotFound) as err:
        receipts.public_receipt(receipts.path(pid).removeprefix("/r/"))
    assert err.value.code == "receipt.not_found"  # as for a wrong link


def test_another_merchants_payment_is_not_found(
    tp: Tillpoint, receipts: ReceiptService, mid: str, other_mid: str
) -> None:
    pid = payment(tp, mid)
    theirs, _shop = merchant_ids(tp, other_mid)
    ours, _shop = merchant_ids(tp, mid)
    assert receipts.receipt(pid, merchant_id=ours).payment_id == pid
    for call in (
        lambda: receipts.receipt(pid, merchant_id=theirs),
        lambda: receipts.signature(pid, merchant_id=theirs),
        lambda: receipts.attach_signature(pid, png(), merchant_id=theirs),
        lambda: receipts.attach_signature(pid, b"not a png", merchant_id=theirs),  # 404 first
        lambda: receipts.printout(pid, BASE, merchant_id=theirs),
    ):
        with pytest.raises(NotFound) as err:
            call()
        assert err.value.code == "payment.not_found"


# --- signatures ----------------------------------------------------------------------------


def test_a_card_payment_is_signed_once(tp: Tillpoint, receipts: ReceiptService, mid: str) -> None:
    pid = payment(tp, mid)
    image = png()
    view = receipts.attach_signature(pid, image, "image/png")
    assert (view.payment_id, view.size_bytes, view.content_type) == (pid, len(image), "image/png")
    assert view.sha256 == hashlib.sha256(image).hexdigest()
    assert receipts.signature(pid) == (image, "image/png")
    assert receipts.public_signature(receipts.path(pid).removeprefix("/r/")).image == image
    assert receipts.receipt(pid).signed
    with pytest.raises(Refused) as err:
        receipts.attach_signature(pid, png(200, 80))
    assert err.value.code == "signature.exists"
    assert receipts.signature(pid).image == image


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"card_org": "ALP", "method": PaymentMethod.ALIPAY}, "signature.not_card"),
        ({"card_org": "WXP", "method": PaymentMethod.WECHAT}, "signature.not_card"),
        ({"card_org": None, "method": None, "status": PaymentStatus.PENDING}, "signature.not_card"),
        ({"status": PaymentStatus.DECLINED, "response_code": "51"}, "signature.status"),
        ({"status": PaymentStatus.VOIDED}, "signature.status"),
        ({"status": PaymentStatus.REFUNDED}, "signature.status"),
    ],
)
def test_only_approved_card_payments_are_signed(
    tp: Tillpoint, receipts: ReceiptService, mid: str, fields: dict[str, Any], code: str
) -> None:
    pid = payment(tp, mid, **fields)
    with pytest.raises(Refused) as err:
        receipts.attach_signature(pid, png())
    assert err.value.code == code
    with tp.ctx.db.read() as s:
        assert s.scalars(select(PaymentSignature)).all() == []


def test_a_completed_preauth_and_a_foreign_card_are_signed(
    tp: Tillpoint, receipts: ReceiptService, mid: str
) -> None:
    hold = payment(tp, mid, kind=PaymentKind.PREAUTH, status=PaymentStatus.COMPLETED)
    visa = payment(tp, mid, card_org="VIS", method=PaymentMethod.FOREIGN)
    for pid in (hold, visa):
        receipts.attach_signature(pid, png())
        assert receipts.receipt(pid).signed


def test_a_signature_must_really_be_a_small_png(tp: Tillpoint) -> None:
    good = png()
    check_png(good)
    jpeg = io.BytesIO()
    Image.new("RGB", (50, 20), "white").save(jpeg, format="JPEG")
    gif = io.BytesIO()
    Image.new("P", (50, 20)).save(gif, format="GIF")
    truncated = good[: len(good) // 2]
    corrupt = bytearray(good)
    corrupt[40] ^= 0xFF  # inside a chunk: its checksum no longer matches
    cases = {
        "signature.content_type": [(good, "image/jpeg"), (good, "image/svg+xml")],
        "signature.not_png": [
            (b"", "image/png"),
            (b"GIF89a", "image/png"),
            (jpeg.getvalue(), "image/png"),
            (gif.getvalue(), "image/png"),
            (truncated, "image/png"),
            (bytes(corrupt), "image/png"),
            (good[:8] + b"\x00" * 100, "image/png"),
        ],
        "signature.too_large": [(good + b"\x00" * MAX_SIGNATURE_BYTES, "image/png")],
        "signature.dimensions": [(png(2049, 10), "image/png")],
    }
    for code, images in cases.items():
        for image, content_type in images:
            with pytest.raises(InvalidInput) as err:
                check_png(image, content_type)
            assert err.value.code == code, (code, image[:16])


def test_a_refused_image_changes_nothing(tp: Tillpoint, receipts: ReceiptService, mid: str) -> None:
    pid = payment(tp, mid)
    with pytest.raises(InvalidInput):
        receipts.attach_signature(pid, b"\x89PNG\r\n\x1a\nrubbish")
    assert not receipts.receipt(pid).signed
    receipts.attach_signature(pid, png())  # still possible, once


# --- the printout --------------------------------------------------------------------------


def text_of(data: bytes) -> str:
    """The printable text of ESC/POS bytes: the GB18030 lines between the commands."""
    return data.decode("gb18030", errors="replace")


@pytest.mark.parametrize("columns", [escpos.Columns.NARROW, escpos.Columns.WIDE])
def test_the_printout_fits_the_paper(
    tp: Tillpoint, receipts: ReceiptService, mid: str, columns: int
) -> None:
    pid = payment(tp, mid, stan="000004", reference="订单-2026-11-25-0001·外卖 (Deliveroo)")
    receipts.attach_signature(pid, png(600, 200))
    data = receipts.printout(pid, BASE, columns=columns)
    assert data.startswith(b"\x1b@" + escpos.CHINESE_MODE)  # initialise, Chinese mode
    assert data.endswith(b"\x1dV\x00")  # the cut
    assert "交易凭证 RECEIPT".encode("gb18030") in data
    assert "商户编号 MERCHANT NO.".encode("gb18030") in data
    url = receipts.url(pid, BASE).encode()
    assert b"\x1d(k" + (len(url) + 3).to_bytes(2, "little") + b"1P0" + url in data  # native QR
    assert b"\x1dv0" in data  # the signature's raster image
    assert b"\x1d!\x11" + b"CNY 1,234.56".rjust(columns // 2) in data  # the amount, doubled
    lines = [
        line.decode("gb18030")
        for line in re.split(rb"\n", data)
        if line and not re.search(rb"[\x00-\x09\x0b-\x1f]", line)  # text, not commands
    ]
    assert lines and all(cell_len(line) <= columns for line in lines), lines
    after = "".join("".join(lines[lines.index("订单号 ORDER NO.") + 1 :]).split())
    assert after.startswith("订单-2026-11-25-0001·外卖(Deliveroo)")  # no "?" in it


def test_the_printout_of_a_wallet_payment_has_no_signature_line(
    tp: Tillpoint, receipts: ReceiptService, mid: str
) -> None:
    pid = payment(tp, mid, card_org="WXP", method=PaymentMethod.WECHAT, pan_masked=None)
    text = text_of(receipts.printout(pid, BASE))
    assert "微信支付 WeChat Pay" in text
    assert LABELS["signature"][1] not in text
    card = text_of(receipts.printout(payment(tp, mid), BASE))
    assert LABELS["signature"][1] in card and "_" * escpos.Columns.NARROW in card  # sign on paper


def test_a_huge_amount_is_printed_in_normal_size(
    tp: Tillpoint, receipts: ReceiptService, mid: str
) -> None:
    data = receipts.printout(payment(tp, mid, amount_minor=100_000_000_000), BASE)
    assert b"CNY 1,000,000,000.00".rjust(escpos.Columns.NARROW) in data
    assert b"\x1d!\x11" not in data


def test_printout_width_is_checked(tp: Tillpoint, receipts: ReceiptService, mid: str) -> None:
    with pytest.raises(InvalidInput) as err:
        receipts.printout(payment(tp, mid), BASE, columns=40)
    assert err.value.code == "receipt.columns"


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        ("上海市浦东新区演示路1号 1 Demo Road, Shanghai", 20,
         ["上海市浦东新区演示路", "1号 1 Demo Road,", "Shanghai"]),
        ("a" * 25, 10, ["a" * 10, "a" * 10, "a" * 5]),
        ("  two   words  ", 32, ["two words"]),
        ("本人确认以上交易，同意将其记入本卡账户", 32, ["本人确认以上交易，", "同意将其记入本卡账户"]),
        ("本人确认以上交易，同意将其记入本卡账户", 48, ["本人确认以上交易，同意将其记入本卡账户"]),
        ("演示" * 20, 32, ["演示" * 8, "演示" * 8, "演示" * 4]),
        ("", 32, []),
    ],
)  # fmt: skip
def test_wrap(text: str, width: int, lines: list[str]) -> None:
    assert escpos.wrap(text, width) == lines
