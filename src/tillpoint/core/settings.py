"""One Settings object, read from ``TILLPOINT_*`` environment variables or ``.env``.

Insecure defaults are refused outside demo mode: without a master key nothing that
stores keys or card tokens can run, and the program says so instead of inventing one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from datetime import date, time
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from tillpoint.core.errors import ConfigurationError
from tillpoint.core.i18n import N_, default_locale, normalise_locale

# The public demo master key. Everyone has it, so nothing protected by it is secret.
DEMO_MASTER_KEY = hashlib.sha256(b"Tillpoint public demo master key: never for production").digest()
_HEX64 = re.compile(r"^[0-9A-Fa-f]{64}$")


class Settings(BaseSettings):
    """Every setting, with its default. The README documents each one (a test checks)."""

    model_config = SettingsConfigDict(
        env_prefix="TILLPOINT_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = Field(
        default="sqlite:///./tillpoint.db",
        description="SQLAlchemy URL: SQLite (WAL mode) by default, or postgresql+psycopg://...",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="64 hex digits (32 bytes). Encrypts stored keys and derives card tokens.",
    )
    demo: bool = Field(
        default=False, description="Demo mode: use the public demo master key. Never in production."
    )
    locale: str = Field(
        default_factory=default_locale, description="en or zh_CN for messages and output."
    )
    currency: str = Field(default="CNY", description="Default currency (ISO 4217).")
    acquirer_id: str = Field(default="48100000", description="Acquiring institution ID (field 32).")

    network_timeout_ms: int = Field(
        default=10_000,
        ge=100,
        le=120_000,
        description="How long the host waits for an issuer before answering 98.",
    )

    cutoff: time = Field(
        default=time(23, 0),
        description="Daily cut-off (日切), Asia/Shanghai: later payments belong to the next day.",
    )
    network_dir: str = Field(
        default="",
        description=(
            "Where the simulated card networks and wallets keep their clearing files; "
            "default: beside an SQLite database (tillpoint.network/), else ./tillpoint-network."
        ),
    )
    networks_address: str = Field(
        default="",
        description=(
            "host:port of a running `tillpoint networks serve` for `serve` to use; "
            "default: serve starts the simulators as a child process of its own."
        ),
    )
    public_url: str = Field(
        default="",
        description=(
            "The address people and phones reach the HTTP side at (QR codes and receipt "
            "links); default: http://<bind>:<http port> of tillpoint serve."
        ),
    )
    holidays: str = Field(
        default="",
        description=(
            "Dates without payouts besides weekends, comma-separated YYYY-MM-DD "
            "(a T+1 payout moves past them)."
        ),
    )

    api_key_requests_per_minute: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description=(
            "Requests one API key may make per minute (a burst of that many, refilled "
            "evenly), in each API process; more are answered 429."
        ),
    )
    trusted_proxies: str = Field(
        default="",
        description=(
            "Reverse proxies whose X-Forwarded-For is believed: comma-separated "
            "addresses or CIDR networks; default none (the connection's address counts)."
        ),
    )

    local_writers: bool | None = Field(
        default=None,
        description=(
            "Every process that records payments runs on this machine: risk screening "
            "reads other processes' payments only when a counter shared by the machine's "
            "processes says one wrote. Default: true on SQLite (one machine by nature), "
            "false on PostgreSQL (processes on other machines may write to it; screening "
            "then reads the payments table before every decision). Set true on a "
            "PostgreSQL that only this machine's processes write to."
        ),
    )

    webhooks_allow_private: bool = Field(
        default=False,
        description=(
            "Let webhook URLs reach loopback, private, link-local and cloud metadata "
            "addresses (demo mode allows loopback only). Only on a closed network."
        ),
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            ipaddress.ip_network(part, strict=False)  # a ValueError names the bad one
        return value

    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(p.strip(), strict=False)
            for p in self.trusted_proxies.split(",")
            if p.strip()
        )

    @field_validator("networks_address")
    @classmethod
    def _networks_address(cls, value: str) -> str:
        value = value.strip()
        found = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[^\s:\[\]]+):(\d{1,5})", value)
        if value and (found is None or not 0 < int(found.group(2)) < 65536):
            raise ValueError("networks_address is host:port ([::1]:port for IPv6)")
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            date.fromisoformat(part)  # a ValueError names the bad date
        return value

    def network_directory(self) -> Path:
        if self.network_dir:
            return Path(self.network_dir)
        url = make_url(self.database_url)
        if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
            return Path(str(url.database)).with_suffix(".network")
        return Path("tillpoint-network")

    def writers_all_local(self) -> bool:
        """Whether every process recording payments runs on this machine: as set, else
        so on SQLite (one machine by nature) and not on PostgreSQL."""
        if self.local_writers is not None:
            return self.local_writers
        return make_url(self.database_url).drivername.startswith("sqlite")

    def holiday_dates(self) -> frozenset[date]:
        return frozenset(
            date.fromisoformat(p.strip()) for p in self.holidays.split(",") if p.strip()
        )

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return normalise_locale(value)

    @field_validator("acquirer_id")
    @classmethod
    def _acquirer(cls, value: str) -> str:
        if not re.fullmatch(r"\d{1,11}", value):
            raise ValueError("acquirer_id is 1-11 digits")
        return value

    def master_key_bytes(self) -> bytes:
        """The master key, or a clear refusal to run without one."""
        if self.demo:
            if self.master_key is not None:
                raise ConfigurationError(
                    "settings.demo_with_master_key",
                    N_(
                        "TILLPOINT_DEMO and TILLPOINT_MASTER_KEY are both set: demo mode "
                        "uses the public demo key, so unset one of them"
                    ),
                )
            return DEMO_MASTER_KEY
        if self.master_key is None:
            raise ConfigurationError(
                "settings.master_key_missing",
                N_(
                    "TILLPOINT_MASTER_KEY is not set. It encrypts terminal keys and card "
                    "tokens, so Tillpoint will not run without it. Create one with "
                    "'tillpoint keys new-master-key', or set TILLPOINT_DEMO=1 to try "
                    "Tillpoint with the public demo key"
                ),
            )
        value = self.master_key.get_secret_value()
        if not _HEX64.match(value):
            raise ConfigurationError(
                "settings.master_key_malformed",
                N_("TILLPOINT_MASTER_KEY must be 64 hexadecimal digits (32 bytes)"),
            )
        return bytes.fromhex(value)
