"""The operations console's whole day, in Debian's Chromium against one real `tillpoint
serve --demo`, one person after another, each in a browser of their own:

1. the admin signs in and makes a reviewer (the password shown once);
2. the reviewer, at first sign-in, changes that password, takes an application sent
   through the REST API, asks for one more document, sees it arrive through the API,
   and approves with a fee plan: the merchant gets its MID;
3. fleet adds a terminal, binds it to the new merchant and ships it;
4. a sale at the virtual terminal shows in the admin's live feed within 2 seconds;
5. finance cuts the day off, reconciles it, settles it, downloads the payout file and a
   statement, holds a merchant's payouts and releases them;
6. the language switches between Chinese and English on the way.

The areas' own browser tests (test_console_*.py) look at each page more closely."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from tests.browsing import CHROMIUM, Watch, shoot
from tests.conftest import resident_id
from tests.e2e.test_console_applications import card_photo
from tests.e2e.test_console_home import card_sale
from tests.e2e.test_serve import Served, served

from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_mid
from tillpoint.terminal.device import DeviceState

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
REVIEWER, FLEET, FINANCE = "rita@acquirer.cn", "fei@acquirer.cn", "cai@acquirer.cn"
OWN_PASSWORD = "a password of one's own"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served(tmp_path_factory.mktemp("serve"), terminals=1) as s:
        yield s


def tillpoint(server: Served, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tillpoint", *args],
                          env={**server.env, "TILLPOINT_DEMO": "1"}, capture_output=True,
                          text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


class Person:
    """One person at one browser: signs in, and is watched for anything loaded from
    elsewhere or any complaint of the browser."""

    def __init__(self, browser: Browser, server: Served, lang: str = "en") -> None:
        self.base = server.base
        self.context = browser.new_context(viewport=DESKTOP, locale=lang,  # type: ignore[arg-type]
                                           accept_downloads=True)  # fmt: skip
        self.watch = Watch(self.base)
        self.context.route("**/*", self.watch.route)
        self.page: Page = self.context.new_page()
        self.page.on("console", self.watch.console)
        self.page.on("pageerror", lambda e: self.watch.errors.append(f"pageerror: {e}"))

    def sign_in(self, login: str, password: str, *, new_password: str | None = None) -> None:
        page = self.page
        page.goto(self.base + "/console/sign-in?lang=en")
        page.get_by_label("Email or mobile number").fill(login)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        if new_password is not None:  # a password made for them: their own first
            page.wait_for_url(self.base + "/console/password")
            page.get_by_label("Current password").fill(password)
            page.get_by_label("New password (at least 10 characters)").fill(new_password)
            page.get_by_role("button", name="Change password").click()
        page.wait_for_url(self.base + "/console")

    def flash(self) -> str:
        return self.page.locator(".flash").inner_text()

    def done(self) -> None:
        assert self.watch.errors == [] and self.watch.elsewhere() == []
        self.context.close()


def make_account(admin: Person, name: str, login: str, role: str) -> str:
    """The admin makes an account on the users page; its password, shown once."""
    page = admin.page
    page.goto(admin.base + "/console/users/new")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(login)
    page.get_by_label(role, exact=True).check()
    page.get_by_role("button", name="Make the account").click()
    password = page.locator("#made-password").inner_text()
    assert len(password) >= 10
    return password


def test_a_day_at_the_acquirer(browser: Browser, server: Served, shots: Path) -> None:
    base = server.base
    key = tillpoint(server, "keys", "create", "--role", "ops_admin", "--name", "back office")
    secret = next(w for w in key.split() if w.startswith("tp_"))
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30)

    # 1. The admin makes the reviewer (and the fleet and finance people).
    admin = Person(browser, server)
    admin.sign_in(DEMO_ADMIN, DEMO_PASSWORD)
    passwords = {login: make_account(admin, name, login, role) for name, login, role in (
        ("Rita Reviewer", REVIEWER, "Reviewer"), ("Fei Fleet", FLEET, "Fleet"),
        ("Cai Finance", FINANCE, "Finance"))}  # fmt: skip
    admin.page.goto(base + "/console/users")
    listed = admin.page.locator("table.list").inner_text()
    assert all(login in listed for login in passwords)
    assert all(p not in admin.page.content() for p in passwords.values())  # shown once only

    # 2. An application through the API; the reviewer asks for one more document.
    applied = api.post("/v1/merchants", headers={"Idempotency-Key": "journey-apply"}, json={
        "kind": "personal", "legal_name": "李四 Li Si", "mcc": "5812", "region_code": "3100",
        "contact_name": "李四 Li Si", "contact_phone": "13900001111", "bank_name": "ICBC",
        "bank_account_name": "李四 Li Si", "bank_account_no": "6212340000000000012",
        "shop_address": "上海市静安区南京西路2号", "id_number": resident_id("31010119900202077"),
    })  # fmt: skip
    assert applied.status_code == 201, applied.text
    ref = applied.json()["id"]
    sent = api.post(f"/v1/merchants/{ref}/documents", headers={"Idempotency-Key": "journey-d1"},
                    data={"kind": "id_front"},
                    files={"file": ("id.jpg", card_photo("ID CARD"), "image/jpeg")})  # fmt: skip
    assert sent.status_code == 201, sent.text

    rita = Person(browser, server)
    rita.sign_in(REVIEWER, passwords[REVIEWER], new_password=OWN_PASSWORD)
    page = rita.page
    page.locator("nav.nav").get_by_role("link", name="Applications").click()
    page.get_by_role("link", name="李四 Li Si").click()
    page.get_by_label("Bank card", exact=True).check()
    page.get_by_label("What is wanted (the applicant reads this)").fill("A photo of the card")
    page.get_by_role("button", name="Ask for documents").click()
    assert rita.flash() == "The applicant is asked for the documents."
    answered = api.post(f"/v1/merchants/{ref}/documents",
                        headers={"Idempotency-Key": "journey-d2"}, data={"kind": "bank_card"},
                        files={"file": ("card.jpg", card_photo("BANK CARD"), "image/jpeg")})  # fmt: skip
    assert answered.status_code == 201, answered.text
    page.reload()
    assert page.locator("h1 ~ p .status").first.inner_text() == "Under review"
    plans = [p["code"] for p in api.get("/v1/fee_plans").json()["data"]]
    page.get_by_label("Fee plan").select_option(plans[-1])
    page.get_by_label("First shop's name").fill("李四小吃 Li's Snacks")
    page.get_by_role("button", name="Approve the application").click()
    approved = re.search(r"MID is (\d{15})", rita.flash())
    assert approved is not None, rita.flash()
    mid = approved.group(1)
    assert api.get(f"/v1/merchants/{ref}/fee_plan").json()["code"] == plans[-1]
    shoot(page, shots, "journey-approved-en")
    rita.done()

    # 3. Fleet adds a terminal, binds it to the new merchant and ships it.
    fei = Person(browser, server)
    fei.sign_in(FLEET, passwords[FLEET], new_password=OWN_PASSWORD)
    page = fei.page
    page.locator("nav.nav").get_by_role("link", name="Fleet").click()
    page.get_by_label("Serial number", exact=True).fill("SN-JOURNEY-1")
    page.get_by_label("Model", exact=True).fill("P300")
    page.get_by_role("button", name="Add").click()
    assert "added to stock" in fei.flash()
    tid = page.url.rsplit("/", 1)[1]
    page.get_by_label("Merchant (MID)").fill(mid)
    page.get_by_label("Supervisor (00) password, 6 digits").fill("246810")
    page.get_by_role("button", name="Bind").click()
    assert f"bound to merchant {mid}, shop 1" in fei.flash()
    page.get_by_role("button", name="Ship").click()
    assert "is now shipped" in fei.flash()
    assert api.get(f"/v1/terminals/{tid}").json()["status"] == "shipped"
    fei.done()

    # 4. A sale at the virtual terminal shows in the admin's live feed within 2 s.
    page = admin.page
    page.goto(base + "/console")
    expect(page.locator("#feed-state")).to_have_text("Live: new payments appear as they happen.")
    rows = page.locator("#feed-rows tr")
    terminal = DeviceState.demo(1)
    terminal.port = server.iso_port
    card_sale(terminal, 8_888)
    expect(rows.first).to_contain_text("CN¥88.88", timeout=2_000)
    shoot(page, shots, "journey-feed-en")

    # 5. Finance ends the day, pays, downloads, holds and releases.
    cai = Person(browser, server)
    cai.sign_in(FINANCE, passwords[FINANCE], new_password=OWN_PASSWORD)
    page = cai.page
    page.locator("nav.nav").get_by_role("link", name="Days and money").click()
    cut = page.get_by_role("button", name=re.compile(r"^Close business day \d{4}-\d\d-\d\d now$"))
    day = cut.inner_text().split()[3]
    cut.click()
    page.wait_for_url(f"{base}/console/days/{day}")
    page.get_by_role("button", name=f"Reconcile {day} with the networks' clearing files").click()
    assert "not matched: 0" in cai.flash()
    page.get_by_role("button", name=f"Settle {day}: pay every merchant its net").click()
    assert cai.flash().startswith(f"Business day {day} is settled")
    with page.expect_download() as payouts:
        page.get_by_role("link", name=re.compile("Download the payout file")).click()
    assert payouts.value.suggested_filename == f"payouts-{day}.csv"
    assert demo_mid(1) in Path(payouts.value.path()).read_text(encoding="utf-8")
    with page.expect_download() as statement:
        page.get_by_role("link", name=f"Statement of {demo_mid(1)} (PDF)").click()
    assert Path(statement.value.path()).read_bytes().startswith(b"%PDF")
    page.goto(base + "/console/holds")
    page.get_by_label("MID of the merchant to hold").fill(mid)
    page.get_by_label("Reason (kept with the hold)").fill("new merchant, first week")
    page.get_by_role("button", name="Hold this merchant's payouts from its next settlement").click()
    assert cai.flash() == f"Payouts of {mid} are held."
    page.get_by_role("button", name=f"Release {mid}: pay what was held").click()
    assert cai.flash().startswith(f"Payouts of {mid} are released")

    # 6. Chinese and back, on the page where finance is.
    page.get_by_role("link", name="中文").click()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "日终与资金" in page.locator("nav.nav").inner_text()
    shoot(page, shots, "journey-holds-zh")
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    cai.done()

    # Every step is in the audit log, under the person who took it.
    admin.page.goto(base + "/console/audit?lang=en")
    log = admin.page.locator("table.list").inner_text()
    for who in (f"console:{REVIEWER}", f"console:{FINANCE}"):
        assert who in log
    admin.done()
