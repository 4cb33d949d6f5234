"""The console's risk pages: the queue of cases, a case and the work on it (assign,
comment, act, resolve), the rules (a change, a bad one refused beside its field with
nothing changed, a backtest), a payment's decision; who may read them and who may act
(a risk analyst and an admin; a reviewer reads only), and the risk role elsewhere (the
Users page grants it, the API keys page makes its keys, it reads applications and fee
plans without their forms)."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import csrf_of, sign_in
from tests.api.test_console_merchants import as_role, post
from tests.api.test_console_merchants import flash_after as page_after
from tests.conftest import personal_application
from tillpoint.access.models import AccountRole, Role
from tillpoint.clearing.models import PayoutHold
from tillpoint.demo import DEMO_ADMIN, DEMO_PASSWORD, demo_owner
from tillpoint.risk.models import Action, CaseStatus, Mode, Resolution, Severity
from tillpoint.terminals.models import TerminalStatus
from tillpoint.web.console import risk as risk_pages

ALIPAY = "284000000000000001"
R = AccountRole
ANALYST = "console:risk@acquirer.test"


def watch(api: ApiEnv, mid: str, amount_minor: int, severity: Severity = Severity.HIGH) -> str:
    """A live rule on ``mid``'s payments of ``amount_minor``; its code."""
    code = f"watch_{mid[-4:]}_{amount_minor}"
    api.tp.risk.create(code, f"{mid} {amount_minor}", f"amount == {amount_minor}", Action.ALERT,
                       severity, "test", scope={"mids": [mid]}, mode=Mode.LIVE)  # fmt: skip
    return code


def wallet_sale(api: ApiEnv, owner: str, amount_minor: int) -> dict[str, Any]:
    sale = api.post(owner, "/v1/payments", {"amount_minor": amount_minor, "code": ALIPAY})
    assert sale.status_code == 201, sale.text
    body: dict[str, Any] = sale.json()
    return body


def flagged(api: ApiEnv) -> tuple[int, dict[str, Any]]:
    """Merchant A's sale of 123.45 fires a live rule: its case and the sale."""
    watch(api, api.mid_a, 12_345)
    sale = wallet_sale(api, "owner_a", 12_345)
    (case,) = api.tp.risk.cases(status=CaseStatus.OPEN)
    return case.id, sale


def flash_after(api: ApiEnv, response: httpx.Response) -> str:
    """The page a post went back to, its one-time message unescaped."""
    return html.unescape(page_after(api, response))


def text_of(api: ApiEnv, path: str) -> str:
    got = api.client.get(path + ("&" if "?" in path else "?") + "lang=en")
    assert got.status_code == 200, (path, got.status_code)
    return got.text


def forms_of(html: str) -> set[str]:
    return set(re.findall(r'<form method="post" action="(/console/risk[^"]*)"', html))


# --- who may read and who may act ---------------------------------------------------------------


@pytest.mark.parametrize("role", [R.RISK, R.REVIEWER, None], ids=["risk", "reviewer", "admin"])
def test_every_reader_sees_the_queue_a_case_the_rules_and_a_payment(
    api: ApiEnv, role: AccountRole | None
) -> None:
    case_id, sale = flagged(api)
    as_role(api, role)
    home = text_of(api, "/console")
    assert 'href="/console/risk"' in home and ">Risk</a>" in home  # in the menu
    queue = text_of(api, "/console/risk")
    assert f'href="/console/risk/cases/{case_id}"' in queue and api.mid_a in queue
    assert "watch_0001_12345" in queue and "CN¥123.45" in queue  # rules fired; latest alerts
    case = text_of(api, f"/console/risk/cases/{case_id}")
    assert f'href="/console/merchants/{api.mid_a}"' in case
    assert f'href="/console/payments/{sale["rrn"]}"' in case and "CN¥123.45" in case
    assert "<code>amount</code>" in case  # the evidence: the value the rule read
    rules = text_of(api, "/console/risk/rules")
    assert 'href="/console/risk/rules/velocity_card"' in rules
    rule = text_of(api, "/console/risk/rules/velocity_card")
    assert "card.count_10m &gt;= max_10m" in rule and "Versions" in rule
    payment = text_of(api, f"/console/payments/{sale['rrn']}")
    assert "watch_0001_12345" in payment and "CN¥123.45" in payment
    # Only risk analysts (and admins) see the forms that change anything.
    acts = role in (R.RISK, None)
    assert bool(forms_of(case)) is acts
    assert ('action="/console/risk/rules/velocity_card"' in rule) is acts
    assert 'action="/console/risk/rules/velocity_card/backtest' in rule  # everyone backtests


def test_others_are_refused_at_every_risk_page(api: ApiEnv) -> None:
    case_id, sale = flagged(api)
    pages = ("/console/risk", f"/console/risk/cases/{case_id}", "/console/risk/rules",
             "/console/risk/rules/velocity_card", f"/console/payments/{sale['rrn']}",
             f"/console/payments?q={sale['rrn']}")  # fmt: skip
    for role in (R.FLEET, R.FINANCE):
        as_role(api, role)
        assert ">Risk</a>" not in text_of(api, "/console")
        for path in pages:
            assert api.client.get(path, follow_redirects=False).status_code == 403, (role, path)
    api.client.cookies.clear()
    assert sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303
    for path in pages:
        assert api.client.get(path, follow_redirects=False).status_code == 403, path


def test_a_reviewers_posts_are_refused_and_change_nothing(api: ApiEnv) -> None:
    case_id, _sale = flagged(api)
    before = api.tp.risk.case(case_id)
    version = api.tp.risk.rule("velocity_card").version
    as_role(api, R.REVIEWER)
    base = f"/console/risk/cases/{case_id}"
    for path, fields in (
        (f"{base}/assign", {"to": "me"}),
        (f"{base}/comment", {"text": "looks fine"}),
        (f"{base}/act", {"act": "freeze_terminal", "tid": api.tid_a}),
        (f"{base}/act", {"act": "hold_payouts"}),
        (f"{base}/resolve", {"resolution": "false_positive"}),
        ("/console/risk/rules/velocity_card", {"mode": "off", "action": "decline",
                                               "severity": "high", "note": "x"}),
    ):  # fmt: skip
        assert post(api, path, **fields).status_code == 403, path
    assert api.tp.risk.case(case_id) == before
    assert api.tp.risk.rule("velocity_card").version == version
    assert api.tp.terminals.get(api.tid_a).status is TerminalStatus.ACTIVE


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_sorts_filters_and_pages(api: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    watch(api, api.mid_a, 1_111, Severity.LOW)
    watch(api, api.mid_b, 2_222, Severity.CRITICAL)
    wallet_sale(api, "owner_a", 1_111)
    wallet_sale(api, "owner_b", 2_222)
    low, critical = sorted(c.id for c in api.tp.risk.cases())  # A's first: the older

    def shown(query: str = "") -> list[int]:
        html = text_of(api, f"/console/risk?{query}")
        table = html.split('class="list risk-queue"')[1].split("</table>")[0] if (
            'class="list risk-queue"' in html) else ""  # fmt: skip
        return [int(x) for x in re.findall(r'href="/console/risk/cases/(\d+)"', table)]

    as_role(api, R.RISK)
    assert shown() == [critical, low]  # the most severe first
    assert shown("order=newest") == [critical, low]
    assert shown("severity=low") == [low]
    assert shown("severity=medium") == []
    assert shown("who=me") == []
    assert shown("who=none") == [critical, low]
    assert flash_after(api, post(api, f"/console/risk/cases/{low}/assign", to="me"))
    assert shown("who=me") == [low] and shown("who=none") == [critical]
    assert api.tp.risk.case(low).assignee == ANALYST
    api.tp.risk.resolve(critical, Resolution.FRAUD_CONFIRMED, "test")
    assert shown() == [low]
    assert shown("status=resolved") == [critical]
    assert shown("status=all&order=newest") == [critical, low]
    assert shown("severity=nonsense&order=nonsense&who=x&status=x") == [low]  # no such filter
    # A page at a time: the next page goes on after the last case shown.
    monkeypatch.setattr(risk_pages, "PAGE", 1)
    first = text_of(api, "/console/risk?status=all")
    assert f'href="/console/risk?status=all&amp;after={critical}"' in first
    assert shown(f"status=all&after={critical}") == [low]
    assert shown(f"status=all&after={low}") == []


# --- working a case -----------------------------------------------------------------------------


def test_an_analyst_assigns_comments_freezes_holds_and_resolves_a_false_positive(
    api: ApiEnv,
) -> None:
    case_id, _sale = flagged(api)
    api.tp.accounts.create(name="Li Risk", roles={R.RISK}, actor="test", email="li@acquirer.test",
                           password="another password")  # fmt: skip
    as_role(api, R.RISK)
    base = f"/console/risk/cases/{case_id}"
    page = text_of(api, base)
    assert "li@acquirer.test" in page  # offered as an assignee
    assert f'<option value="{api.tid_a}">' in page  # a terminal to freeze
    # Assign: to someone offered, never to anyone else.
    done = flash_after(api, post(api, f"{base}/assign", to="console:li@acquirer.test"))
    assert f"Case {case_id} assigned to console:li@acquirer.test." in done
    refused = flash_after(api, post(api, f"{base}/assign", to="console:someone@else.cn"))
    assert "Choose someone from the list" in refused
    assert api.tp.risk.case(case_id).assignee == "console:li@acquirer.test"
    # Comment: words required.
    assert "A reason is required" in flash_after(api, post(api, f"{base}/comment", text=" "))
    assert "Comment added." in flash_after(api, post(api, f"{base}/comment", text="Called them"))
    # Act: freeze A's terminal, hold A's payouts; another merchant's terminal is refused.
    other = flash_after(api, post(api, f"{base}/act", act="freeze_terminal", tid=api.tid_b))
    assert f"No terminal {api.tid_b}" in other
    assert api.tp.terminals.get(api.tid_b).status is TerminalStatus.ACTIVE
    bad = flash_after(api, post(api, f"{base}/act", act="explode"))
    assert "Choose an action from the list" in bad
    frozen = flash_after(api, post(api, f"{base}/act", act="freeze_terminal", tid=api.tid_a))
    assert f"Terminal {api.tid_a} is frozen." in frozen
    assert api.tp.terminals.get(api.tid_a).status is TerminalStatus.FROZEN
    held = flash_after(api, post(api, f"{base}/act", act="hold_payouts"))
    assert "The merchant's payouts are held." in held
    assert api.tp.settlement.current_hold(api.mid_a) is not None
    assert 'value="hold_payouts"' not in text_of(api, base)  # held: nothing to offer
    # The history says who did what.
    history = text_of(api, base).split('id="history-title"')[1]
    for said in ("opened", "alert", "assigned", "To console:li@acquirer.test", "Called them",
                 f"Terminal {api.tid_a} frozen", "Payouts held", ANALYST):  # fmt: skip
        assert said in history, said
    # Resolve as a false positive: what the case did is undone.
    assert "Choose how the case ends" in flash_after(api, post(api, f"{base}/resolve"))
    resolved = flash_after(api, post(api, f"{base}/resolve", resolution="false_positive",
                                     note="A wedding banquet"))  # fmt: skip
    assert f"Case {case_id} resolved: False positive." in resolved
    c = api.tp.risk.case(case_id)
    assert (c.status, c.resolution, c.resolved_by) == (CaseStatus.RESOLVED,
                                                       Resolution.FALSE_POSITIVE, ANALYST)  # fmt: skip
    assert api.tp.terminals.get(api.tid_a).status is TerminalStatus.ACTIVE
    assert api.tp.settlement.current_hold(api.mid_a) is None
    after = text_of(api, base)
    assert f"Terminal {api.tid_a} unfrozen" in after and "Payouts released" in after
    assert "A wedding banquet" in after
    assert f'action="{base}/act"' not in after  # a resolved case is not acted on
    again = flash_after(api, post(api, f"{base}/resolve", resolution="fraud_confirmed"))
    assert f"Risk case {case_id} is resolved" in again
    audited = [r.action for r in api.tp.access.audit_log(limit=50)]
    for what in ("assign", "comment", "act", "resolve"):
        assert f"console risk case {what}" in audited, what


def test_an_alert_that_fires_again_that_day_shows_how_often_and_the_latest(api: ApiEnv) -> None:
    case_id, first = flagged(api)
    again = wallet_sale(api, "owner_a", 12_345)
    as_role(api, R.REVIEWER)
    alerts = text_of(api, f"/console/risk/cases/{case_id}").split('id="alerts-title"')[1]
    assert f'href="/console/payments/{first["rrn"]}"' in alerts
    assert "Fired 2 times that day; the latest:" in alerts
    assert f'href="/console/payments/{again["rrn"]}"' in alerts
    assert "×2" in text_of(api, "/console/risk")
    # The second payment has its own decision all the same.
    assert "watch_0001_12345" in text_of(api, f"/console/payments/{again['rrn']}")


def test_a_case_that_does_not_exist(api: ApiEnv) -> None:
    as_role(api, R.RISK)
    missing = api.client.get("/console/risk/cases/99999?lang=en")
    assert missing.status_code == 404 and "No risk case 99999" in missing.text
    refused = flash_after(api, post(api, "/console/risk/cases/99999/comment", text="x"))
    assert "No risk case 99999" in refused


# --- rules --------------------------------------------------------------------------------------


def rule_form(api: ApiEnv, code: str, **changes: str) -> dict[str, str]:
    """The rule's form as the page fills it, with ``changes``."""
    r = api.tp.risk.rule(code)
    form = {"mode": r.mode.value, "action": r.action.value, "severity": r.severity.value,
            "expression": r.expression, "note": ""}  # fmt: skip
    names = sorted({n for values in r.params.values() for n in values})
    for i, name in enumerate(names):
        form[f"param_{i}_name"] = name
        for group in ("default", "personal", "business"):
            value = r.params.get(group, {}).get(name)
            form[f"param_{i}_{group}"] = "" if value is None else str(value)
    form.update(changes)
    return form


def test_an_analyst_changes_a_rule_and_a_bad_one_changes_nothing(api: ApiEnv) -> None:
    as_role(api, R.RISK)
    path = "/console/risk/rules/velocity_card"
    before = api.tp.risk.rule("velocity_card")
    page = text_of(api, path)
    assert 'name="param_0_name" value="max_10m"' in page  # the parameters, by group

    def refused(**changes: str) -> str:
        answer = api.client.post(path + "?lang=en", data={"csrf_token": csrf_of(api),
                                                          **rule_form(api, "velocity_card",
                                                                      **changes)})  # fmt: skip
        assert answer.status_code == 400, answer.text
        assert api.tp.risk.rule("velocity_card") == before
        return answer.text

    bad = refused(expression="card.count_10m >= max_10m and", note="try")
    assert 'id="expression-error"' in bad and "Rule expression:" in bad and "at column" in bad
    assert 'aria-invalid="true" aria-describedby="expression-error"' in bad
    assert "card.count_10m &gt;= max_10m and</textarea>" in bad  # what was typed, kept
    unknown = refused(expression="card.count_10m >= nothing_like_it", note="try")
    assert 'id="expression-error"' in unknown and "nothing_like_it" in unknown
    params = refused(param_0_default="five", note="try")
    assert 'id="params-error"' in params and "Parameter max_10m must be a whole number" in params
    nameless = refused(param_5_name="", param_5_default="3", note="try")
    assert "Name every parameter that has values" in nameless
    assert 'id="mode-error"' in refused(mode="sometimes", note="x")
    assert "Nothing to change" in refused(note="nothing")
    assert 'id="note-error"' in refused(mode="shadow")  # why, required
    # A good change: a new version, with who and why.
    good = rule_form(api, "velocity_card", mode="shadow", param_0_default="6",
                     param_5_name="max_1h", param_5_default="30",
                     expression="card.count_10m >= max_10m or card.count_1h >= max_1h",
                     note="festival week")  # fmt: skip
    done = api.client.post(path, data={"csrf_token": csrf_of(api), **good}, follow_redirects=False)
    assert f"Rule velocity_card is now version {before.version + 1}." in flash_after(api, done)
    after = api.tp.risk.rule("velocity_card")
    assert after.mode is Mode.SHADOW and after.version == before.version + 1
    assert after.params["default"] == {**before.params["default"], "max_10m": 6, "max_1h": 30}
    assert after.params.get("personal") == before.params.get("personal")
    assert "card.count_1h" in after.expression
    versions = text_of(api, path).split('id="versions-title"')[1]
    assert "festival week" in versions and ANALYST in versions
    assert [r.action for r in api.tp.access.audit_log(limit=20)].count(
        "console risk rule change"
    ) >= 8  # every refusal too
    # A parameter with no value left is dropped.
    drop = rule_form(api, "velocity_card", note="no hourly limit",
                     expression="card.count_10m >= max_10m or card.count_24h >= max_24h")  # fmt: skip
    index = next(k for k, v in drop.items() if v == "max_1h").split("_")[1]
    drop[f"param_{index}_default"] = ""
    api.client.post(path, data={"csrf_token": csrf_of(api), **drop})
    assert "max_1h" not in api.tp.risk.rule("velocity_card").params["default"]


def test_a_backtest_from_the_rule_page(api: ApiEnv) -> None:
    case_id, sale = flagged(api)
    api.tp.risk.resolve(case_id, Resolution.FRAUD_CONFIRMED, "test")
    as_role(api, R.REVIEWER)  # a reviewer may backtest: it changes nothing
    today = api.tp.ctx.today().isoformat()
    path = "/console/risk/rules/watch_0001_12345/backtest?lang=en"

    def run(start: str, end: str) -> httpx.Response:
        return api.client.post(path, data={"csrf_token": csrf_of(api), "date_from": start,
                                           "date_to": end})  # fmt: skip

    shown = run(today, today)
    assert shown.status_code == 200
    result = shown.text.split('aria-label="Backtest result"')[1]
    assert re.search(r"Payments screened</dt><dd>1</dd>", result)
    assert re.search(r"Fired on</dt><dd>1</dd>", result)
    assert re.search(r"Would flag</dt><dd>1</dd>", result)
    assert re.search(r"Precision</dt><dd>100.0%</dd>", result)
    assert re.search(r"Recall</dt><dd>100.0%</dd>", result)
    assert f'href="/console/payments/{sale["rrn"]}"' in result
    wrong = run("yesterday", today)
    assert wrong.status_code == 400 and "Give both days as dates like 2026-12-04" in wrong.text
    long = run("2026-01-01", "2026-11-01")
    assert long.status_code == 400 and 'id="backtest-error"' in long.text


# --- a payment and its decision -----------------------------------------------------------------


def test_a_payments_decision_by_reference_or_id_and_the_search(api: ApiEnv) -> None:
    _case_id, sale = flagged(api)
    plain = wallet_sale(api, "owner_a", 500)  # no rule fires
    refund = api.post("owner_a", "/v1/refunds", {"payment_id": plain["id"], "amount_minor": 100})
    assert refund.status_code == 201
    as_role(api, R.RISK)
    by_rrn = text_of(api, f"/console/payments/{sale['rrn']}")
    by_id = text_of(api, f"/console/payments/{sale['id']}")
    for page in (by_rrn, by_id):
        assert "Decision" in page and "watch_0001_12345" in page and "amount == 12345" in page
        assert f'href="/console/merchants/{api.mid_a}"' in page and "CN¥123.45" in page
        assert "Alerts raised" in page
    assert "Screened: allowed" in text_of(api, f"/console/payments/{plain['rrn']}")
    assert "Not screened" in text_of(api, f"/console/payments/{refund.json()['rrn']}")
    # The search box: to the payment, or back to the queue saying there is none.
    found = api.client.get(f"/console/payments?q={sale['id']}", follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (
        303, f"/console/payments/{sale['rrn']}")  # fmt: skip
    none = api.client.get("/console/payments?q=000000000000", follow_redirects=False)
    assert none.headers["location"] == "/console/risk"
    assert "No payment 000000000000" in api.client.get("/console/risk?lang=en").text
    assert api.client.get("/console/payments", follow_redirects=False).status_code == 303
    for ref in ("999999", "x" * 300, "9" * 30):
        missing = api.client.get(f"/console/payments/{ref}?lang=en")
        assert missing.status_code == 404 and "No payment" in missing.text, ref


# --- the risk role elsewhere --------------------------------------------------------------------


def test_the_users_page_grants_the_risk_role_and_the_keys_page_makes_its_keys(
    api: ApiEnv,
) -> None:
    as_role(api, None)
    token = csrf_of(api)
    made = api.client.post("/console/users", data={"csrf_token": token, "name": "Rui",
                                                   "email": "rui@acquirer.cn", "role": "risk"})  # fmt: skip
    assert made.status_code == 200, made.text
    assert api.tp.accounts.get("rui@acquirer.cn").roles == (R.RISK,)
    assert 'value="risk"' in text_of(api, "/console/users/new")
    key = api.client.post("/console/api-keys?lang=en", data={"csrf_token": token,
                                                             "name": "Risk desk", "role": "risk"})  # fmt: skip
    assert key.status_code == 200, key.text
    (made_key,) = [k for k in api.tp.access.list_keys() if k.name == "Risk desk"]
    assert made_key.role is Role.RISK and made_key.mid is None


def test_risk_analysts_read_applications_and_fee_plans_without_their_forms(api: ApiEnv) -> None:
    ref = api.tp.merchants.apply(personal_application(3), "applicant").id
    plan = api.tp.fees.list_plans()[0].code
    as_role(api, R.RISK)
    application = text_of(api, f"/console/applications/{ref}")
    assert '<form method="post"' not in application.split("</header>")[1]
    assert "Applications" in text_of(api, "/console/applications")
    assert text_of(api, f"/console/fee-plans/{plan}")
    assert api.client.get("/console/fee-plans/new").status_code == 403
    for action in ("start-review", "note", "approve", "reject", "ask-documents"):
        answer = post(api, f"/console/applications/{ref}/{action}", note="x", reason="x")
        assert answer.status_code == 403, action
    assert api.tp.merchants.get(str(ref)).status.value == "submitted"


def test_the_admin_sees_every_form_too(api: ApiEnv) -> None:
    case_id, _sale = flagged(api)
    assert sign_in(api, DEMO_ADMIN, DEMO_PASSWORD).status_code == 303
    done = flash_after(api, post(api, f"/console/risk/cases/{case_id}/act", act="hold_payouts"))
    assert "The merchant's payouts are held." in done
    with api.tp.ctx.db.read() as s:
        assert s.query(PayoutHold).count() == 1
