"""Logging out: one login (its refresh-token family) or every login of the account."""

from __future__ import annotations

from sqlalchemy import select

from app.audit.models import AuditEntry
from tests.factories import bearer, login, register


async def _refresh(client, token: str) -> int:
    r = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    return r.status_code


async def test_logout_ends_this_login_and_keeps_the_others(client, session):
    email = (await register(client))["email"]
    here, there = await login(client, email), await login(client, email)
    # A rotated refresh token belongs to the same login: it dies with it too.
    rotated = (
        await client.post("/v1/auth/refresh", json={"refresh_token": here["refresh_token"]})
    ).json()
    out = await client.post("/v1/auth/logout", headers=bearer(rotated["access_token"]))
    assert out.status_code == 204, out.text
    assert await _refresh(client, rotated["refresh_token"]) == 401
    # The other login goes on.
    assert await _refresh(client, there["refresh_token"]) == 200
    entries = list(
        await session.scalars(
            select(AuditEntry.action).where(AuditEntry.action == "user.logged_out")
        )
    )
    assert entries


async def test_logout_all_ends_every_login_and_access_token_now(client):
    email = (await register(client))["email"]
    one, two = await login(client, email), await login(client, email)
    out = await client.post("/v1/auth/logout-all", headers=bearer(one["access_token"]))
    assert out.status_code == 204, out.text
    for pair in (one, two):
        assert (await client.get("/v1/me", headers=bearer(pair["access_token"]))).status_code == 401
        assert await _refresh(client, pair["refresh_token"]) == 401
    # A new login works.
    fresh = await login(client, email)
    assert (await client.get("/v1/me", headers=bearer(fresh["access_token"]))).status_code == 200


async def test_logout_needs_a_token(client):
    for path in ("/v1/auth/logout", "/v1/auth/logout-all"):
        assert (await client.post(path)).status_code == 401
