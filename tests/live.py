"""`mdmatch serve` as a child process (a live server with its in-process worker and, without
STRIPE_SECRET_KEY, the Stripe emulator delivering webhooks to it)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import TextIO

import httpx

from app.devtools.stripe_emulator import free_port
from tests.conftest import ROOT


@contextlib.contextmanager
def serve_process(
    database_url: str,
    emulator_port: int,
    *,
    output: TextIO | None = None,
    env_overrides: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`output`: a file for the server's log instead of a pipe. Nobody reads the pipe until the
    process ends, and a server under load fills it (64 KiB) and then blocks on its next log line.
    `env_overrides`: extra settings (e.g. STRIPE_* of an emulator the test already runs)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRIPE_")}
    env.update(
        DATABASE_URL=database_url, ENVIRONMENT="local", STRIPE_EMULATOR_PORT=str(emulator_port)
    )
    env.update(env_overrides or {})
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
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
