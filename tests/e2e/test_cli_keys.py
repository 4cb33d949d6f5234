"""tillpoint keys create / list / revoke: a secret printed once, lists without secrets,
every refusal one line and a non-zero exit."""

from __future__ import annotations

import json

from tests.e2e import test_cli
from tests.e2e.test_cli import PERSONAL, Run, one_line_error

cli = test_cli.run  # the walkthrough's fixture: runs the CLI in-process on a fresh database

MID = "898310058120001"  # the first approved personal merchant of the walkthrough


def test_keys_from_the_command_line(cli: Run) -> None:
    assert cli(*PERSONAL)[0] == 0
    assert cli("merchants", "review", "1", "--approve")[0] == 0

    code, out, err = cli("keys", "create", "--role", "ops_admin", "--name", "Back office")
    assert code == 0
    assert out.splitlines()[0] == "API key 1 (ops_admin) created:"
    secret = out.splitlines()[1].strip()
    assert secret.startswith("tp_live_") and "will not be shown again" in err

    code, out, _ = cli("keys", "create", "--role", "merchant_staff", "--merchant", MID,
                       "--name", "Till 1", "--json", "--by", "ops-bo")  # fmt: skip
    made = json.loads(out)
    assert code == 0 and made["secret"].startswith("tp_live_")
    assert (made["key"]["mid"], made["key"]["created_by"]) == (MID, "ops-bo")

    code, out, _ = cli("keys", "list")
    assert code == 0 and "Back office" in out and "Till 1" in out
    assert secret not in out and made["secret"] not in out
    code, out, _ = cli("keys", "list", "--merchant", MID, "--json")
    assert [k["name"] for k in json.loads(out)] == ["Till 1"]
    assert "secret" not in out

    code, out, _ = cli("keys", "revoke", "2")
    assert (code, out.strip()) == (0, "API key 2 revoked.")
    code, out, _ = cli("keys", "list", "--json")
    assert [k["revoked_at"] is not None for k in json.loads(out)] == [False, True]


def test_key_refusals(cli: Run) -> None:
    code, _, err = cli("keys", "create", "--role", "merchant_owner", "--name", "x")
    assert code == 2
    one_line_error(err, "Operations keys name no merchant; merchant keys name exactly one")
    code, _, err = cli("keys", "create", "--role", "root", "--name", "x")
    assert code == 2 and "root" in err
    code, _, err = cli(
        "keys", "create", "--role", "merchant_staff", "--merchant", MID, "--name", "x"
    )
    assert code == 1
    one_line_error(err, f"No merchant {MID}")
    code, _, err = cli("keys", "list", "--merchant", MID)
    assert code == 1
    one_line_error(err, f"No merchant {MID}")
    code, _, err = cli("keys", "revoke", "7")
    assert code == 1
    one_line_error(err, "No API key 7")
