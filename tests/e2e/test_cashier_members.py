"""Members at the till, end to end in Debian's Chromium against the real HTTP app: the
cashier finds a member by their mobile number (the member's price comes on the water),
uses their coupon and redeems their points (the page's total is the server's quote),
takes cash; the receipt, printed and as the e-receipt, shows the member masked, the
coupon, the points redeemed and earned and the balance; a line taken back takes its
points back; then a new customer signs up at the till with their consent and buys as a
member at once. The number typed is never kept in the browser's storage.

Set TILLPOINT_TEST_SHOTS=/some/dir to keep the screenshots and look at them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select
from tests.browsing import CHROMIUM, shoot
from tests.e2e.test_cashier import open_till, sign_in, until, wedge
from tests.e2e.test_portal_apply import serving
from tests.membership import MOBILE, join
from tests.selling import PASSWORD, World, shop_world, water_code

from tillpoint.app import Tillpoint
from tillpoint.receipts.orders import OrderReceipts
from tillpoint.store.coupons import CouponValue
from tillpoint.store.member_models import Channel, CouponKind, MemberConsent
from tillpoint.store.models import Order

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
BREAD_CODE = "6920000000036"
NEW_MOBILE = "13987654321"


@pytest.fixture
def world(demo: Tillpoint) -> World:
    w = shop_world(demo, 1)
    demo.catalogue.add_barcode(w.merchant_id, w.products["bread"], BREAD_CODE)
    return w


@pytest.fixture
def base(demo: Tillpoint) -> Iterator[str]:
    with serving(demo) as url:
        yield url


def _text(page: Page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


def test_members_at_the_till(
    browser: Browser,
    demo: Tillpoint,
    world: World,
    base: str,
    shots: Path,
) -> None:
    tp, w = demo, world
    m = join(w, name="王五")
    tp.members.adjust(m.id, 300, "welcome", merchant_id=w.merchant_id, by="test")
    five = CouponValue("满减 5 off", CouponKind.AMOUNT, 500, None, 0, 30, 1)
    code = tp.coupons.issue(w.merchant_id, value=five, member_id=m.id, by="test")[0].code
    tp.loyalty.set_member_price(w.merchant_id, w.products["water"], 220)

    page, watch = open_till(browser, base, {"width": 1366, "height": 900}, "en")
    sign_in(page, base, "cashier1@shop.example.com", "cashier-secret-1")
    page.locator("#start-till").fill("T1")
    page.locator("#start-float").fill("100")
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_selector("body[data-ready='1']")

    wedge(page, water_code(1))
    until(page, "document.querySelectorAll('#lines li').length === 1")
    wedge(page, water_code(1))
    wedge(page, BREAD_CODE)
    until(page, "document.getElementById('t-total').textContent === 'CN¥12.50'")

    # The member, by the number the customer says (spaces and all).
    page.keyboard.press("F11")
    page.wait_for_selector("#member-dialog[open]")
    page.locator("#member-number").fill("138 1234 5678")
    page.locator('[data-member="lookup"]').click()
    page.wait_for_selector("#member-card:not([hidden])")
    assert _text(page, "#member-mobile") == "138****5678"
    assert _text(page, "#member-points") == "300"
    # The member's price on the water: 2 x 2.20 + 7.50
    until(page, "document.getElementById('t-total').textContent === 'CN¥11.90'")
    assert "member price, was CN¥2.50" in _text(page, "#lines")
    # Their coupon (5 off) and all the points the order can take (3 steps: 3.00).
    page.locator(f'.member-coupon[data-code="{code}"]').click()
    page.locator("#member-redeem").click()
    until(page, "document.getElementById('t-total').textContent === 'CN¥3.90'")
    until(page, "document.getElementById('member-earns').textContent.indexOf('3') >= 0")
    assert "Coupon 满减 5 off −CN¥5.00" in _text(page, "#member-perks")
    assert "300 points −CN¥3.00" in _text(page, "#member-perks")
    shoot(page, shots, "cashier-member-panel-en")
    kept = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert MOBILE not in kept and "1234 5678" not in kept and "138****5678" in kept

    # To paying and back: the order is given up, the member and their perks stay.
    page.keyboard.press("F12")
    page.wait_for_selector("#tender:not([hidden])")
    page.locator("#amount").fill("1")
    page.locator('[data-act="card"]').click()  # the order is made at the server, then...
    page.wait_for_selector("#waiting:not([hidden])")
    page.locator('[data-act="cancel-tender"]').click()
    until(page, "document.getElementById('waiting').hidden")
    page.keyboard.press("Escape")
    page.wait_for_selector("#sell:not([hidden])")
    until(page, "document.getElementById('t-total').textContent === 'CN¥3.90'")
    assert _text(page, "#member-mobile") == "138****5678"
    # The snapshot a till keeps to sell offline: masked numbers, found by the typed one.
    masked = page.evaluate(
        "TP.members.snapshot().then(function (s) {"
        " return TP.members.matches(s.members, '138 1234 5678').map(function (x) {"
        " return [x.id, x.mobile, x.name]; }); })"
    )
    assert masked == [[m.id, "138****5678", "王五"]]

    page.keyboard.press("F12")
    page.wait_for_selector("#tender:not([hidden])")
    assert _text(page, "#due") == "CN¥3.90"
    page.keyboard.press("F1")  # cash, exactly what is due
    page.wait_for_selector("#done:not([hidden])")
    assert "Member 138****5678: 3 points earned, balance 3" in _text(page, "#done-detail")
    # (numbered past the block of numbers the page keeps for selling offline)
    number = _text(page, "#done-receipt").split()[-1]
    page.wait_for_selector("#done-qr:not([hidden])")
    page.keyboard.press("F1")
    until(page, "window.__prints === 1")
    slip = _text(page, "#print-area").replace(" ", "")
    for part in ("MEMBER138****5678", "COUPON满减5off-5.00", "POINTSREDEEMED300-3.00",
                 "POINTSEARNED+3", "POINTSBALANCE3"):  # fmt: skip
        assert part in slip, (part, slip)
    with tp.ctx.db.read() as s:
        sale = s.scalars(select(Order).where(Order.receipt_no == number)).one()
    assert (sale.member_id, sale.total_minor, sale.discount_minor) == (m.id, 390, 800)
    view = tp.orders.get(sale.id, merchant_id=w.merchant_id)
    assert view.loyalty and (view.loyalty.points_earned, view.loyalty.points_redeemed) == (3, 300)
    # The printed slip as the printer sees it, and the e-receipt page.
    page.emulate_media(media="print")
    page.evaluate("document.body.dataset.print = 'slip'")
    shoot(page, shots, "cashier-member-slip-en")
    page.evaluate("delete document.body.dataset.print")
    page.emulate_media(media="screen")
    receipt = page.context.new_page()
    receipt.goto(OrderReceipts(tp.ctx).url(sale.id, base))
    body = " ".join(receipt.locator("body").inner_text().split())
    assert "138****5678" in body and "积分余额" in body and "POINTS BALANCE" in body
    shoot(receipt, shots, "cashier-member-e-receipt")
    receipt.close()

    # The bread back: its points go back (7.50 less its share of the 8.00 off, x1).
    page.keyboard.press("Enter")
    page.keyboard.press("F9")
    page.locator("#return-ref").fill(number)
    page.locator("#return-ref").press("Enter")
    page.wait_for_selector("#return-sale:not([hidden])")
    page.locator("#return-lines li").nth(1).locator("button.return-all").click()
    page.locator('[data-act="return-go"]').click()
    page.locator("#approval-login").fill(w.manager_login)
    page.locator("#approval-secret").fill(PASSWORD)
    page.locator("#approval-secret").press("Enter")
    page.wait_for_selector("#return-done:not([hidden])")
    back = tp.orders.search(merchant_id=w.merchant_id, kind=None, limit=5)
    ret = next(x for x in back if x.kind.value == "return")
    assert ret.loyalty is not None
    assert ret.loyalty.points_taken_back + ret.loyalty.points_restored > 0
    page.locator('[data-act="return-print"]').click()
    until(page, "window.__prints === 2")
    assert "POINTS BALANCE" in _text(page, "#print-area")
    page.keyboard.press("Escape")

    # A new customer joins at the till, with their consent, and buys as a member.
    page.wait_for_selector("#sell:not([hidden])")
    page.wait_for_selector("#return-dialog:not([open])", state="attached")
    wedge(page, water_code(1))  # a scanner's burst, right after the dialog closed
    until(page, "document.getElementById('t-total').textContent === 'CN¥2.50'")

    page.locator("#member-find").click()
    page.locator("#member-number").fill(NEW_MOBILE)
    page.locator("#member-number").press("Enter")
    page.wait_for_selector("#member-signup:not([hidden])")
    assert "We keep your mobile number" in _text(page, "#member-notice-text")
    page.locator('[data-member="signup"]').click()  # no consent yet: refused here
    assert "must agree" in _text(page, "#member-error")
    page.locator("#member-consent").check()
    page.locator("#member-signup-name").fill("赵六")
    shoot(page, shots, "cashier-member-signup-en")
    page.locator('[data-member="signup"]').click()
    page.wait_for_selector("#member-card:not([hidden])")
    assert _text(page, "#member-mobile") == "139****4321"
    until(page, "document.getElementById('t-total').textContent === 'CN¥2.20'")
    assert page.locator("#member-number").input_value() == ""
    page.keyboard.press("F12")
    page.keyboard.press("F1")
    page.wait_for_selector("#done:not([hidden])")
    assert "Member 139****4321: 2 points earned, balance 2" in _text(page, "#done-detail")
    new = next(x for x in tp.members.search(w.merchant_id, mobile=NEW_MOBILE))
    with tp.ctx.db.read() as s:
        consents = list(s.scalars(select(MemberConsent).where(MemberConsent.member_id == new.id)))
    assert [(c.purpose.value, c.channel, c.notice_version) for c in consents] == [
        ("membership", Channel.TILL, "1")
    ]
    kept = page.evaluate("JSON.stringify(Object.assign({}, window.localStorage))")
    assert NEW_MOBILE not in kept
    assert not watch.errors, watch.errors


def test_the_member_panel_in_chinese(
    browser: Browser, demo: Tillpoint, world: World, base: str, shots: Path
) -> None:
    tp, w = demo, world
    m = join(w, name="王五")
    tp.members.adjust(m.id, 300, "welcome", merchant_id=w.merchant_id, by="test")
    ten = CouponValue("满减 5 off", CouponKind.AMOUNT, 500, None, 0, 30, 1)
    tp.coupons.issue(w.merchant_id, value=ten, member_id=m.id, by="test")
    page, watch = open_till(browser, base, {"width": 1024, "height": 768}, "zh-CN")
    sign_in(page, base, "cashier1@shop.example.com", "cashier-secret-1")
    page.goto(base + "/cashier?lang=zh-CN")
    page.locator("#start-float").fill("0")
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_selector("body[data-ready='1']")
    wedge(page, water_code(1))
    wedge(page, BREAD_CODE)
    until(page, "document.getElementById('t-total').textContent === '¥10.00'")
    page.locator("#member-find").click()
    page.locator("#member-number").fill("13812345678")
    page.locator("#member-number").press("Enter")
    page.wait_for_selector("#member-card:not([hidden])")
    page.locator(".member-coupon").first.click()
    page.locator("#member-redeem").click()
    until(page, "document.getElementById('t-total').textContent === '¥2.00'")
    until(page, "document.getElementById('member-earns').textContent !== ''")
    assert "抵扣 300 积分" in _text(page, "#member-redeem")
    assert "本单可得 2 积分" in _text(page, "#member-earns")
    shoot(page, shots, "cashier-member-panel-zh")
    assert not watch.errors, watch.errors
