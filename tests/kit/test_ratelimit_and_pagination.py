from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.errors import ValidationFailed
from app.kit.pagination import decode_cursor, encode_cursor
from app.notifications.service import notify
from tests.factories import bearer, login, register, unique_email


async def test_login_is_rate_limited_with_retry_after(client):
    email = unique_email()
    statuses = []
    for _ in range(11):
        r = await client.post(
            "/v1/auth/token", data={"username": email, "password": "Wrong-pass-1"}
        )
        statuses.append(r.status_code)
    assert statuses == [401] * 10 + [429]
    assert r.json()["type"] == "https://mdmatch.dev/problems/rate-limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60


async def test_login_is_limited_per_account(client, app):
    """Below the per-address budget (10/minute), one account's own budget still applies, so
    credential stuffing spread over many addresses is bounded per victim."""
    email = unique_email()
    app.state.settings.rate_limit_login_per_account = "3/15minutes"
    try:
        statuses = []
        for i in range(4):
            r = await client.post(
                "/v1/auth/token", data={"username": email, "password": f"Wrong-pass-{i}"}
            )
            statuses.append(r.status_code)
    finally:
        app.state.settings.rate_limit_login_per_account = "20/15minutes"
    assert statuses == [401, 401, 401, 429]


async def test_register_is_rate_limited(client, app):
    app.state.settings.rate_limit_register = "2/hour"
    try:
        for expected in (201, 201, 429):
            r = await client.post(
                "/v1/auth/register",
                json={
                    "email": unique_email(),
                    "password": "Violet-Orchid-Ledger-42",
                    "role": "physician",
                },
            )
            assert r.status_code == expected
    finally:
        app.state.settings.rate_limit_register = "20/hour"


def test_cursor_round_trip_and_garbage():
    now, row_id = datetime.now(UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(now, row_id)) == (now, row_id)
    for bad in ("garbage", "eyJ0IjogMX0", encode_cursor(now, row_id)[:-3] + "!!!"):
        with pytest.raises(ValidationFailed):
            decode_cursor(bad)


async def test_notifications_page_newest_first_with_cursor(client, session):
    from app.auth.models import User

    created = await register(client)
    token = (await login(client, created["email"]))["access_token"]
    user = await session.scalar(select(User).where(User.email == created["email"]))
    for i in range(5):
        await notify(session, user_id=user.id, kind="test", title=f"n{i}", body="b")
    await session.commit()

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/v1/me/notifications", params=params, headers=bearer(token))
        ).json()
        seen += [n["title"] for n in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["n4", "n3", "n2", "n1", "n0"]


async def test_bad_cursor_and_limit_are_422(client):
    created = await register(client)
    headers = bearer((await login(client, created["email"]))["access_token"])
    bad_cursor = await client.get("/v1/me/notifications", params={"cursor": "x"}, headers=headers)
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"][0]["loc"] == ["query", "cursor"]
    too_big = await client.get("/v1/me/notifications", params={"limit": 201}, headers=headers)
    assert too_big.status_code == 422


async def test_redis_storage_shares_one_budget_across_limiters():
    """Two server processes with REDIS_URL share a budget (two limiters stand in for them)."""
    import socket

    from limits import parse

    from app.errors import RateLimited
    from app.kit.ratelimit import RateLimiter

    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 6379)) != 0:
            pytest.skip("no Redis on 127.0.0.1:6379")
    first = RateLimiter("async+redis://127.0.0.1:6379/0")
    second = RateLimiter("async+redis://127.0.0.1:6379/0")
    scope = f"test-{uuid.uuid4()}"
    item = parse("3/minute")
    await first.check(item, scope, "1.2.3.4")
    await second.check(item, scope, "1.2.3.4")
    await first.check(item, scope, "1.2.3.4")
    with pytest.raises(RateLimited) as excinfo:
        await second.check(item, scope, "1.2.3.4")
    assert 1 <= int(excinfo.value.headers["Retry-After"]) <= 60
    await first.check(item, scope, "5.6.7.8")  # another address has its own budget
