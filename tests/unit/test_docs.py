"""Every setting and every CLI command is documented (Datasette's rule)."""

from pathlib import Path

import typer

from tillpoint.cli import cli
from tillpoint.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def command_paths() -> list[str]:
    paths: list[str] = []

    def walk(cmd: object, prefix: str) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, f"{prefix} {name}")
        else:
            paths.append(prefix)

    walk(typer.main.get_command(cli), "tillpoint")
    return paths


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [
        f"TILLPOINT_{n.upper()}"
        for n in Settings.model_fields
        if f"TILLPOINT_{n.upper()}" not in readme
    ]
    assert missing == []


def test_every_command_is_in_the_cli_reference() -> None:
    reference = (ROOT / "docs" / "cli.md").read_text()
    paths = command_paths()
    assert len(paths) > 30
    assert [p for p in paths if f"`{p}`" not in reference] == []
