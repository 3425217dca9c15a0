from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.auth.models import User
from app.errors import PROBLEM_MEDIA_TYPE
from tests.factories import PASSWORD, bearer, login, register, unique_email

PROBLEM = "https://mdmatch.dev/problems/"


async def test_register_login_and_read_me(client):
    email = unique_email("Clinic").replace("clinic", "Clinic")
    created = await register(client, "clinic_admin", email=email)
    assert created["email"] == email.lower()
    assert created["role"] == "clinic_admin"
    assert set(created) == {"id", "email", "role"}

    tokens = await login(client, email.upper())  # e-mail matching is case-insensitive
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 15 * 60

    me = await client.get("/v1/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "id": created["id"],
        "email": email.lower(),
        "role": "clinic_admin",
        "clinic_ids": [],
        "physician_id": None,
    }


async def test_password_is_stored_as_argon2_hash(client, session):
    created = await register(client, "physician")
    user = await session.scalar(select(User).where(User.email == created["email"]))
    assert user is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_registration_is_audited(client, session):
    created = await register(client, "physician")
    entry = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.object_type == "user", AuditEntry.object_id == created["id"]
        )
    )
    assert entry is not None
    assert entry.action == "user.created"
    assert entry.after == {"email": created["email"], "role": "physician"}


async def test_wrong_password_and_unknown_email_get_the_same_401(client):
    created = await register(client)
    wrong = await client.post(
        "/v1/auth/token", data={"username": created["email"], "password": "Not-The-Password-9"}
    )
    unknown = await client.post(
        "/v1/auth/token", data={"username": unique_email(), "password": "Not-The-Password-9"}
    )
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert response.headers["www-authenticate"] == "Bearer"
    body_wrong, body_unknown = wrong.json(), unknown.json()
    for body in (body_wrong, body_unknown):
        body.pop("request_id")
    assert body_wrong == body_unknown
    assert body_wrong["type"] == PROBLEM + "unauthenticated"


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"email": "not-an-email", "password": PASSWORD, "role": "clinic_admin"}, "email"),
        ({"email": "a@example.com", "password": "short", "role": "clinic_admin"}, "password"),
        ({"email": "a@example.com", "password": "password123", "role": "clinic_admin"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "role": "ops_admin"}, "role"),
        ({"email": "a@example.com", "password": PASSWORD}, "role"),
    ],
)
async def test_invalid_registration_is_422_problem_naming_the_field(client, session, payload, loc):
    response = await client.post("/v1/auth/register", json=payload)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == PROBLEM + "validation"
    assert body["status"] == 422
    assert any(e["loc"][-1] == loc for e in body["errors"]), body
    assert all(set(e) >= {"loc", "msg"} for e in body["errors"])
    assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_common_password_message_tells_what_to_change(client):
    response = await client.post(
        "/v1/auth/register",
        json={"email": unique_email(), "password": "qwertyuiop", "role": "physician"},
    )
    assert response.status_code == 422
    assert "too common" in response.json()["detail"]


async def test_duplicate_email_is_409(client):
    created = await register(client)
    again = await client.post(
        "/v1/auth/register",
        json={"email": created["email"].upper(), "password": PASSWORD, "role": "physician"},
    )
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEM + "email-taken"


async def test_no_token_is_401_and_garbage_token_is_401(client):
    none = await client.get("/v1/me")
    assert none.status_code == 401
    assert none.json()["type"] == PROBLEM + "unauthenticated"
    garbage = await client.get("/v1/me", headers=bearer("not-a-jwt"))
    assert garbage.status_code == 401


async def test_access_token_signed_with_another_key_is_rejected(client, settings):
    from app.auth.tokens import create_access_token

    created = await register(client)
    forged_settings = settings.model_copy(
        update={"jwt_secret": type(settings.jwt_secret)("another-secret-" + "y" * 32)}
    )
    forged = create_access_token(
        forged_settings, user_id=uuid.UUID(created["id"]), role="ops_admin"
    )
    response = await client.get("/v1/me", headers=bearer(forged))
    assert response.status_code == 401


async def test_access_token_expires(client):
    from datetime import timedelta

    from app.kit.clock import travel

    created = await register(client)
    token = (await login(client, created["email"]))["access_token"]
    with travel(timedelta(minutes=16)):
        response = await client.get("/v1/me", headers=bearer(token))
    assert response.status_code == 401


async def test_physician_token_on_ops_route_is_403(client):
    created = await register(client, "physician")
    token = (await login(client, created["email"]))["access_token"]
    response = await client.get("/v1/audit", headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["type"] == PROBLEM + "forbidden"


async def test_deactivated_user_cannot_log_in_or_use_tokens(client, session):
    created = await register(client)
    token = (await login(client, created["email"]))["access_token"]
    user = await session.scalar(select(User).where(User.email == created["email"]))
    assert user is not None
    user.is_active = False
    await session.commit()
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 401
    response = await client.post(
        "/v1/auth/token", data={"username": created["email"], "password": PASSWORD}
    )
    assert response.status_code == 401


async def test_a_nul_character_in_the_login_is_422_not_a_500(client):
    """Found by schemathesis: PostgreSQL cannot hold a NUL in text."""
    response = await client.post(
        "/v1/auth/token", data={"username": "a\x00b@example.com", "password": "whatever-9A"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "NUL" in response.json()["detail"]
