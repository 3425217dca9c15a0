"""Database plumbing: the declarative base, the engine factory and the per-request session.

Routers commit once before returning; services only `flush()`. The session comes from
`request.app.state.sessionmaker`, built in the app's lifespan, and tests override `get_session`
with a session bound to a connection-level transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, func
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, ORMExecuteState, Session, mapped_column

from app.config import Settings
from app.kit.clock import utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class UUIDPrimaryKey:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamps:
    # Set from the app clock in Python (so values are known after a flush without a reload,
    # and tests that move the clock see consistent times); the server default covers raw SQL.
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), default=utcnow, onupdate=utcnow
    )


@event.listens_for(Session, "do_orm_execute")
def _locking_reads_refresh(state: ORMExecuteState) -> None:
    """A `SELECT ... FOR UPDATE` waits for the row lock and must then see the row as the lock
    holder left it. Without `populate_existing`, an object already in the identity map keeps
    its stale attributes, so a status check after the wait would pass on old data."""
    if state.is_select and getattr(state.statement, "_for_update_arg", None) is not None:
        state.update_execution_options(populate_existing=True)


def enum_check(column: str, values: Any) -> str:
    """SQL for a check constraint that keeps a text column inside a StrEnum's values."""
    allowed = ", ".join(f"'{v.value if hasattr(v, 'value') else v}'" for v in values)
    return f"{column} IN ({allowed})"


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(
        settings.sqlalchemy_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        pool_timeout=settings.database_pool_timeout_seconds,
        # Error messages must not carry bound values (e-mails, token and password hashes).
        hide_parameters=True,
        # A runaway query is cut off instead of holding a connection (and its locks).
        connect_args={
            "timeout": settings.database_connect_timeout_seconds,
            "server_settings": {
                "statement_timeout": str(settings.database_statement_timeout_ms),
                "application_name": "mdmatch",
            },
        },
        **kwargs,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: routers return ORM objects after commit for serialisation.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
