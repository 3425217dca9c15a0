"""Queries and steps on director departures shared by matching (which runs the replacement
round's cascade) and `app.engagements.continuity` (which starts and completes it)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.clinics.models import Intake
from app.directorships.models import (
    OPEN_BACKUP_SEARCH,
    OPEN_DEPARTURE,
    BackupSearch,
    BackupSearchStatus,
    DepartureStatus,
    DirectorDeparture,
)
from app.kit.clock import today
from app.notifications.service import notify_ops


def states_text(states: list[str]) -> str:
    return ", ".join(states)


async def open_departures(
    session: AsyncSession, intake: Intake, *, lock: bool = False
) -> list[DirectorDeparture]:
    """The departures whose replacements the intake's current round is searching for (one
    state group each; several directors may be leaving at once)."""
    stmt = (
        select(DirectorDeparture)
        .where(
            DirectorDeparture.intake_id == intake.id,
            DirectorDeparture.matching_round == intake.matching_round,
            DirectorDeparture.status.in_(OPEN_DEPARTURE),
        )
        .order_by(DirectorDeparture.created_at)
    )
    if lock:
        stmt = stmt.with_for_update()
    return list(await session.scalars(stmt))


async def open_departure(
    session: AsyncSession, intake: Intake, *, group_key: str | None = None, lock: bool = False
) -> DirectorDeparture | None:
    """The open departure of the current round for the state group `group_key` (any, when
    not given)."""
    for departure in await open_departures(session, intake, lock=lock):
        if group_key is None or ",".join(sorted(departure.states)) == group_key:
            return departure
    return None


async def mark_uncovered(
    session: AsyncSession, departure: DirectorDeparture, details: dict[str, object]
) -> None:
    """Nobody left to ask for the replacement: operations must step in (the round stays open,
    so an ops override or a new search can still fill it)."""
    if departure.status == DepartureStatus.uncovered.value:
        return
    departure.status = DepartureStatus.uncovered.value
    await record_audit(
        session,
        actor_id=None,
        action="engagement.replacement_exhausted",
        object_type="engagement",
        object_id=departure.engagement_id,
        after={"departure_id": str(departure.id), **details},
    )
    await notify_ops(
        session,
        kind="engagement.replacement_exhausted",
        title="No replacement director found",
        body=f"Nobody left to ask for engagement {departure.engagement_id} "
        f"({states_text(departure.states)}); oversight ends "
        f"{departure.oversight_ends_on:%Y-%m-%d}.",
        data={"engagement_id": str(departure.engagement_id)},
        email=True,
    )


async def open_backup_search(
    session: AsyncSession, intake: Intake, *, lock: bool = False
) -> BackupSearch | None:
    """The standing-backup search the intake's current round is for."""
    stmt = select(BackupSearch).where(
        BackupSearch.intake_id == intake.id,
        BackupSearch.matching_round == intake.matching_round,
        BackupSearch.status.in_(OPEN_BACKUP_SEARCH),
    )
    if lock:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def mark_backup_uncovered(
    session: AsyncSession, search: BackupSearch, details: dict[str, object]
) -> None:
    """Nobody left to ask to be the standing backup: operations must step in (the round stays
    open for an ops override)."""
    if search.status == BackupSearchStatus.uncovered.value:
        return
    search.status = BackupSearchStatus.uncovered.value
    await record_audit(
        session,
        actor_id=None,
        action="engagement.backup_search_exhausted",
        object_type="engagement",
        object_id=search.engagement_id,
        after={"backup_search_id": str(search.id), **details},
    )
    await notify_ops(
        session,
        kind="engagement.backup_search_exhausted",
        title="No standing backup director found",
        body=f"Nobody left to ask to be the standing backup of engagement "
        f"{search.engagement_id} ({states_text(search.states)}).",
        data={"engagement_id": str(search.engagement_id)},
        email=True,
    )


async def round_purpose(
    session: AsyncSession, intake_id: uuid.UUID, round_: int
) -> tuple[str, date | None]:
    """What a matching round is for — `placement` (the intake's own), `replacement` (a
    leaving director's, with the date the new director's oversight starts) or
    `standing_backup` — as physicians are told in their offers."""
    ends_on = await session.scalar(
        select(DirectorDeparture.oversight_ends_on).where(
            DirectorDeparture.intake_id == intake_id, DirectorDeparture.matching_round == round_
        )
    )
    if ends_on is not None:
        return "replacement", max(ends_on, today())
    backup = await session.scalar(
        select(BackupSearch.id).where(
            BackupSearch.intake_id == intake_id, BackupSearch.matching_round == round_
        )
    )
    return ("standing_backup" if backup is not None else "placement"), None
