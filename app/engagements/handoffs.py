"""The work the domains below hand to engagements by name (`app.kit.handlers`), done in their
transaction and under their locks: matching opens an engagement on confirmation and joins an
accepted replacement or backup to a running one (`app.matching.handoff`); a physician who may
no longer oversee leaves the engagements they direct (`app.physicians.handoff`).

Imported by every process that runs those paths: the API (through `app.engagements.router`)
and the worker (through `app.engagements.jobs`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.clinics.models import Clinic, Intake
from app.config import Settings
from app.directorships.departures import open_backup_search, open_departure
from app.directorships.models import DepartureReason, Engagement
from app.engagements.backup import join_backup, resume_backup_search, start_backup_search
from app.engagements.continuity import depart_physician, join_replacement
from app.engagements.service import create_engagement
from app.kit import handlers
from app.matching import handoff as matching
from app.matching.models import Match
from app.physicians import handoff as physicians


async def open_engagement(
    session: AsyncSession,
    *,
    intake: Intake,
    clinic: Clinic,
    quote_id: uuid.UUID,
    directors: Sequence[matching.DirectorSeat],
    payment_window: timedelta,
    actor_id: uuid.UUID | None,
) -> Engagement:
    return await create_engagement(
        session,
        intake_id=intake.id,
        clinic_id=clinic.id,
        quote_id=quote_id,
        directors=directors,
        payment_window=payment_window,
        actor_id=actor_id,
    )


async def engagement_opened(
    session: AsyncSession,
    *,
    engagement: Engagement,
    intake: Intake,
    clinic: Clinic,
    settings: Settings,
    actor_id: uuid.UUID | None,
) -> None:
    # A clinic that bought a standing backup gets its search started at once.
    await start_backup_search(session, engagement, intake, clinic, settings, actor_id=actor_id)


async def join_running_engagement(
    session: AsyncSession,
    *,
    intake: Intake,
    clinic: Clinic,
    match: Match,
    group_key: str,
    settings: Settings,
    actor_id: uuid.UUID | None,
) -> None:
    """A replacement round: the new director joins the running engagement at once; or a
    standing-backup round: the physician goes on standby."""
    departure = await open_departure(session, intake, group_key=group_key, lock=True)
    if departure is not None:
        await join_replacement(session, intake, clinic, departure, match, actor_id=actor_id)
        await resume_backup_search(session, intake, clinic, departure.engagement_id, settings)
        return
    search = await open_backup_search(session, intake, lock=True)
    assert search is not None, "a confirmed intake's offers replace or back up"
    await join_backup(session, intake, clinic, search, match, actor_id=actor_id)


async def physician_cannot_oversee(
    session: AsyncSession,
    physician_id: uuid.UUID,
    *,
    reason: str,
    note: str | None,
    ends_on: date,
    settings: Settings,
    states: set[str] | None = None,
) -> int:
    return await depart_physician(
        session,
        physician_id,
        reason=DepartureReason(reason),
        note=note,
        ends_on=ends_on,
        settings=settings,
        states=states,
    )


HANDLERS: dict[str, handlers.Handler] = {
    matching.OPEN_ENGAGEMENT: open_engagement,
    matching.ENGAGEMENT_OPENED: engagement_opened,
    matching.JOIN_RUNNING_ENGAGEMENT: join_running_engagement,
    physicians.CANNOT_OVERSEE: physician_cannot_oversee,
}

for _name, _handler in HANDLERS.items():
    handlers.register(_name, _handler)
