"""The per-account limit holds across two server processes that share Redis (`REDIS_URL`), and
only because they share it: with in-process counters each server has a budget of its own."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from app.devtools.stripe_emulator import free_port
from tests.conftest import emulator_settings, scratch_database
from tests.factories import PASSWORD
from tests.live import serve_process

ServerContext = contextlib.AbstractContextManager[tuple[str, subprocess.Popen[str]]]

REDIS = ("127.0.0.1", 6379)
BUDGET = 6


def redis_available() -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(REDIS) == 0


@pytest.fixture(scope="module")
def database(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url) as url:
        yield url


def two_servers(
    database_url: str, stripe_url: str, redis_url: str | None
) -> tuple[ServerContext, ServerContext]:
    env = {
        "RATE_LIMIT_PER_ACCOUNT": f"{BUDGET}/minute",
        # Only the per-account budget is under test. The per-address ones would be shared with
        # every other run against this Redis within their window (hours, for registration).
        "RATE_LIMIT_REGISTER": "1000000/minute",
        "RATE_LIMIT_LOGIN": "1000000/minute",
        **{k.upper(): str(v) for k, v in emulator_settings(stripe_url).items()},
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    return (
        serve_process(database_url, free_port(), env_overrides=env),
        serve_process(database_url, free_port(), env_overrides=env),
    )


def account_token(base: str) -> str:
    email = f"limits-{uuid.uuid4().hex[:10]}@example.com"
    with httpx.Client(base_url=base, timeout=10) as http:
        created = http.post(
            "/v1/auth/register",
            json={"email": email, "password": PASSWORD, "role": "clinic_admin"},
        )
        assert created.status_code == 201, created.text
        token = http.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
        return str(token.json()["access_token"])


def alternate(bases: list[str], token: str, calls: int) -> list[int]:
    """`calls` requests for one account, alternating between the servers."""
    statuses = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=10) as http:
        for i in range(calls):
            statuses.append(http.get(f"{bases[i % 2]}/v1/me", headers=headers).status_code)
    return statuses


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
def test_account_budget_is_shared_only_through_redis(
    database: str, stripe_url: str, shared: bool
) -> None:
    if shared and not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    redis_url = f"redis://{REDIS[0]}:{REDIS[1]}/0" if shared else None
    first, second = two_servers(database, stripe_url, redis_url)
    with first as (base_a, _), second as (base_b, _):
        token = account_token(base_a)
        statuses = alternate([base_a, base_b], token, 2 * BUDGET + 2)
        other = alternate([base_b, base_a], account_token(base_b), 2)
    if shared:
        # One budget over both servers: the seventh call, wherever it lands, is refused.
        assert statuses == [200] * BUDGET + [429] * (BUDGET + 2)
    else:
        # Each server counts alone, so the account gets twice the budget.
        assert statuses == [200] * (2 * BUDGET) + [429] * 2
    assert other == [200, 200], "another account keeps its own budget"
