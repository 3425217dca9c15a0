"""The embedded PostgreSQL: telling a running server from a stopped one, and commands that join
a running one saying so instead of claiming to start it."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from app.devtools.embedded_postgres import embedded_postgres, is_running
from tests.live import mdmatch


def postmaster_pid(data_dir, pid: int, status: str) -> None:
    # The layout PostgreSQL writes: pid, data dir, start time, port, socket dir, listen
    # address, shared memory key, status.
    data_dir.mkdir(exist_ok=True)
    lines = [
        str(pid),
        str(data_dir),
        "1712346200",
        "5432",
        str(data_dir),
        "localhost",
        "1 2",
        status,
    ]
    (data_dir / "postmaster.pid").write_text("\n".join(f"{line:<8}" for line in lines) + "\n")


def test_is_running_needs_a_live_postmaster_that_is_ready(tmp_path):
    data = tmp_path / "pg"
    assert not is_running(data)  # no postmaster.pid at all

    postmaster_pid(data, os.getpid(), "ready")
    assert is_running(data)
    postmaster_pid(data, os.getpid(), "starting")
    assert not is_running(data)

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    postmaster_pid(data, gone.pid, "ready")
    assert not is_running(data)  # a stale file left by a server that died


def test_a_command_joining_the_running_embedded_server_says_so():
    # Not under pytest's tmp_path: PostgreSQL runs as another user (pgserver's, when we are
    # root), and any pytest session starting meanwhile resets that tree to owner-only access.
    with (
        tempfile.TemporaryDirectory(prefix="mdmatch-pg-") as scratch,
        embedded_postgres(Path(scratch) / "pg"),
    ):
        state = Path(scratch)
        env = {"ENVIRONMENT": "test", "LOCAL_STATE_DIR": str(state)}
        assert is_running(state / "pg")
        joined = mdmatch("migrate", env=env)
        assert joined.returncode == 0, joined.stderr
        assert "Using the running embedded PostgreSQL" in joined.stderr
        assert "Starting the embedded PostgreSQL" not in joined.stderr
        assert is_running(state / "pg")  # leaving did not stop it for us
