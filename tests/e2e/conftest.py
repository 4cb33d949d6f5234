"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

from tests.browsing import CHROMIUM

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.clock import Clock
from tillpoint.core.settings import Settings
from tillpoint.demo import ensure_demo


def demo_app(
    db_url: str, tmp_path: Path, terminals: int, clock: Clock | None = None
) -> Iterator[Tillpoint]:
    """The demo with ``terminals`` merchants (on ``clock``, else the real one), its
    ledger checked when the test ends: ``yield from`` it in a fixture."""
    settings = Settings(_env_file=None, database_url=db_url, demo=True, locale="en",  # type: ignore[call-arg]
                        network_dir=str(tmp_path / "network"))  # fmt: skip
    app = open_app(settings) if clock is None else open_app(settings, clock=clock)
    ensure_demo(app, terminals)
    yield app
    assert app.ledger.check() == [], "the scenario left the ledger unbalanced"
    app.close()


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> Iterator[Tillpoint]:
    yield from demo_app(db_url, tmp_path, 3)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright (one per test module: while it runs, its
    event loop counts as running, and other tests' asyncio.run() would refuse to start)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shots")
