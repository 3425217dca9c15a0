from __future__ import annotations

import uuid
from typing import Any

import structlog
from fastapi.encoders import jsonable_encoder
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.kit.clock import utcnow
from app.kit.observability import redact


async def record_audit(
    session: AsyncSession,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    object_type: str,
    object_id: uuid.UUID | str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry in the caller's transaction, so it lands exactly when the change
    does. Secrets in `before`/`after` are redacted."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    entry = AuditEntry(
        id=uuid.uuid4(),
        actor_id=actor_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=redact(jsonable_encoder(before)) if before is not None else None,
        after=redact(jsonable_encoder(after)) if after is not None else None,
        request_id=request_id,
        at=utcnow(),
    )
    session.add(entry)
    await session.flush()
    return entry
