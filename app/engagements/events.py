"""The engagement's event log and the fan-out of each event to its subscribers.

Every change the lifecycle (`app.engagements.lifecycle`) makes writes one typed row here, in
the caller's transaction, and queues one job per subscriber of that kind with
`defer_in_transaction`: the event and its jobs exist if and only if the change commits. The
subscribers are named in `app.engagements.subscribers` by job name only, so this domain imports
none of them. A subscriber claims an event with `claim` in the transaction that does its work:
a redelivered job (a retry, a stalled worker's job run again) finds the claim and does nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, String, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey, enum_check
from app.engagements.subscribers import subscribers_of
from app.jobs.queue import defer_in_transaction
from app.kit.clock import utcnow


class EventKind(StrEnum):
    """What happened to an engagement. Status moves carry `{"from", "to", "reason"}`; director
    moves carry the director (`director_id`, `physician_id`, `role`, `states`) and its dates."""

    # The clinic confirmed its director(s): the engagement exists, awaiting the first payment.
    confirmed = "engagement.confirmed"
    activated = "engagement.activated"  # first paid, or paid again after past_due / ending
    past_due = "engagement.past_due"
    ending = "engagement.ending"  # canceled at the period's end; still live until then
    canceled = "engagement.canceled"
    # The services, states or options the clinic buys changed (re-priced by billing).
    scope_changed = "engagement.scope_changed"
    # The roster changed and the directors were charged with it again.
    roster_changed = "engagement.roster_changed"
    director_joined = "director.joined"  # a director or standing backup joined
    director_leaving = "director.leaving"  # a director's last day is set (or moved)
    director_ended = "director.ended"  # a director's oversight (or standby) ended
    director_rescheduled = "director.rescheduled"  # a director's dates moved, same state


class EngagementEvent(Base):
    """One thing that happened to an engagement, in the order it happened (`seq`)."""

    __tablename__ = "engagement_events"
    __table_args__ = (
        CheckConstraint(enum_check("kind", EventKind), name="kind"),
        Index("ix_engagement_events_engagement_id_seq", "engagement_id", "seq"),
        Index("ix_engagement_events_clinic_id", "clinic_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    engagement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagements.id", ondelete="CASCADE")
    )
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime]


class EventReceipt(UUIDPrimaryKey, Base):
    """A subscriber's claim on an event: written with the subscriber's work, so the work is
    done once however often the job is delivered."""

    __tablename__ = "engagement_event_receipts"
    __table_args__ = (Index("uq_engagement_event_receipts", "event_id", "subscriber", unique=True),)

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagement_events.id", ondelete="CASCADE")
    )
    subscriber: Mapped[str] = mapped_column(String(80))
    handled_at: Mapped[datetime]


async def record(
    session: AsyncSession,
    *,
    engagement_id: uuid.UUID,
    clinic_id: uuid.UUID,
    kind: EventKind,
    payload: dict[str, Any],
    actor_id: uuid.UUID | None = None,
) -> EngagementEvent:
    """Write the event in the caller's transaction and queue its subscribers' jobs there."""
    event = EngagementEvent(
        id=uuid.uuid4(),
        engagement_id=engagement_id,
        clinic_id=clinic_id,
        kind=kind.value,
        payload=payload,
        actor_id=actor_id,
        occurred_at=utcnow(),
    )
    session.add(event)
    await session.flush()
    for task_name in subscribers_of(kind.value):
        await defer_in_transaction(session, task_name, event_id=str(event.id))
    return event


async def claim(session: AsyncSession, event_id: uuid.UUID, subscriber: str) -> bool:
    """True the first time `subscriber` claims the event (do the work, then commit); False
    when it already did (a redelivery: do nothing). Concurrent claims wait on the unique
    index, so exactly one of them proceeds."""
    result = await session.execute(
        insert(EventReceipt)
        .values(id=uuid.uuid4(), event_id=event_id, subscriber=subscriber, handled_at=utcnow())
        .on_conflict_do_nothing(index_elements=["event_id", "subscriber"])
        .returning(EventReceipt.id)
    )
    return result.first() is not None


async def get_event(session: AsyncSession, event_id: uuid.UUID) -> EngagementEvent | None:
    return await session.scalar(select(EngagementEvent).where(EngagementEvent.id == event_id))
