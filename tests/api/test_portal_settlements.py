"""The portal's settlements: a merchant's settled days and next payout, a day's
statement in the page and as HTML and PDF files, a hold told to the merchant; another
merchant's day answers 404, a day not settled yet says so, a cashier may not enter."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import sign_in
from tests.api.test_payments import pay
from tests.pdfcheck import check_embedded
from tillpoint.access.models import AccountRole
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner
from tillpoint.ledger import service as ledger
from tillpoint.ledger.models import EntryKind
from tillpoint.web.render import money

PASSWORD = "portal-settle-password"
HOME = "/portal/settlements"


def owner(api: ApiEnv, n: int = 1) -> None:
    api.client.cookies.clear()
    assert sign_in(api, demo_owner(n), DEMO_PASSWORD, "/portal").status_code == 303


def person(api: ApiEnv, role: AccountRole) -> None:
    """A user of merchant A with ``role``, signed in in place of whoever was."""
    login = f"{role.value}@merchant-a.test"
    api.tp.accounts.create(name=f"{role.value} A", roles={role}, actor="test", email=login,
                           password=PASSWORD, merchant_ref=api.mid_a,
                           shop_number=1 if role is AccountRole.CASHIER else None)  # fmt: skip
    api.client.cookies.clear()
    assert sign_in(api, login, PASSWORD, "/portal").status_code == 303


def en(api: ApiEnv, path: str) -> str:
    r = api.client.get(path + ("&" if "?" in path else "?") + "lang=en")
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    return r.text


def test_an_owner_reads_the_settled_days_and_saves_a_statement(api: ApiEnv) -> None:
    sale = pay(api, amount=10_000)
    pay(api, "owner_b", amount=80_000)
    day = api.tp.days.cut_off("ops")
    api.tp.settlement.run(day)
    (mine,) = api.tp.settlement.show(day, api.mid_a)
    (theirs,) = api.tp.settlement.show(day, api.mid_b)
    iso = day.isoformat()
    assert mine.payout_date is not None
    owner(api)

    listed = en(api, HOME)
    assert f'href="{HOME}/{iso}"' in listed
    for figure in (mine.payout_minor, mine.gross_minor, mine.fees_minor, mine.net_minor):
        assert money(figure) in listed
    assert 'class="status status-scheduled">Scheduled<' in listed
    # The next payout, on top: the day's payout, its date and the account it goes to.
    nxt = listed.split('id="next-title"')[1].split("</section>")[0]
    assert money(mine.payout_minor) in nxt and mine.payout_date.isoformat() in nxt
    assert api.tp.merchants.get(api.mid_a).bank_account_masked in nxt
    assert "on hold" not in listed
    assert api.mid_b not in listed and money(theirs.gross_minor) not in listed

    shown = en(api, f"{HOME}/{iso}")
    st = api.tp.statements.statement(api.mid_a, day)
    for text in (st.merchant, api.mid_a, sale["rrn"], money(mine.payout_minor), "Save as PDF",
                 f'href="{HOME}/{iso}/statement.pdf"', f'href="{HOME}/{iso}/statement.html"'):  # fmt: skip
        assert text in shown, text
    assert api.mid_b not in shown

    html = api.client.get(f"{HOME}/{iso}/statement.html")
    assert html.status_code == 200 and html.text == api.tp.statements.html(st)
    assert html.headers["content-disposition"] == (
        f'attachment; filename="statement-{api.mid_a}-{iso}.html"'
    )
    assert html.headers["cache-control"] == "no-store"
    pdf = api.client.get(f"{HOME}/{iso}/statement.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    check_embedded(pdf.content, st.merchant, api.mid_a, "结算单 / Settlement statement")

    # In Chinese, the same page.
    zh = api.client.get(f"{HOME}?lang=zh").text
    assert "下次划款" in zh and "待划款" in zh


def test_another_merchants_day_is_not_found(api: ApiEnv) -> None:
    pay(api, "owner_b", amount=80_000)  # only B sold that day
    day = api.tp.days.cut_off("ops")
    api.tp.settlement.run(day)
    iso = day.isoformat()
    owner(api)
    assert f'href="{HOME}/{iso}"' not in en(api, HOME)
    for path in (f"{HOME}/{iso}", f"{HOME}/{iso}/statement.html", f"{HOME}/{iso}/statement.pdf"):
        r = api.client.get(path + "?lang=en")
        assert r.status_code == 404, path
        assert api.mid_b not in r.text and "80.00" not in r.text
    assert "You have no settlement for" in api.client.get(f"{HOME}/{iso}?lang=en").text
    for bad in (f"{HOME}/2026-13-40", f"{HOME}/x{'9' * 300}", f"{HOME}/{iso}/statement.txt",
                f"{HOME}/{iso}/statement.pdf.pdf", f"{HOME}/{api.mid_b}"):  # fmt: skip
        assert api.client.get(bad).status_code == 404, bad

    owner(api, 2)  # B's own owner has it
    assert api.client.get(f"{HOME}/{iso}/statement.pdf").status_code == 200


def test_a_day_not_settled_yet_says_so(api: ApiEnv) -> None:
    pay(api, amount=10_000)
    day = api.tp.days.open_date()
    iso = day.isoformat()
    owner(api)
    (expected,) = [api.tp.settlement.next_payout(api.mid_a)]
    listed = en(api, HOME)
    assert "No settled days yet" in listed
    assert money(expected.amount_minor) in listed and "status-expected" in listed

    assert "still taking payments" in en(api, f"{HOME}/{iso}")
    assert api.client.get(f"{HOME}/{iso}/statement.pdf").status_code == 404
    api.tp.days.cut_off("ops")
    assert "waiting for its settlement" in en(api, f"{HOME}/{iso}")
    r = api.client.get(f"{HOME}/{iso}/statement.html?lang=en")
    assert r.status_code == 404 and "waiting for its settlement" in r.text
    later = (day + timedelta(days=5)).isoformat()
    r = api.client.get(f"{HOME}/{later}?lang=en")
    assert r.status_code == 404 and "There is no business day" in r.text


def test_who_may_enter(api: ApiEnv) -> None:
    pay(api, amount=10_000)
    day = api.tp.days.cut_off("ops")
    api.tp.settlement.run(day)
    paths = (HOME, f"{HOME}/{day.isoformat()}", f"{HOME}/{day.isoformat()}/statement.pdf")
    api.client.cookies.clear()
    for path in paths:
        away = api.client.get(path, follow_redirects=False)
        assert away.status_code == 303 and "/sign-in" in away.headers["location"], path
    person(api, AccountRole.CASHIER)
    for path in paths:
        assert api.client.get(path, follow_redirects=False).status_code == 403, path
    assert f'href="{HOME}"' not in api.client.get("/portal").text  # not in its menu
    person(api, AccountRole.MANAGER)
    for path in paths:
        assert api.client.get(path).status_code == 200, path
    api.client.cookies.clear()
    assert sign_in(api, DEMO_ADMIN, DEMO_PASSWORD).status_code == 303
    assert api.client.get(HOME, follow_redirects=False).status_code == 403  # staff: console


def test_a_hold_is_told_to_the_merchant(api: ApiEnv) -> None:
    api.tp.settlement.hold(api.mid_a, "Documents of a disputed sale are needed",
                           "console:risk@acquirer.cn")  # fmt: skip
    pay(api, amount=10_000)
    day = api.tp.days.cut_off("ops")
    (row,) = [r for r in api.tp.settlement.run(day) if r.mid == api.mid_a]
    owner(api)
    listed = en(api, HOME)
    hold = listed.split('id="hold-title"')[1].split("</section>")[0]
    assert "Your payouts are on hold" in hold
    assert "Documents of a disputed sale are needed" in hold
    assert money(row.payout_minor) in hold and "risk@acquirer.cn" not in listed
    assert 'class="status status-held">Held<' in listed and "after the hold" in listed
    shown = en(api, f"{HOME}/{day.isoformat()}")
    assert "after the hold" in shown


def test_the_days_are_paged_newest_first(api: ApiEnv) -> None:
    days = []
    for n in range(51):
        with api.tp.ctx.db.transaction() as s:
            ledger.post(s, EntryKind.CAPTURE, ledger.capture_lines("ALP", api.mid_a, 100 + n, 0),
                        business_date=api.tp.days.open_date(), at=api.tp.ctx.now(),
                        memo="test")  # fmt: skip
        days.append(api.tp.days.cut_off("ops"))
        api.tp.settlement.run(days[-1])
    owner(api)
    first = en(api, HOME)
    shown = re.findall(rf'href="{HOME}/(\d{{4}}-\d\d-\d\d)"', first)
    assert shown == [d.isoformat() for d in reversed(days[1:])]
    more = re.search(r'href="([^"]+)" rel="next"', first)
    assert more is not None
    second = en(api, more.group(1).replace("&amp;", "&"))
    assert re.findall(rf'href="{HOME}/(\d{{4}}-\d\d-\d\d)"', second) == [days[0].isoformat()]
    assert 'id="next-title"' not in second and 'rel="next"' not in second
