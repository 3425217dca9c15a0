"""The engagement's life: every status change of an engagement and of its directors goes
through here, so the allowed moves live in one table each, and every change is told to the rest
of the product as an event (`app.engagements.events`), written in the caller's transaction with
one job per subscriber.

Engagement (status, set from what Stripe says by billing, or by a cancellation):

    pending_payment ──paid──▶ active ◀──paid again──▶ past_due
          │                    │  ▲                      │
          │        cancel at period end │ resumed        │
          │                    ▼  │                      │
          └────────────────▶ ending ─────────────────────┤
                    (every live status) ──canceled──▶ canceled (terminal)

Director (derived from the row: `role`, `ends_on`, `ended_at`):

    (new) ──joined──▶ overseeing ──last day set──▶ leaving ──ended──▶ ended
    (new) ──joined as backup──▶ standby ──┘  (leaving: the last day may move; standby and
                                              overseeing may also end at once)

Dates that move without a change of state (a replacement starting sooner, a standby's end
following its takeover) are `reschedule`d: `director.rescheduled`.

The rules deciding *when* (the notice period, who replaces whom, what Stripe said) stay with
their owners (continuity, backup, billing); they ask this module for the moves.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.engagements import events
from app.engagements.events import EventKind
from app.engagements.models import (
    OPEN_BACKUP_SEARCH,
    OPEN_DEPARTURE,
    BackupSearch,
    BackupSearchStatus,
    DepartureStatus,
    DirectorDeparture,
    DirectorRole,
    Engagement,
    EngagementDirector,
    EngagementStatus,
)
from app.errors import Conflict
from app.kit.clock import utcnow
from app.matching.service import lock_intake, withdraw_open_offers

S = EngagementStatus

# The status an engagement is created in (the clinic confirmed; the first payment is due).
INITIAL = S.pending_payment

ALLOWED: dict[EngagementStatus, frozenset[EngagementStatus]] = {
    S.pending_payment: frozenset({S.active, S.past_due, S.ending, S.canceled}),
    S.active: frozenset({S.past_due, S.ending, S.canceled}),
    S.past_due: frozenset({S.active, S.ending, S.canceled}),
    S.ending: frozenset({S.active, S.past_due, S.canceled}),
    S.canceled: frozenset(),
}

STATUS_EVENT: dict[EngagementStatus, EventKind] = {
    S.active: EventKind.activated,
    S.past_due: EventKind.past_due,
    S.ending: EventKind.ending,
    S.canceled: EventKind.canceled,
}


class DirectorState(StrEnum):
    standby = "standby"  # a standing backup, overseeing nothing until a takeover
    overseeing = "overseeing"
    leaving = "leaving"  # the last day is set
    ended = "ended"


D = DirectorState

DIRECTOR_MOVES: dict[DirectorState | None, frozenset[DirectorState]] = {
    None: frozenset({D.overseeing, D.standby}),  # a new director joins
    D.standby: frozenset({D.leaving, D.ended}),
    D.overseeing: frozenset({D.leaving, D.ended}),
    D.leaving: frozenset({D.leaving, D.ended}),
    D.ended: frozenset(),
}


class EngagementTransitionNotAllowed(Conflict):
    slug, title = "engagement-transition-not-allowed", "Not possible in the engagement's status"


class DirectorMoveNotAllowed(Conflict):
    slug, title = "director-move-not-allowed", "Not possible for this director now"


def director_state(director: EngagementDirector) -> DirectorState:
    if director.ended_at is not None:
        return D.ended
    if director.ends_on is not None:
        return D.leaving
    if director.role == DirectorRole.backup.value:
        return D.standby
    return D.overseeing


def can_move(current: str, target: EngagementStatus) -> bool:
    return target in ALLOWED[EngagementStatus(current)]


def _director_payload(director: EngagementDirector, reason: str) -> dict[str, Any]:
    return {
        "director_id": str(director.id),
        "physician_id": str(director.physician_id),
        "role": director.role,
        "states": list(director.states),
        "starts_on": director.starts_on.isoformat() if director.starts_on else None,
        "ends_on": director.ends_on.isoformat() if director.ends_on else None,
        "reason": reason,
    }


async def _record(
    session: AsyncSession,
    engagement: Engagement,
    kind: EventKind,
    payload: dict[str, Any],
    actor_id: uuid.UUID | None,
) -> None:
    await events.record(
        session,
        engagement_id=engagement.id,
        clinic_id=engagement.clinic_id,
        kind=kind,
        payload=payload,
        actor_id=actor_id,
    )


# The engagement


async def confirmed(
    session: AsyncSession, engagement: Engagement, *, actor_id: uuid.UUID | None = None
) -> None:
    """A new engagement (created in `INITIAL` with its first directors) is told to the rest."""
    await _record(
        session,
        engagement,
        EventKind.confirmed,
        {
            "status": engagement.status,
            "intake_id": str(engagement.intake_id),
            "directors": [_director_payload(d, "confirmed") for d in engagement.directors],
        },
        actor_id,
    )


@dataclass(frozen=True)
class StatusMove:
    before: str
    after: str
    first_activation: bool = False


async def move(
    session: AsyncSession,
    engagement: Engagement,
    target: EngagementStatus,
    *,
    reason: str,
    actor_id: uuid.UUID | None = None,
) -> StatusMove | None:
    """Move the (row-locked) engagement to `target`; None when it is there already. A
    cancellation ends every director still on it and closes its open searches."""
    before = EngagementStatus(engagement.status)
    if target == before:
        return None
    if target not in ALLOWED[before]:
        raise EngagementTransitionNotAllowed(
            f"An engagement that is {before.value} cannot become {target.value}.",
            engagement_status=before.value,
        )
    now = utcnow()
    engagement.status = target.value
    first = False
    if target == S.active and engagement.activated_at is None:
        engagement.activated_at = now
        first = True
    payload: dict[str, Any] = {"from": before.value, "to": target.value, "reason": reason}
    if target == S.ending and engagement.ends_on is not None:
        payload["ends_on"] = engagement.ends_on.isoformat()
    if target == S.canceled:
        engagement.canceled_at = now
        engagement.ends_on = now.date()
        payload["ends_on"] = engagement.ends_on.isoformat()
    await _record(session, engagement, STATUS_EVENT[target], payload, actor_id)
    if target == S.canceled:
        for director in engagement.directors:
            if director.ended_at is None:
                await end_oversight(
                    session, engagement, director, reason="engagement_canceled", at=now
                )
        await session.flush()
        await _close_searches(session, engagement)
    return StatusMove(before.value, target.value, first)


async def _close_searches(session: AsyncSession, engagement: Engagement) -> None:
    """A canceled engagement needs no replacement or backup: withdraw those rounds' offers
    (freeing the physicians; the intake locked after the engagement, the house order) and
    close the searches."""
    searching = await session.scalar(
        select(
            exists().where(
                BackupSearch.engagement_id == engagement.id,
                BackupSearch.status.in_(OPEN_BACKUP_SEARCH),
            )
            | exists().where(
                DirectorDeparture.engagement_id == engagement.id,
                DirectorDeparture.status.in_(OPEN_DEPARTURE),
            )
        )
    )
    if not searching:
        return
    await lock_intake(session, engagement.intake_id)
    await withdraw_open_offers(session, engagement.intake_id)
    now = utcnow()
    await session.execute(
        update(BackupSearch)
        .where(
            BackupSearch.engagement_id == engagement.id, BackupSearch.status.in_(OPEN_BACKUP_SEARCH)
        )
        .values(status=BackupSearchStatus.canceled.value, resolved_at=now)
    )
    await session.execute(
        update(DirectorDeparture)
        .where(
            DirectorDeparture.engagement_id == engagement.id,
            DirectorDeparture.status.in_(OPEN_DEPARTURE),
        )
        .values(status=DepartureStatus.canceled.value, resolved_at=now)
    )


async def changed(
    session: AsyncSession,
    engagement: Engagement,
    kind: EventKind,
    payload: dict[str, Any],
    *,
    actor_id: uuid.UUID | None = None,
) -> None:
    """A change that is not a status move (the scope re-priced, the roster recharged)."""
    if kind not in (EventKind.scope_changed, EventKind.roster_changed):
        raise ValueError(f"{kind} is a status or director move; use move() or the director moves")
    await _record(session, engagement, kind, payload, actor_id)


# Its directors


def _check(director: EngagementDirector | None, target: DirectorState) -> None:
    current = None if director is None else director_state(director)
    if target not in DIRECTOR_MOVES[current]:
        raise DirectorMoveNotAllowed(
            f"A director who is {current.value if current else 'new'} cannot become "
            f"{target.value}.",
            director_state=current.value if current else None,
        )


async def seat(
    session: AsyncSession,
    engagement: Engagement,
    director: EngagementDirector,
    *,
    reason: str,
    actor_id: uuid.UUID | None = None,
) -> EngagementDirector:
    """A new director row joins the engagement (overseeing, or on standby as its backup)."""
    target = D.standby if director.role == DirectorRole.backup.value else D.overseeing
    _check(None, target)
    session.add(director)
    await session.flush()
    await _record(
        session,
        engagement,
        EventKind.director_joined,
        _director_payload(director, reason),
        actor_id,
    )
    return director


async def set_last_day(
    session: AsyncSession,
    engagement: Engagement,
    director: EngagementDirector,
    ends_on: date,
    *,
    reason: str,
    actor_id: uuid.UUID | None = None,
) -> None:
    """The director oversees (or stands by) up to the day before `ends_on`; a director
    already leaving has the day moved."""
    _check(director, D.leaving)
    if director.ends_on == ends_on:
        return
    director.ends_on = ends_on
    await session.flush()
    await _record(
        session,
        engagement,
        EventKind.director_leaving,
        _director_payload(director, reason),
        actor_id,
    )


async def end_oversight(
    session: AsyncSession,
    engagement: Engagement,
    director: EngagementDirector,
    *,
    reason: str,
    at: datetime | None = None,
    ends_on: date | None = None,
    actor_id: uuid.UUID | None = None,
) -> None:
    """The director's oversight (or standby) is over: their capacity is free from now.
    `ends_on` sets the last day at the same time (a standby ending on its takeover's date)."""
    _check(director, D.ended)
    if ends_on is not None:
        director.ends_on = ends_on
    director.ended_at = at or utcnow()
    await _record(
        session, engagement, EventKind.director_ended, _director_payload(director, reason), actor_id
    )


async def reschedule(
    session: AsyncSession,
    engagement: Engagement,
    director: EngagementDirector,
    *,
    starts_on: date | None = None,
    ends_on: date | None = None,
    reason: str,
    actor_id: uuid.UUID | None = None,
) -> None:
    """Move a director's dates without changing their state (a replacement starting sooner
    because the director they replace leaves sooner; a standby's end following its takeover).
    The row's ledger is the caller's to bring in line."""
    if starts_on is None and ends_on is None:
        return
    if starts_on is not None:
        director.starts_on = starts_on
    if ends_on is not None:
        if director.ends_on is None:
            raise DirectorMoveNotAllowed(
                "Setting a director's last day is a move to leaving, not a reschedule.",
                director_state=director_state(director).value,
            )
        director.ends_on = ends_on
    await session.flush()
    await _record(
        session,
        engagement,
        EventKind.director_rescheduled,
        _director_payload(director, reason),
        actor_id,
    )
