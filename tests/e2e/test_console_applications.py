"""The review queue in a real browser against a real `tillpoint serve --demo`: an
application submitted through the REST API, a reviewer asking for a document, the
document uploaded through the API, the reviewer approving with a fee plan. Screenshots
at a desktop's width and a phone's (360 px)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page
from tests.browsing import CHROMIUM, Watch, shoot
from tests.conftest import resident_id
from tests.e2e.test_serve import Served, served

PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
PASSWORD = "the reviewer's own password"
# A tiny real JPEG (1x1 pixel), so the page shows it as an image.
JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c"
    "0b0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e"
    "333432ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405"
    "060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107"
    "227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a4344"
    "45464748494a535455565758595a636465666768696a737475767778797a838485868788898a9293949596"
    "9798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3"
    "e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)

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
                    data={"kind": "id_front"}, files={"file": ("id.jpg", JPEG, "image/jpeg")})  # fmt: skip
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
    assert image.evaluate("img => img.complete && img.naturalWidth") == 1  # shown, decrypted
    assert "6212340000000000012" not in page.content()

    page.get_by_label("bank_card").check()
    page.get_by_label("What is wanted (the applicant reads this)").fill("A photo of the card")
    page.get_by_role("button", name="Ask for documents").click()
    assert page.get_by_role("status").inner_text() == "The applicant is asked for the documents."
    assert "Waiting for: bank_card" in page.locator(".app-asked").inner_text()
    shoot(page, shots, "applications-asked-en-desktop")

    answered = api.post(f"/v1/merchants/{ref}/documents", headers={"Idempotency-Key": "doc-2"},
                        data={"kind": "bank_card"}, files={"file": ("card.jpg", JPEG, "image/jpeg")})  # fmt: skip
    assert answered.status_code == 201, answered.text
    page.reload()
    assert page.locator(".status").first.inner_text() == "under_review"
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
