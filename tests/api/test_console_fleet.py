"""The console's fleet pages: terminals by state with their latest sign-on and payment,
one terminal's page, and its lifecycle from stock to retirement; only the fleet team
and admins; no master key or password ever on a page or in a log."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import ApiEnv
from tests.api.test_console_auth import sign_in
from tests.api.test_console_merchants import as_role, flash_after, post
from tests.api.test_receipts import DEBIT, card_sale
from tillpoint.access.models import AccountRole
from tillpoint.demo import DEMO_PASSWORD, demo_owner
from tillpoint.security import tdes
from tillpoint.terminals.models import TerminalStatus
from tillpoint.web.console import fleet

KNOWN_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA98765432100123456789ABCDEF")[:16]


@pytest.mark.parametrize("role", [AccountRole.FLEET, None])
def test_the_fleet_and_admins_see_terminals(api: ApiEnv, role: AccountRole | None) -> None:
    as_role(api, role)
    listed = api.client.get("/console/terminals?lang=en")
    assert listed.status_code == 200
    assert f'href="/console/terminals/{api.tid_a}"' in listed.text
    assert f'href="/console/merchants/{api.mid_a}"' in listed.text
    one = api.client.get(f"/console/terminals/{api.tid_a}?lang=en")
    assert one.status_code == 200
    for section in ("Facts", "Operators", "History"):
        assert f">{section}</h2>" in one.text
    assert "Supervisor" in one.text  # its operator 00, without any password


@pytest.mark.parametrize("role", [AccountRole.REVIEWER, AccountRole.RISK, AccountRole.FINANCE])
def test_other_staff_and_merchants_are_refused(api: ApiEnv, role: AccountRole) -> None:
    as_role(api, role)
    for path in ("/console/terminals", f"/console/terminals/{api.tid_a}"):
        assert api.client.get(path, follow_redirects=False).status_code == 403
    assert post(api, f"/console/terminals/{api.tid_a}/freeze", reason="x").status_code == 403
    api.client.cookies.clear()
    assert sign_in(api, demo_owner(1), DEMO_PASSWORD).status_code == 303
    assert api.client.get("/console/terminals", follow_redirects=False).status_code == 403
    assert api.tp.terminals.get(api.tid_a).status is TerminalStatus.ACTIVE


def test_latest_sign_on_and_payment_are_listed(api: ApiEnv) -> None:
    as_role(api, AccountRole.FLEET)
    before = api.client.get("/console/terminals?lang=en").text
    assert before.count(">Never<") >= 4  # two terminals: no sign-on, no payment yet
    card_sale(api, "5.00", DEBIT, 1)
    t = api.tp.terminals.get(api.tid_a)
    assert t.last_sign_on_at is not None and t.last_payment_at is not None
    listed = api.client.get(f"/console/terminals?q={api.tid_a}&lang=en").text
    assert listed.count(">never<") == 0 and listed.count("<time>") == 2
    one = api.client.get(f"/console/terminals/{api.tid_a}?lang=en").text
    assert "Last sign-on</dt><dd><time>" in one and "Last payment</dt><dd><time>" in one


def test_search_tabs_and_pages(api: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    as_role(api, AccountRole.FLEET)
    serial_a = api.tp.terminals.get(api.tid_a).serial_no

    def found(query: str) -> set[str]:
        text = api.client.get(f"/console/terminals?{query}&lang=en").text
        return {t for t in (api.tid_a, api.tid_b) if f">{t}</a>" in text}

    assert found(f"q={api.tid_b}") == {api.tid_b}
    assert found(f"q={serial_a}") == {api.tid_a}
    assert found(f"q={serial_a[:4]}") == {api.tid_a, api.tid_b}
    assert found("q=_") == set()  # a LIKE wildcard is a character, not "anything"
    assert found("state=active") == {api.tid_a, api.tid_b}
    assert found("state=in_stock") == set()
    tabs = api.client.get("/console/terminals?state=frozen&lang=en").text
    assert '<a href="/console/terminals?state=frozen" aria-current="page">Frozen</a>' in tabs

    monkeypatch.setattr(fleet, "PAGE", 1)
    first = api.client.get("/console/terminals?lang=en").text
    a = api.tp.terminals.get(api.tid_a)
    assert f">{api.tid_a}</a>" in first and f">{api.tid_b}</a>" not in first
    assert f'href="/console/terminals?after={a.id}"' in first
    assert found(f"after={a.id}") == {api.tid_b}


def test_a_terminal_from_stock_to_retirement(
    api: ApiEnv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(tdes, "generate_key", lambda: tdes.with_odd_parity(KNOWN_KEY))
    key_hex = tdes.with_odd_parity(KNOWN_KEY).hex().upper()
    kcv = tdes.kcv(tdes.with_odd_parity(KNOWN_KEY)).hex().upper()
    as_role(api, AccountRole.FLEET)
    seen: list[str] = []

    def act(path: str, **fields: str) -> str:
        text = flash_after(api, post(api, path, **fields))
        seen.append(text)
        return text

    # Adding: bad input says so and adds nothing; then the KCV, never the key.
    count = len(api.tp.terminals.search())
    assert "4-40 letters" in act("/console/terminals/add", serial="x", model="P300")
    assert "1-40 characters" in act("/console/terminals/add", serial="SN-NEW-0001", model="")
    assert len(api.tp.terminals.search()) == count
    added = post(api, "/console/terminals/add", serial="SN-NEW-0001", model="P300", mac="x919")
    tid = added.headers["location"].rsplit("/", 1)[1]
    page = flash_after(api, added)
    seen.append(page)
    assert f"Terminal {tid} added to stock." in page and kcv in page
    assert "tillpoint terminals rekey" in page
    assert api.tp.terminals.get(tid).mac_method.value == "x919"
    assert "already exists" in act("/console/terminals/add", serial="SN-NEW-0001", model="P300")
    base = f"/console/terminals/{tid}"

    # Binding: a wrong password or merchant changes nothing.
    assert "exactly 6 digits" in act(f"{base}/bind", merchant=api.mid_a, supervisor_password="12")
    assert "No merchant" in act(f"{base}/bind", merchant="898999999999999",
                                supervisor_password="123456")  # fmt: skip
    assert "whole number" in act(f"{base}/bind", merchant=api.mid_a, shop="one",
                                 supervisor_password="123456")  # fmt: skip
    assert api.tp.terminals.get(tid).status is TerminalStatus.IN_STOCK
    # Without the session's token: 403, nothing bound.
    no_token = api.client.post(f"{base}/bind", data={"merchant": api.mid_a,
                               "supervisor_password": "123456"}, follow_redirects=False)  # fmt: skip
    assert no_token.status_code == 403
    assert api.tp.terminals.get(tid).status is TerminalStatus.IN_STOCK

    api.tp.merchants.set_max_terminals(api.mid_a, 5, "test")
    page = act(f"{base}/bind", merchant=api.mid_a, supervisor_password="246810")
    assert f"Terminal {tid} bound to merchant {api.mid_a}, shop 1." in page
    assert "246810" not in page
    assert api.tp.terminals.verify_operator(tid, "00", "246810")
    # One terminal, one merchant: binding it elsewhere is refused, as the service says.
    page = act(f"{base}/bind", merchant=api.mid_b, supervisor_password="123456")
    assert "one terminal serves one merchant" in page
    assert api.tp.terminals.get(tid).mid == api.mid_a

    assert "is now shipped" in act(f"{base}/ship", reason="SF Express 123")
    assert "cannot become shipped" in act(f"{base}/ship", reason="")
    assert "reason" in act(f"{base}/freeze", reason="").lower()
    assert api.tp.terminals.get(tid).status is TerminalStatus.SHIPPED
    assert "is now frozen" in act(f"{base}/freeze", reason="lost in transit")
    assert "is now shipped" in act(f"{base}/unfreeze", reason="found")
    assert "is now in_stock" in act(f"{base}/unbind", reason="merchant declined")

    # Rekey: the new KCV, never the key.
    page = act(f"{base}/rekey", reason="device repaired")
    assert "new master key" in page and kcv in page
    assert "is now retired" in act(f"{base}/retire", reason="broken screen")
    assert "retired" in act(f"{base}/rekey", reason="again")
    assert post(api, f"{base}/explode", reason="x").status_code == 404

    history = [(e.to_status.value, e.actor) for e in api.tp.terminals.history(tid)]
    assert ("retired", "console:fleet@acquirer.test") in history
    # The clear master key never reached a page, a redirect, or a log.
    final = api.client.get(f"{base}?lang=en").text
    assert all(key_hex not in text for text in [*seen, final])
    assert key_hex not in caplog.text and key_hex.lower() not in caplog.text


def test_an_unknown_terminal_says_so(api: ApiEnv) -> None:
    as_role(api, AccountRole.FLEET)
    missing = api.client.get("/console/terminals/99999999?lang=en")
    assert missing.status_code == 404 and "No terminal 99999999" in missing.text
    bad = api.client.get("/console/terminals/abc?lang=en")
    assert bad.status_code == 400
    page = flash_after(api, post(api, "/console/terminals/99999999/freeze", reason="x"))
    assert "No terminal 99999999" in page
