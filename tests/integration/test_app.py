"""Opening Tillpoint: the master key rules and the schema version."""

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from tests.conftest import MASTER_KEY

from tillpoint.app import open_app
from tillpoint.core.errors import ConfigurationError
from tillpoint.core.settings import Settings


def make(url: str, **kw: object) -> Settings:
    return Settings(_env_file=None, database_url=url, locale="en", **kw)  # type: ignore[arg-type]


def test_refuses_to_start_without_a_master_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with pytest.raises(ConfigurationError, match="TILLPOINT_MASTER_KEY is not set") as e:
        open_app(make(url))
    assert e.value.code == "settings.master_key_missing"
    assert not (tmp_path / "new.db").exists()  # nothing was created


@pytest.mark.parametrize("key", ["abc", "G" * 64, "00" * 31])
def test_refuses_a_malformed_master_key(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigurationError, match="64 hexadecimal digits"):
        open_app(make(f"sqlite:///{tmp_path / 'x.db'}", master_key=SecretStr(key)))


def test_refuses_a_different_master_key_later(db_url: str) -> None:
    open_app(make(db_url, master_key=SecretStr(MASTER_KEY))).close()
    with pytest.raises(ConfigurationError, match="not the key this database was set up with"):
        open_app(make(db_url, master_key=SecretStr("11" * 32)))


def test_a_demo_database_says_how_to_open_it(db_url: str) -> None:
    open_app(make(db_url, demo=True)).close()
    with pytest.raises(ConfigurationError, match="set up in demo mode"):
        open_app(make(db_url))
    with pytest.raises(ConfigurationError, match="set up in demo mode"):
        open_app(make(db_url, master_key=SecretStr(MASTER_KEY)))
    with pytest.raises(ConfigurationError, match="both set"):
        open_app(make(db_url, demo=True, master_key=SecretStr(MASTER_KEY)))


def test_an_old_schema_is_only_upgraded_on_request(db_url: str) -> None:
    settings = make(db_url, master_key=SecretStr(MASTER_KEY))
    app = open_app(settings)
    with app.ctx.db.engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    app.close()
    with pytest.raises(ConfigurationError, match="run 'tillpoint db upgrade'"):
        open_app(settings)
