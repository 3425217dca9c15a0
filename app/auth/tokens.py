"""Access tokens (short-lived JWTs) and opaque secrets (refresh and reset tokens)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt

from app.config import Settings
from app.kit.clock import utcnow

ACCESS_TOKEN_TYPE = "access"  # noqa: S105 - a token *type*, not a secret
ISSUER = "mdmatch"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    role: str
    token_version: int


class InvalidToken(Exception):
    pass


def create_access_token(
    settings: Settings, *, user_id: uuid.UUID, role: str, token_version: int = 0
) -> str:
    now = utcnow()
    claims = {
        "sub": str(user_id),
        "role": role,
        "typ": ACCESS_TOKEN_TYPE,
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=settings.access_token_ttl_seconds)).timestamp()),
        "jti": uuid.uuid4().hex,
        "ver": token_version,
    }
    return jwt.encode(
        claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[settings.jwt_algorithm],
            issuer=ISSUER,
            options={
                "require": ["sub", "exp", "iat", "typ"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        # Expiry (and issue time) are checked against the app clock, not PyJWT's wall clock.
        if claims["exp"] <= utcnow().timestamp():
            raise InvalidToken("token expired")
        if claims.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("not an access token")
        return AccessClaims(
            user_id=uuid.UUID(claims["sub"]),
            role=str(claims.get("role")),
            token_version=int(claims.get("ver", 0)),
        )
    except (jwt.PyJWTError, ValueError, KeyError) as exc:
        raise InvalidToken(str(exc)) from exc


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
