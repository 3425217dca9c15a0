from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import delete

from app.auth.models import User
from app.kit.clock import travel
from tests.factories import bearer, login, register


async def test_refresh_returns_a_new_pair_and_the_old_token_dies(client):
    created = await register(client)
    first = await login(client, created["email"])
    second = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    pair = second.json()
    assert pair["refresh_token"] != first["refresh_token"]
    assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).status_code == 200

    replay = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["type"] == "https://mdmatch.dev/problems/unauthenticated"


async def test_replaying_a_used_refresh_token_revokes_its_successors(client):
    created = await register(client)
    first = await login(client, created["email"])
    rotated = (
        await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    # Minutes later an attacker replays the stolen first token: the whole login is revoked.
    with travel(timedelta(minutes=5)):
        replay = await client.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
    assert replay.status_code == 401
    successor = await client.post(
        "/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert successor.status_code == 401


async def test_a_double_submit_is_refused_without_logging_the_user_out(client):
    created = await register(client)
    first = await login(client, created["email"])
    winner = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    loser = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert (winner.status_code, loser.status_code) == (200, 401)
    # Within the grace period the reuse is a client retry, not theft: the new token lives on.
    again = await client.post(
        "/v1/auth/refresh", json={"refresh_token": winner.json()["refresh_token"]}
    )
    assert again.status_code == 200


async def test_other_logins_survive_a_revoked_family(client):
    created = await register(client)
    laptop = await login(client, created["email"])
    phone = await login(client, created["email"])
    await client.post("/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    with travel(timedelta(minutes=5)):
        await client.post("/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    ok = await client.post("/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert ok.status_code == 200


async def test_expired_refresh_token_is_401(client):
    created = await register(client)
    pair = await login(client, created["email"])
    with travel(timedelta(days=31)):
        response = await client.post(
            "/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        )
    assert response.status_code == 401


async def test_unknown_refresh_token_is_401(client):
    response = await client.post("/v1/auth/refresh", json={"refresh_token": "made-up"})
    assert response.status_code == 401


@pytest.mark.live_sessions
async def test_concurrent_refreshes_of_one_token_succeed_once(app, client):
    """Two requests race with the same refresh token; the row lock lets exactly one win."""
    created = await register(client)
    try:
        pair = await login(client, created["email"])
        results = await asyncio.gather(
            *[
                client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
                for _ in range(2)
            ]
        )
        assert sorted(r.status_code for r in results) == [200, 401]
        [winner] = [r.json() for r in results if r.status_code == 200]
        follow_up = await client.post(
            "/v1/auth/refresh", json={"refresh_token": winner["refresh_token"]}
        )
        assert follow_up.status_code == 200
    finally:
        async with app.state.sessionmaker() as s:
            await s.execute(delete(User).where(User.email == created["email"]))
            await s.commit()
