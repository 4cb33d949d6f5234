"""The REST terminal resource shows operations a terminal's failed proofs of its keys
and its operator-password rule (docs/terminals.md, "Security events")."""

from __future__ import annotations

from tests.api.conftest import ApiEnv
from tillpoint.demo import demo_tid
from tillpoint.terminals.models import FailureReason, SecurityEventKind


def test_the_terminal_resource_counts_failed_proofs(api: ApiEnv) -> None:
    tid = demo_tid(1)
    terminal_id = api.tp.terminals.get(tid).id
    security = api.tp.signon.security
    for _ in range(2):
        security.record_failure(
            terminal_id,
            tid,
            SecurityEventKind.SIGN_ON_FAILED,
            "198.51.100.7",
            FailureReason.BAD_MAC,
        )
    security.record_failure(
        terminal_id, tid, SecurityEventKind.MAC_FAILED, "203.0.113.9", FailureReason.NO_MAC, 1
    )
    answer = api.get("ops", f"/v1/terminals/{tid}")
    assert answer.status_code == 200
    body = answer.json()
    assert body["require_operator_password"] is False  # a demo terminal
    shown = body["security"]
    assert (shown["failed_sign_ons"], shown["last_failed_sign_on_address"]) == (2, "198.51.100.7")
    assert (shown["mac_failures"], shown["last_mac_failure_address"]) == (1, "203.0.113.9")
    assert (shown["sign_on_throttles"], shown["mac_throttles"]) == (0, 0)
    assert shown["last_failed_sign_on_at"] is not None
    listed = api.get("ops", "/v1/terminals").json()
    assert all(t["security"] is None for t in listed["data"])  # only one terminal's view
