"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tillpoint.app import Tillpoint, open_app
from tillpoint.core.settings import Settings
from tillpoint.demo import ensure_demo


@pytest.fixture
def demo(db_url: str) -> Iterator[Tillpoint]:
    app = open_app(Settings(_env_file=None, database_url=db_url, demo=True, locale="en"))  # type: ignore[call-arg]
    ensure_demo(app, 3)
    yield app
    app.close()
