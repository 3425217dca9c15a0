from __future__ import annotations

import uuid
from typing import Any

from fastapi.encoders import jsonable_encoder
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.errors import NotFound
from app.kit.clock import utcnow
from app.notifications.models import Notification


async def notify(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
    email: bool = False,
    flush: bool = True,
) -> Notification:
    """Add a notification for a user in the caller's transaction (and, with `email`, queue an
    e-mail copy in the outbox)."""
    note = Notification(
        id=uuid.uuid4(),
        user_id=user_id,
        kind=kind,
        title=title,
        body=body,
        data=jsonable_encoder(data or {}),
        created_at=utcnow(),
        email_status="pending" if email else "none",
    )
    session.add(note)
    if flush:
        await session.flush()
    return note


async def notify_ops(
    session: AsyncSession, *, kind: str, title: str, body: str, data: dict[str, Any] | None = None
) -> int:
    """Notify every active operations account; returns how many were notified."""
    ops = await session.scalars(
        select(User.id).where(User.role == Role.ops_admin.value, User.is_active.is_(True))
    )
    count = 0
    for ops_id in ops:
        await notify(session, user_id=ops_id, kind=kind, title=title, body=body, data=data)
        count += 1
    return count


async def send_pending_emails(session: AsyncSession, sender: Any, *, batch: int = 100) -> int:
    """Send queued e-mail copies; rows are locked SKIP LOCKED so workers share the work."""
    from app.kit.mailer import OutgoingEmail

    rows = (
        await session.execute(
            select(Notification, User.email)
            .join(User, User.id == Notification.user_id)
            .where(Notification.email_status == "pending")
            .order_by(Notification.created_at)
            .limit(batch)
            .with_for_update(of=Notification, skip_locked=True)
        )
    ).all()
    for note, address in rows:
        await sender.send(OutgoingEmail(to=address, subject=note.title, body=note.body))
        note.email_status = "sent"
        note.emailed_at = utcnow()
    await session.flush()
    return len(rows)


async def mark_read(
    session: AsyncSession, *, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification:
    note = await session.get(Notification, notification_id)
    if note is None or note.user_id != user_id:
        raise NotFound("No such notification.")
    if note.read_at is None:
        note.read_at = utcnow()
    return note
