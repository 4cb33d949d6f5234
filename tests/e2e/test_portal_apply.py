"""Applying for a POS in a real browser, at a phone's width (360 px), against the demo
app served in this process: a person signs up, applies as a personal merchant with the
three documents, is asked for one more by a reviewer in the console (a second browser),
uploads it, is approved; a terminal of the fleet is bound; the applicant, now the owner,
sees the MID, the shop and the TID. Screenshots: the form in Chinese at 360 px, the
approved application in English at 1280 px."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, Watch
from tests.conftest import resident_id

from tillpoint.access.models import AccountRole
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint
from tillpoint.payments.acquirer import simulated

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
PASSWORD = "my own password 1"
REVIEWER_PASSWORD = "the reviewer's own password"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def png(label: str) -> bytes:
    """A small photo of a card, as a PNG."""
    img = Image.new("RGB", (240, 150), (226, 232, 240))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((8, 8, 232, 142), radius=10, fill=(191, 219, 254), outline=(30, 64, 175))
    draw.text((20, 60), label, fill=(15, 23, 42))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def pdf(text: str) -> bytes:
    """A one-page PDF, its cross-reference table pointing at each object."""
    stream = f"BT /F1 18 Tf 40 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref,
    )  # fmt: skip
    return bytes(out)


@contextmanager
def serving(tp: Tillpoint) -> Iterator[str]:
    """The demo app's HTTP side on a free port, in a thread of this process (so the test
    can bind a terminal through the same services); its address."""
    acquirer = simulated(tp)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_api(tp, acquirer), log_level="warning",
                                           proxy_headers=False))  # fmt: skip
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        acquirer.close()


def snap(page: Page, shots: Path, name: str) -> None:
    """What the screen shows (not the whole page); TILLPOINT_TEST_SHOTS keeps a copy."""
    path = shots / f"{name}.png"
    page.screenshot(path=path)
    if keep := os.environ.get("TILLPOINT_TEST_SHOTS"):
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(keep) / path.name)


def fits(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], page.url


def upload(page: Page, kind: str, name: str, mime: str, content: bytes) -> None:
    page.set_input_files(f"#file-{kind}", {"name": name, "mimeType": mime, "buffer": content})
    form = page.locator("form.apply-upload").filter(has=page.locator(f"#file-{kind}"))
    with page.expect_navigation():
        form.locator("button").click()
    assert page.locator(".flash.ok").count() == 1, page.locator(".flash").all_inner_texts()


def test_a_person_applies_is_asked_for_a_document_is_approved_and_sees_the_terminal(
    demo: Tillpoint, browser: Browser, shots: Path
) -> None:
    demo.accounts.create(name="Rita Reviewer", roles={AccountRole.REVIEWER}, actor="test",
                         email="rita@acquirer.cn", password=REVIEWER_PASSWORD)  # fmt: skip
    with serving(demo) as base:
        watch = Watch(base)
        phone = browser.new_context(viewport=PHONE, locale="zh-CN")  # type: ignore[arg-type]
        phone.route("**/*", watch.route)
        page = phone.new_page()
        page.on("console", watch.console)
        page.on("pageerror", lambda e: watch.errors.append(f"pageerror: {e}"))

        # Sign up, from the portal's sign-in page.
        page.goto(base + "/portal/sign-in?lang=zh_CN")
        page.locator('a[href="/portal/sign-up"]').click()
        page.wait_for_url(base + "/portal/sign-up")
        fits(page)
        page.fill("#name", "张三")
        page.fill("#login", "13912345678")
        page.fill("#password", PASSWORD)
        page.fill("#password_again", PASSWORD)
        page.locator("form button[type=submit]").click()
        page.wait_for_url(base + "/portal/application")

        # Apply as a person: the kind first, then its fields.
        page.locator('a[href="/portal/application?kind=personal"]').click()
        page.wait_for_url(base + "/portal/application?kind=personal")
        assert page.locator("#business_licence_no").count() == 0
        assert page.input_value("#legal_name") == "张三"  # from the account
        page.fill("#id_number", resident_id("31010119900101077"))
        page.select_option("#mcc", "5812")
        page.fill("#region_code", "3100")
        page.fill("#display_name", "张三面馆")
        page.fill("#shop_address", "上海市黄浦区南京东路1号")
        page.fill("#bank_name", "工商银行")
        page.fill("#bank_account_no", "6212340000000000012")
        fits(page)
        page.evaluate("window.scrollTo(0, 0)")
        snap(page, shots, "portal-application-zh")
        with page.expect_navigation():
            page.locator(".apply-form button[type=submit]").click()
        assert page.locator(".flash.ok").count() == 1
        ref = demo.accounts.get("13912345678").merchant_id
        assert ref is not None

        # The three documents: two photos and a PDF.
        upload(page, "id_front", "id-front.png", "image/png", png("ID CARD FRONT"))
        upload(page, "id_back", "id-back.png", "image/png", png("ID CARD BACK"))
        upload(page, "bank_card", "card.pdf", "application/pdf", pdf("BANK CARD"))
        assert page.locator(".status-doc-uploaded").count() == 3
        fits(page)

        # A reviewer, in a browser of their own, asks for a clearer bank card.
        desk = browser.new_context(viewport=DESKTOP, locale="en")  # type: ignore[arg-type]
        desk.route("**/*", watch.route)
        console = desk.new_page()
        console.on("console", watch.console)
        console.goto(f"{base}/console/applications/{ref}?lang=en")
        console.get_by_label("Email or mobile number").fill("rita@acquirer.cn")
        console.get_by_label("Password", exact=True).fill(REVIEWER_PASSWORD)
        console.get_by_role("button", name="Sign in").click()
        console.wait_for_url(f"{base}/console/applications/{ref}?lang=en")
        console.get_by_label("Bank card", exact=True).check()
        console.get_by_label("What is wanted (the applicant reads this)").fill(
            "A photo of the card, please: the PDF is unreadable"
        )
        console.get_by_role("button", name="Ask for documents").click()
        assert console.get_by_role("status").inner_text().startswith("The applicant is asked")

        page.reload()
        assert "银行卡" in page.locator(".app-asked").inner_text()
        assert "the PDF is unreadable" in page.locator(".apply-now").inner_text()
        assert page.locator(".status-doc-asked").count() == 1
        upload(page, "bank_card", "card.png", "image/png", png("BANK CARD"))
        assert page.locator(".status-under_review").count() >= 1

        # The reviewer approves; the fleet binds a terminal to the new merchant.
        console.reload()
        console.get_by_role("button", name="Approve the application").click()
        assert console.get_by_role("status").inner_text().startswith("Approved: the merchant's")
        mid = demo.merchants.get(str(ref)).mid
        assert mid is not None
        added = demo.terminals.add("SN-E2E-APPLY-1", "Tillpoint P1", "test")
        demo.terminals.bind(added.terminal.tid, mid, "test")

        # The applicant, now the owner, sees the MID, the shop and the terminal.
        page.reload()
        assert page.locator(".apply-mid").inner_text() == mid
        assert "张三面馆" in page.locator(".apply-shops").inner_text()
        assert page.locator("td.apply-tid").inner_text() == added.terminal.tid
        assert f"--tid {added.terminal.tid} --mid {mid}" in page.locator("pre").first.inner_text()
        fits(page)
        page.set_viewport_size(DESKTOP)
        page.goto(base + "/portal/application?lang=en")
        assert page.locator(".apply-mid").inner_text() == mid
        snap(page, shots, "portal-application-en")
        assert watch.errors == [] and watch.elsewhere() == []
        desk.close()
        phone.close()
