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
    # The login (refresh-token family) the token was issued for; None on older tokens.
    session_id: uuid.UUID | None = None


class InvalidToken(Exception):
    pass


def key_id(secret: str) -> str:
    """The `kid` of a signing secret: a short digest that names it without revealing it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def _verification_keys(settings: Settings) -> dict[str, str]:
    keys = {
        key_id(s.get_secret_value()): s.get_secret_value() for s in settings.jwt_previous_secrets
    }
    current = settings.jwt_secret.get_secret_value()
    keys[key_id(current)] = current
    return keys


def create_access_token(
    settings: Settings,
    *,
    user_id: uuid.UUID,
    role: str,
    token_version: int = 0,
    session_id: uuid.UUID | None = None,
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
    if session_id is not None:
        claims["sid"] = str(session_id)
    secret = settings.jwt_secret.get_secret_value()
    return jwt.encode(
        claims, secret, algorithm=settings.jwt_algorithm, headers={"kid": key_id(secret)}
    )


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        keys = _verification_keys(settings)
        # Tokens from before key ids were added carry none: the current secret checks them.
        secret = keys.get(kid) if kid is not None else settings.jwt_secret.get_secret_value()
        if secret is None:
            raise InvalidToken("unknown signing key")
        claims = jwt.decode(
            token,
            secret,
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
        version = claims.get("ver", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise InvalidToken("malformed version claim")
        sid = claims.get("sid")
        return AccessClaims(
            user_id=uuid.UUID(str(claims["sub"])),
            role=str(claims.get("role")),
            token_version=version,
            session_id=uuid.UUID(str(sid)) if sid is not None else None,
        )
    # A claim of the wrong type (a null `ver`, a string `exp`, a list `kid`) is a bad token, not
    # a server error: it was signed with our key, but not by us as it stands.
    except (jwt.PyJWTError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidToken(str(exc)) from exc


def new_opaque_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
