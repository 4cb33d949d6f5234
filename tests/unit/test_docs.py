"""Every setting and every CLI command is documented (Datasette's rule)."""

import re
import time
from pathlib import Path
from typing import Any

from tillpoint.cli import root
from tillpoint.core.settings import Settings
from tillpoint.notify.webhooks import signature_header

ROOT = Path(__file__).resolve().parents[2]


def command_paths() -> list[str]:
    paths: list[str] = []

    def walk(cmd: Any, prefix: str) -> None:
        names = cmd.list_commands(None) if hasattr(cmd, "list_commands") else []
        if names:
            for name in names:
                walk(cmd.get_command(None, name), f"{prefix} {name}")
        else:
            paths.append(prefix)

    walk(root(), "tillpoint")
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


def test_the_signature_check_in_the_webhooks_guide_works() -> None:
    """docs/webhooks.md shows receivers how to verify without Tillpoint: that code must
    accept what Tillpoint signs and refuse a wrong secret, another body, an old time."""
    guide = (ROOT / "docs" / "webhooks.md").read_text()
    found = re.search(r"```python\n(.*?)```", guide, re.S)
    assert found is not None
    namespace: dict[str, object] = {}
    exec(found.group(1), namespace)  # noqa: S102 - our own documentation
    verify = namespace["verify"]
    assert callable(verify)
    body, now = b'{"id": 1}', int(time.time())
    header = signature_header("whsec_test", body, now)
    assert verify("whsec_test", header, body)
    assert not verify("whsec_other", header, body)
    assert not verify("whsec_test", header, b'{"id": 2}')
    assert not verify("whsec_test", signature_header("whsec_test", body, now - 600), body)
