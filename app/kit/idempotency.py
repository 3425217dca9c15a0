"""`Idempotency-Key` for POSTs that create something or move money.

A route opts in with `@idempotent`; `AppRoute` (the route class every router uses) then wraps it:

1. The key is claimed by inserting a row in its own, immediately committed transaction, so a
   concurrent duplicate sees it at once and gets 409 `idempotency-in-progress`.
2. The handler runs. A response below 500 is stored with the row; an error or a 5xx releases the
   key so the client can retry.
3. A repeat with the same key and the same request (method, path, body) gets the stored response
   (with `Idempotent-Replayed: true`); the same key with a different request gets 422
   `idempotency-key-reused`.

Keys are scoped to the caller (the user id from the bearer token, or the client address for
anonymous calls) and kept for `IDEMPOTENCY_TTL_SECONDS` (24 h); a periodic job deletes older
rows. A claim still "in progress" after `ABANDONED_AFTER` belonged to a process that died or lost
its database mid-request, and may be claimed again. The stored request fingerprint is an HMAC
keyed with the server secret, since a body may hold a password.

The kit knows no accounts: who a bearer token speaks for is the `TokenCaller` the app gives the
store (`app.auth.deps.token_caller`, wired in `app.main`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import (
    CheckConstraint,
    LargeBinary,
    String,
    UniqueConstraint,
    and_,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey
from app.errors import AppError, ValidationFailed, problem_responses
from app.kit.clock import utcnow

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Printable ASCII: a header value a client can always send as it is.
KEY_PATTERN = re.compile(f"^[\\x20-\\x7e]{{1,{MAX_KEY_LENGTH}}}$")
ABANDONED_AFTER = timedelta(seconds=60)
_MARK = "__mdmatch_idempotent__"

F = TypeVar("F", bound=Callable[..., Any])


class IdempotencyInProgress(AppError):
    status, slug, title = 409, "idempotency-in-progress", "A request with this key is in progress"


class IdempotencyKeyReused(AppError):
    status, slug, title = 422, "idempotency-key-reused", "Idempotency key reused"


class IdempotencyRecord(UUIDPrimaryKey, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("scope", "key", name="uq_idempotency_keys_scope_key"),
        CheckConstraint("state IN ('in_progress', 'completed')", name="state"),
    )

    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None]
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSONB)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), index=True)
    completed_at: Mapped[datetime | None]


def idempotent(endpoint: F) -> F:
    """Mark a POST endpoint as honouring `Idempotency-Key`."""
    setattr(endpoint, _MARK, True)
    return endpoint


def is_idempotent(endpoint: Callable[..., Any]) -> bool:
    return bool(getattr(endpoint, _MARK, False))


def _request_hash(request: Request, body: bytes, secret: bytes) -> str:
    h = hmac.new(secret, digestmod=hashlib.sha256)
    h.update(request.method.encode())
    h.update(b"\0" + request.url.path.encode() + b"\0" + request.url.query.encode() + b"\0")
    h.update(body)
    return h.hexdigest()


_REPLAYED_HEADERS = ("content-type", "location")


# Who a bearer token speaks for: the caller's id while the token is valid and not revoked, else
# None. Given the request, the token and the store's session factory.
TokenCaller = Callable[[Request, str, async_sessionmaker[AsyncSession]], Awaitable[str | None]]


class IdempotencyStore:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        ttl_seconds: int,
        *,
        token_caller: TokenCaller,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.ttl = timedelta(seconds=ttl_seconds)
        self.token_caller = token_caller

    async def claim(self, scope: str, key: str, request_hash: str) -> IdempotencyRecord | None:
        """Claim the key; None when claimed now, else the existing (live) record."""
        for _ in range(3):
            async with self.sessionmaker() as session, session.begin():
                record = await self._try_claim(session, scope, key, request_hash)
            if record is not False:
                return record
        raise IdempotencyInProgress("The key is being claimed concurrently; retry shortly.")

    async def _try_claim(
        self, session: AsyncSession, scope: str, key: str, request_hash: str
    ) -> IdempotencyRecord | Literal[False] | None:
        now = utcnow()
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                or_(
                    IdempotencyRecord.created_at < now - self.ttl,
                    and_(
                        IdempotencyRecord.state == "in_progress",
                        IdempotencyRecord.created_at < now - ABANDONED_AFTER,
                    ),
                ),
            )
        )
        inserted = await session.scalar(
            insert(IdempotencyRecord)
            .values(
                id=uuid.uuid4(),
                scope=scope,
                key=key,
                request_hash=request_hash,
                state="in_progress",
                created_at=now,
            )
            .on_conflict_do_nothing(constraint="uq_idempotency_keys_scope_key")
            .returning(IdempotencyRecord.id)
        )
        if inserted is not None:
            return None
        existing = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
        # None here: the holder released the key between our insert and select; try again.
        return existing if existing is not None else False

    async def complete(self, scope: str, key: str, response: Response) -> None:
        headers = {k: v for k, v in response.headers.items() if k.lower() in _REPLAYED_HEADERS}
        async with self.sessionmaker() as session, session.begin():
            record = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
            if record is None:
                return
            record.state = "completed"
            record.response_status = response.status_code
            record.response_headers = headers
            record.response_body = bytes(response.body)
            record.completed_at = utcnow()

    async def release(self, scope: str, key: str) -> None:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )


async def purge_expired_keys(session: AsyncSession, *, ttl_seconds: int) -> int:
    result = await session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < utcnow() - timedelta(seconds=ttl_seconds)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def _caller_scope(request: Request, store: IdempotencyStore) -> str | None:
    """The caller's user id from a currently valid bearer token, the client address without
    one, None when the token is invalid, or was revoked (a password reset, a logout of every
    login, a deactivated account): the handler then answers 401 and no stored response is
    replayed to it."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if not auth:
        return "anon:" + (request.client.host if request.client else "unknown")
    if scheme.lower() != "bearer" or not token:
        return None
    return await store.token_caller(request, token, store.sessionmaker)


def _with_in_progress(responses: dict[int | str, Any]) -> dict[int | str, Any]:
    """Document the 409 a repeat gets while the first request with its key is running (the
    route's own 409, if it has one, keeps its schema)."""
    note = (
        "`idempotency-in-progress`: the first request with this Idempotency-Key is still "
        "being processed (retry after Retry-After seconds)"
    )
    own = responses.get(409)
    entry = dict(own or problem_responses(409)[409])
    entry["description"] = f"{entry['description']}; or {note}" if own else note
    responses[409] = entry
    return responses


class AppRoute(APIRoute):
    """The route class of every router: adds `Idempotency-Key` handling to marked endpoints."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if is_idempotent(endpoint):
            extra = dict(kwargs.get("openapi_extra") or {})
            params = list(extra.get("parameters", []))
            params.append(
                {
                    "name": HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Makes a retry safe: a repeat with the same key and body "
                    "returns the first response (kept 24 h) with `Idempotent-Replayed: true`. "
                    "While the first is still running, a repeat gets 409 "
                    "`idempotency-in-progress`; the key with another body, 422 "
                    "`idempotency-key-reused`.",
                    "schema": {
                        "type": "string",
                        "maxLength": MAX_KEY_LENGTH,
                        "minLength": 1,
                        "pattern": KEY_PATTERN.pattern,
                    },
                }
            )
            extra["parameters"] = params
            kwargs["openapi_extra"] = extra
            kwargs["responses"] = _with_in_progress(dict(kwargs.get("responses") or {}))
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not is_idempotent(self.endpoint):
            return handler

        async def idempotent_handler(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if key is None:
                return await handler(request)
            if not KEY_PATTERN.fullmatch(key):
                raise ValidationFailed(
                    [{"loc": ["header", HEADER], "msg": "must be 1-255 printable ASCII characters"}]
                )
            store: IdempotencyStore = request.app.state.idempotency_store
            scope = await _caller_scope(request, store)
            if scope is None:
                return await handler(request)
            secret = request.app.state.settings.jwt_secret.get_secret_value().encode()
            request_hash = _request_hash(request, await request.body(), secret)
            existing = await store.claim(scope, key, request_hash)
            if existing is not None:
                if existing.request_hash != request_hash:
                    raise IdempotencyKeyReused(
                        "This Idempotency-Key was used with a different request; use a new key."
                    )
                if existing.state != "completed":
                    raise IdempotencyInProgress(
                        "The first request with this Idempotency-Key is still being processed.",
                        headers={"Retry-After": "1"},
                    )
                headers = dict(existing.response_headers or {})
                headers[REPLAYED_HEADER] = "true"
                return Response(
                    content=existing.response_body,
                    status_code=existing.response_status or 200,
                    headers=headers,
                )
            try:
                response = await handler(request)
            except BaseException:
                await store.release(scope, key)
                raise
            if response.status_code >= 500:
                await store.release(scope, key)
            else:
                await store.complete(scope, key, response)
            return response

        return idempotent_handler
