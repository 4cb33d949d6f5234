"""Shared fixtures. Each test gets its own freshly migrated database: a copy of a
template migrated once per session (SQLite), or a database created from a template
database on the PostgreSQL server named by TILLPOINT_TEST_POSTGRES_URL.

When that variable is set, the database tests (ON_BOTH) run twice in the one session,
``[sqlite]`` and ``[postgresql]``: the workers share out both kinds at once, so that the
PostgreSQL tests' waits on their server are filled with other tests' work."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.clock import BUSINESS_TZ, FixedClock
from tillpoint.core.db import Database
from tillpoint.core.i18n import set_locale
from tillpoint.core.migrate import upgrade
from tillpoint.core.settings import Settings
from tillpoint.core.signal import signal_path
from tillpoint.merchants.models import MerchantKind
from tillpoint.merchants.services import Application
from tillpoint.merchants.validation import uscc_check_char
from tillpoint.payments.writer import PAYMENTS_WRITTEN
from tillpoint.risk.service import ensure_builtin
from tillpoint.security import passwords
from tillpoint.terminal import device

# Hashing a password at the production cost (Argon2id, 32 MiB, three passes) takes about
# 0.1 s; the tests sign in hundreds of times. In the tests' own processes the hashes are
# the cheapest Argon2id there is; a process they start (`tillpoint serve`, the terminal)
# hashes at the production cost, which tests/unit/security/test_passwords.py checks.
passwords._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
device._ARGON2_TIME_COST, device._ARGON2_MEMORY_KIB = 1, 8

T = TypeVar("T")
POSTGRES_URL = os.environ.get("TILLPOINT_TEST_POSTGRES_URL")
MASTER_KEY = secrets.token_hex(32)
START = datetime(2026, 11, 25, 10, 0, tzinfo=BUSINESS_TZ)


class Databases:
    """Hands out fresh, migrated databases quickly.

    On PostgreSQL, creating a database from the template and dropping it take a good
    fraction of a second each: a thread creates the next ones ahead and drops used ones
    behind (in batches) while the tests run, and the test databases commit without
    waiting for their WAL to reach the disk (``synchronous_commit = off``; a crash of the
    server loses the last commits, which for a throwaway database does not matter)."""

    AHEAD = 2
    #: Each DROP DATABASE makes the server write every dirty page of every database to
    #: disk at once (a checkpoint: two a second with one drop per test, a third of the
    #: machine's CPU in the kernel): used databases are dropped this many together, the
    #: checkpoints after the first of them finding little to write.
    DROP_EVERY = 40

    def __init__(self, workdir: Path, postgres_url: str | None = None) -> None:
        self.workdir = workdir
        self.postgres = postgres_url is not None
        self.counter = itertools.count()
        self.prepared: dict[str, tuple[str, object]] = {}
        self.used: list[str] = []  # databases to drop (PostgreSQL)
        self.template: str
        if postgres_url is not None:
            url = make_url(postgres_url)
            self.admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
            self.prefix = f"{url.database}_{os.getpid()}"
            self.template = f"{self.prefix}_tmpl"
            self.base_url = url
            self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
            self.ahead: deque[Future[str]] = deque()
            self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self.template}"')
            db = Database(url.set(database=self.template).render_as_string(hide_password=False))
        else:
            self.template = str(workdir / "template.sqlite")
            db = Database(f"sqlite:///{self.template}")
        upgrade(db)
        ensure_builtin(db, START)  # as open_app would, once instead of in every test
        db.dispose()

    def _admin(self, *statements: str) -> None:
        with self.admin.connect() as c:
            for statement in statements:
                c.execute(text(statement))

    def _create(self, name: str, template: str | None = None) -> str:
        self._admin(
            f'CREATE DATABASE "{name}" TEMPLATE "{template or self.template}"',
            f'ALTER DATABASE "{name}" SET synchronous_commit = off',
        )
        return self.base_url.set(database=name).render_as_string(hide_password=False)

    def _create_ahead(self) -> None:
        name = f"{self.prefix}_{next(self.counter)}"
        self.ahead.append(self.worker.submit(self._create, name))

    def new(self, prepared: str | None = None) -> str:
        """A fresh database: migrated, or a copy of the one ``prepare`` made."""
        if prepared is not None:
            return self._copy(self.prepared[prepared][0])
        if self.postgres:
            while len(self.ahead) < self.AHEAD:
                self._create_ahead()
            url = self.ahead.popleft().result()
            self._create_ahead()
            return url
        return self._copy(self.template)

    def _copy(self, template: str) -> str:
        if self.postgres:
            return self._create(f"{self.prefix}_{next(self.counter)}", template)
        path = self.workdir / f"db{next(self.counter)}.sqlite"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"

    def prepare(self, name: str, build: Callable[[str], T]) -> T:
        """Once per session: a database that ``build`` fills (given its URL), for
        ``new(name)`` to copy; what ``build`` returned."""
        if name not in self.prepared:
            url = self.new()
            result = build(url)
            template = make_url(url).database  # a file's path on SQLite
            assert template is not None
            self.prepared[name] = (template, result)
        return cast("T", self.prepared[name][1])

    def drop(self, url: str) -> None:
        """Done with: on PostgreSQL, dropped with the next ones, DROP_EVERY at a time."""
        if self.postgres:
            self.used.append(f'"{make_url(url).database}"')
            if len(self.used) >= self.DROP_EVERY:
                self._drop_used()
            # the machine's counter of its payment commits, in the temporary directory
            counter = signal_path(url, PAYMENTS_WRITTEN)
            if counter is not None:
                counter.unlink(missing_ok=True)

    def _drop_used(self) -> None:
        drops = [f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in self.used]
        self.used = []
        self.worker.submit(self._admin, *drops)

    def close(self) -> None:
        if self.postgres:
            for future in self.ahead:
                self.drop(future.result())
            for name, _result in self.prepared.values():
                self.drop(self.base_url.set(database=name).render_as_string(hide_password=False))
            self._drop_used()
            self.worker.shutdown(wait=True)
            self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            self.admin.dispose()


@pytest.fixture(scope="session")
def databases(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """SQLite, unless the test is parametrized with ``postgresql`` (below)."""
    backend = getattr(request, "param", "sqlite")
    url = POSTGRES_URL if backend == "postgresql" else None
    dbs = Databases(tmp_path_factory.mktemp(f"databases-{backend}"), url)
    yield dbs
    dbs.close()


@pytest.fixture
def db_url(databases: Databases) -> Iterator[str]:
    url = databases.new()
    yield url
    databases.drop(url)


#: The tests that run on PostgreSQL as well as SQLite: the service layer and end to end,
#: and the tenant matrix (every route, merchant against merchant). The other API tests
#: check the HTTP layer over the same services, and run on SQLite only; so do the tests
#: that ask for no database of their own (``db_url`` or ``databases``, directly or
#: through another fixture: the browser tests run `tillpoint serve` on an SQLite file of
#: their own), the tests in the browser (what they check is the page in Chromium; the
#: same pages' reads and writes are the page tests') and those of a terminal's screen
#: (``screen``: the host tests run on both).
ON_BOTH = ("tests/integration/", "tests/e2e/", "tests/api/test_tenant_matrix.py")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``[sqlite]`` and ``[postgresql]`` for a database test when a server is named;
    only ``[postgresql]`` for a test marked ``postgres`` (skipped without one)."""
    fixtures = set(metafunc.fixturenames)
    if "databases" not in fixtures:  # db_url asks for it too
        return
    definition = metafunc.definition
    backends: list[Any]
    if definition.get_closest_marker("postgres"):
        missing = pytest.mark.skip(reason="needs TILLPOINT_TEST_POSTGRES_URL")
        backends = [pytest.param("postgresql", marks=() if POSTGRES_URL else missing)]
    elif (
        POSTGRES_URL
        and definition.nodeid.startswith(ON_BOTH)
        and "browser" not in fixtures
        and not definition.get_closest_marker("screen")
    ):
        backends = ["sqlite", "postgresql"]
    else:
        return
    metafunc.parametrize("databases", backends, indirect=True, scope="session")


def backend_of(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    return str(callspec.params.get("databases", "sqlite")) if callspec else "sqlite"


#: The longest tests (minutes each on a loaded two-core machine), started first in this
#: order so that no xdist worker is left running one of them alone at the end.
LONGEST_FIRST = (
    "tests/e2e/test_schemathesis.py::test_no_generated_request_gets_a_server_error",
    "tests/e2e/test_crash.py::",
    "tests/unit/risk/test_features.py::test_a_million_distinct_cards",
    "tests/integration/test_payment_search.py::test_exporting_fifty_thousand",
    "tests/e2e/test_host_processes.py::",
)


def _longest_first(item: pytest.Item) -> int:
    return next(
        (rank for rank, prefix in enumerate(LONGEST_FIRST) if item.nodeid.startswith(prefix)),
        len(LONGEST_FIRST),
    )


def _module_scoped(item: pytest.Item) -> bool:
    """Whether the test uses a fixture of its module's own set up once per module (a
    served app, say).

    Such a module's tests run on one xdist worker (``--dist loadgroup``), those on each
    database apart: spread over several, each would set the fixture up, more work for
    the slowest fixtures. (The browser, one per module from tests/e2e/conftest.py,
    starts in a second.)"""
    info = getattr(item, "_fixtureinfo", None)
    module = item.nodeid.split("::")[0]
    return info is not None and any(
        d.scope == "module" and d.baseid == module
        for defs in info.name2fixturedefs.values()
        for d in defs
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (a stable sort: the collection's order otherwise)."""
    items.sort(key=_longest_first)
    for item in items:
        if _module_scoped(item):
            group = f"{item.nodeid.split('::')[0]}-{backend_of(item)}"
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(autouse=True)
def _english() -> None:
    set_locale("en")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=db_url,
        network_dir=str(tmp_path / "network"),
        master_key=SecretStr(MASTER_KEY),
        demo=False,
        locale="en",
    )


@pytest.fixture
def tp(settings: Settings, clock: FixedClock) -> Iterator[Tillpoint]:
    app = open_app(settings, clock=clock)
    yield app
    assert app.ledger.check() == [], "the scenario left the ledger unbalanced"
    app.close()


def resident_id(base17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return (
        base17 + "10X98765432"[sum(int(d) * w for d, w in zip(base17, weights, strict=True)) % 11]
    )


def credit_code(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def personal_application(n: int = 1, **changes: object) -> Application:
    name = f"李四{n} Li Si {n}"
    fields: dict[str, object] = {
        "kind": MerchantKind.PERSONAL,
        "legal_name": name,
        "mcc": "5812",
        "region_code": "3100",
        "contact_name": name,
        "contact_phone": "13912345678",
        "bank_name": "工商银行 ICBC",
        "bank_account_name": name,
        "bank_account_no": "6212340000000000012",
        "shop_address": "上海市黄浦区南京东路1号 1 East Nanjing Road",
        "id_number": resident_id(f"31010119900101{n:03d}"),
        "display_name": f"李记面馆{n} Li's Noodles {n}",
    }
    fields.update(changes)
    return Application(**fields)  # type: ignore[arg-type]


def business_application(n: int = 1, **changes: object) -> Application:
    name = f"晨光贸易{n}有限公司 Morning Trading {n} Ltd"
    fields: dict[str, object] = {
        "kind": MerchantKind.BUSINESS,
        "legal_name": name,
        "mcc": "5411",
        "region_code": "3100",
        "contact_name": "王五 Wang Wu",
        "contact_phone": "021-61234567",
        "contact_email": "finance@example.com",
        "bank_name": "招商银行 China Merchants Bank",
        "bank_account_name": name,
        "bank_account_no": "121900001234567",
        "shop_address": "上海市徐汇区漕溪北路88号 88 North Caoxi Road",
        "business_licence_no": credit_code(f"91310104MA1FL{n:04d}"),
    }
    fields.update(changes)
    return Application(**fields)  # type: ignore[arg-type]


def approved(tp: Tillpoint, app: Application) -> str:
    """Apply and approve; the MID."""
    m = tp.merchants.apply(app, "test")
    mid = tp.merchants.approve(str(m.id), "reviewer").mid
    assert mid is not None
    return mid
