"""The caller's own account: `/v1/me` and its notifications (the audit log's endpoint, for
operations, is `app.account.audit`).

This sits above the domains so that `/v1/me` can name the clinics and the physician profile a
user is linked to without the lower domains importing upward.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import select

from app.auth.deps import CurrentUser
from app.auth.models import Role
from app.auth.schemas import MeRead
from app.clinics.service import clinic_ids_for_user
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.idempotency import AppRoute
from app.kit.pagination import Page, PageParams, page_params, paginate
from app.notifications import service as notifications
from app.notifications.models import Notification
from app.notifications.schemas import NotificationRead
from app.physicians.service import physician_id_for_user

router = APIRouter(prefix="/v1/me", tags=["account"], route_class=AppRoute)


@router.get("", operation_id="get_me", responses=problem_responses(401))
async def get_me(user: CurrentUser, session: SessionDep) -> MeRead:
    """The caller's account, with the clinics they administer and their physician profile."""
    return MeRead(
        id=user.id,
        email=user.email,
        role=Role(user.role),
        clinic_ids=await clinic_ids_for_user(session, user.id),
        physician_id=await physician_id_for_user(session, user.id),
    )


@router.get(
    "/notifications", operation_id="list_my_notifications", responses=problem_responses(401, 422)
)
async def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    unread: bool = False,
) -> Page[NotificationRead]:
    """The caller's notifications, newest first; `?unread=true` for unread ones only."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows, cursor = await paginate(
        session, stmt, page, created_at=Notification.created_at, id_column=Notification.id
    )
    return Page(items=[NotificationRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "/notifications/{notification_id}/read",
    operation_id="mark_notification_read",
    responses=problem_responses(401, 404, 422),
)
async def mark_notification_read(
    notification_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> NotificationRead:
    """Mark one of the caller's notifications read (idempotent)."""
    note = await notifications.mark_read(session, user_id=user.id, notification_id=notification_id)
    await session.commit()
    return NotificationRead.model_validate(note)
