"""An API over a fresh copy of a database with two demo merchants (A and B, one
terminal each) and a key of every role."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient

from tests.conftest import START, Databases
from tillpoint.access.models import Role
from tillpoint.api.app import create_api
from tillpoint.app import Tillpoint, open_app
from tillpoint.core.clock import FixedClock
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


#: Who holds a key in the ``api`` world: name, role, merchant.
HOLDERS = (
    ("ops", Role.OPS_ADMIN, None),
    ("reviewer", Role.REVIEWER, None),
    ("owner_a", Role.MERCHANT_OWNER, demo_mid(1)),
    ("staff_a", Role.MERCHANT_STAFF, demo_mid(1)),
    ("owner_b", Role.MERCHANT_OWNER, demo_mid(2)),
    ("risk", Role.RISK, None),
)


def build_api_world(url: str, network_dir: Path) -> dict[str, str]:
    """Two demo merchants with a terminal each, activated (as their first sign-on would),
    and a key of each holder's; the keys' secrets."""
    settings = Settings(_env_file=None, database_url=url, network_dir=str(network_dir),  # type: ignore[call-arg]
                        demo=True, locale="en")  # fmt: skip
    tp = open_app(settings, clock=FixedClock(START))
    try:
        ensure_demo(tp, 2)
        for tid in (demo_tid(1), demo_tid(2)):
            tp.terminals.activate(tid)
        return {
            who: tp.access.create_key(role, who, "test", merchant_ref=mid).secret
            for who, role, mid in HOLDERS
        }
    finally:
        tp.close()


def api_world(databases: Databases, tmp_path: Path) -> dict[str, str]:
    """The ``api`` world, made once per session (on the first test's ``tmp_path``)."""
    return databases.prepare("api", lambda url: build_api_world(url, tmp_path / "prepared"))


@pytest.fixture
def db_url(request: pytest.FixtureRequest, databases: Databases, tmp_path: Path) -> Iterator[str]:
    """For a test of the ``api`` fixture, a copy of its world (making it took each test
    ~130 ms of CPU); a migrated database for the others."""
    if "api" in request.fixturenames:
        api_world(databases, tmp_path)
        url = databases.new("api")
    else:
        url = databases.new()
    yield url
    databases.drop(url)


@pytest.fixture
def api(tp: Tillpoint, databases: Databases, tmp_path: Path) -> Iterator[ApiEnv]:
    """The API on the prepared world (``db_url``), a key of every holder's in ``keys``."""
    assert tp.ctx.settings.demo, "the api world is a demo database"
    acquirer = simulated(tp)
    env = ApiEnv(tp, acquirer, TestClient(create_api(tp, acquirer), raise_server_exceptions=False))
    env.keys.update(api_world(databases, tmp_path))
    with env.client:
        yield env
    acquirer.close()
