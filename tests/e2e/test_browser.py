"""In a real browser, against a real `tillpoint serve --demo`: the customer's phone paying
a merchant-presented QR code on the wallet simulator's page, and the public receipt page
as a phone shows it.

Chromium is Debian's (/usr/bin/chromium, driven by Playwright; scripts/test installs it
with fonts-noto-cjk), never a browser Playwright downloads. Screenshots go to a temporary
folder; set TILLPOINT_TEST_SHOTS=/some/dir to keep copies there and look at them.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import (
    Browser,
    Page,
    ViewportSize,
)
from tests.browsing import CHROMIUM, Watch, shoot
from tests.e2e.test_serve import served

from tillpoint.core.money import Money
from tillpoint.demo import demo_mid
from tillpoint.receipts.layout import LABELS
from tillpoint.terminal.device import Device, DeviceState

NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
MID = demo_mid(1)  # 898310054110001
# An iPhone SE or 8: the narrowest phone that still matters.
PHONE: ViewportSize = {"width": 375, "height": 667}
CARD = "6212340000000000012"  # a UnionPay debit card the simulated network approves

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="the browser tests need /usr/bin/chromium (apt-get install chromium fonts-noto-cjk)",
)


# --- the server -------------------------------------------------------------------------


@dataclass
class Server:
    base: str
    iso_port: int
    key: str

    def call(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.key}"}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        answer = httpx.request(method, self.base + path, json=body, headers=headers, timeout=10)
        return answer.status_code, answer.json()

    def api(self, method: str, path: str, body: object = None) -> Any:
        status, answer = self.call(method, path, body)
        assert status < 300, (method, path, status, answer)
        return answer

    def qr_payment(self, amount_minor: int) -> Any:
        payment = self.api(
            "POST",
            "/v1/payments",
            {"amount_minor": amount_minor, "flow": "merchant_presented", "expires_in_s": 300},
        )
        assert payment["status"] == "pending" and payment["qr_code"].startswith(self.base)
        return payment


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with served(tmp_path_factory.mktemp("serve"), terminals=2) as demo:
        made = subprocess.run(
            [sys.executable, "-m", "tillpoint", "keys", "create", "--role", "merchant_owner",
             "--merchant", MID, "--name", "browser test", "--json"],
            env={**demo.env, "TILLPOINT_DEMO": "1"}, capture_output=True, text=True, check=True,
        )  # fmt: skip
        yield Server(demo.base, demo.iso_port, json.loads(made.stdout)["secret"])


def card_sale(server: Server, amount_minor: int) -> str:
    """A card payment at demo terminal 1, over ISO 8583 as a terminal makes it; its RRN.
    (In a thread of its own: Playwright's sync API owns this thread's event loop.)"""

    async def sale() -> str:
        device = Device(dataclasses.replace(DeviceState.demo(1), port=server.iso_port))
        try:
            result = await device.sale(Money(amount_minor), CARD)
        finally:
            await device.close()
        assert result.approved and result.rrn, result
        return result.rrn

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, sale()).result(timeout=30)


def signature_png() -> bytes:
    """A scrawl, as a signature pad sends it."""
    img = Image.new("RGBA", (480, 160), (255, 255, 255, 0))
    pen = ImageDraw.Draw(img)
    pen.line([(30, 110), (70, 40), (95, 120), (130, 50), (160, 115), (200, 60), (235, 100)],
             fill="black", width=5, joint="curve")  # fmt: skip
    pen.line([(250, 95), (300, 45), (320, 110), (380, 70), (450, 80)], fill="black", width=5)
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


# --- the browser ------------------------------------------------------------------------


@dataclass
class Phone:
    page: Page
    watch: Watch


@pytest.fixture
def phone(browser: Browser, server: Server) -> Iterator[Phone]:
    """A fresh phone-sized browser whose every request and complaint is watched."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
    )
    watch = Watch(server.base)
    context.route("**/*", watch.route)
    page = context.new_page()
    page.on("console", watch.console)
    page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))
    yield Phone(page, watch)
    context.close()


# --- the wallet simulator: the customer's phone -----------------------------------------


def answer_qr(
    page: Page, server: Server, shots: Path, amount_minor: int, wallet: str, button: str
) -> Any:
    """Open the payment's QR link as the customer's phone, choose, press; the payment."""
    payment = server.qr_payment(amount_minor)
    response = page.goto(payment["qr_code"])
    assert response is not None and response.status == 200
    page.get_by_text("¥" + Money(amount_minor).plain()).wait_for()
    page.get_by_text("演示超市1 Demo Mart 1").wait_for()
    shoot(page, shots, f"simulator-open-{amount_minor}")
    page.get_by_role("radio", name=wallet).check()
    with page.expect_navigation():  # the form posts; the answer sends the page back to itself
        page.get_by_role("button", name=button).click()
    assert page.url == payment["qr_code"]
    return payment


def test_customer_pays_a_merchant_presented_qr_code(
    server: Server, phone: Phone, shots: Path
) -> None:
    page, watch = phone.page, phone.watch
    payment = answer_qr(page, server, shots, 2500, "微信支付", "确认付款 Pay")
    page.get_by_text("支付成功").wait_for()
    assert page.get_by_role("button").count() == 0  # nothing to press twice
    shoot(page, shots, "simulator-paid")

    paid = server.api("GET", f"/v1/payments/{payment['id']}")
    assert (paid["status"], paid["method"], paid["amount_minor"]) == ("succeeded", "wechat", 2500)
    assert paid["rrn"] and paid["auth_code"]

    page.reload()  # paid stays paid: no form for a second payment
    page.get_by_text("支付成功").wait_for()
    assert page.locator("form").count() == 0

    receipt = server.api("GET", f"/v1/payments/{payment['id']}/receipt")
    page.goto(receipt["url"])
    for text in ("CNY", "25.00", "微信支付 WeChat Pay", paid["rrn"], "交易成功"):
        assert text in page.inner_text("main"), text
    assert watch.errors == [] and watch.elsewhere() == []


def test_customer_declines_a_merchant_presented_qr_code(
    server: Server, phone: Phone, shots: Path
) -> None:
    page, watch = phone.page, phone.watch
    payment = answer_qr(page, server, shots, 4200, "支付宝", "拒绝 Decline")
    page.get_by_text("已拒绝付款").wait_for()
    shoot(page, shots, "simulator-declined")

    declined = server.api("GET", f"/v1/payments/{payment['id']}")
    assert (declined["status"], declined["host_status"]) == ("failed", "declined"), declined
    status, problem = server.call("GET", f"/v1/payments/{payment['id']}/receipt")
    assert status == 404, problem  # nothing was paid: there is nothing to keep
    assert watch.errors == [] and watch.elsewhere() == []


def test_an_unknown_qr_code_on_the_simulator(server: Server, phone: Phone, shots: Path) -> None:
    page = phone.page
    response = page.goto(server.base + "/simulator/qr/no-such-order")
    assert response is not None and response.status == 404
    page.get_by_text("找不到该订单").wait_for()
    shoot(page, shots, "simulator-not-found")


# --- the receipt page -------------------------------------------------------------------

READABLE = """() => {
    const main = document.querySelector("main").getBoundingClientRect();
    const out = {scroll: document.documentElement.scrollWidth, width: innerWidth,
                 outside: [], tiny: []};
    for (const el of document.querySelectorAll("main *")) {
        const r = el.getBoundingClientRect();
        if (r.width && (r.left < main.left - 0.5 || r.right > main.right + 0.5))
            out.outside.push(el.outerHTML.slice(0, 80));
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (own && parseFloat(getComputedStyle(el).fontSize) < 10)
            out.tiny.push(el.outerHTML.slice(0, 80));
    }
    return out;
}"""


def fonts_of(page: Page, selector: str) -> set[str]:
    """The font families the browser really drew an element's text with."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return {f["familyName"] for f in fonts}


def test_receipt_page_on_a_phone(
    server: Server, browser: Browser, phone: Phone, shots: Path
) -> None:
    rrn = card_sale(server, 8888)
    listed = server.api("GET", "/v1/payments?limit=100")["data"]
    payment = next(p for p in listed if p["rrn"] == rrn)
    png = signature_png()
    server.api(
        "POST",
        f"/v1/payments/{payment['id']}/signature",
        {"image_base64": base64.b64encode(png).decode()},
    )
    links = server.api("GET", f"/v1/payments/{payment['id']}/receipt")
    url, r = links["url"], links["receipt"]
    assert url.startswith(server.base + "/r/") and links["signature_url"] == url + "/signature.png"

    page, watch = phone.page, phone.watch
    response = page.goto(url)
    assert response is not None and response.status == 200
    headers = response.headers
    assert headers["referrer-policy"] == "no-referrer"
    assert "noindex" in headers["x-robots-tag"] and "no-store" in headers["cache-control"]
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noindex, nofollow"
    page.wait_for_load_state("networkidle")
    shoot(page, shots, "receipt-phone")

    # What it shows, in both languages; the card only masked.
    assert page.locator("h1").inner_text() == r["merchant_name"] == "演示超市1 Demo Mart 1"
    assert page.locator(".amount").inner_text().split() == ["CNY", "88.88"]
    text = page.inner_text("main")
    for zh, en in (LABELS[k] for k in ("title", "mid", "card", "rrn", "time", "signature", "scan")):
        assert zh in text and en in text, (zh, en)
    for value in (MID, rrn, r["pan_masked"], "银联 UnionPay", "消费 SALE", "交易成功 · APPROVED"):
        assert value in text, value
    assert r["pan_masked"].startswith(CARD[:6]) and r["pan_masked"].endswith(CARD[-4:])
    assert CARD not in page.content()

    # The QR code of the page's own link is drawn, large enough to scan off the screen:
    # square, 1-bit and about half dark, as a QR code is.
    box = page.locator(".qr svg").bounding_box()
    assert box is not None and box["width"] >= 120 and abs(box["width"] - box["height"]) < 1
    qr = Image.open(io.BytesIO(page.locator(".qr svg").screenshot())).convert("L")
    dark = sum(qr.histogram()[:128]) / (qr.width * qr.height)
    assert 0.3 < dark < 0.7, dark
    # ... and the same code as an image file renders (the page's CSP lets 'self' images in).
    natural = page.evaluate(
        "async u => { const i = new Image(); i.src = u; await i.decode(); return i.naturalWidth }",
        links["qr_svg_url"],
    )
    assert natural > 0
    # The signature, fetched beside the page, drawn.
    sig = page.locator(".signature img")
    assert sig.evaluate("i => i.complete && i.naturalWidth") == 480
    assert (sig.bounding_box() or {"width": 0})["width"] > 100

    # Readable on a 375 px phone: no sideways scrolling, nothing sticking out of the
    # receipt, no text smaller than 10 px, Chinese in a real CJK font (no tofu).
    readable = page.evaluate(READABLE)
    assert readable["scroll"] <= readable["width"] == PHONE["width"], readable
    assert readable["outside"] == [] and readable["tiny"] == [], readable
    if NOTO_CJK.exists():
        assert fonts_of(page, "h1") == {"Noto Sans CJK SC"}
        assert fonts_of(page, ".row .zh") == {"Noto Sans CJK SC"}

    # Nothing but this server was asked for anything (no CDN, no fonts, no analytics),
    # and the browser had nothing to complain about (CSP violations included).
    assert watch.elsewhere() == [], watch.requests
    own = {urlsplit(u).path for u in (url, links["signature_url"], links["qr_svg_url"])}
    assert own <= {urlsplit(u).path for u in watch.requests} <= own | {"/favicon.ico"}
    assert watch.errors == []

    # On a desktop screen it stays a slip in the middle, not a stretched page.
    wide = browser.new_context(viewport={"width": 1280, "height": 900})
    desk = wide.new_page()
    desk.goto(url)
    main_box = desk.locator("main").bounding_box()
    assert main_box is not None and main_box["width"] < 500
    assert abs(main_box["x"] + main_box["width"] / 2 - 640) < 2
    shoot(desk, shots, "receipt-desktop")
    wide.close()


def test_a_wrong_receipt_link_is_not_found(server: Server, phone: Phone, shots: Path) -> None:
    payment = server.api(
        "POST", "/v1/payments", {"amount_minor": 1234, "code": "284000000000000001"}
    )
    assert payment["status"] == "succeeded"
    url = server.api("GET", f"/v1/payments/{payment['id']}/receipt")["url"]
    last = url[-1]
    wrong = url[:-1] + ("0" if last != "0" else "1")

    page, watch = phone.page, phone.watch
    for bad in (wrong, server.base + "/r/999999-" + url[-32:], server.base + "/r/nonsense"):
        response = page.goto(bad)
        assert response is not None and response.status == 404, bad
        assert response.headers["referrer-policy"] == "no-referrer"
        assert page.locator("h1").inner_text().split("\n") == list(LABELS["not_found"])
        assert "演示超市" not in page.content()  # a wrong link reveals nothing
    shoot(page, shots, "receipt-not-found")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    # The one complaint allowed: the browser noting the page's own 404.
    assert all("404" in e for e in watch.errors), watch.errors
    assert watch.elsewhere() == []

    response = page.goto(url)  # the right link still opens
    assert response is not None and response.status == 200
