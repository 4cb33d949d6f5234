"""The newcomer's walk through the CLI, as the README tells it, with every refusal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.conftest import MASTER_KEY, credit_code, resident_id

from tillpoint.cli import _common, main

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Run:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TILLPOINT_DATABASE_URL", db_url)
    monkeypatch.setenv("TILLPOINT_MASTER_KEY", MASTER_KEY)
    monkeypatch.setenv("TILLPOINT_LOCALE", "en")
    monkeypatch.setenv("TILLPOINT_ACTOR", "ops-amy")
    monkeypatch.setenv("COLUMNS", "200")
    for console in (_common.out, _common.err):  # made at import, before COLUMNS was set
        monkeypatch.setattr(console, "width", 200)

    def invoke(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as e:
            main(list(args))
        out = capsys.readouterr()
        return int(e.value.code or 0), out.out, out.err

    return invoke


PERSONAL = [
    "merchants", "apply", "--kind", "personal", "--legal-name", "Li Si", "--mcc", "5812",
    "--region", "3100", "--contact-name", "Li Si", "--phone", "13912345678",
    "--bank", "ICBC", "--account-name", "Li Si", "--account", "6212340000000000012",
    "--address", "1 East Nanjing Road", "--id-number", resident_id("31010119900101001"),
]  # fmt: skip
BUSINESS = [
    "merchants", "apply", "--kind", "business", "--legal-name", "Morning Trading Ltd",
    "--mcc", "5411", "--region", "3100", "--contact-name", "Wang Wu", "--phone", "021-61234567",
    "--bank", "CMB", "--account-name", "Morning Trading Ltd", "--account", "121900001234567",
    "--address", "88 North Caoxi Road", "--licence", credit_code("91310104MA1FL0001"),
]  # fmt: skip


def one_line_error(err: str, contains: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and contains in lines[0], err


def test_newcomer_walkthrough(run: Run) -> None:
    code, out, _ = run(*PERSONAL, "--json")
    assert code == 0
    personal = json.loads(out)
    assert personal["status"] == "submitted" and personal["mid"] is None
    code, out, _ = run(*BUSINESS)
    assert (code, out.strip()) == (0, "Application 2 submitted: it waits for review.")

    code, out, _ = run("merchants", "review", str(personal["id"]), "--approve")
    assert (code, out.strip()) == (0, "Merchant approved: MID 898310058120001.")
    code, out, err = run("merchants", "review", "898310058120001", "--approve")
    assert code == 1
    one_line_error(err, "Merchant 898310058120001 is already approved")

    code, _, err = run("merchants", "review", "2", "--reject")
    assert code == 2
    one_line_error(err, "A reason is required")
    code, out, _ = run("merchants", "review", "2", "--reject", "--reason", "licence expired")
    assert (code, out.strip()) == (0, "Application 2 rejected.")

    code, out, _ = run("merchants", "list")
    assert code == 0 and "898310058120001" in out and "rejected" in out
    code, out, _ = run("merchants", "history", "2", "--json")
    assert [e["to_status"] for e in json.loads(out)] == ["submitted", "under_review", "rejected"]

    code, out, _ = run(
        "shops", "add", "898310058120001", "--name", "Stall 2", "--address", "2 Food Street"
    )
    assert (code, out.strip()) == (0, "Shop 2 added.")

    code, out, err = run("terminals", "add", "--serial", "SN0001", "--model", "P1")
    assert code == 0 and "TMK: " in out and "will not be shown again" in err
    run("terminals", "add", "--serial", "SN0002", "--model", "P1")
    code, out, _ = run("terminals", "bind", "20000001", "898310058120001", "--shop", "1")
    assert code == 0 and "bound to merchant 898310058120001, shop 1" in out
    assert "Supervisor (00) password: " in out

    code, _, err = run("terminals", "bind", "20000002", "898310058120001", "--shop", "2")
    assert code == 1
    one_line_error(err, "(personal) may have at most 1 terminal(s) and already has 1")

    run(
        *BUSINESS[:-1],
        credit_code("91310104MA1FL0002"),
        "--legal-name",
        "Evening Ltd",
        "--account-name",
        "Evening Ltd",
    )
    code, out, _ = run("merchants", "review", "3", "--approve", "--json")
    other_mid = json.loads(out)["mid"]
    code, _, err = run("terminals", "bind", "20000001", other_mid)
    assert code == 1
    one_line_error(err, "is bound to merchant 898310058120001: one terminal serves one merchant")

    code, out, _ = run("terminals", "show", "20000001", "--json")
    shown = json.loads(out)
    assert (shown["status"], shown["mid"]) == ("bound", "898310058120001")
    code, out, _ = run("terminals", "list")
    assert "20000001" in out and "20000002" in out

    code, out, _ = run(
        "fees", "quote", "898310058120001", "--method", "debit", "--amount", "10000.00", "--json"
    )
    assert json.loads(out) == {
        "plan": "PER-STD", "method": "debit", "amount_minor": 1000000, "fee_minor": 2000, "currency": "CNY"
    }  # fmt: skip
    code, out, _ = run(
        "fees", "quote", "898310058120001", "--method", "debit", "--amount", "10000.00"
    )
    # Money in every command as on the terminal and its slips: one way, in every language.
    assert "CNY 10,000.00" in out and "CNY 20.00" in out and "¥" not in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--mcc", "54x1"), "MCC '54x1' is malformed"),
        (("--account", "6212340000000000013"), "Bank account is malformed"),
    ],
)
def test_malformed_input_is_refused_with_exit_2(
    run: Run, change: tuple[str, str], message: str
) -> None:
    args = list(PERSONAL)
    args[args.index(change[0]) + 1] = change[1]
    code, out, err = run(*args)
    assert (code, out) == (2, "")
    one_line_error(err, message)
    code, out, _ = run("merchants", "list", "--json")
    assert json.loads(out) == []  # nothing was created


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["terminals", "bind"], "Missing argument"),
        (["merchants", "list", "--limit", "many"], "Invalid value for '--limit'"),
        (["merchants", "nonsense"], "No such command"),
        (["merchants", "list", "--status", "happy"], "'happy' is not one of"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(run: Run, args: list[str], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2
    one_line_error(err, message)


def test_missing_master_key_is_explained(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TILLPOINT_MASTER_KEY")
    code, _, err = run("merchants", "list")
    assert code == 2
    one_line_error(err, "TILLPOINT_MASTER_KEY is not set")


def test_demo_is_safe_to_run_twice(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TILLPOINT_MASTER_KEY")
    code, out, err = run("demo", "--terminals", "2", "--json")
    assert code == 0 and "DEMO MODE" in err
    assert json.loads(out) == [
        {"tid": "10000001", "mid": "898310054110001", "created": True},
        {"tid": "10000002", "mid": "898310054110002", "created": True},
    ]
    code, out, _ = run("demo", "--terminals", "3", "--json")
    assert [d["created"] for d in json.loads(out)] == [False, False, True]
    monkeypatch.setenv("TILLPOINT_DEMO", "1")
    code, out, _ = run("terminals", "show", "10000001", "--json")
    t = json.loads(out)
    assert (t["status"], t["mid"], t["tmk_kcv"]) == ("shipped", "898310054110001", "08D7B4FB")
    code, out, _ = run("operators", "verify", "10000001", "001", "--password", "1234")
    assert (code, out.strip()) == (0, "Password accepted.")


def test_a_quiet_day_closed_reconciled_and_checked(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run("settle", "cutoff", "--json")
    day = json.loads(out)["closed"]
    code, out, _ = run("settle", "reconcile", "--date", day)
    assert (code, out.strip()) == (0, f"{day}: references matched: 0; not matched: 0.")
    monkeypatch.setenv("TILLPOINT_LOCALE", "zh_CN")
    code, out, _ = run("settle", "reconcile", "--date", day)  # reports the first run
    assert (code, out.strip()) == (0, f"{day}：相符 0 笔，不符 0 笔。")
    code, out, _ = run("settle", "run", "--date", day, "--json")
    assert (code, json.loads(out)) == (0, [])
    code, out, _ = run("settle", "export", "--date", day)
    assert (code, out.strip()) == (0, f"已将 0 笔划款写入 payouts-{day}.csv")
    monkeypatch.setenv("TILLPOINT_LOCALE", "en")
    written = Path(f"payouts-{day}.csv")
    written.chmod(0o644)  # someone made it readable by all: writing again makes it private
    code, out, _ = run("settle", "export", "--date", day)
    assert (code, out.strip()) == (0, f"Payouts written to payouts-{day}.csv: 0")
    assert written.stat().st_mode & 0o777 == 0o600
    code, out, _ = run("ledger", "check", "--json")
    assert (code, json.loads(out)) == (0, {"balanced": True, "problems": []})


def test_users_are_made_listed_and_reset(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a person at the keyboard a password is made and printed once."""
    code, out, err = run("users", "create", "--name", "Amy Ops", "--email", "amy@example.com",
                         "--role", "admin", "--role", "finance")  # fmt: skip
    assert code == 0, err
    headline, password = out.strip().splitlines()
    assert headline == "Account amy@example.com created." and len(password) >= 10
    assert "shown once" in err
    code, out, _ = run("users", "list", "--json")
    [account] = json.loads(out)
    assert (account["email"], account["roles"], account["must_change_password"]) == (
        "amy@example.com", ["admin", "finance"], True,
    )  # fmt: skip
    code, out, err = run("users", "create", "--name", "X", "--email", "x@example.com",
                         "--role", "admin", "--role", "owner")  # fmt: skip
    one_line_error(err, "either the acquirer's staff or one merchant's")
    assert code == 2
    code, out, err = run("users", "create", "--name", "X", "--email", "x@example.com",
                         "--role", "boss")  # fmt: skip
    assert code == 2 and out == ""
    code, out, _ = run("users", "reset-password", "amy@example.com", "--json")
    assert code == 0 and len(json.loads(out)["password"]) >= 10
    monkeypatch.setenv("TILLPOINT_LOCALE", "zh_CN")
    code, out, _ = run("users", "reset-password", "amy@example.com")
    assert out.startswith("amy@example.com 的新密码：")
    code, out, err = run("users", "reset-password", "nobody@example.com")
    assert code == 1 and "nobody@example.com" in err
    code, out, err = run("users", "reset-totp", "amy@example.com")
    assert (code, out.strip()) == (0, "amy@example.com 的双重验证已重置。"), err
    code, out, err = run("users", "reset-totp", "nobody@example.com")
    assert code == 1 and "nobody@example.com" in err
