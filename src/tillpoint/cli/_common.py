"""What every CLI command shares: opening the app, printing, exit codes."""

from __future__ import annotations

import functools
import getpass
import json
import os
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, Protocol, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from tillpoint.core.clock import BUSINESS_TZ
from tillpoint.core.errors import ConfigurationError, TillpointError
from tillpoint.core.i18n import _, both
from tillpoint.core.money import Money

P = ParamSpec("P")
R = TypeVar("R")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help=_("Print JSON instead of a table."))]
ByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        help=_("Who is acting, for the history (default: $TILLPOINT_ACTOR or your login)."),
        show_default=False,
    ),
]


if TYPE_CHECKING:  # the application, its database layer and settings load when used
    from tillpoint.app import Migrate, Tillpoint
    from tillpoint.core.settings import Settings


class CliState:
    """The one app of this process, opened on first use and closed at exit."""

    app: Tillpoint | None = None
    demo: bool = False

    @classmethod
    def close(cls) -> None:
        if cls.app is not None:
            cls.app.close()
        cls.app, cls.demo = None, False


def settings(*, demo: bool = False) -> Settings:
    from tillpoint.core.settings import Settings

    try:
        return Settings(demo=True) if demo or CliState.demo else Settings()
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise typer.BadParameter(f"TILLPOINT_{field.upper()}: {first['msg']}") from None


def app(*, demo: bool = False, migrate: Migrate = "if-new") -> Tillpoint:
    from tillpoint.app import open_app

    if CliState.app is None:
        s = settings(demo=demo)
        CliState.app = open_app(s, migrate=migrate)
        if s.demo:
            err.print(
                "[bold yellow]"
                + both(
                    "DEMO MODE: the public demo master key protects this database. Never use it for real merchants."
                )
                + "[/]"
            )
    return CliState.app


def actor(by: str | None) -> str:
    return by or os.environ.get("TILLPOINT_ACTOR") or f"cli:{getpass.getuser()}"


def print_error(message: str) -> None:
    """One line on standard error: what went wrong and, where it helps, what to do."""
    label = _("error")  # outside the f-string, where the catalogue's extractor sees it
    err.print(f"[red]{label}:[/] {message}")


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Refusals exit 1, bad input 2, each with one line saying why."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except TillpointError as e:
            print_error(e.localized())
            raise typer.Exit(e.exit_code) from None

    return wrapper


def emit_json(data: BaseModel | Sequence[BaseModel] | dict[str, Any] | list[Any]) -> None:
    def plain(x: Any) -> Any:
        return x.model_dump(mode="json") if isinstance(x, BaseModel) else x

    payload = [plain(x) for x in data] if isinstance(data, list | tuple) else plain(data)
    sys.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2, default=str) + "\n")


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*("" if v is None else str(v) for v in r))
    out.print(t)


def fields(title: str, pairs: Sequence[tuple[str, object]]) -> None:
    t = Table(title=title, title_justify="left", show_header=False)
    t.add_column(style="bold")
    t.add_column()
    for k, v in pairs:
        t.add_row(k, "" if v is None else str(v))
    out.print(t)


def money(amount_minor: int | None, currency: str = "CNY") -> str:
    """``CNY 1,234.56``, as the virtual terminal and its slips show money: one way in
    every command and language."""
    return "" if amount_minor is None else Money(amount_minor, currency).display()


def when(at: datetime | None) -> str:
    """A time as people here read it: local business time, to the second."""
    return "" if at is None else at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


class Event(Protocol):
    """A recorded status change of a merchant or a terminal."""

    @property
    def from_status(self) -> StrEnum | None: ...
    @property
    def to_status(self) -> StrEnum: ...
    @property
    def actor(self) -> str: ...
    @property
    def reason(self) -> str | None: ...
    @property
    def at(self) -> datetime: ...


def history_table(events: Sequence[Event]) -> None:
    """Status changes of anything: when, from, to, who, why."""
    table(
        _("History"),
        [_("When"), _("From"), _("To"), _("Who"), _("Why")],
        [
            (
                when(e.at),
                _(e.from_status.value) if e.from_status else "",
                _(e.to_status.value),
                e.actor,
                e.reason,
            )
            for e in events
        ],
    )


def say(message: str) -> None:
    out.print(message, soft_wrap=True)


def bound_socket(bind: str, port: int, refusal: str) -> socket.socket:
    """``bind:port`` taken for this process, or ``refusal`` (a message id naming the
    options that choose another port) when it cannot be had (the port is in use, the
    address is not this machine's), before anything has started. The socket is bound
    but not listening yet: connections are refused until the server is ready to answer
    them (asyncio and uvicorn listen when they start)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((bind, port))
    except OSError as e:
        sock.close()
        raise ConfigurationError(
            "port_unavailable",
            refusal,
            bind=bind,
            port=port,
            reason=os.strerror(e.errno) if e.errno else str(e),
        ) from None
    return sock
