from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from fastapi.encoders import jsonable_encoder
from sqlalchemy import Boolean, String, Uuid, column, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.errors import NotFound
from app.kit.clock import utcnow
from app.kit.mailer import EmailSender, OutgoingEmail, RecipientRefused, RelayUnavailable
from app.notifications.emails import UnknownEmailKind, has_email_template, render_notification
from app.notifications.models import Notification

log = structlog.get_logger(__name__)

# Notifications sit below auth (auth sends its password-reset e-mail through the templates
# here), so the accounts they address are read from the users table by name: who is an active
# operations account, and the address and role an e-mail copy is rendered for.
_users = table(
    "users",
    column("id", Uuid()),
    column("email", String()),
    column("role", String()),
    column("is_active", Boolean()),
)
_OPS_ROLE = "ops_admin"  # app.auth.models.Role.ops_admin


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
    e-mail copy in the outbox; the kind must have an e-mail template)."""
    if email and not has_email_template(kind):
        raise UnknownEmailKind(
            f"notification kind {kind!r} has no e-mail template "
            "(add app/notifications/templates/<kind>.j2 and an EMAIL_KINDS entry)"
        )
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
    session: AsyncSession,
    *,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
    email: bool = False,
) -> int:
    """Notify every active operations account (with `email`, by e-mail too: for what needs
    someone to act today); returns how many were notified."""
    ops = await session.scalars(
        select(_users.c.id).where(_users.c.role == _OPS_ROLE, _users.c.is_active.is_(True))
    )
    count = 0
    for ops_id in ops:
        await notify(
            session, user_id=ops_id, kind=kind, title=title, body=body, data=data, email=email
        )
        count += 1
    return count


@dataclass
class EmailRun:
    """What one `send_pending_emails` batch did."""

    sent: int = 0
    # Refused for good by the relay, or pending past EMAIL_GIVE_UP_AFTER_HOURS: marked failed.
    failed: int = 0
    # Not sent this time and still pending (the next run tries them again).
    deferred: list[uuid.UUID] = field(default_factory=list)
    # The relay could not be reached: the batch stopped early.
    relay_unavailable: bool = False

    @property
    def attempted(self) -> int:
        return self.sent + self.failed + len(self.deferred)


async def send_pending_emails(
    session: AsyncSession,
    sender: EmailSender,
    settings: Settings,
    *,
    batch: int = 100,
    skip: Collection[uuid.UUID] = (),
) -> EmailRun:
    """Send queued e-mail copies, each rendered from its kind's template for the recipient's
    role; rows are locked SKIP LOCKED so workers share the work.

    One message's failure never costs the others: a refused address is marked `failed`, any
    other error leaves the row `pending` for the next run (listed in `deferred`, which the
    caller passes back as `skip` to move on); a relay that cannot be reached stops the batch,
    since every other message would fail the same way."""
    query = (
        select(Notification, _users.c.email, _users.c.role)
        .join(_users, _users.c.id == Notification.user_id)
        .where(Notification.email_status == "pending")
        .order_by(Notification.created_at)
        .limit(batch)
        .with_for_update(of=Notification, skip_locked=True)
    )
    if skip:
        query = query.where(Notification.id.not_in(list(skip)))
    rows = (await session.execute(query)).all()
    run = EmailRun()
    now = utcnow()
    give_up_before = now - timedelta(hours=settings.email_give_up_after_hours)
    for note, address, role in rows:
        fields = {"notification_id": str(note.id), "kind": note.kind}
        if note.created_at < give_up_before:
            note.email_status = "failed"
            run.failed += 1
            log.warning("email_given_up", **fields, created_at=note.created_at.isoformat())
            continue
        try:
            rendered = render_notification(
                kind=note.kind,
                title=note.title,
                body=note.body,
                data=note.data,
                role=role,
                base_url=settings.public_base_url,
            )
            await sender.send(
                OutgoingEmail(
                    to=address, subject=rendered.subject, body=rendered.text, html=rendered.html
                )
            )
        except RecipientRefused as exc:
            note.email_status = "failed"
            run.failed += 1
            log.warning("email_refused", **fields, error=str(exc))
            continue
        except RelayUnavailable as exc:
            run.deferred.append(note.id)
            run.relay_unavailable = True
            log.warning("email_relay_unavailable", **fields, error=str(exc))
            break
        except Exception:
            # A relay hiccup, a temporary refusal, or a template bug: the row stays pending and
            # the next run tries again; logged with the traceback so a bug cannot hide.
            run.deferred.append(note.id)
            log.exception("email_deferred", **fields)
            continue
        note.email_status = "sent"
        note.emailed_at = utcnow()
        run.sent += 1
    await session.flush()
    return run


async def mark_read(
    session: AsyncSession, *, user_id: uuid.UUID, notification_id: uuid.UUID
) -> Notification:
    note = await session.get(Notification, notification_id)
    if note is None or note.user_id != user_id:
        raise NotFound("No such notification.")
    if note.read_at is None:
        note.read_at = utcnow()
    return note
