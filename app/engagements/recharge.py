"""A clinic's roster changed while it has live engagements: each director is charged again
with the people who now work in the states they cover, and a cap the new roster exceeds (a
state's, or the physician's own) is reported to the clinic and to operations.

Roster edits (app/clinics/roster.py) queue `engagements.recharge_directors` in their own
transaction; this module never runs inside a clinic request. Re-running it changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.clinics.models import Clinic, Intake
from app.clinics.service import roster_snapshot, staffing_of, state_contexts
from app.clinics.staffing import Charge, Staffing
from app.engagements import lifecycle
from app.engagements.events import EventKind
from app.engagements.models import (
    LIVE_ENGAGEMENT_STATUSES,
    Engagement,
    EngagementDirector,
)
from app.notifications.recipients import notify_parties
from app.notifications.service import notify_ops
from app.physicians.models import Physician


@dataclass
class RechargeResult:
    directors_recharged: int = 0
    over_caps: list[str] = field(default_factory=list)


async def recharge_directors(
    session: AsyncSession, clinic_id: uuid.UUID, *, default_cap: int
) -> RechargeResult:
    result = RechargeResult()
    clinic = await session.get(Clinic, clinic_id)
    if clinic is None:
        return result
    # The house lock order starts with the engagement.
    engagements = list(
        await session.scalars(
            select(Engagement)
            .where(
                Engagement.clinic_id == clinic.id,
                Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
            )
            .order_by(Engagement.id)
            .with_for_update()
        )
    )
    if not engagements:
        return result
    snapshot = await roster_snapshot(session, clinic)
    contexts = {
        c.code: c
        for c in await state_contexts(
            session, [loc.state for loc in clinic.locations], default_cap=default_cap
        )
    }
    for engagement in engagements:
        if snapshot is not None:
            staffing = Staffing.from_json(snapshot)
        else:
            # No roster (any more): the counts the engagement's intake was submitted with.
            intake = await session.get(Intake, engagement.intake_id)
            assert intake is not None
            staffing = staffing_of(intake, clinic)
        recharged: list[dict[str, object]] = []
        for director in engagement.directors:
            if director.ended_at is not None:
                continue
            before = Charge.stored(director)
            after = Charge.of(staffing.in_states(director.states))
            problems = [
                cap.describe(contexts[state].name)
                for state in director.states
                if state in contexts
                for kind, cap in contexts[state].caps.items()
                if cap.limit is not None
                and staffing.in_states([state]).count(kind, cap.counts) > cap.limit
            ]
            if after != before:
                for key, value in after.columns().items():
                    setattr(director, key, value)
                await session.flush()
                result.directors_recharged += 1
                recharged.append(
                    {"director_id": str(director.id), "physician_id": str(director.physician_id)}
                    | after.columns()
                )
                await record_audit(
                    session,
                    actor_id=None,
                    action="engagement.director_recharged",
                    object_type="engagement",
                    object_id=engagement.id,
                    before={"physician_id": str(director.physician_id), **before.columns()},
                    after={"physician_id": str(director.physician_id), **after.columns()},
                )
            own = await _physician_over_limit(session, director.physician_id)
            if own:
                problems.append(own)
            if problems and after != before:
                await _report(session, clinic, engagement, director, problems)
                result.over_caps += problems
        if recharged:
            await lifecycle.changed(
                session, engagement, EventKind.roster_changed, {"directors": recharged}
            )
    return result


async def _physician_over_limit(session: AsyncSession, physician_id: uuid.UUID) -> str | None:
    """The physician's own supervisee limit, counted over all their live engagements (FTE)."""
    physician = await session.get(Physician, physician_id)
    assert physician is not None
    held = await session.scalar(
        select(func.coalesce(func.sum(EngagementDirector.supervisees_fte), 0))
        .join(Engagement, Engagement.id == EngagementDirector.engagement_id)
        .where(
            EngagementDirector.physician_id == physician_id,
            EngagementDirector.ended_at.is_(None),
            Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
        )
    )
    if float(held or 0) > physician.max_supervisees:
        return (
            f"the director's own limit of {physician.max_supervisees} full-time-equivalent "
            f"supervisees (they now have {float(held or 0):g} across their clinics)"
        )
    return None


async def _report(
    session: AsyncSession,
    clinic: Clinic,
    engagement: Engagement,
    director: EngagementDirector,
    problems: list[str],
) -> None:
    body = (
        f"With the roster as it is now, the director for {', '.join(director.states)} would "
        f"supervise more than allowed: {'; '.join(problems)}. Change the roster back, or "
        "change the engagement's scope to add a director for the extra providers."
    )
    await notify_parties(
        session,
        engagement,
        kind="engagement.roster_over_cap",
        clinic=("Your roster is over a supervision limit", body),
    )
    await notify_ops(
        session,
        kind="engagement.roster_over_cap",
        title=f"Roster over a cap: {clinic.legal_name}",
        body=body,
        email=True,
        data={"engagement_id": str(engagement.id), "physician_id": str(director.physician_id)},
    )
