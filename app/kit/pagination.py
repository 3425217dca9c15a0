"""Keyset (cursor) pagination, newest first, on `(created_at, id)`.

A cursor is an opaque base64url token of the last row's sort key; it stays valid while rows are
inserted, unlike offsets. Lists answer `{"items": [...], "next_cursor": str | null}`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.errors import ValidationFailed
from app.kit.openapi import ResponseModel

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

T = TypeVar("T")
Row = TypeVar("Row")


class Page(ResponseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "id": str(row_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(data["t"])
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        # In UTC, as the database compares it: an offset that pushes the instant out of the
        # representable years (0001-01-01T00:00+14:00) is no cursor of ours.
        created_at = created_at.astimezone(UTC)
        return created_at, uuid.UUID(str(data["id"]))
    except (ValueError, KeyError, TypeError, OverflowError, AttributeError) as exc:
        raise ValidationFailed(
            [{"loc": ["query", "cursor"], "msg": "not a cursor returned by this list"}]
        ) from exc


async def paginate(
    session: AsyncSession,
    stmt: Select[Any],
    params: PageParams,
    *,
    created_at: InstrumentedAttribute[datetime],
    id_column: InstrumentedAttribute[uuid.UUID],
) -> tuple[Sequence[Any], str | None]:
    """Run `stmt` (which must select one ORM entity) as a newest-first page."""
    if params.cursor:
        c_at, c_id = decode_cursor(params.cursor)
        stmt = stmt.where(or_(created_at < c_at, and_(created_at == c_at, id_column < c_id)))
    stmt = stmt.order_by(created_at.desc(), id_column.desc()).limit(params.limit + 1)
    rows = list((await session.scalars(stmt)).all())
    next_cursor = None
    if len(rows) > params.limit:
        rows = rows[: params.limit]
        last = rows[-1]
        next_cursor = encode_cursor(getattr(last, created_at.key), getattr(last, id_column.key))
    return rows, next_cursor
