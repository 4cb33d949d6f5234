"""The console's merchant pages: who may read them and who may act, the search and its
pages, each action with its reason, refusals that change nothing, and no card number
or bank account ever shown in clear."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import csrf_of, sign_in
from tests.api.test_receipts import DEBIT, card_sale, wallet_sale
from tests.api.test_resources import settle
from tests.conftest import personal_application
from tillpoint.access.models import AccountRole
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner
from tillpoint.merchants.models import MerchantStatus
from tillpoint.web.console import merchants

PASSWORD = "a console password"
READERS = (AccountRole.REVIEWER, AccountRole.FLEET, AccountRole.RISK, AccountRole.FINANCE)


def as_role(api: ApiEnv, role: AccountRole | None) -> None:
    """Sign in as a person holding ``role`` (None: the demo admin)."""
    api.client.cookies.clear()  # whoever was signed in before
    if role is None:
        assert sign_in(api, DEMO_ADMIN, DEMO_PASSWORD).status_code == 303
        return
    login = f"{role.value}@acquirer.test"
    if not any(a.login == login for a in api.tp.accounts.list()):
        api.tp.accounts.create(name=role.value.title(), roles={role}, actor="test",
                               email=login, password=PASSWORD)  # fmt: skip
    assert sign_in(api, login, PASSWORD).status_code == 303


def post(api: ApiEnv, path: str, **fields: str) -> httpx.Response:
    data = {"csrf_token": csrf_of(api), **fields}
    return api.client.post(path, data=data, follow_redirects=False)


def flash_after(api: ApiEnv, response: httpx.Response) -> str:
    """The page a post redirected to, as text (with its one-time message)."""
    assert response.status_code == 303, response.text
    return api.client.get(response.headers["location"] + "?lang=en").text


@pytest.mark.parametrize("role", [*READERS, None])
def test_every_reader_sees_the_list_and_a_merchant(api: ApiEnv, role: AccountRole | None) -> None:
    as_role(api, role)
    listed = api.client.get("/console/merchants?lang=en")
    assert listed.status_code == 200
    assert api.mid_a in listed.text and api.mid_b in listed.text
    one = api.client.get(f"/console/merchants/{api.mid_a}?lang=en")
    assert one.status_code == 200
    for section in ("Profile", "Shops", "Terminals", "Fee plan", "Limits", "Payments",
                    "Settlements", "History", "Payout hold"):  # fmt: skip
        assert f">{section}</h2>" in one.text, section
    # Only reviewers and risk (and admins) see the lifecycle's forms.
    decides = role in (AccountRole.REVIEWER, AccountRole.RISK, None)
    assert (f'action="/console/merchants/{api.mid_a}/suspend"' in one.text) is decides
    # Terminals link to the fleet's pages for those who may open them.
    assert (f'href="/console/terminals/{api.tid_a}"' in one.text) is (
        role in (AccountRole.FLEET, None)
    )


def test_others_are_refused(api: ApiEnv) -> None:
    assert sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303
    for path in ("/console/merchants", f"/console/merchants/{api.mid_a}",
                 f"/console/merchants/{api.mid_a}/statement?day=2026-01-01"):  # fmt: skip
        assert api.client.get(path, follow_redirects=False).status_code == 403, path
    refused = api.client.post(f"/console/merchants/{api.mid_a}/suspend",
                              data={"reason": "x"}, follow_redirects=False)  # fmt: skip
    assert refused.status_code == 403
    assert api.tp.merchants.get(api.mid_a).status is MerchantStatus.APPROVED
    # Signed out: to the sign-in page.
    api.client.cookies.clear()
    away = api.client.get("/console/merchants", follow_redirects=False)
    assert away.status_code == 303 and "/console/sign-in" in away.headers["location"]


def test_search_by_mid_name_phone_with_filters(api: ApiEnv) -> None:
    as_role(api, AccountRole.REVIEWER)
    a = api.tp.merchants.get(api.mid_a)
    b = api.tp.merchants.get(api.mid_b)

    def found(query: str) -> set[str]:
        text = api.client.get(f"/console/merchants?{query}&lang=en").text
        return {mid for mid in (api.mid_a, api.mid_b) if f">{mid}</a>" in text}

    assert found(f"q={api.mid_a}") == {api.mid_a}
    assert found(f"q={api.mid_b[:6]}") == {api.mid_a, api.mid_b}
    assert found(f"q={a.display_name[-3:].lower()}") >= {api.mid_a}
    assert found(f"q={b.contact_phone}") >= {api.mid_b}
    assert found("q=nobody-called-this") == set()
    assert found("q=%25") == set()  # a LIKE wildcard is a character to find, not "all"
    assert found(f"state=approved&kind={a.kind.value}") >= {api.mid_a}
    assert found("state=suspended") == set()
    assert found("state=nonsense") == {api.mid_a, api.mid_b}  # an unknown filter: none


def test_the_list_pages_by_keyset(api: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merchants, "PAGE", 1)
    as_role(api, AccountRole.RISK)
    first = api.client.get("/console/merchants?lang=en").text
    assert api.mid_a in first and api.mid_b not in first
    a = api.tp.merchants.get(api.mid_a)
    assert f'href="/console/merchants?after={a.id}"' in first
    second = api.client.get(f"/console/merchants?after={a.id}&lang=en").text
    assert api.mid_b in second and api.mid_a not in second


def test_a_reviewer_suspends_reinstates_and_closes(api: ApiEnv) -> None:
    as_role(api, AccountRole.REVIEWER)
    base = f"/console/merchants/{api.mid_b}"
    # No reason: a clear message, nothing changed.
    page = flash_after(api, post(api, f"{base}/suspend", reason=""))
    assert "reason" in page.lower() and 'class="flash error"' in page
    assert api.tp.merchants.get(api.mid_b).status is MerchantStatus.APPROVED
    # Without the session's token: 403, nothing changed.
    no_token = api.client.post(f"{base}/suspend", data={"reason": "fraud check"},
                               follow_redirects=False)  # fmt: skip
    assert no_token.status_code == 403
    assert api.tp.merchants.get(api.mid_b).status is MerchantStatus.APPROVED

    page = flash_after(api, post(api, f"{base}/suspend", reason="chargebacks <b>high</b>"))
    assert f"Merchant {api.mid_b} suspended." in page
    assert "chargebacks &lt;b&gt;high&lt;/b&gt;" in page  # the reason, escaped
    assert api.tp.merchants.get(api.mid_b).status is MerchantStatus.SUSPENDED
    # Suspending again: the service's refusal, as it says it.
    page = flash_after(api, post(api, f"{base}/suspend", reason="again"))
    assert "is already suspended" in page

    page = flash_after(api, post(api, f"{base}/reinstate", reason="cleared"))
    assert f"Merchant {api.mid_b} reinstated." in page
    history = [(e.to_status, e.reason, e.actor) for e in api.tp.merchants.history(api.mid_b)]
    assert history[-2:] == [
        (MerchantStatus.SUSPENDED, "chargebacks <b>high</b>", "console:reviewer@acquirer.test"),
        (MerchantStatus.APPROVED, "cleared", "console:reviewer@acquirer.test"),
    ]
    # Closing a merchant with a bound terminal is refused, with the service's reason.
    page = flash_after(api, post(api, f"{base}/close", reason="asked to"))
    assert "bound terminal" in page
    assert api.tp.merchants.get(api.mid_b).status is MerchantStatus.APPROVED
    assert post(api, f"{base}/explode", reason="x").status_code == 404


@pytest.mark.parametrize("role", [AccountRole.FLEET, AccountRole.FINANCE])
def test_lifecycle_actions_need_reviewer_or_risk(api: ApiEnv, role: AccountRole) -> None:
    as_role(api, role)
    refused = post(api, f"/console/merchants/{api.mid_a}/suspend", reason="no")
    assert refused.status_code == 403
    assert api.tp.merchants.get(api.mid_a).status is MerchantStatus.APPROVED


def test_risk_suspends(api: ApiEnv) -> None:
    as_role(api, AccountRole.RISK)
    page = flash_after(api, post(api, f"/console/merchants/{api.mid_a}/suspend", reason="risk"))
    assert f"Merchant {api.mid_a} suspended." in page


def test_finance_changes_the_fee_plan(api: ApiEnv) -> None:
    as_role(api, AccountRole.FINANCE)
    base = f"/console/merchants/{api.mid_a}"
    before = api.tp.fees.history(api.mid_a)
    current = api.tp.fees.current_plan(api.mid_a).code
    other = next(p.code for p in api.tp.fees.list_plans() if p.code != current)
    for fields, says in (
        ({"plan": other, "effective_from": "04/12/2026", "reason": "x"}, "like 2026-12-04"),
        ({"plan": other, "effective_from": "2000-01-01", "reason": "x"}, "not on 2000-01-01"),
        ({"plan": "NO-SUCH", "effective_from": "", "reason": "x"}, "NO-SUCH"),
        ({"plan": other, "effective_from": "", "reason": ""}, "reason"),
        ({"plan": "", "effective_from": "", "reason": "x"}, "Choose a fee plan"),
    ):
        page = flash_after(api, post(api, f"{base}/fee-plan/change", **fields))
        assert says in page and 'class="flash error"' in page, (fields, page)
    assert api.tp.fees.history(api.mid_a) == before
    # Approval put it on its plan today: the change can start tomorrow.
    today = api.tp.ctx.today()
    page = flash_after(api, post(api, f"{base}/fee-plan/change", plan=other, effective_from="",
                                 reason="volume discount"))  # fmt: skip
    assert f"already changes plan on {today}" in page
    day = today + timedelta(days=1)
    page = flash_after(api, post(api, f"{base}/fee-plan/change", plan=other,
                                 effective_from=day.isoformat(), reason="volume discount"))  # fmt: skip
    assert f"Fee plan {other} from {day}." in page
    assert api.tp.fees.current_plan(api.mid_a, day).code == other
    assert "volume discount" in page  # in the plan's history
    # Risk reads but does not price.
    as_role(api, AccountRole.RISK)
    assert post(api, f"{base}/fee-plan/change", plan=current, reason="x").status_code == 403


def test_a_reviewer_opens_a_shop(api: ApiEnv) -> None:
    as_role(api, AccountRole.REVIEWER)
    base = f"/console/merchants/{api.mid_a}"
    shops = api.tp.merchants.list_shops(api.mid_a)
    page = flash_after(api, post(api, f"{base}/shops/add", name="East", address="x"))
    assert "shop_address" in page or "address" in page.lower()
    assert api.tp.merchants.list_shops(api.mid_a) == shops
    page = flash_after(api, post(api, f"{base}/shops/add", name="East counter",
                                 address="1 East Road, Pudong"))  # fmt: skip
    assert f"Shop {len(shops) + 1} (East counter) opened." in page
    assert "1 East Road, Pudong" in page
    (line,) = [r for r in api.tp.access.audit_log(limit=20) if r.action == "console shop opened"]
    assert line.actor.startswith("console:") and line.target.endswith(f"shop {len(shops) + 1}")
    as_role(api, AccountRole.FINANCE)
    assert post(api, f"{base}/shops/add", name="B", address="2 West Road").status_code == 403


def test_unknown_or_malformed_merchants_say_so(api: ApiEnv) -> None:
    as_role(api, AccountRole.REVIEWER)
    missing = api.client.get("/console/merchants/898999999999999?lang=en")
    assert missing.status_code == 404 and "No merchant 898999999999999" in missing.text
    bad = api.client.get("/console/merchants/%3Cscript%3E?lang=en")
    assert bad.status_code == 400 and "<script>" not in bad.text
    page = flash_after(api, post(api, "/console/merchants/898999999999999/suspend", reason="x"))
    assert "No merchant" in page


def test_payments_settlements_and_statements(api: ApiEnv) -> None:
    card_sale(api, "12.34", DEBIT, 1)
    day = settle(api, (api.mid_a, 10_000))
    as_role(api, AccountRole.FINANCE)
    page = api.client.get(f"/console/merchants/{api.mid_a}?lang=en").text
    assert "CN¥12.34" in page and DEBIT[:6] in page and DEBIT[-4:] in page
    assert DEBIT not in page  # the masked card only
    m = api.tp.merchants.get(api.mid_a)
    assert m.bank_account_masked in page
    assert api.tp.merchants.bank_account_number(api.mid_a) not in page
    (settled,) = api.tp.settlement.recent(api.mid_a)
    assert f"statement?day={day}" in page and settled.payout_minor > 0
    payout = f"CN¥{settled.payout_minor // 100:,}.{settled.payout_minor % 100:02d}"
    assert payout in page
    html = api.client.get(f"/console/merchants/{api.mid_a}/statement?day={day}")
    assert html.status_code == 200 and "attachment" in html.headers["content-disposition"]
    assert api.mid_a in html.text
    pdf = api.client.get(f"/console/merchants/{api.mid_a}/statement?day={day}&format=pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    bad = api.client.get(f"/console/merchants/{api.mid_a}/statement?day=yesterday&lang=en")
    assert bad.status_code == 400 and "like 2026-12-04" in bad.text


def test_payments_page_newest_first(api: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(merchants, "PAGE", 1)
    first_id = card_sale(api, "1.11", DEBIT, 1)
    second_id = wallet_sale(api, 222)  # over the API: no terminal
    as_role(api, AccountRole.REVIEWER)
    page = api.client.get(f"/console/merchants/{api.mid_a}?lang=en").text
    assert "CN¥2.22" in page and "CN¥1.11" not in page
    assert f"before={second_id}" in page
    older = api.client.get(f"/console/merchants/{api.mid_a}?before={second_id}&lang=en").text
    assert "CN¥1.11" in older and "CN¥2.22" not in older and first_id < second_id


def test_held_payouts_show(api: ApiEnv) -> None:
    api.tp.settlement.hold(api.mid_a, "documents missing", "finance")
    as_role(api, AccountRole.REVIEWER)
    page = api.client.get(f"/console/merchants/{api.mid_a}?lang=en").text
    assert "documents missing" in page and "Payouts are not held." not in page


def test_an_application_has_its_page_before_it_has_a_mid(api: ApiEnv) -> None:
    applied = api.tp.merchants.apply(personal_application(7), "test")
    as_role(api, AccountRole.REVIEWER)
    page = api.client.get(f"/console/merchants/{applied.id}?lang=en")
    assert page.status_code == 200 and f"Application #{applied.id}" in page.text
    assert "A merchant gets its fee plan when it is approved." in page.text
    assert "Statement of a day" not in page.text  # no MID: no statements
    assert applied.id_document_masked and applied.id_document_masked in page.text
    listed = api.client.get("/console/merchants?state=submitted&lang=en").text
    assert f'href="/console/merchants/{applied.id}"' in listed
