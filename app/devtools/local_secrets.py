"""The local server's JWT signing secret. The placeholder in the source is public (its `kid` shows
in every token), so a local server that signed with it could be entered as anyone by anyone who
reads the code. Local mode makes a random secret on first run and keeps it under var/."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from app.config import MIN_JWT_SECRET_LENGTH


def local_jwt_secret(path: Path) -> str:
    """The secret kept at `path` (mode 0600), made at random the first time. Two commands started
    at once agree on one: the file appears whole, by a hard link that fails if it exists."""
    existing = _read(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
    try:
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()
    found = _read(path)
    if found is None:
        raise RuntimeError(f"{path} does not hold a usable secret; delete it to make a new one")
    return found


def _read(path: Path) -> str | None:
    try:
        secret = path.read_text().strip()
    except FileNotFoundError:
        return None
    return secret if len(secret) >= MIN_JWT_SECRET_LENGTH else None
