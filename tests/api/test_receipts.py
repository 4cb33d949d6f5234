"""Receipts and e-signatures over HTTP: a card sale from a real terminal, its receipt link,
page, QR code and ESC/POS bytes; the signature upload and its rules; tenancy; and public
links that reveal nothing when wrong."""

from __future__ import annotations

import base64
import dataclasses
import io
import re

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.hosting import run_with_host
from tests.integration.test_receipts import png
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint
from tillpoint.core.money import Money
from tillpoint.payments.acquirer import simulated
from tillpoint.payments.models import Payment
from tillpoint.receipts.escpos import CHINESE_MODE
from tillpoint.receipts.service import ReceiptService, qr_svg
from tillpoint.terminal.device import Device, DeviceState

DEBIT = "6212340000000000012"
VISA = "4761340000000019"
ALIPAY = "284000000000000001"
ALIPAY_POOR = "280000000000000002"
PROBLEM = "application/problem+json"


def card_sale(api: ApiEnv, amount: str = "88.88", pan: str = DEBIT, n: int = 1) -> int:
    """A sale on demo terminal ``n`` through a real host over TCP; its payment id."""
    rrns: list[str] = []

    async def scenario(port: int) -> None:
        state = DeviceState.demo(n)
        state.port = port
        device = Device(state)
        result = await device.sale(Money.parse(amount), pan, pin="123456")
        await device.close()
        assert result.approved and result.rrn, result
        rrns.append(result.rrn)

    run_with_host(api.tp, scenario)
    with api.tp.ctx.db.read() as s:
        return s.execute(select(Payment.id).where(Payment.rrn == rrns[0])).scalar_one()


def wallet_sale(api: ApiEnv, amount_minor: int = 10_000, code: str = ALIPAY) -> int:
    r = api.post("owner_a", "/v1/payments", {"amount_minor": amount_minor, "code": code})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def sign(api: ApiEnv, pid: int, image: bytes, who: str = "staff_a", **extra: object) -> object:
    body = {"image_base64": base64.b64encode(image).decode(), "content_type": "image/png"}
    return api.post(who, f"/v1/payments/{pid}/signature", {**body, **extra})


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_card_sale_has_a_receipt_page_qr_code_and_printout(api: ApiEnv) -> None:
    pid = card_sale(api)
    r = api.get("owner_a", f"/v1/payments/{pid}/receipt")
    assert r.status_code == 200, r.text
    body = r.json()
    assert re.fullmatch(rf"http://testserver/r/{pid}-[0-9a-f]{{32}}", body["url"])
    assert body["qr_svg_url"] == body["url"] + "/qr.svg"
    assert body["escpos_url"] == f"http://testserver/v1/payments/{pid}/receipt.escpos"
    assert body["signature_url"] is None
    receipt = body["receipt"]
    assert (receipt["tid"], receipt["mid"], receipt["card_org"]) == (api.tid_a, api.mid_a, "CUP")
    assert receipt["pan_masked"] == "621234*********0012"
    assert receipt["batch_no"] == "000001" and receipt["voucher_no"]
    assert api.get("ops", f"/v1/payments/{pid}/receipt").json()["url"] == body["url"]

    page = api.client.get(path_of(body["url"]))  # no key: the link is the key
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "private, no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for text in ("商户编号", "MERCHANT NO.", api.mid_a, api.tid_a, "621234*********0012",
                 "88.88", "消费 SALE", receipt["rrn"], "<svg"):  # fmt: skip
        assert text in page.text, text
    assert DEBIT not in page.text
    assert "http" not in re.sub(r'xmlns="http://www.w3.org/2000/svg"', "", page.text)  # no CDN

    qr = api.client.get(path_of(body["qr_svg_url"]))
    assert qr.headers["content-type"] == "image/svg+xml"
    assert qr.text.startswith('<svg xmlns="http://www.w3.org/2000/svg"')

    for columns in (32, 48):
        printed = api.get("staff_a", f"/v1/payments/{pid}/receipt.escpos?columns={columns}")
        assert printed.status_code == 200
        assert printed.headers["content-type"] == "application/octet-stream"
        assert printed.content.startswith(b"\x1b@" + CHINESE_MODE)
        assert body["url"].encode() in printed.content  # its QR code
        assert "消费 SALE".encode("gb18030") in printed.content
    wrong = api.get("staff_a", f"/v1/payments/{pid}/receipt.escpos?columns=40")
    assert (wrong.status_code, wrong.json()["code"]) == (422, "request.invalid")


def test_the_public_url_setting_names_the_links(api: ApiEnv) -> None:
    pid = wallet_sale(api)
    settings = api.tp.ctx.settings.model_copy(update={"public_url": "https://pay.example.com/"})
    tp = Tillpoint(dataclasses.replace(api.tp.ctx, settings=settings))  # the same database
    acquirer = simulated(tp)
    try:
        with TestClient(create_api(tp, acquirer)) as client:
            headers = api.headers("owner_a")
            body = client.get(f"/v1/payments/{pid}/receipt", headers=headers).json()
            assert body["url"].startswith(f"https://pay.example.com/r/{pid}-")
            page = client.get(path_of(body["url"]), headers={"host": "internal:8000"})
            assert page.status_code == 200
            qr = client.get(path_of(body["qr_svg_url"])).text
            assert qr == qr_svg(body["url"])  # the code a phone reads leads outside
    finally:
        acquirer.close()


def test_a_signature_is_attached_once_and_shown(api: ApiEnv) -> None:
    pid = card_sale(api)
    image = png()
    first, r = (
        api.client.post(
            f"/v1/payments/{pid}/signature",
            json={"image_base64": base64.b64encode(image).decode(), "content_type": "image/png"},
            headers=api.headers("staff_a", idempotency="sig-1"),
        )
        for _ in range(2)
    )
    assert first.status_code == r.status_code == 201
    assert first.content == r.content
    assert r.headers["Idempotent-Replayed"] == "true"
    view = r.json()
    assert (view["payment_id"], view["size_bytes"], view["content_type"]) == (
        pid, len(image), "image/png",
    )  # fmt: skip
    assert len(view["sha256"]) == 64

    again = sign(api, pid, png(200, 50))
    assert (again.status_code, again.json()["code"]) == (409, "signature.exists")  # type: ignore[attr-defined]

    got = api.get("owner_a", f"/v1/payments/{pid}/signature")
    assert (got.status_code, got.headers["content-type"], got.content) == (200, "image/png", image)
    body = api.get("owner_a", f"/v1/payments/{pid}/receipt").json()
    assert body["receipt"]["signed"] is True
    assert body["signature_url"] == body["url"] + "/signature.png"
    public = api.client.get(path_of(body["signature_url"]))
    assert (public.status_code, public.content) == (200, image)
    page = api.client.get(path_of(body["url"])).text
    assert f'src="{pid}-' in page and "持卡人签名" in page and "CARDHOLDER SIGNATURE" in page
    printed = api.get("owner_a", f"/v1/payments/{pid}/receipt.escpos").content
    assert b"\x1dv0" in printed  # the signature, as a raster image


def test_signature_refusals(api: ApiEnv) -> None:
    card = card_sale(api)
    wallet = wallet_sale(api)
    cases: list[tuple[int, dict[str, object], int, str]] = [
        (wallet, {}, 409, "signature.not_card"),
        (card, {"image_base64": "not base64!"}, 422, "signature.base64"),
        (card, {"image_base64": base64.b64encode(b"GIF89a....").decode()}, 422,
         "signature.not_png"),
        (card, {"content_type": "image/jpeg"}, 422, "signature.content_type"),
        (card, {"image_base64": "A" * 350_000}, 422, "request.invalid"),  # over 256 KiB
        (card, {"image_base64": "A" * 400_000}, 413, "request.too_large"),  # over the body
    ]  # fmt: skip
    for pid, change, status, code in cases:
        r = sign(api, pid, png(), **change)
        assert (r.status_code, r.json()["code"]) == (status, code), (change, r.text)  # type: ignore[attr-defined]
        assert r.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    jpeg = io.BytesIO()
    Image.new("RGB", (60, 20), "white").save(jpeg, format="JPEG")
    r = sign(api, card, jpeg.getvalue())
    assert (r.status_code, r.json()["code"]) == (422, "signature.not_png")  # type: ignore[attr-defined]
    assert api.get("owner_a", f"/v1/payments/{card}/signature").json()["code"] == (
        "signature.not_found"
    )
    # a reviewer reads but does not sign; without a key nothing at all
    assert sign(api, card, png(), who="reviewer").status_code == 403  # type: ignore[attr-defined]
    assert api.get("reviewer", f"/v1/payments/{card}/receipt").status_code == 200
    assert api.client.get(f"/v1/payments/{card}/receipt").status_code == 401
    assert sign(api, card, png(), who="owner_a").status_code == 201  # type: ignore[attr-defined]


def test_another_merchants_payment_is_not_found(api: ApiEnv) -> None:
    pid = card_sale(api)
    assert sign(api, pid, png(), who="staff_a").status_code == 201  # type: ignore[attr-defined]
    for method, path in (
        ("GET", f"/v1/payments/{pid}/receipt"),
        ("GET", f"/v1/payments/{pid}/receipt.escpos"),
        ("GET", f"/v1/payments/{pid}/signature"),
        ("POST", f"/v1/payments/{pid}/signature"),
        ("GET", "/v1/payments/999999/receipt"),
    ):
        r = api.get("owner_b", path) if method == "GET" else sign(api, pid, png(), who="owner_b")
        assert (r.status_code, r.json()["code"]) == (404, "payment.not_found"), path


def test_wallet_payments_and_refunds_have_receipts(api: ApiEnv) -> None:
    sale = wallet_sale(api, 10_000)
    refund = api.post("owner_a", "/v1/refunds", {"payment_id": sale, "amount_minor": 2_500})
    assert refund.status_code == 201, refund.text
    body = api.get("owner_a", f"/v1/payments/{sale}/receipt").json()
    assert body["receipt"]["refunded_minor"] == 2_500
    assert body["receipt"]["status"] == "partly_refunded"
    page = api.client.get(path_of(body["url"])).text
    assert "支付宝 Alipay" in page and "部分退款" in page and "25.00" in page
    assert "CARDHOLDER SIGNATURE" not in page
    back = api.get("owner_a", f"/v1/payments/{refund.json()['id']}/receipt").json()
    assert back["receipt"]["original_rrn"] == body["receipt"]["rrn"]
    assert "-25.00" in api.client.get(path_of(back["url"])).text


def test_payments_without_a_receipt_and_wrong_links(api: ApiEnv) -> None:
    good = api.get("owner_a", f"/v1/payments/{wallet_sale(api)}/receipt").json()["url"]
    declined = wallet_sale(api, code=ALIPAY_POOR)
    r = api.get("owner_a", f"/v1/payments/{declined}/receipt")
    assert (r.status_code, r.json()["code"]) == (404, "receipt.not_available")
    pending = api.post("owner_a", "/v1/payments",
                       {"amount_minor": 100, "flow": "merchant_presented"}).json()["id"]  # fmt: skip
    assert api.get("owner_a", f"/v1/payments/{pending}/receipt").status_code == 404

    # Anyone can try links: every wrong one gets the very same page.
    pid, token = path_of(good).removeprefix("/r/").split("-")
    service = ReceiptService(api.tp.ctx)
    wrong = [
        f"/r/{pid}-{token[::-1]}",
        f"/r/{pid}-{token.upper()}",
        f"/r/{int(pid) + 100}-{service.token(int(pid) + 100)}",  # no such payment
        service.path(declined),  # a payment with no receipt
        service.path(pending),
        f"/r/{pid}",
        "/r/nonsense",
        f"/r/{pid}-{token}x",
    ]
    answers = []
    for path in wrong:
        for suffix in ("", "/qr.svg", "/signature.png"):
            r = api.client.get(path + suffix)
            answers.append((r.status_code, r.headers["content-type"], r.text))
    assert len(set(answers)) == 1
    status, content_type, text = answers[0]
    assert (status, content_type) == (404, "text/html; charset=utf-8")
    assert "未找到该凭证" in text and "RECEIPT NOT FOUND" in text
    assert api.client.get(path_of(good) + "/signature.png").status_code == 404  # unsigned


def test_the_openapi_document_has_the_api_routes_but_not_the_pages(api: ApiEnv) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/v1/payments/{payment_id}/signature"])
    assert "/v1/payments/{payment_id}/receipt" in paths
    assert "/v1/payments/{payment_id}/receipt.escpos" in paths
    assert not [p for p in paths if p.startswith("/r/")]
    post = paths["/v1/payments/{payment_id}/signature"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post["parameters"])


def test_a_foreign_card_receipt(api: ApiEnv) -> None:
    pid = card_sale(api, "12.00", VISA)
    body = api.get("owner_a", f"/v1/payments/{pid}/receipt").json()
    assert body["receipt"]["card_org"] == "VIS"
    assert "维萨 Visa" in api.client.get(path_of(body["url"])).text
