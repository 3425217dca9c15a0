"""`GET /v1/audit`: the audit log, for operations.

The log itself (`app.audit`) sits below auth, since every domain records into it, auth's own
logins and password resets included; reading it takes an operations account, so its endpoint
lives here, above auth, as the notifications' endpoints do in `app.account.router`.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.audit.schemas import AuditEntryRead
from app.auth.deps import OpsUser
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.idempotency import AppRoute
from app.kit.pagination import Page, PageParams, page_params, paginate

router = APIRouter(prefix="/v1/audit", tags=["operations"], route_class=AppRoute)


@router.get("", operation_id="list_audit_entries", responses=problem_responses(401, 403, 422))
async def list_audit_entries(
    _ops: OpsUser,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: uuid.UUID | None = None,
) -> Page[AuditEntryRead]:
    """Audit entries, newest first (operations only)."""
    stmt = select(AuditEntry)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    rows, cursor = await paginate(
        session, stmt, page, created_at=AuditEntry.at, id_column=AuditEntry.id
    )
    return Page(items=[AuditEntryRead.model_validate(r) for r in rows], next_cursor=cursor)
