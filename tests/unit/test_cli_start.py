"""Commands start fast because they load only what they use: the help and the virtual
terminal's commands never import the database layer, the web application or the
server (bench/cli_start.py times them; no test asserts a time)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "fastapi", "uvicorn", "alembic", "reportlab", "escpos", "tillpoint.app",
         "tillpoint.api.app", "tillpoint.web.routes")  # fmt: skip


def loaded_after(code: str) -> set[str]:
    """The heavy modules a fresh interpreter holds after running ``code``."""
    found = f"','.join(m for m in {HEAVY!r} if m in sys.modules)"
    probe = f"import sys\n{code}\nprint('LOADED:' + {found})"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("LOADED:"), (done.stdout[-300:], done.stderr[-2000:])
    return {m for m in line.removeprefix("LOADED:").split(",") if m}


def test_the_help_loads_no_command() -> None:
    code = (
        "from tillpoint.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code"
    )
    assert loaded_after(code) == set()


def test_the_virtual_terminals_commands_load_no_database_or_web_layer() -> None:
    code = (
        "from tillpoint.cli import root\n"
        "root().get_command(None, 'terminal')\n"
        "import tillpoint.terminal.device, tillpoint.terminal.client"
    )
    assert loaded_after(code) == set()


def test_a_host_process_loads_the_application_but_no_http_side() -> None:
    """`serve --host-process N` serves ISO 8583 alone: the API's and the pages' routes
    (seconds of CPU to build) are the serving process's only (cli/serve_http.py)."""
    loaded = loaded_after("import tillpoint.cli.serve")
    assert "tillpoint.app" in loaded
    assert not loaded & {"fastapi", "uvicorn", "tillpoint.api.app", "tillpoint.web.routes"}


def test_a_database_command_is_loaded_when_named() -> None:
    assert "Merchant applications" in subprocess.run(
        [sys.executable, "-m", "tillpoint", "merchants", "--help"], capture_output=True,
        text=True, check=True, timeout=60, env={"TILLPOINT_LOCALE": "en", "PATH": ""},
    ).stdout  # fmt: skip


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from tillpoint.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"tillpoint {version('tillpoint')}\n"
