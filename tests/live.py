"""`mdmatch serve` as a child process (a live server with its in-process worker and, without
STRIPE_SECRET_KEY, the Stripe emulator delivering webhooks to it)."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, TextIO

import httpx
from fastapi import FastAPI

from app.devtools.stripe_emulator import free_port
from app.kit.mailer import MemoryEmailSender
from app.main import AppOptions, create_app
from tests.conftest import ROOT, make_settings, scratch_database, seed_reference


@contextlib.asynccontextmanager
async def scratch_app(pg_server_url: str, **settings: Any) -> AsyncIterator[FastAPI]:
    """The app on a scratch database of its own, migrated and seeded, with its own connection
    pool: for races on real, committed data (`settings`: e.g. the emulator's)."""
    # Alembic runs its own event loop, so the scratch database is built in a thread.
    database = scratch_database(pg_server_url)
    url = await asyncio.to_thread(database.__enter__)
    try:
        await seed_reference(url)
        app = create_app(
            make_settings(url, **settings),
            AppOptions(real_queue=False, email_sender=MemoryEmailSender()),
        )
        async with app.router.lifespan_context(app):
            yield app
    finally:
        await asyncio.to_thread(database.__exit__, None, None, None)


@functools.cache
def live_state_dir() -> str:
    """One scratch folder for every live server of this test run: they share local mode's state
    (its JWT secret: a token from one server is good at another) as servers sharing var/ do."""
    path = tempfile.mkdtemp(prefix="mdmatch-live-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@contextlib.contextmanager
def serve_process(
    database_url: str,
    emulator_port: int,
    *,
    output: TextIO | None = None,
    env_overrides: dict[str, str] | None = None,
    demo_data: bool = False,
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`output`: a file for the server's log instead of a pipe. Nobody reads the pipe until the
    process ends, and a server under load fills it (64 KiB) and then blocks on its next log line.
    `env_overrides`: extra settings (e.g. STRIPE_* of an emulator the test already runs).
    `demo_data`: seed local mode's demo roster and ops account (off: tests count their offers).
    Local state goes to the run's scratch folder (`live_state_dir`), not the checkout's var/."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "NPPES_"))}
    env.update(
        DATABASE_URL=database_url,
        ENVIRONMENT="local",
        STRIPE_EMULATOR_PORT=str(emulator_port),
        LOCAL_STATE_DIR=live_state_dir(),
    )
    env.update(env_overrides or {})
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "app.cli",
            "serve",
            "--port",
            str(port),
            *([] if demo_data else ["--no-demo-data"]),
        ],
        env=env,
        cwd=ROOT,
        stdout=output if output is not None else subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else "(see its output)"
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def mdmatch(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the `mdmatch` command with the test runner's configuration left out: only `env`.
    Local state (e.g. local mode's JWT secret) goes to a scratch folder unless `env` names one."""
    own = ("STRIPE_", "NPPES_", "DATABASE_URL", "ENVIRONMENT", "LOCAL_STATE_DIR", "JWT_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    with tempfile.TemporaryDirectory(prefix="mdmatch-cli-") as state:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "app.cli", *args],
            capture_output=True,
            text=True,
            env={**clean, "LOCAL_STATE_DIR": state, **(env or {})},
            cwd=ROOT,
            timeout=timeout,
        )
