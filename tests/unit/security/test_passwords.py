"""Passwords are hashed at the production cost outside the tests' own processes (the
tests' conftest lowers it for speed; a fresh interpreter shows what users get)."""

from __future__ import annotations

import subprocess
import sys

from argon2 import Type, extract_parameters

from tillpoint.security.passwords import hash_password, verify_password

_SHOW = (
    "from tillpoint.security.passwords import hash_password;"
    "from tillpoint.terminal.device import hash_supervisor_password;"
    "print(hash_password('correct horse'));"
    "print(hash_supervisor_password('135790'))"
)


def test_production_hashes_are_slow_argon2id() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SHOW], capture_output=True, text=True, check=True
    ).stdout.split()
    operator, supervisor = (extract_parameters(h) for h in out)
    assert (operator.type, operator.time_cost, operator.memory_cost) == (Type.ID, 3, 32 * 1024)
    assert (supervisor.type, supervisor.time_cost, supervisor.memory_cost) == (
        Type.ID,
        2,
        19 * 1024,
    )
    # A hash made at the production cost verifies whatever the current hasher's cost.
    assert verify_password(out[0], "correct horse")
    assert not verify_password(out[0], "wrong horse")


def test_hashes_are_salted_and_never_clear() -> None:
    a, b = hash_password("123456"), hash_password("123456")
    assert a != b and "123456" not in a
    assert not verify_password("not a hash", "123456")
