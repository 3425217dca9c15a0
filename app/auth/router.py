from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status

from app.auth import jobs, service
from app.auth.deps import CurrentUser, SettingsDep, oauth2_scheme
from app.auth.errors import RefreshTokenInvalid
from app.auth.models import Role
from app.auth.schemas import (
    MAX_EMAIL_LENGTH,
    MAX_PASSWORD_LENGTH,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserRead,
    normalise_email,
)
from app.auth.tokens import decode_access_token
from app.db import SessionDep
from app.errors import problem_responses
from app.jobs.queue import defer_in_transaction
from app.kit.idempotency import AppRoute, idempotent
from app.kit.ratelimit import limit_key, rate_limit

router = APIRouter(prefix="/v1/auth", tags=["auth"], route_class=AppRoute)


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    operation_id="register",
    dependencies=[Depends(rate_limit("register", "rate_limit_register"))],
    responses=problem_responses(409, 422, 429),
)
@idempotent
async def register(body: UserCreate, session: SessionDep, settings: SettingsDep) -> UserRead:
    """Create a clinic-admin or physician account. Operations accounts are made with the CLI."""
    user = await service.create_user(
        session, settings, email=body.email, password=body.password, role=Role(body.role)
    )
    await session.commit()
    return UserRead.model_validate(user)


@router.post(
    "/token",
    operation_id="login",
    dependencies=[Depends(rate_limit("login", "rate_limit_login"))],
    responses=problem_responses(401, 422, 429),
)
async def login(
    # The OAuth2 password form's two fields, bounded (in the schema too) before the username
    # becomes a rate-limit key (kept in memory or Redis) or the password is hashed.
    username: Annotated[
        str, Form(min_length=1, max_length=MAX_EMAIL_LENGTH, description="The e-mail")
    ],
    password: Annotated[str, Form(min_length=1, max_length=MAX_PASSWORD_LENGTH)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPair:
    """Log in with the OAuth2 password form (`username` is the e-mail)."""
    email = normalise_email(username)
    await limit_key(request, "login-account", "rate_limit_login_per_account", email)
    user = await service.authenticate(session, settings, email=email, password=password)
    pair = await service.issue_tokens(session, settings, user)
    await session.commit()
    return pair


@router.post(
    "/refresh",
    operation_id="refresh_token",
    dependencies=[Depends(rate_limit("refresh", "rate_limit_login"))],
    responses=problem_responses(401, 422, 429),
)
async def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Exchange a refresh token for a new pair. Each refresh token works once; replaying a used
    one revokes every token descended from the same login."""
    pair, replayed = await service.rotate_refresh_token(
        session, settings, refresh_token=body.refresh_token
    )
    await session.commit()
    if replayed or pair is None:
        raise RefreshTokenInvalid()
    return pair


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="request_password_reset",
    dependencies=[Depends(rate_limit("password-reset", "rate_limit_password_reset"))],
    responses=problem_responses(422, 429),
)
async def request_password_reset(
    body: PasswordResetRequest, request: Request, session: SessionDep
) -> dict[str, str]:
    """Send a reset link if an account has this e-mail. The answer is the same either way."""
    await limit_key(request, "reset-account", "rate_limit_password_reset_per_account", body.email)
    # Queued in the request's own transaction, not through the job queue's pool: with PostgreSQL
    # down, that pool holds a caller until it can connect again (up to its 30 s timeout), and a
    # connection it lost mid-query surfaced as a 500. The engine fails at once: a 503.
    await defer_in_transaction(session, jobs.send_password_reset.name, email=body.email)
    await session.commit()
    return {"detail": "If an account exists for this e-mail, a reset link is on its way."}


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="confirm_password_reset",
    dependencies=[Depends(rate_limit("password-reset-confirm", "rate_limit_password_reset"))],
    responses=problem_responses(422, 429),
)
async def confirm_password_reset(
    body: PasswordResetConfirm, session: SessionDep, settings: SettingsDep
) -> None:
    """Set a new password with the token from the reset e-mail; every session is logged out."""
    await service.confirm_password_reset(
        session, settings, token=body.token, new_password=body.new_password
    )
    await session.commit()


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="logout",
    responses=problem_responses(401, 429),
)
async def logout(
    user: CurrentUser,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    session: SessionDep,
    settings: SettingsDep,
) -> None:
    """Log this login out: its refresh token stops working at once. Its access token still
    works until it expires (`expires_in`); `logout-all` ends every access token now."""
    assert token is not None  # CurrentUser has checked it
    claims = decode_access_token(settings, token)
    await service.log_out(session, user, session_id=claims.session_id)
    await session.commit()


@router.post(
    "/logout-all",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="logout_all",
    responses=problem_responses(401, 429),
)
async def logout_all(user: CurrentUser, session: SessionDep) -> None:
    """Log every login of this account out: all refresh and access tokens stop working now."""
    await service.log_out_everywhere(session, user)
    await session.commit()
