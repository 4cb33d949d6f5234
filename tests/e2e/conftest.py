"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import ensure_demo


@pytest.fixture
def demo(db_url: str, tmp_path: Path) -> Iterator[Tillpoint]:
    settings = Settings(_env_file=None, database_url=db_url, demo=True, locale="en",  # type: ignore[call-arg]
                        network_dir=str(tmp_path / "network"))  # fmt: skip
    app = open_app(settings)
    ensure_demo(app, 3)
    yield app
    assert app.ledger.check() == [], "the scenario left the ledger unbalanced"
    app.close()
