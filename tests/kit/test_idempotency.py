from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from starlette.requests import Request

from app.auth.models import User
from app.kit.clock import travel
from app.kit.idempotency import IdempotencyRecord, _request_hash, purge_expired_keys
from tests.factories import PASSWORD, unique_email, user_headers

PROBLEMS = "https://mdmatch.dev/problems/"


def body(email: str) -> dict[str, str]:
    return {"email": email, "password": PASSWORD, "role": "clinic_admin"}


async def count_users(session, email: str) -> int:
    stmt = select(func.count()).select_from(User).where(User.email == email)
    return int(await session.scalar(stmt))


async def test_repeat_with_same_key_and_body_returns_the_first_response(client, session):
    key, email = str(uuid.uuid4()), unique_email()
    headers = {"Idempotency-Key": key}
    first = await client.post("/v1/auth/register", json=body(email), headers=headers)
    second = await client.post("/v1/auth/register", json=body(email), headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert second.headers["content-type"] == "application/json"
    assert await count_users(session, email) == 1


async def test_same_key_with_a_different_body_is_422(client):
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    await client.post("/v1/auth/register", json=body(unique_email()), headers=headers)
    other = await client.post("/v1/auth/register", json=body(unique_email()), headers=headers)
    assert other.status_code == 422
    assert other.json()["type"] == PROBLEMS + "idempotency-key-reused"


async def test_the_stored_fingerprint_is_keyed_not_a_plain_hash_of_the_body(client, session):
    """A register body holds a password; a plain SHA-256 of it would be crackable offline."""
    import hashlib

    key = str(uuid.uuid4())
    raw = json.dumps(body(unique_email())).encode()
    await client.post(
        "/v1/auth/register",
        content=raw,
        headers={"Idempotency-Key": key, "content-type": "application/json"},
    )
    record = await session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))
    assert record is not None
    assert record.request_hash != hashlib.sha256(raw).hexdigest()
    assert PASSWORD.encode() not in (record.response_body or b"")


async def test_key_in_progress_is_409_until_abandoned(client, app):
    key = str(uuid.uuid4())
    raw = json.dumps(body(unique_email())).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/auth/register",
        "query_string": b"",
        "headers": [],
    }
    secret = app.state.settings.jwt_secret.get_secret_value().encode()
    caller = "anon:127.0.0.1"
    # Claim the key as a first request that is still running would have.
    claimed = await app.state.idempotency_store.claim(
        caller, key, _request_hash(Request(scope), raw, secret)
    )
    assert claimed is None
    headers = {"Idempotency-Key": key, "content-type": "application/json"}
    response = await client.post("/v1/auth/register", content=raw, headers=headers)
    assert response.status_code == 409
    assert response.json()["type"] == PROBLEMS + "idempotency-in-progress"
    assert response.headers["retry-after"] == "1"
    # The first request's process died: a minute on, the claim is abandoned and a retry runs.
    with travel(timedelta(seconds=61)):
        retry = await client.post("/v1/auth/register", content=raw, headers=headers)
    assert retry.status_code == 201


async def test_a_failed_request_releases_its_key(client):
    key = str(uuid.uuid4())
    bad = await client.post(
        "/v1/auth/register",
        json={"email": unique_email(), "password": "short", "role": "clinic_admin"},
        headers={"Idempotency-Key": key},
    )
    assert bad.status_code == 422
    # Not stored: the corrected retry with the same key runs for real.
    fixed = await client.post(
        "/v1/auth/register", json=body(unique_email()), headers={"Idempotency-Key": key}
    )
    assert fixed.status_code == 201


async def test_keys_are_scoped_to_the_caller(client):
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


async def test_expired_keys_are_purged_and_reusable(client, session):
    key = str(uuid.uuid4())
    first = await client.post(
        "/v1/auth/register", json=body(unique_email()), headers={"Idempotency-Key": key}
    )
    assert first.status_code == 201
    stored = select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.key == key)
    assert await purge_expired_keys(session, ttl_seconds=24 * 3600) == 0
    assert await session.scalar(stored) == 1
    with travel(timedelta(hours=25)):
        assert await purge_expired_keys(session, ttl_seconds=24 * 3600) == 1
        assert await session.scalar(stored) == 0
        # The key now names a new request: a different body is no longer "key reused".
        second = await client.post(
            "/v1/auth/register", json=body(unique_email()), headers={"Idempotency-Key": key}
        )
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


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
        created = [r for r in responses if r.status_code == 201]
        in_progress = [r for r in responses if r.status_code == 409]
        assert len(created) + len(in_progress) == 4
        assert created, "someone must win"
        # Only the idempotency layer answers: never a second insert hitting the e-mail key.
        for r in in_progress:
            assert r.json()["type"] == PROBLEMS + "idempotency-in-progress"
        assert len({r.json()["id"] for r in created}) == 1
        assert sum("idempotent-replayed" not in r.headers for r in created) == 1
        async with app.state.sessionmaker() as s:
            assert await count_users(s, email) == 1
    finally:
        async with app.state.sessionmaker() as s:
            await s.execute(delete(User).where(User.email == email))
            await s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == key))
            await s.commit()


async def test_a_replay_needs_a_token_that_is_still_valid(client, session):
    from tests.clinics.helpers import clinic_body
    from tests.factories import bearer, login, register

    email = (await register(client))["email"]
    old = bearer((await login(client, email))["access_token"])
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post("/v1/clinics", json=clinic_body(), headers={**old, **key})
    assert first.status_code == 201, first.text
    # Every login ends (as a password reset does): the old token must not fetch the answer.
    assert (await client.post("/v1/auth/logout-all", headers=old)).status_code == 204
    replay = await client.post("/v1/clinics", json=clinic_body(), headers={**old, **key})
    assert replay.status_code == 401, replay.text
    assert "idempotent-replayed" not in replay.headers
    # The same user with a current token gets the stored answer.
    fresh = bearer((await login(client, email))["access_token"])
    again = await client.post("/v1/clinics", json=clinic_body(), headers={**fresh, **key})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
