"""An embedded PostgreSQL server (pgserver) with its data in a project folder, reused across
runs and stopped when the last process using it exits."""

from __future__ import annotations

import contextlib
import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_DATABASE = "mdmatch"


def _get_server(data_dir: Path) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from pgserver.postgres_server import get_server
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "No DATABASE_URL is set and the embedded PostgreSQL is not installed; "
            "install the local extra (pip install -e '.[local]') or set DATABASE_URL."
        ) from exc
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(data_dir)
    return get_server(data_dir, cleanup_mode="stop")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_handles(data_dir: Path) -> None:
    """pgserver stops the server when its last user exits, counting users in a pid file; a user
    killed without cleanup stays listed forever and the server never stops. Drop dead pids."""
    handles = data_dir / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [p for p in pids if isinstance(p, int) and _pid_alive(p)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def is_running(data_dir: Path) -> bool:
    """Whether a server on `data_dir` is up: postmaster.pid (written by PostgreSQL itself, pid
    on its first line, status on its last) names a live process that reports itself ready."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return False
    return lines[-1].strip() == "ready" and _pid_alive(pid)


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@contextlib.contextmanager
def embedded_postgres(data_dir: Path, database: str = DEFAULT_DATABASE) -> Iterator[str]:
    """Start (or join) the server under `data_dir`, make sure `database` exists, and yield its URL.

    The URL points at a unix socket inside `data_dir`, so nothing listens on a TCP port.
    """
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
        raise ValueError(f"not a plain database name: {database!r}")
    server = _get_server(data_dir)
    try:
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
        yield with_database(server.get_uri(), database)
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_server(data_dir: Path) -> Iterator[str]:
    """The server's maintenance URL (database `postgres`), for callers that manage databases."""
    server = _get_server(data_dir)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
