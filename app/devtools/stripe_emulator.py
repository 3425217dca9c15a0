"""Start localstripe as a child process on loopback and wait until it answers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

# localstripe accepts any key of the form sk_...; these are not secrets.
EMULATOR_SECRET_KEY = "sk_test_mdmatch_local_emulator"  # noqa: S105
EMULATOR_WEBHOOK_SECRET = "whsec_mdmatch_local_emulator"  # noqa: S105


def _die_with_parent() -> None:
    """Linux: have the kernel stop the emulator if our process dies without cleaning up."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def loopback_child(
    name: str,
    module: str,
    port: int,
    *,
    probe: Callable[[str], object],
    env: Mapping[str, str] | None = None,
    timeout: float = 20.0,
) -> Iterator[str]:
    """Run `python -m module PORT` as a child process on loopback (another free port when
    `port` is taken), wait until `probe(base_url)` stops raising a transport error, yield the
    base URL, and stop the child on exit (the kernel stops it too if we die first)."""
    if not port_is_free(port):
        port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", module, str(port)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} exited with code {proc.returncode}")
            try:
                probe(base_url)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the {name} did not start in time") from None
                time.sleep(0.1)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def stripe_emulator(port: int, state_file: Path, timeout: float = 20.0) -> Iterator[str]:
    """Yield the emulator's base URL; stop it on exit."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    with loopback_child(
        "Stripe emulator",
        "app.devtools.localstripe_server",
        port,
        probe=lambda base: httpx.get(
            f"{base}/v1/customers", auth=(EMULATOR_SECRET_KEY, ""), timeout=1.0
        ),
        env={"LOCALSTRIPE_STATE": str(state_file)},
        timeout=timeout,
    ) as base_url:
        yield base_url


def register_webhook(base_url: str, url: str, secret: str, hook_id: str = "mdmatch") -> None:
    """Have the emulator deliver every event to `url`, signed with `secret` (re-registering the
    same id replaces the earlier registration)."""
    response = httpx.post(
        f"{base_url}/_config/webhooks/{hook_id}", data={"url": url, "secret": secret}, timeout=5
    )
    response.raise_for_status()
