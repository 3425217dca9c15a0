"""Password hashing (argon2 via pwdlib) and the password policy."""

from __future__ import annotations

from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from zxcvbn.frequency_lists import FREQUENCY_LISTS

COMMON_PASSWORDS = frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


@lru_cache(maxsize=2)
def password_hasher(cheap: bool = False) -> PasswordHash:
    # The test suite hashes hundreds of passwords; production keeps pwdlib's recommended cost.
    if cheap:
        return PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    return PasswordHash((Argon2Hasher(),))


def password_problems(password: str, *, min_length: int, email: str | None = None) -> list[str]:
    """Human-readable reasons a password is refused (empty when acceptable)."""
    problems = []
    if len(password) < min_length:
        problems.append(f"must be at least {min_length} characters long")
    if len(password) > 256:
        problems.append("must be at most 256 characters long")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS or lowered.rstrip("0123456789!") in COMMON_PASSWORDS:
        problems.append("is too common; choose one that is not on lists of leaked passwords")
    if email and lowered in {email.lower(), email.split("@", 1)[0].lower()}:
        problems.append("must not be your e-mail address")
    if password and len(set(password)) < 4:
        problems.append("uses too few different characters")
    return problems
