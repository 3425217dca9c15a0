"""X-Forwarded-For names the client only when a configured proxy sends it: by default a local
process (or a same-host proxy passing the client's header through) cannot pick the address its
rate limits are counted under."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.devtools.stripe_emulator import free_port
from tests.conftest import emulator_settings, scratch_database
from tests.live import scratch_app, serve_process

ATTEMPTS = 4


@pytest.fixture(scope="module")
def database(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url) as url:
        yield url


def _spoofed_logins(base: str) -> list[int]:
    statuses = []
    for i in range(ATTEMPTS):
        r = httpx.post(
            f"{base}/v1/auth/token",
            data={"username": f"nobody-{i}@example.com", "password": "Wrong-pass-1"},
            headers={"X-Forwarded-For": f"203.0.113.{i + 1}"},
            timeout=10,
        )
        statuses.append(r.status_code)
    return statuses


def test_a_live_server_trusts_no_forwarded_header_by_default(database, stripe_url):
    env = {
        # A day-long window: the sliding-window counter forgives hits that straddle a window
        # boundary, which a minute-long window made a flake (1 run in ~60).
        "RATE_LIMIT_LOGIN": f"{ATTEMPTS - 1}/day",
        **{k.upper(): str(v) for k, v in emulator_settings(stripe_url).items()},
    }
    env.pop("FORWARDED_ALLOW_IPS", None)
    with serve_process(database, free_port(), env_overrides=env) as (base, _):
        statuses = _spoofed_logins(base)
    # Four different forwarded addresses, one real one: the fourth call is over the limit.
    assert statuses == [401] * (ATTEMPTS - 1) + [429]


async def _logins_through(app, forwarded_for: str) -> int:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # client 127.0.0.1
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.post(
            "/v1/auth/token",
            data={"username": "nobody@example.com", "password": "Wrong-pass-1"},
            headers={"X-Forwarded-For": forwarded_for},
        )
        return r.status_code


async def test_a_configured_proxy_names_the_client(pg_server_url, stripe_url):
    async with scratch_app(
        pg_server_url,
        forwarded_allow_ips="127.0.0.1",
        rate_limit_login="1/day",  # a day: no window boundary mid-test
        rate_limit_login_per_account="100/minute",
        **emulator_settings(stripe_url),
    ) as app:
        # Each client behind the trusted proxy has a budget of its own...
        assert [await _logins_through(app, f"198.51.100.{i}") for i in (1, 2, 3)] == [401] * 3
        # ...and a client's second call is limited, whatever the proxy's own address.
        assert await _logins_through(app, "198.51.100.1") == 429
