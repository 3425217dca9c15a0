"""Accounts and credentials: registration, login, refresh-token rotation, password reset."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from pwdlib import PasswordHash
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.errors import (
    EmailAlreadyRegistered,
    InvalidCredentials,
    RefreshTokenInvalid,
    ResetTokenInvalid,
    WeakPassword,
)
from app.auth.models import PasswordResetToken, RefreshToken, Role, User
from app.auth.passwords import password_hasher, password_problems
from app.auth.schemas import TokenPair, normalise_email
from app.auth.tokens import create_access_token, hash_token, new_opaque_token
from app.config import Settings
from app.kit.clock import utcnow
from app.kit.mailer import OutgoingEmail
from app.notifications.emails import render_password_reset


def _hasher(settings: Settings) -> PasswordHash:
    return password_hasher(cheap=settings.is_test)


# argon2 costs ~100 ms of CPU by design; run it in a thread so the event loop keeps serving.
async def hash_password(settings: Settings, password: str) -> str:
    return await asyncio.to_thread(_hasher(settings).hash, password)


async def _verify_and_update(
    settings: Settings, password: str, password_hash: str
) -> tuple[bool, str | None]:
    return await asyncio.to_thread(_hasher(settings).verify_and_update, password, password_hash)


def check_password_policy(settings: Settings, password: str, *, email: str, field: str) -> None:
    problems = password_problems(password, min_length=settings.password_min_length, email=email)
    if problems:
        raise WeakPassword(field, problems)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == normalise_email(email)))


async def create_user(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    role: Role,
    actor_id: uuid.UUID | None = None,
) -> User:
    email = normalise_email(email)
    check_password_policy(settings, password, email=email, field="password")
    if await get_user_by_email(session, email) is not None:
        raise EmailAlreadyRegistered("An account with this e-mail already exists; log in instead.")
    user = User(
        id=uuid.uuid4(),
        token_version=0,
        email=email,
        password_hash=await hash_password(settings, password),
        role=role.value,
    )
    session.add(user)
    try:
        # A concurrent registration of the same e-mail loses on the unique key.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise EmailAlreadyRegistered(
            "An account with this e-mail already exists; log in instead."
        ) from exc
    await record_audit(
        session,
        actor_id=actor_id or user.id,
        action="user.created",
        object_type="user",
        object_id=user.id,
        after={"email": user.email, "role": user.role},
    )
    return user


async def authenticate(
    session: AsyncSession, settings: Settings, *, email: str, password: str
) -> User:
    user = await get_user_by_email(session, email)
    if user is None or not user.is_active:
        # Spend the same time as a real check so response timing does not reveal accounts.
        await _verify_and_update(settings, password, _dummy_hash(settings))
        raise InvalidCredentials()
    valid, new_hash = await _verify_and_update(settings, password, user.password_hash)
    if not valid:
        raise InvalidCredentials()
    if new_hash:
        user.password_hash = new_hash
    return user


_DUMMY_HASHES: dict[bool, str] = {}
REFRESH_REUSE_GRACE = timedelta(seconds=30)


def _dummy_hash(settings: Settings) -> str:
    if settings.is_test not in _DUMMY_HASHES:
        _DUMMY_HASHES[settings.is_test] = _hasher(settings).hash(new_opaque_token())
    return _DUMMY_HASHES[settings.is_test]


async def issue_tokens(
    session: AsyncSession, settings: Settings, user: User, *, family_id: uuid.UUID | None = None
) -> TokenPair:
    refresh = new_opaque_token()
    family_id = family_id or uuid.uuid4()
    session.add(
        RefreshToken(
            id=uuid.uuid4(),
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_token(refresh),
            created_at=utcnow(),
            expires_at=utcnow() + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return TokenPair(
        access_token=create_access_token(
            settings,
            user_id=user.id,
            role=user.role,
            token_version=user.token_version,
            session_id=family_id,
        ),
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_seconds,
    )


async def rotate_refresh_token(
    session: AsyncSession, settings: Settings, *, refresh_token: str
) -> tuple[TokenPair | None, bool]:
    """Exchange a refresh token for a new pair.

    Returns (pair, False) on success and (None, True) when a used token was presented again:
    the caller commits, then answers 401. The row lock makes two concurrent uses of one token
    succeed at most once. A reuse long after the first use means the token leaked, so every
    token of that login is revoked; a reuse within REFRESH_REUSE_GRACE of it is a client's
    double submit (two tabs, a retry after a timeout) and leaves the winner's new token alive.
    """
    row = await session.scalar(
        select(RefreshToken)
        .where(RefreshToken.token_hash == hash_token(refresh_token))
        .with_for_update()
    )
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise RefreshTokenInvalid()
    if row.used_at is not None:
        if now - row.used_at > REFRESH_REUSE_GRACE:
            await revoke_refresh_family(session, row.family_id)
        return None, True
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise RefreshTokenInvalid()
    row.used_at = now
    return await issue_tokens(session, settings, user, family_id=row.family_id), False


async def revoke_refresh_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_all_refresh_tokens(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def purge_expired_tokens(session: AsyncSession) -> int:
    """Delete refresh and reset tokens that expired more than a day ago (they can never work)."""
    cutoff = utcnow() - timedelta(days=1)
    refresh = await session.execute(delete(RefreshToken).where(RefreshToken.expires_at < cutoff))
    reset = await session.execute(
        delete(PasswordResetToken).where(PasswordResetToken.expires_at < cutoff)
    )
    return int(getattr(refresh, "rowcount", 0) or 0) + int(getattr(reset, "rowcount", 0) or 0)


async def issue_password_reset(
    session: AsyncSession, settings: Settings, *, email: str
) -> OutgoingEmail | None:
    """Issue a single-use reset token and return the e-mail carrying its link; None when no
    active account has this e-mail. Runs as a job so the HTTP answer is the same either way."""
    user = await get_user_by_email(session, email)
    if user is None or not user.is_active:
        return None
    token = new_opaque_token()
    session.add(
        PasswordResetToken(
            id=uuid.uuid4(),
            user_id=user.id,
            token_hash=hash_token(token),
            created_at=utcnow(),
            expires_at=utcnow() + timedelta(seconds=settings.password_reset_ttl_seconds),
        )
    )
    await session.flush()
    minutes = settings.password_reset_ttl_seconds // 60
    link = f"{settings.public_base_url.rstrip('/')}/reset-password?token={token}"
    rendered = render_password_reset(
        link=link, token=token, minutes=minutes, base_url=settings.public_base_url
    )
    return OutgoingEmail(
        to=user.email, subject=rendered.subject, body=rendered.text, html=rendered.html
    )


async def confirm_password_reset(
    session: AsyncSession, settings: Settings, *, token: str, new_password: str
) -> User:
    row = await session.scalar(
        select(PasswordResetToken)
        .where(PasswordResetToken.token_hash == hash_token(token))
        .with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise ResetTokenInvalid(
            "This reset link is invalid, expired or already used; ask for a new one."
        )
    user = await session.get(User, row.user_id)
    if user is None or not user.is_active:
        raise ResetTokenInvalid("This reset link is invalid; ask for a new one.")
    check_password_policy(settings, new_password, email=user.email, field="new_password")
    row.used_at = utcnow()
    user.password_hash = await hash_password(settings, new_password)
    user.password_changed_at = utcnow()
    user.token_version += 1
    # Every other outstanding reset link and every session dies with the old password.
    await session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    await revoke_all_refresh_tokens(session, user.id)
    await record_audit(
        session,
        actor_id=user.id,
        action="user.password_reset",
        object_type="user",
        object_id=user.id,
    )
    return user


async def log_out(session: AsyncSession, user: User, *, session_id: uuid.UUID | None) -> None:
    """End one login: its refresh token (and every one rotated from it) stops working. Its
    access tokens lapse on their own within their lifetime."""
    if session_id is not None:
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.user_id == user.id,
                RefreshToken.family_id == session_id,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
    await record_audit(
        session, actor_id=user.id, action="user.logged_out", object_type="user", object_id=user.id
    )


async def log_out_everywhere(session: AsyncSession, user: User) -> None:
    """End every login of the account at once: refresh tokens revoked, access tokens refused
    from now on (the account's token version moves on, as after a password reset)."""
    user.token_version += 1
    await revoke_all_refresh_tokens(session, user.id)
    await record_audit(
        session,
        actor_id=user.id,
        action="user.logged_out_everywhere",
        object_type="user",
        object_id=user.id,
    )
