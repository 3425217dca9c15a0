"""Who is calling: `CurrentUser` and `require_role(...)`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auth.models import Role, User
from app.auth.tokens import InvalidToken, decode_access_token
from app.config import Settings
from app.db import SessionDep
from app.errors import Forbidden, Unauthenticated
from app.kit.ratelimit import limit_key

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def current_user(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> User:
    if not token:
        raise Unauthenticated("Send an access token: Authorization: Bearer <token>.")
    try:
        claims = decode_access_token(settings, token)
    except InvalidToken as exc:
        raise Unauthenticated("The access token is invalid or expired; refresh it.") from exc
    # Every authenticated call is charged to its account as well as to its address, so a
    # stolen or runaway token cannot spread its load over many addresses. Charged before the
    # database is touched: the claims are already verified, so the key cannot be forged.
    await limit_key(request, "account", "rate_limit_per_account", str(claims.user_id))
    user = await session.get(User, claims.user_id)
    if user is None or not user.is_active:
        raise Unauthenticated("The access token is invalid or expired; refresh it.")
    if claims.token_version != user.token_version:
        raise Unauthenticated("The password changed since this token was issued; log in again.")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: Role) -> Callable[..., Awaitable[User]]:
    allowed = {r.value for r in roles}

    async def dependency(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise Forbidden(f"This endpoint is for {' or '.join(sorted(allowed))} accounts only.")
        return user

    return dependency


OpsUser = Annotated[User, Depends(require_role(Role.ops_admin))]
PhysicianUser = Annotated[User, Depends(require_role(Role.physician))]
ClinicAdminUser = Annotated[User, Depends(require_role(Role.clinic_admin))]


async def token_caller(
    request: Request, token: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> str | None:
    """Who a bearer token speaks for, for `Idempotency-Key` scopes (the `TokenCaller` of
    app.kit.idempotency): the user's id while the token is valid and its account active at the
    same token version, else None (the route then answers 401 itself)."""
    try:
        claims = decode_access_token(request.app.state.settings, token)
    except InvalidToken:
        return None
    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(User.token_version, User.is_active).where(User.id == claims.user_id)
            )
        ).one_or_none()
    if row is None or not row.is_active or row.token_version != claims.token_version:
        return None
    return str(claims.user_id)
