"""Days and money in the console: a real day of sales closed, reconciled and settled
through the pages, its payout file and statements, holds; who may; CSRF; refusals that
change nothing."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import csrf_of, sign_in
from tests.api.test_payments import pay
from tillpoint.access.models import AccountRole
from tillpoint.clearing.models import SettlementStatus
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner

PASSWORD = "money-test-password"


def person(api: ApiEnv, role: AccountRole) -> str:
    """A member of staff with ``role``, signed in (in place of whoever was); their login."""
    login = f"{role.value}@staff.test"
    api.tp.accounts.create(name=f"{role.value} person", roles={role}, actor="test",
                           email=login, password=PASSWORD)  # fmt: skip
    switch(api, login, PASSWORD)
    return login


def switch(api: ApiEnv, login: str, password: str) -> None:
    api.client.cookies.clear()  # a new browser
    assert sign_in(api, login, password).status_code == 303


def post(api: ApiEnv, path: str, **data: str) -> tuple[str, str]:
    """Post a form with the session's CSRF token; where it led and the message there."""
    r = api.client.post(path, data={"csrf_token": csrf_of(api), **data}, follow_redirects=False)
    assert r.status_code == 303, r.text
    to = r.headers["location"]
    shown = api.client.get(to + ("&" if "?" in to else "?") + "lang=en")
    found = re.search(r'<p class="flash (ok|error)"[^>]*>([^<]*)</p>', shown.text)
    assert found is not None, shown.text
    return to, f"{found.group(1)}: {found.group(2)}"


def settled(api: ApiEnv, day: date) -> int:
    return len(api.tp.settlement.show(day))


def test_finance_closes_reconciles_and_settles_a_day(api: ApiEnv) -> None:
    person(api, AccountRole.FINANCE)
    sales = [pay(api, amount=10_000), pay(api, amount=2_550), pay(api, "owner_b", amount=800)]
    day = api.tp.days.open_date()
    iso = day.isoformat()

    listed = api.client.get("/console/days?lang=en")
    assert listed.status_code == 200
    assert f"Close business day {iso} now" in listed.text
    assert "Open: taking payments" in listed.text

    to, said = post(api, "/console/days/cut-off", day=iso)
    assert to == f"/console/days/{iso}"
    assert said == f"ok: Business day {iso} is closed; payments now belong to the next one."
    assert api.tp.days.is_closed(day)
    page = api.client.get(f"/console/days/{iso}?lang=en").text
    assert "Closed, not reconciled" in page and f"Reconcile {iso} with" in page

    to, said = post(api, f"/console/days/{iso}/reconcile")
    assert said == f"ok: {iso}: references matched: 3; not matched: 0."
    page = api.client.get(f"/console/days/{iso}?lang=en").text
    assert "Reconciled, not settled" in page and "Every reference matched." in page

    to, said = post(api, f"/console/days/{iso}/settle")
    rows = api.tp.settlement.show(day)
    paid = sum(r.payout_minor for r in rows)
    assert paid == sum(s["amount_minor"] - s["fee_minor"] for s in sales)
    assert said.startswith(f"ok: Business day {iso} is settled: 2 merchants, payouts CN¥")
    page = api.client.get(f"/console/days/{iso}?lang=en").text
    assert page.count('class="status status-settled"') == 1
    for r in rows:
        assert f"/console/days/{iso}/statements/{r.mid}.pdf" in page
        assert f"<td>{r.payout_date.isoformat() if r.payout_date else ''}</td>" in page

    listed = api.client.get("/console/days?lang=en").text
    assert f'href="/console/days/{iso}"' in listed and "Settled" in listed
    assert sum(r.gross_minor for r in rows) == 13_350
    assert "CN¥133.50" in listed  # the day's gross: 100.00 + 25.50 + 8.00

    # The payout file: the very bytes the service gives, as a download.
    file = api.client.get(f"/console/days/{iso}/payout-file")
    assert file.status_code == 200
    assert file.content == api.tp.settlement.payout_file(day).encode("utf-8")
    assert file.headers["content-disposition"] == f'attachment; filename="payouts-{iso}.csv"'
    assert file.headers["content-type"].startswith("text/csv")
    assert file.headers["cache-control"] == "no-store"

    # The merchant's statement of the day, HTML and PDF.
    html = api.client.get(f"/console/days/{iso}/statements/{api.mid_a}.html")
    assert html.status_code == 200 and api.mid_a in html.text
    st = api.tp.statements.statement(api.mid_a, day)
    assert html.text == api.tp.statements.html(st)
    assert "attachment" in html.headers["content-disposition"]
    pdf = api.client.get(f"/console/days/{iso}/statements/{api.mid_a}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    assert api.client.get(f"/console/days/{iso}/statements/898999999999999.pdf").status_code == 404
    assert api.client.get("/console/days/2026-13-40").status_code == 404


def test_the_days_list_shows_stored_totals(api: ApiEnv) -> None:
    person(api, AccountRole.FINANCE)
    pay(api, amount=10_000)
    day = api.tp.days.cut_off("test")
    api.tp.settlement.run(day)
    listed = api.client.get("/console/days?lang=en").text
    (row,) = api.tp.settlement.show(day)
    for amount in ("CN¥100.00", f"CN¥{row.net_minor / 100:,.2f}"):
        assert amount in listed
    assert "Totals come with the settlement" in listed  # the open day after it


def test_holds_and_releases_a_merchant(api: ApiEnv) -> None:
    person(api, AccountRole.FINANCE)
    to, said = post(api, "/console/holds", mid=api.mid_a, reason="chargeback dispute")
    assert (to, said) == ("/console/holds", f"ok: Payouts of {api.mid_a} are held.")
    page = api.client.get("/console/holds?lang=en").text
    assert "chargeback dispute" in page and f"Release {api.mid_a}" in page
    assert "console:finance@staff.test" in page

    pay(api, amount=10_000)
    day = api.tp.days.cut_off("test")
    (row,) = api.tp.settlement.run(day)
    assert row.status is SettlementStatus.HELD
    page = api.client.get("/console/holds?lang=en").text
    assert "CN¥99.62" in page or f"CN¥{row.payout_minor / 100:,.2f}" in page
    day_page = api.client.get(f"/console/days/{day.isoformat()}?lang=en").text
    assert f'href="/console/holds?mid={api.mid_a}"' in day_page

    # Holding again, or an unknown merchant: a clear refusal, nothing changes.
    _to, said = post(api, "/console/holds", mid=api.mid_a, reason="again")
    assert said == f"error: Merchant {api.mid_a} is already held"
    _to, said = post(api, "/console/holds", mid=api.mid_b, reason="")
    assert said.startswith("error: ")
    assert api.tp.settlement.holds(mid=api.mid_b) == []

    _to, said = post(api, "/console/holds/release", mid=api.mid_a)
    assert said == (f"ok: Payouts of {api.mid_a} are released: "
                    f"CN¥{row.payout_minor / 100:,.2f} is paid out.")  # fmt: skip
    assert api.tp.settlement.holds() == []
    assert api.tp.settlement.show(day)[0].status is SettlementStatus.PAID
    _to, said = post(api, "/console/holds/release", mid=api.mid_a)
    assert said == f"error: Merchant {api.mid_a} is not held"


def test_a_day_not_ready_is_refused_and_nothing_changes(api: ApiEnv) -> None:
    person(api, AccountRole.FINANCE)
    open_day = api.tp.days.open_date().isoformat()
    # Still open: neither reconciled nor settled.
    _to, said = post(api, f"/console/days/{open_day}/settle")
    assert said == f"error: Business day {open_day} is still open: cut it off first"
    _to, said = post(api, f"/console/days/{open_day}/reconcile")
    assert said == f"error: Business day {open_day} is still open: cut it off first"

    pay(api, amount=10_000)
    first = api.tp.days.cut_off("test")
    pay(api, amount=5_000)
    second = api.tp.days.cut_off("test")
    _to, said = post(api, f"/console/days/{second.isoformat()}/settle")
    assert said == (f"error: Business day {first.isoformat()} is not settled yet: "
                    f"settle it before {second.isoformat()}")  # fmt: skip
    assert settled(api, second) == 0 and api.tp.days.unsettled() == [first, second]
    page = api.client.get(f"/console/days/{second.isoformat()}?lang=en").text
    assert f"Business day {first.isoformat()} is not settled yet" in page

    # A cut-off from a page that showed a day closed since: it does not close the next.
    _to, said = post(api, "/console/days/cut-off", day=second.isoformat())
    assert said.startswith(f"error: {second.isoformat()} is not the open business day")
    assert api.tp.days.last_closed() == second


def test_roles(api: ApiEnv) -> None:
    paths = ["/console/days", "/console/holds",
             f"/console/days/{api.tp.days.open_date().isoformat()}"]  # fmt: skip
    for role in (AccountRole.REVIEWER, AccountRole.FLEET):
        person(api, role)
        for path in paths:
            assert api.client.get(path).status_code == 403, (role, path)
        r = api.client.post("/console/holds", data={"csrf_token": csrf_of(api),
                                                   "mid": api.mid_a, "reason": "x"})  # fmt: skip
        assert r.status_code == 403
        home = api.client.get("/console?lang=en").text
        assert 'href="/console/days"' not in home
    assert api.tp.settlement.holds() == []

    switch(api, demo_owner(1), DEMO_PASSWORD)
    for path in paths:
        assert api.client.get(path, follow_redirects=False).status_code in (303, 403)

    switch(api, DEMO_ADMIN, DEMO_PASSWORD)
    for path in paths:
        assert api.client.get(path).status_code == 200
    assert 'href="/console/days"' in api.client.get("/console").text


@pytest.mark.parametrize(
    "path",
    ["/console/days/cut-off", "/console/holds", "/console/holds/release",
     "/console/days/2026-01-05/settle", "/console/days/2026-01-05/reconcile"],
)  # fmt: skip
def test_a_post_without_the_csrf_token_is_refused(api: ApiEnv, path: str) -> None:
    person(api, AccountRole.FINANCE)
    open_day = api.tp.days.open_date()
    r = api.client.post(path, data={"mid": api.mid_a, "reason": "x", "day": open_day.isoformat()},
                        follow_redirects=False)  # fmt: skip
    assert r.status_code == 403
    assert api.tp.days.last_closed() is None and api.tp.settlement.holds() == []


def test_the_pages_in_chinese(api: ApiEnv) -> None:
    person(api, AccountRole.FINANCE)
    page = api.client.get("/console/days?lang=zh_CN").text
    assert "营业日" in page
    assert api.client.get("/console/holds?lang=zh_CN").status_code == 200


def test_a_difference_with_the_network_is_listed_and_holds_the_merchant(api: ApiEnv) -> None:
    person(api, AccountRole.FINANCE)
    pay(api, amount=10_000)
    pay(api, "owner_b", amount=2_000)
    day = api.tp.days.cut_off("test")
    iso = day.isoformat()
    clearing = api.tp.ctx.settings.network_directory() / f"clearing-{iso}.csv"
    header, *lines = clearing.read_text().splitlines()
    first = lines[0].split(",")
    first[2] = str(int(first[2]) + 1)  # the network says one fen more
    clearing.write_text("\n".join([header, ",".join(first), *lines[1:]]) + "\n")

    _to, said = post(api, f"/console/days/{iso}/reconcile")
    assert said == (f"error: {iso}: references matched: 1; not matched: 1. "
                    "Payouts held for the differences: 1 merchants.")  # fmt: skip
    page = api.client.get(f"/console/days/{iso}?lang=en").text
    assert "amount_mismatch" in page and first[1] in page
    (item,) = api.tp.reconciliation.items(day)
    assert item.mid in (api.mid_a, api.mid_b) and f"<td>{item.mid}</td>" in page
    holds = api.client.get("/console/holds?lang=en").text
    assert f"reconciliation of {iso} does not match" in holds and item.mid in holds
    listed = api.client.get("/console/days?lang=en").text
    assert "Reconciled, not settled" in listed and "1 differences" in listed

    _to, said = post(api, f"/console/days/{iso}/settle")
    assert said.startswith("ok: ")
    held = [r for r in api.tp.settlement.show(day) if r.status is SettlementStatus.HELD]
    assert [r.mid for r in held] == [item.mid]
    assert item.mid.encode() not in api.client.get(f"/console/days/{iso}/payout-file").content


def test_a_payment_cleared_under_another_category_is_listed_and_goes_to_risk(
    api: ApiEnv,
) -> None:
    """Code jumping found at reconciliation: the network cleared a payment of merchant A
    (registered 5411) as a restaurant (5812). The day's page lists the difference with
    both values; risk has an alert in A's case, which holds A's payouts."""
    person(api, AccountRole.FINANCE)
    jumped = pay(api, amount=10_000)
    pay(api, "owner_b", amount=2_000)
    day = api.tp.days.cut_off("test")
    iso = day.isoformat()
    clearing = api.tp.ctx.settings.network_directory() / f"clearing-{iso}.csv"
    header, *lines = clearing.read_text().splitlines()
    assert header == "org,ref,amount_minor,currency,mid,mcc,fee_class"
    assert f"ALP,{jumped['rrn']},10000,CNY,{api.mid_a},5411,alipay" in lines
    lines = [x.replace(f"{api.mid_a},5411,", f"{api.mid_a},5812,") for x in lines]
    clearing.write_text("\n".join([header, *lines]) + "\n")

    _to, said = post(api, f"/console/days/{iso}/reconcile")
    assert said == (f"error: {iso}: references matched: 1; not matched: 1. "
                    "Payouts held for the differences: 1 merchants.")  # fmt: skip
    page = api.client.get(f"/console/days/{iso}?lang=en").text
    row = re.search(rf"<tr>\s*<td>{jumped['rrn']}</td>.*?</tr>", page, re.S)
    assert row is not None
    assert "mcc_mismatch" in row.group(0) and f"<td>{api.mid_a}</td>" in row.group(0)
    assert "<code>5411</code>" in row.group(0) and "<code>5812</code>" in row.group(0)
    holds = api.client.get("/console/holds?lang=en").text
    assert "risk case" in holds and api.mid_a in holds

    person(api, AccountRole.RISK)
    (case,) = api.tp.risk.cases()
    shown = api.client.get(f"/console/risk/cases/{case.id}?lang=en").text
    assert "<code>code_jumping_clearing</code>" in shown
    assert "/console/risk/rules/code_jumping_clearing" not in shown  # no rule to link to
    assert (f"{jumped['rrn']}</a> <span class=\"nowrap\">CN¥100.00</span>: MCC registered "
            "5411, network&#39;s 5812") in shown  # fmt: skip
    queue = api.client.get("/console/risk?lang=en").text
    assert (
        "code_jumping_clearing" in queue
        and "/console/risk/rules/code_jumping_clearing" not in queue
    )


def test_the_days_page_by_page(api: ApiEnv) -> None:
    person(api, AccountRole.FINANCE)
    closed = [api.tp.days.cut_off("test") for _ in range(52)]
    first = api.client.get("/console/days?lang=en").text
    shown = re.findall(r'<td><a href="/console/days/(\d{4}-\d\d-\d\d)">', first)
    assert shown == [d.isoformat() for d in [api.tp.days.open_date(), *closed[::-1][:49]]]
    found = re.search(r'href="(/console/days\?before=[^"]+)" rel="next"', first)
    assert found is not None and found.group(1) == f"/console/days?before={closed[3]}"
    second = api.client.get(found.group(1) + "&lang=en").text
    rest = re.findall(r'<td><a href="/console/days/(\d{4}-\d\d-\d\d)">', second)
    assert rest == [d.isoformat() for d in closed[2::-1]]
    assert 'rel="next"' not in second and "Close business day" not in second


def test_each_action_and_download_is_in_the_audit_log(api: ApiEnv) -> None:
    person(api, AccountRole.FINANCE)
    pay(api, amount=10_000)
    iso = api.tp.days.open_date().isoformat()
    post(api, f"/console/days/{iso}/settle")  # refused: still open
    post(api, "/console/days/cut-off", day=iso)
    post(api, f"/console/days/{iso}/reconcile")
    post(api, f"/console/days/{iso}/settle")
    api.client.get(f"/console/days/{iso}/payout-file")
    post(api, "/console/holds", mid=api.mid_a, reason="dispute")
    post(api, "/console/holds/release", mid=api.mid_a)
    who = "console:finance@staff.test"
    log = [(r.actor, r.action, r.target, r.status_code)
           for r in api.tp.access.audit_log(limit=30)[::-1]
           if r.actor == who and "sign" not in r.action]  # fmt: skip
    assert log == [
        (who, "console settle", f"business day {iso}", 409),
        (who, "console cut-off", f"business day {iso}", 200),
        (who, "console reconcile", f"business day {iso}", 200),
        (who, "console settle", f"business day {iso}", 200),
        (who, "console payout file", f"business day {iso}", 200),
        (who, "console hold", f"merchant {api.mid_a}", 200),
        (who, "console release", f"merchant {api.mid_a}", 200),
    ]


def test_the_days_pages_never_read_the_payments(api: ApiEnv) -> None:
    """Totals come from the stored settlement records: the lists cost the same whatever
    the number of payments behind them."""
    from sqlalchemy import event

    person(api, AccountRole.FINANCE)
    pay(api, amount=10_000)
    day = api.tp.days.cut_off("test")
    api.tp.reconciliation.run(day)
    api.tp.settlement.run(day)
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.lower())

    engine = api.tp.ctx.db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for path in ("/console/days", f"/console/days/{day}", "/console/holds"):
            assert api.client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert statements and not [s for s in statements
                               if re.search(r"\b(payments|journal_lines|journal_entries)\b", s)]  # fmt: skip
