from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from app.auth.models import User
from app.kit.clock import travel
from app.kit.idempotency import IdempotencyRecord, _request_hash, purge_expired_keys
from tests.factories import PASSWORD, unique_email


def body(email: str) -> dict[str, str]:
    return {"email": email, "password": PASSWORD, "role": "clinic_admin"}


async def count_users(session, email: str) -> int:
    return int(
        await session.scalar(select(func.count()).select_from(User).where(User.email == email))
    )


async def test_repeat_with_same_key_and_body_returns_the_first_response(client, session):
    key, email = str(uuid.uuid4()), unique_email()
    first = await client.post(
        "/v1/auth/register", json=body(email), headers={"Idempotency-Key": key}
    )
    second = await client.post(
        "/v1/auth/register", json=body(email), headers={"Idempotency-Key": key}
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == "application/json"
    assert await count_users(session, email) == 1


async def test_same_key_with_a_different_body_is_422(client):
    key = str(uuid.uuid4())
    await client.post(
        "/v1/auth/register", json=body(unique_email()), headers={"Idempotency-Key": key}
    )
    other = await client.post(
        "/v1/auth/register", json=body(unique_email()), headers={"Idempotency-Key": key}
    )
    assert other.status_code == 422
    assert other.json()["type"] == "https://mdmatch.dev/problems/idempotency-key-reused"


async def test_key_in_progress_is_409(client, app):
    key, email = str(uuid.uuid4()), unique_email()
    payload = body(email)
    # Claim the key as a first request that is still running would have.
    import json

    from starlette.requests import Request

    raw = json.dumps(payload).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/auth/register",
        "query_string": b"",
        "headers": [],
    }
    request_hash = _request_hash(Request(scope), raw)
    assert await app.state.idempotency_store.claim("anonymous", key, request_hash) is None
    try:
        response = await client.post(
            "/v1/auth/register",
            content=raw,
            headers={"Idempotency-Key": key, "content-type": "application/json"},
        )
        assert response.status_code == 409
        assert response.json()["type"] == "https://mdmatch.dev/problems/idempotency-in-progress"
        assert response.headers["retry-after"] == "1"
    finally:
        await app.state.idempotency_store.release("anonymous", key)


async def test_a_failed_request_releases_its_key(client, session):
    key = str(uuid.uuid4())
    bad = await client.post(
        "/v1/auth/register",
        json={"email": unique_email(), "password": "short", "role": "clinic_admin"},
        headers={"Idempotency-Key": key},
    )
    assert bad.status_code == 422
    # Not stored: the corrected retry with the same key runs for real.
    fixed = await client.post(
        "/v1/auth/register",
        json={"email": unique_email(), "password": PASSWORD, "role": "clinic_admin"},
        headers={"Idempotency-Key": key},
    )
    assert fixed.status_code == 201


async def test_keys_are_scoped_to_the_caller(client):
    from tests.factories import user_headers

    key = str(uuid.uuid4())
    alice, bob = await user_headers(client), await user_headers(client)
    # Both use the same key on the same endpoint; neither sees the other's stored response.
    for headers in (alice, bob):
        response = await client.post(
            "/v1/auth/register",
            json=body(unique_email()),
            headers={**headers, "Idempotency-Key": key},
        )
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers


async def test_overlong_key_is_422(client):
    response = await client.post(
        "/v1/auth/register", json=body(unique_email()), headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]


async def test_expired_keys_are_purged_and_reusable(client, app):
    key, email = str(uuid.uuid4()), unique_email()
    await client.post("/v1/auth/register", json=body(email), headers={"Idempotency-Key": key})
    async with app.state.idempotency_store.sessionmaker() as s:
        with travel(timedelta(hours=25)):
            deleted = await purge_expired_keys(s, ttl_seconds=24 * 3600)
        remaining = await s.scalar(
            select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.key == key)
        )
        await s.commit()
    assert deleted >= 1
    assert remaining == 0


@pytest.mark.live_sessions
async def test_concurrent_duplicates_create_one_account(app, client):
    key, email = str(uuid.uuid4()), unique_email()
    try:
        responses = await asyncio.gather(
            *[
                client.post("/v1/auth/register", json=body(email), headers={"Idempotency-Key": key})
                for _ in range(4)
            ]
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses.count(201) >= 1
        assert set(statuses) <= {201, 409}
        async with app.state.sessionmaker() as s:
            assert await count_users(s, email) == 1
    finally:
        async with app.state.sessionmaker() as s:
            await s.execute(delete(User).where(User.email == email))
            await s.commit()
