"""The merchant portal's payments through the browser's requests: the list, its filters
and pages; a cashier's scope, which no address widens; one payment, its timeline and
receipt; refunds (full, partial, too much, sent twice, a cashier's refused); another
merchant's payment not found by any address; the CSV and XLSX exports."""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import re
from datetime import timedelta
from decimal import Decimal

import httpx
import openpyxl
import pytest
from sqlalchemy import select

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import CSRF, sign_in
from tests.api.test_receipts import DEBIT, card_sale
from tillpoint.access.models import AccountRole, AuditRecord
from tillpoint.core.clock import FixedClock
from tillpoint.core.money import Money
from tillpoint.demo import DEMO_PASSWORD, demo_owner
from tillpoint.payments.models import Payment, PaymentKind, PaymentStatus
from tillpoint.web.portal import payments as module

ALIPAY = "284000000000000001"
ALIPAY_POOR = "280000000000000002"  # declined: not enough money
WECHAT = "134000000000000001"
PASSWORD = "a portal password 1"
ROW = re.compile(r'<tr data-payment="(\d+)">')


def as_person(api: ApiEnv, role: AccountRole, mid: str | None = None) -> None:
    """Signed in as merchant A's (or ``mid``'s) owner, manager or cashier of shop 1."""
    api.client.cookies.clear()
    mid = mid or api.mid_a
    if role is AccountRole.OWNER and mid == api.mid_a:
        assert sign_in(api, demo_owner(1), DEMO_PASSWORD, "/portal").status_code == 303
        return
    login = f"{role.value}.{mid}@shop.test"
    if not any(a.login == login for a in api.tp.accounts.list()):
        api.tp.accounts.create(
            name=f"{role.value} of {mid}", roles={role}, actor="test", email=login,
            merchant_ref=mid, shop_number=1 if role is AccountRole.CASHIER else None,
            password=PASSWORD,
        )  # fmt: skip
    assert sign_in(api, login, PASSWORD, "/portal").status_code == 303


def paid(
    api: ApiEnv,
    amount_minor: int = 10_000,
    code: str = ALIPAY,
    mid: str | None = None,
    **kw: object,
) -> int:
    """A wallet payment of ``mid`` (merchant A's) through the REST API's own service."""
    merchant_id = api.merchant_id(mid or api.mid_a)
    if "tid" not in kw:
        kw.setdefault("shop_number", 1)
    pay = functools.partial(api.services.online.pay_with_code, **kw)  # type: ignore[arg-type]
    made = api.run(pay, merchant_id, Money(amount_minor), code)
    return int(made.payment.id)


def listed(api: ApiEnv, query: str = "") -> list[int]:
    page = api.client.get(f"/portal/payments?lang=en{query}")
    assert page.status_code == 200, page.text
    return [int(x) for x in ROW.findall(page.text)]


def csrf(api: ApiEnv, path: str = "/portal/payments") -> str:
    found = CSRF.search(api.client.get(path).text)
    assert found is not None
    return found.group(1)


def refund(api: ApiEnv, payment_id: int, amount: str, seen: str | None = None) -> httpx.Response:
    page = api.client.get(f"/portal/payments/{payment_id}?lang=en").text
    token = CSRF.search(page)
    assert token is not None
    if seen is None:
        found = re.search(r'name="seen" value="(\d+)"', page)
        assert found is not None, "no refund form"
        seen = found.group(1)
    data = {"csrf_token": token.group(1), "amount": amount, "seen": seen}
    return api.client.post(f"/portal/payments/{payment_id}/refund", data=data,
                           follow_redirects=False)  # fmt: skip


def message_after(api: ApiEnv, answer: httpx.Response) -> str:
    assert answer.status_code == 303, answer.text
    page = api.client.get(answer.headers["location"] + "?lang=en").text
    found = re.search(r'<p class="flash (\w+)"[^>]*>(.*?)</p>', page, re.S)
    assert found is not None, "no message"
    return f"{found.group(1)}: {found.group(2)}"


def refunds_of(api: ApiEnv, payment_id: int) -> list[Payment]:
    with api.tp.ctx.db.read() as s:
        return list(s.scalars(select(Payment).where(Payment.original_id == payment_id)))


# --- the list ----------------------------------------------------------------------------------


def test_the_owner_sees_payments_newest_first_in_pages_with_masked_cards(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = card_sale(api, "88.88")
    ids = [paid(api, 1000 + n) for n in range(4)]
    theirs = paid(api, mid=api.mid_b)
    as_person(api, AccountRole.OWNER)
    page = api.client.get("/portal/payments?lang=en")
    assert page.status_code == 200 and "<h1" in page.text
    assert listed(api) == [*reversed(ids), card] and theirs not in listed(api)
    assert "621234*********0012" in page.text and DEBIT not in page.text  # the mask only
    assert ALIPAY not in page.text
    assert "CN¥10.03" in page.text and "Alipay" in page.text

    monkeypatch.setattr(module, "PAGE", 2)
    first = api.client.get("/portal/payments?lang=en").text
    more = re.search(r'href="(/portal/payments\?[^"]*after=(\d+)[^"]*)" rel="next"', first)
    assert more is not None and int(more.group(2)) == ids[2]
    second = api.client.get(more.group(1).replace("&amp;", "&")).text
    assert [int(x) for x in ROW.findall(second)] == [ids[1], ids[0]]
    assert [int(x) for x in ROW.findall(api.client.get(
        f"/portal/payments?after={ids[0]}").text)] == [card]  # fmt: skip
    # A position that is no payment of the merchant's: a page, never an error.
    for position in (str(theirs), "99999999999999999999", "-1", "x"):
        assert api.client.get(f"/portal/payments?after={position}").status_code == 200


def test_each_filter_narrows_the_list(api: ApiEnv, clock: FixedClock) -> None:
    api.tp.merchants.add_shop(api.mid_a, "二店 Second shop", "上海市演示路9号 9 Demo Road", "test")
    old = paid(api, 5000, WECHAT)
    clock.advance(timedelta(days=1))
    today = api.tp.days.open_date()
    yesterday = today - timedelta(days=1)
    alipay = paid(api, 1250, ALIPAY, tid=api.tid_a)
    declined = paid(api, 2000, ALIPAY_POOR)
    second_shop = paid(api, 3000, WECHAT, shop_number=2)
    card = card_sale(api, "12.34")
    as_person(api, AccountRole.OWNER)
    everything = [card, second_shop, declined, alipay, old]
    assert listed(api) == everything
    assert listed(api, f"&from={today}&to={today}") == everything[:-1]
    assert listed(api, f"&to={yesterday}") == [old]
    assert listed(api, "&method=wechat") == [second_shop, old]
    assert listed(api, "&status=declined") == [declined]
    assert listed(api, "&shop=2") == [second_shop]
    assert listed(api, f"&tid={api.tid_a}") == [card, alipay]
    assert listed(api, f"&tid={api.tid_b}") == []  # merchant B's terminal: nothing
    assert listed(api, "&min=12.50&max=20") == [declined, alipay]
    assert listed(api, "&min=12.5&max=12.50") == [alipay]
    assert listed(api, "&min=¥1,234") == []
    with api.tp.ctx.db.read() as s:
        rrn, stan = s.execute(select(Payment.rrn, Payment.stan).where(Payment.id == card)).one()
    assert listed(api, f"&q={rrn}") == [card]
    assert listed(api, f"&q={int(stan)}") == [card]  # the voucher number, as printed or not
    assert listed(api, f"&method=alipay&status=approved&from={today}") == [alipay]
    # Bad input: said so, and that filter left out (the others still apply).
    for query, said in (("&min=abc", "Type an amount like 12.50"),
                        ("&max=1.234", "Type an amount like 12.50"),
                        ("&from=2026-13-01", "A date is written 2026-12-04"),
                        (f"&from={today}&to={yesterday}", "The last day is before the first"),
                        ("&q=12345678", "Search for an RRN"), ("&tid=1234", "A TID is 8"),
                        ("&shop=7", "There is no such shop")):  # fmt: skip
        page = api.client.get(f"/portal/payments?lang=en&method=alipay{query}")
        assert page.status_code == 200 and said in page.text, query
        assert [int(x) for x in ROW.findall(page.text)] == [declined, alipay], query
    assert listed(api, "&method=cash&status=nothing") == everything  # not a value: no filter


def test_a_cashier_sees_its_shops_payments_of_today_whatever_the_address_says(
    api: ApiEnv, clock: FixedClock
) -> None:
    api.tp.merchants.add_shop(api.mid_a, "二店 Second shop", "上海市演示路9号 9 Demo Road", "test")
    yesterdays = paid(api, 700)
    clock.advance(timedelta(days=1))
    today = api.tp.days.open_date()
    mine = paid(api, 800)
    other_shop = paid(api, 900, shop_number=2)
    as_person(api, AccountRole.CASHIER)
    assert listed(api) == [mine]
    page = api.client.get("/portal/payments?lang=en").text
    assert f"business day {today}" in page and 'name="from"' not in page
    for query in (f"&from={today - timedelta(days=1)}&to={today}", "&shop=2",
                  f"&to={today - timedelta(days=1)}", f"&q=&after={mine + 5}"):  # fmt: skip
        assert listed(api, query) == [mine], query
    assert api.client.get(f"/portal/payments/{mine}").status_code == 200
    detail = api.client.get(f"/portal/payments/{mine}?lang=en").text
    assert "/refund" not in detail and 'name="amount"' not in detail
    for elsewhere in (yesterdays, other_shop):
        assert api.client.get(f"/portal/payments/{elsewhere}").status_code == 404
        assert api.client.get(f"/portal/payments/{elsewhere}/receipt").status_code == 404
    refused = api.client.post(f"/portal/payments/{mine}/refund", follow_redirects=False,
                              data={"csrf_token": csrf(api), "amount": "1.00", "seen": "0"})  # fmt: skip
    assert refused.status_code == 403 and refunds_of(api, mine) == []
    exported = api.client.get(f"/portal/payments/export.csv?from={today - timedelta(days=3)}")
    ids = [row[0] for row in csv.reader(io.StringIO(exported.content.decode("utf-8-sig")))][1:]
    assert ids == [str(mine)]


# --- one payment and its refunds ---------------------------------------------------------------


def test_a_payment_shows_its_facts_timeline_and_receipt(api: ApiEnv) -> None:
    pid = paid(api, 4321)
    as_person(api, AccountRole.OWNER)
    page = api.client.get(f"/portal/payments/{pid}?lang=en")
    assert page.status_code == 200
    text = page.text
    assert "CN¥43.21" in text and "Timeline" in text and "Fee" in text
    link = re.search(r'href="(http://testserver/r/\d+-[0-9a-f]{32})"', text)
    assert link is not None and link.group(1).endswith(
        re.sub(r"^/r/", "", api.client.get(f"/portal/payments/{pid}/receipt",
                                           follow_redirects=False).headers["location"]))  # fmt: skip
    receipt = api.client.get(link.group(1).removeprefix("http://testserver"))
    assert receipt.status_code == 200
    declined = paid(api, 100, ALIPAY_POOR)
    assert api.client.get(f"/portal/payments/{declined}/receipt").status_code == 404
    assert "/r/" not in api.client.get(f"/portal/payments/{declined}").text


def test_partial_then_full_refund_with_refusals_and_a_double_submit(api: ApiEnv) -> None:
    pid = paid(api, 10_000)
    as_person(api, AccountRole.OWNER)
    page = api.client.get(f"/portal/payments/{pid}?lang=en").text
    assert 'value="100.00"' in page and "up to CN¥100.00" in page

    for typed in ("abc", "12.345", "-5", "0", ""):
        said = message_after(api, refund(api, pid, typed))
        assert said == "error: Type the amount to refund like 12.50.", typed
    said = message_after(api, refund(api, pid, "100.01"))
    assert said.startswith("error: At most CN¥100.00 can still be refunded")
    assert refunds_of(api, pid) == []

    # A partial refund, then the same form sent again: one refund only.
    page = api.client.get(f"/portal/payments/{pid}?lang=en").text
    token = CSRF.search(page)
    assert token is not None
    form = {"csrf_token": token.group(1), "amount": "12.50", "seen": "0"}
    first = api.client.post(f"/portal/payments/{pid}/refund", data=form, follow_redirects=False)
    assert message_after(api, first).startswith("ok: CN¥12.50 refunded (refund ")
    again = api.client.post(f"/portal/payments/{pid}/refund", data=form, follow_redirects=False)
    assert "was refunded meanwhile" in message_after(api, again)
    made = refunds_of(api, pid)
    assert [(r.amount_minor, r.status) for r in made] == [(1250, PaymentStatus.APPROVED)]
    page = api.client.get(f"/portal/payments/{pid}?lang=en").text
    assert f'href="/portal/payments/{made[0].id}"' in page  # in the timeline, linked
    assert "Partly refunded" in page and 'value="87.50"' in page
    refund_page = api.client.get(f"/portal/payments/{made[0].id}?lang=en").text
    assert f'href="/portal/payments/{pid}"' in refund_page and 'name="amount"' not in refund_page

    said = message_after(api, refund(api, pid, "87.5"))
    assert said.startswith("ok: CN¥87.50 refunded")
    with api.tp.ctx.db.read() as s:
        sale = s.get_one(Payment, pid)
        assert (sale.status, sale.refunded_minor) == (PaymentStatus.REFUNDED, 10_000)
    page = api.client.get(f"/portal/payments/{pid}?lang=en").text
    assert 'name="amount"' not in page
    late = message_after(api, refund(api, pid, "1.00", seen="10000"))
    assert "only a captured payment can be refunded" in late
    assert len(refunds_of(api, pid)) == 2
    with api.tp.ctx.db.read() as s:
        audited = list(s.scalars(select(AuditRecord).where(
            AuditRecord.action == "console payment refund")))  # fmt: skip
    assert [a.status_code for a in audited].count(200) == 2 and len(audited) >= 4
    assert api.tp.ledger.check() == []


def test_two_sends_of_one_form_at_once_refund_once(api: ApiEnv) -> None:
    """The guard holds when both arrive together (the service's lock and its write)."""
    pid = paid(api, 5000)
    online = api.services.online
    merchant_id = api.merchant_id(api.mid_a)

    async def twice() -> list[object]:
        send = functools.partial(online.refund, pid, Money(1000), merchant_id=merchant_id,
                                 seen_refunded_minor=0)  # fmt: skip
        return await asyncio.gather(send(), send(), return_exceptions=True)

    answers = api.run(twice)
    assert sorted(type(a).__name__ for a in answers) == ["PaymentView", "Refused"]
    assert [r.amount_minor for r in refunds_of(api, pid)] == [1000]


def test_a_manager_refunds_too(api: ApiEnv) -> None:
    pid = paid(api, 2000)
    as_person(api, AccountRole.MANAGER)
    assert message_after(api, refund(api, pid, "20")).startswith("ok: CN¥20.00 refunded")
    assert [r.kind for r in refunds_of(api, pid)] == [PaymentKind.REFUND]


def test_another_merchants_payment_is_not_found_by_any_address(api: ApiEnv) -> None:
    theirs = paid(api, 5000, mid=api.mid_b)
    as_person(api, AccountRole.OWNER)
    for path in (f"/portal/payments/{theirs}", f"/portal/payments/{theirs}/receipt",
                 "/portal/payments/0", "/portal/payments/abc", "/portal/payments/99999999999999"):  # fmt: skip
        answer = api.client.get(path, follow_redirects=False)
        assert answer.status_code == 404, path
    answer = api.client.post(f"/portal/payments/{theirs}/refund", follow_redirects=False,
                             data={"csrf_token": csrf(api), "amount": "50", "seen": "0"})  # fmt: skip
    assert answer.status_code == 404 and refunds_of(api, theirs) == []
    assert theirs not in listed(api, f"&q={theirs}")
    csv_text = api.client.get("/portal/payments/export.csv").content.decode("utf-8-sig")
    assert str(theirs) not in [row[0] for row in csv.reader(io.StringIO(csv_text))]


def test_doors(api: ApiEnv) -> None:
    pid = paid(api)
    for path in ("/portal/payments", f"/portal/payments/{pid}", "/portal/payments/export.csv"):
        answer = api.client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith(
            "/portal/sign-in?next=")  # fmt: skip
    assert sign_in(api, "admin@demo.test", DEMO_PASSWORD).status_code == 303
    assert api.client.get("/portal/payments", follow_redirects=False).status_code == 403
    as_person(api, AccountRole.OWNER)
    no_token = api.client.post(f"/portal/payments/{pid}/refund", follow_redirects=False,
                               data={"amount": "1", "seen": "0"})  # fmt: skip
    assert no_token.status_code == 403 and refunds_of(api, pid) == []


# --- exports -----------------------------------------------------------------------------------


def test_the_exports_hold_the_filtered_payments_row_by_row(api: ApiEnv) -> None:
    ids = [paid(api, 1000 + 111 * n, WECHAT if n % 2 else ALIPAY) for n in range(5)]
    as_person(api, AccountRole.OWNER)
    answer = api.client.get("/portal/payments/export.csv?method=wechat&lang=en")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert 'filename="payments-' in answer.headers["content-disposition"]
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["Payment ID", "Time (Shanghai)", "Business date", "Kind", "State",
                           "Amount"]  # fmt: skip
    wechat = [ids[3], ids[1]]
    assert [int(r[0]) for r in rows[1:]] == wechat
    with api.tp.ctx.db.read() as s:
        for r in rows[1:]:
            p = s.get_one(Payment, int(r[0]))
            assert r[5] == str(Money(p.amount_minor).to_decimal()) and len(r[5].split(".")[1]) == 2
            assert r[9] == "WeChat Pay" and r[14] == p.rrn

    zh = api.client.get("/portal/payments/export.csv?method=wechat&lang=zh_CN")
    header = next(csv.reader(io.StringIO(zh.content.decode("utf-8-sig"))))
    assert header[0] != "Payment ID" and re.search(r"[\u4e00-\u9fff]", "".join(header))

    answer = api.client.get("/portal/payments/export.xlsx?lang=en")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")  # fmt: skip
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][0] == "Payment ID" and [v[0] for v in values[1:]] == list(reversed(ids))
    with api.tp.ctx.db.read() as s:
        for v in values[1:]:
            p = s.get_one(Payment, v[0])
            assert (
                Decimal(str(v[5])).quantize(Decimal("0.01")) == Money(p.amount_minor).to_decimal()
            )
    assert sheet["F2"].number_format == "#,##0.00"

    bad = api.client.get("/portal/payments/export.xlsx?min=twelve&lang=en")
    assert bad.status_code == 400 and "Type an amount like 12.50" in bad.text
    with api.tp.ctx.db.read() as s:
        exported = list(s.scalars(select(AuditRecord.action).where(
            AuditRecord.action == "console payments exported")))  # fmt: skip
    assert len(exported) == 3
