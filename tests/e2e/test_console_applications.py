"""The review queue in a real browser against a real `tillpoint serve --demo`: an
application submitted through the REST API, a reviewer asking for a document, the
document uploaded through the API, the reviewer approving with a fee plan. Screenshots
at a desktop's width and a phone's (360 px)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, Watch, shoot
from tests.conftest import resident_id
from tests.e2e.test_serve import Served, served

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
PASSWORD = "the reviewer's own password"


def card_photo(label: str) -> bytes:
    """A photo of a card, as a phone would send it: a JPEG of 320x200 pixels."""
    img = Image.new("RGB", (320, 200), (226, 232, 240))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(
        (12, 12, 308, 188), radius=14, fill=(191, 219, 254), outline=(30, 64, 175), width=3
    )
    draw.rectangle((28, 40, 108, 140), fill=(148, 163, 184))
    draw.text((124, 50), label, fill=(15, 23, 42))
    draw.text((124, 80), "ZHANG SAN", fill=(15, 23, 42))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=85)
    return out.getvalue()


pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")


def tillpoint(server: Served, *args: str) -> str:
    env = {**server.env, "TILLPOINT_DEMO": "1"}  # the served database is a demo one
    done = subprocess.run([sys.executable, "-m", "tillpoint", *args], env=env,
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as s:
        yield s


def test_a_reviewer_asks_for_a_document_then_approves(
    browser: Browser, server: Served, shots: Path
) -> None:
    base = server.base
    key = tillpoint(server, "keys", "create", "--role", "ops_admin", "--name", "back office")
    secret = next(w for w in key.split() if w.startswith("tp_"))
    made = json.loads(tillpoint(server, "users", "create", "--name", "Rita Reviewer",
                                "--email", "rita@acquirer.cn", "--role", "reviewer", "--json"))  # fmt: skip
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    applied = api.post("/v1/merchants", headers={"Idempotency-Key": "apply-1"}, json={
        "kind": "personal", "legal_name": "张三 Zhang San", "mcc": "5812", "region_code": "3100",
        "contact_name": "张三 Zhang San", "contact_phone": "13912345678", "bank_name": "ICBC",
        "bank_account_name": "张三 Zhang San", "bank_account_no": "6212340000000000012",
        "shop_address": "上海市黄浦区南京东路1号", "id_number": resident_id("31010119900101077"),
    })  # fmt: skip
    assert applied.status_code == 201, applied.text
    ref = applied.json()["id"]
    sent = api.post(f"/v1/merchants/{ref}/documents", headers={"Idempotency-Key": "doc-1"},
                    data={"kind": "id_front"}, files={"file": ("id.jpg", card_photo("ID CARD"), "image/jpeg")})  # fmt: skip
    assert sent.status_code == 201, sent.text

    context = browser.new_context(viewport=DESKTOP, locale="en")  # type: ignore[arg-type]
    watch = Watch(base)
    context.route("**/*", watch.route)
    page: Page = context.new_page()
    page.on("console", watch.console)
    page.goto(base + "/console/applications?lang=en")
    page.get_by_label("Email or mobile number").fill("rita@acquirer.cn")
    page.get_by_label("Password", exact=True).fill(made["password"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Current password").fill(made["password"])
    page.get_by_label("New password (at least 10 characters)").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(base + "/console")
    page.get_by_role("link", name="Applications").first.click()
    assert page.locator("h1").inner_text() == "Applications"
    page.get_by_role("link", name="张三 Zhang San").click()
    assert "Application #" in page.locator("h1").inner_text()
    assert page.locator(".app-checks li.pass").count() == 4  # every check passed
    assert page.locator(".app-checks li.fail").count() == 0
    image = page.locator(".app-docs img")
    image.scroll_into_view_if_needed()  # it loads lazily
    page.wait_for_function("() => document.querySelector('.app-docs img').complete")
    assert image.evaluate("img => img.naturalWidth") == 320  # decrypted, shown
    assert "6212340000000000012" not in page.content()

    page.get_by_label("Bank card", exact=True).check()
    page.get_by_label("What is wanted (the applicant reads this)").fill("A photo of the card")
    page.get_by_role("button", name="Ask for documents").click()
    assert page.get_by_role("status").inner_text() == "The applicant is asked for the documents."
    assert "Waiting for: Bank card" in page.locator(".app-asked").inner_text()
    shoot(page, shots, "applications-asked-en-desktop")

    answered = api.post(f"/v1/merchants/{ref}/documents", headers={"Idempotency-Key": "doc-2"},
                        data={"kind": "bank_card"}, files={"file": ("card.jpg", card_photo("BANK CARD"), "image/jpeg")})  # fmt: skip
    assert answered.status_code == 201, answered.text
    page.reload()
    assert page.locator(".status").first.inner_text() == "Under review"
    plans = [p["code"] for p in api.get("/v1/fee_plans").json()["data"]]
    page.get_by_label("Fee plan").select_option(plans[-1])
    page.get_by_label("First shop's name").fill("张三面馆 Zhang's Noodles")
    page.get_by_role("button", name="Approve the application").click()
    assert page.get_by_role("status").inner_text().startswith("Approved: the merchant's MID is 898")
    merchant = api.get(f"/v1/merchants/{ref}").json()
    assert merchant["status"] == "approved" and merchant["shops"][0]["name"].startswith("张三面馆")
    assert api.get(f"/v1/merchants/{ref}/fee_plan").json()["code"] == plans[-1]
    shoot(page, shots, "applications-approved-en-desktop")

    # The queue and the application at a phone's width: nothing wider than the screen.
    page.set_viewport_size(PHONE)
    page.goto(base + "/console/applications?state=approved&lang=zh_CN")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shoot(page, shots, "applications-queue-zh-phone")
    page.goto(f"{base}/console/applications/{ref}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    shoot(page, shots, "applications-detail-zh-phone")
    page.set_viewport_size(DESKTOP)
    page.goto(base + "/console/applications?state=approved&lang=en")
    shoot(page, shots, "applications-queue-en-desktop")
    assert watch.errors == [] and watch.elsewhere() == []
    context.close()
