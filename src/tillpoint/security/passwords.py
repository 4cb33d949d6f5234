"""Operator passwords: slow, salted Argon2id hashes; never stored or compared in clear."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Terminal passwords are short digit strings, so the hash has to be slow to make an
# offline guess expensive; lock-out after repeated failures protects the online side.
_hasher = PasswordHasher(time_cost=3, memory_cost=32 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
