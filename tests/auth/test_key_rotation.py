"""JWT signing-key rotation: new tokens name their key (`kid`); tokens signed with a previous
secret stay valid until they expire, so a rotation logs nobody out; retired keys are refused."""

from __future__ import annotations

import uuid

import jwt
import pytest

from app.auth.tokens import InvalidToken, create_access_token, decode_access_token, key_id
from tests.conftest import make_settings
from tests.factories import bearer, login, register

OLD = "old-signing-secret-" + "o" * 32
NEW = "new-signing-secret-" + "n" * 32


def test_tokens_name_their_key_and_survive_a_rotation(database_url):
    before = make_settings(database_url, jwt_secret=OLD)
    user_id = uuid.uuid4()
    token = create_access_token(before, user_id=user_id, role="clinic_admin")
    header = jwt.get_unverified_header(token)
    assert header["kid"] == key_id(OLD)
    assert OLD not in header["kid"]

    rotated = make_settings(database_url, jwt_secret=NEW, jwt_previous_secrets=OLD)
    assert decode_access_token(rotated, token).user_id == user_id  # still valid
    fresh = create_access_token(rotated, user_id=user_id, role="clinic_admin")
    assert jwt.get_unverified_header(fresh)["kid"] == key_id(NEW)

    retired = make_settings(database_url, jwt_secret=NEW)
    with pytest.raises(InvalidToken):
        decode_access_token(retired, token)
    # A token naming a key we hold, but signed with another secret, is refused too.
    forged = jwt.encode(
        {"sub": str(user_id), "typ": "access", "iss": "mdmatch", "iat": 0, "exp": 2**40},
        "attacker-secret-" + "a" * 32,
        algorithm="HS256",
        headers={"kid": key_id(NEW)},
    )
    with pytest.raises(InvalidToken):
        decode_access_token(rotated, forged)


async def test_a_rotation_keeps_signed_in_users_signed_in(client, app):
    email = (await register(client))["email"]
    headers = bearer((await login(client, email))["access_token"])
    settings = app.state.settings
    original = settings.jwt_secret, settings.jwt_previous_secrets
    try:
        settings.jwt_previous_secrets = [settings.jwt_secret]
        settings.jwt_secret = type(settings.jwt_secret)(NEW)
        assert (await client.get("/v1/me", headers=headers)).status_code == 200
        settings.jwt_previous_secrets = []
        assert (await client.get("/v1/me", headers=headers)).status_code == 401
    finally:
        settings.jwt_secret, settings.jwt_previous_secrets = original
