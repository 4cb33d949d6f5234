"""An API over a fresh database with two demo merchants (A and B, one terminal each)
and a key of every role."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from tillpoint.access.models import Role
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint
from tillpoint.core.settings import Settings
from tillpoint.demo import demo_mid, demo_tid, ensure_demo
from tillpoint.http.services import Services
from tillpoint.ledger.service import payable
from tillpoint.payments.acquirer import Acquirer, simulated

_keys = itertools.count(1)
T = TypeVar("T")


@dataclass
class ApiEnv:
    tp: Tillpoint
    acquirer: Acquirer
    client: TestClient
    # ops, reviewer, owner_a, staff_a, owner_b, risk
    keys: dict[str, str] = field(default_factory=dict)
    mid_a: str = demo_mid(1)
    mid_b: str = demo_mid(2)
    tid_a: str = demo_tid(1)
    tid_b: str = demo_tid(2)

    @property
    def services(self) -> Services:
        svc: Services = self.client.app.state.services  # type: ignore[attr-defined]
        return svc

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a coroutine function on the app's event loop (as a request would)."""
        portal = self.client.portal
        assert portal is not None
        return portal.call(fn, *args)

    def merchant_id(self, mid: str) -> int:
        return self.tp.merchants.get(mid).id

    def payable(self, mid: str) -> int:
        """What the ledger says the acquirer owes the merchant (a credit: negative)."""
        (balance,) = self.tp.ledger.balances(payable(mid))
        return balance.balance.amount_minor

    def headers(self, who: str, *, idempotency: str | None = None) -> dict[str, str]:
        """Authorization for ``who``; POSTs get a fresh Idempotency-Key unless given."""
        return {
            "Authorization": f"Bearer {self.keys[who]}",
            "Idempotency-Key": idempotency or f"test-{next(_keys)}",
        }

    def get(self, who: str, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(who), **kw)

    def post(self, who: str, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post(path, headers=self.headers(who), json=json, **kw)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Demo mode (the demo merchants and terminals), with the test clock of ``tp``."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        demo=True,
        locale="en",
    )


@pytest.fixture
def api(tp: Tillpoint) -> Iterator[ApiEnv]:
    ensure_demo(tp, 2)
    for tid in (demo_tid(1), demo_tid(2)):
        tp.terminals.activate(tid)  # as its first sign-on would
    acquirer = simulated(tp)
    env = ApiEnv(tp, acquirer, TestClient(create_api(tp, acquirer), raise_server_exceptions=False))
    for who, role, mid in (
        ("ops", Role.OPS_ADMIN, None),
        ("reviewer", Role.REVIEWER, None),
        ("owner_a", Role.MERCHANT_OWNER, env.mid_a),
        ("staff_a", Role.MERCHANT_STAFF, env.mid_a),
        ("owner_b", Role.MERCHANT_OWNER, env.mid_b),
        ("risk", Role.RISK, None),
    ):
        env.keys[who] = tp.access.create_key(role, who, "test", merchant_ref=mid).secret
    with env.client:
        yield env
    acquirer.close()
