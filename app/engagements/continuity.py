"""Director continuity: a director leaving an engagement starts a replacement search at once.

A departure (resignation with notice, or a lapsed license, lapsed malpractice cover or a
suspension) sets the date the director's oversight ends and opens a new matching round of the
engagement's intake for the leaving director's states, the leaving director excluded. Offers
and their cascade are the intake's own (`app.matching.service.advance`). When a replacement
accepts, they join the engagement at once, overseeing from the date the leaving director stops
(or from today when that date has passed), so payouts switch on that date; the subscription is
untouched. Until then the engagement reads `ending` and shows the date oversight ends.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.clinics.models import Clinic, Intake
from app.config import Settings
from app.directorships.departures import mark_uncovered
from app.directorships.departures import states_text as _states
from app.engagements import lifecycle
from app.engagements.backup import (
    cancel_backup_search,
    end_backup,
    lock_for_joining,
    seat_from_match,
    standing_backup,
    start_backup_search,
    take_over,
)
from app.engagements.models import (
    LIVE_ENGAGEMENT_STATUSES,
    OPEN_DEPARTURE,
    DepartureReason,
    DepartureStatus,
    DirectorDeparture,
    DirectorRole,
    Engagement,
    EngagementDirector,
)
from app.engagements.service import get_engagement
from app.errors import Conflict, ValidationFailed
from app.kit.clock import today, utcnow
from app.ledger.payouts import reaccrue_director
from app.matching import service as matching
from app.matching.diagnostics import diagnose
from app.matching.models import Match, MatchStatus
from app.notifications.recipients import clinic_admin_ids, notify_parties, physician_user_id
from app.notifications.service import notify, notify_ops
from app.physicians.service import get_own_profile


class EngagementNotLive(Conflict):
    slug, title = "engagement-not-live", "The engagement has ended"


class AlreadyLeaving(Conflict):
    slug, title = "already-leaving", "This director is already leaving"


def earliest_effective_on(on: date, notice_days: int) -> date:
    """The first day a director giving notice on `on` (a UTC day) may stop overseeing."""
    return on + timedelta(days=notice_days)


async def resign(
    session: AsyncSession,
    user: User,
    engagement_id: uuid.UUID,
    *,
    reason: str,
    effective_on: date,
    settings: Settings,
) -> Engagement:
    """The calling physician gives notice on an engagement they direct (404 for anyone else)."""
    engagement = await get_engagement(session, user, engagement_id, for_update=True)
    physician = await get_own_profile(session, user)
    earliest = earliest_effective_on(today(), settings.resignation_notice_days)
    if effective_on < earliest:
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "effective_on"],
                    "msg": f"must be on or after {earliest.isoformat()}: the notice period is "
                    f"{settings.resignation_notice_days} days",
                    "type": "notice_period",
                }
            ]
        )
    director = _current_director(engagement, physician.id)
    await depart(
        session,
        engagement,
        director,
        reason=DepartureReason.resigned,
        note=reason,
        ends_on=effective_on,
        actor_id=user.id,
        settings=settings,
    )
    return engagement


def _current_director(engagement: Engagement, physician_id: uuid.UUID) -> EngagementDirector:
    if engagement.status not in LIVE_ENGAGEMENT_STATUSES:
        raise EngagementNotLive(
            f"The engagement is {engagement.status}; there is nothing to leave."
        )
    for director in engagement.directors:
        if director.physician_id == physician_id and director.ended_at is None:
            if director.ends_on is not None:
                raise AlreadyLeaving(
                    f"Your oversight already ends on {director.ends_on.isoformat()}.",
                    ends_on=director.ends_on.isoformat(),
                )
            return director
    raise AlreadyLeaving("You no longer direct this engagement.")


async def depart_physician(
    session: AsyncSession,
    physician_id: uuid.UUID,
    *,
    reason: DepartureReason,
    note: str | None,
    ends_on: date,
    settings: Settings,
    actor_id: uuid.UUID | None = None,
    states: set[str] | None = None,
) -> int:
    """A physician can no longer oversee (suspended, rejected, or a credential lapsed): each
    engagement they direct (in `states`, when only some states are affected) loses them on
    `ends_on` and starts a replacement search. A director already leaving later leaves on
    `ends_on` instead. Returns how many directorships this ended."""
    directors = list(
        await session.scalars(
            select(EngagementDirector)
            .join(Engagement, Engagement.id == EngagementDirector.engagement_id)
            .where(
                EngagementDirector.physician_id == physician_id,
                EngagementDirector.ended_at.is_(None),
                Engagement.status.in_(LIVE_ENGAGEMENT_STATUSES),
            )
            .order_by(EngagementDirector.engagement_id)
        )
    )
    count = 0
    for director in directors:
        if states is not None and not states & set(director.states):
            continue
        engagement = await session.scalar(
            select(Engagement).where(Engagement.id == director.engagement_id).with_for_update()
        )
        assert engagement is not None
        if director.ends_on is not None:
            if director.ends_on > ends_on:
                await _bring_forward(session, engagement, director, ends_on, reason, actor_id)
                count += 1
            continue
        await depart(
            session,
            engagement,
            director,
            reason=reason,
            note=note,
            ends_on=ends_on,
            actor_id=actor_id,
            settings=settings,
        )
        count += 1
    return count


async def _bring_forward(
    session: AsyncSession,
    engagement: Engagement,
    director: EngagementDirector,
    ends_on: date,
    reason: DepartureReason,
    actor_id: uuid.UUID | None,
) -> None:
    """A director already serving notice must stop sooner (e.g. suspended meanwhile)."""
    if director.role == DirectorRole.backup.value:
        await end_backup(
            session, engagement, director, ends_on=ends_on, reason=reason.value, actor_id=actor_id
        )
        return
    departure = await session.scalar(
        select(DirectorDeparture).where(DirectorDeparture.director_id == director.id)
    )
    before = director.ends_on
    await lifecycle.set_last_day(
        session, engagement, director, ends_on, reason=reason.value, actor_id=actor_id
    )
    if departure is not None:
        departure.oversight_ends_on = ends_on
        if departure.replacement_director_id is not None:
            replacement = await session.get(EngagementDirector, departure.replacement_director_id)
            if (
                replacement is not None
                and replacement.starts_on
                and replacement.starts_on > ends_on
            ):
                old_start = replacement.starts_on
                await lifecycle.reschedule(
                    session,
                    engagement,
                    replacement,
                    starts_on=max(ends_on, today()),
                    reason="predecessor_leaves_sooner",
                    actor_id=actor_id,
                )
                await reaccrue_director(session, replacement)
                assert replacement.starts_on is not None
                await _move_standby_end(session, engagement, old_start, replacement.starts_on)
    await session.flush()
    await reaccrue_director(session, director)
    await record_audit(
        session,
        actor_id=actor_id,
        action="engagement.director_leaving",
        object_type="engagement",
        object_id=engagement.id,
        before={"director": str(director.physician_id), "ends_on": str(before)},
        after={
            "director": str(director.physician_id),
            "ends_on": ends_on.isoformat(),
            "reason": reason.value,
        },
    )
    await notify_parties(
        session,
        engagement,
        kind="engagement.director_leaving",
        clinic=(
            "Your medical director is leaving sooner",
            f"Oversight for {_states(director.states)} by your current director now ends on "
            f"{ends_on:%Y-%m-%d}.",
        ),
        ops=(
            "Director leaving sooner",
            f"A director of engagement {engagement.id} now stops on {ends_on:%Y-%m-%d} "
            f"({reason.value}).",
        ),
    )


async def _move_standby_end(
    session: AsyncSession, engagement: Engagement, old: date, new: date
) -> None:
    """A backup's takeover moved from `old` to `new`: their standby (paid until the takeover)
    ends then, and a next backup waiting for it starts then."""
    for d in engagement.directors:
        if d.role != DirectorRole.backup.value:
            continue
        if d.ends_on == old:
            await lifecycle.reschedule(session, engagement, d, ends_on=new, reason="takeover_moved")
        elif d.starts_on == old:
            await lifecycle.reschedule(
                session, engagement, d, starts_on=new, reason="takeover_moved"
            )
        else:
            continue
        await reaccrue_director(session, d)


async def depart(
    session: AsyncSession,
    engagement: Engagement,
    director: EngagementDirector,
    *,
    reason: DepartureReason,
    note: str | None,
    ends_on: date,
    actor_id: uuid.UUID | None,
    settings: Settings,
) -> DirectorDeparture | None:
    """Record that `director` stops overseeing on `ends_on`, tell everyone, and have the
    standing backup take over, or (re)start the replacement searches (engagement row-locked by
    the caller). A standing backup leaving is only replaced as the backup. Returns the
    departure (None for a backup)."""
    intake, clinic = await matching.lock_intake(session, engagement.intake_id)
    if director.role == DirectorRole.backup.value:
        await end_backup(
            session, engagement, director, ends_on=ends_on, reason=reason.value, actor_id=actor_id
        )
        await start_backup_search(session, engagement, intake, clinic, settings)
        return None
    await lifecycle.set_last_day(
        session, engagement, director, ends_on, reason=reason.value, actor_id=actor_id
    )
    await reaccrue_director(session, director)
    backup = standing_backup(engagement)
    if engagement.ends_on is not None and ends_on >= engagement.ends_on:
        path = "engagement_ends_first"
    elif backup is not None and set(director.states) <= set(backup.states):
        path = "backup_takes_over"
    else:
        path = "search"
    departure = DirectorDeparture(
        id=uuid.uuid4(),
        engagement_id=engagement.id,
        director_id=director.id,
        physician_id=director.physician_id,
        intake_id=intake.id,
        matching_round=intake.matching_round,
        states=list(director.states),
        reason=reason.value,
        note=note,
        oversight_ends_on=ends_on,
        status=(
            DepartureStatus.canceled
            if path == "engagement_ends_first"
            else DepartureStatus.searching
        ).value,
    )
    session.add(departure)
    await session.flush()
    await record_audit(
        session,
        actor_id=actor_id,
        action="engagement.director_leaving",
        object_type="engagement",
        object_id=engagement.id,
        before={"director": str(director.physician_id), "ends_on": None},
        after={
            "director": str(director.physician_id),
            "ends_on": ends_on.isoformat(),
            "reason": reason.value,
            "states": director.states,
            "departure_id": str(departure.id),
            "continuity": path,
        },
    )
    states = _states(director.states)
    clinic_next, ops_next = {
        "search": (
            "We are already looking for a replacement and will tell you when one accepts.",
            "replacement search started",
        ),
        "backup_takes_over": (
            "Your standing backup director takes over that day.",
            "the standing backup takes over",
        ),
        "engagement_ends_first": (
            "Your engagement ends before then, so no replacement is needed.",
            "the engagement ends first",
        ),
    }[path]
    await notify_parties(
        session,
        engagement,
        kind="engagement.director_leaving",
        clinic=(
            "Your medical director is leaving",
            f"Oversight for {states} by your current director ends on {ends_on:%Y-%m-%d}. "
            + clinic_next,
        ),
        ops=(
            "Director leaving",
            f"A director of engagement {engagement.id} ({states}) stops on {ends_on:%Y-%m-%d} "
            f"({reason.value}); {ops_next}.",
        ),
        ops_email=path == "search",
    )
    if path == "backup_takes_over":
        assert backup is not None
        await take_over(session, engagement, departure, director, backup, actor_id=actor_id)
        await start_backup_search(session, engagement, intake, clinic, settings)
    elif path == "search":
        await restart_searches(session, engagement, intake, clinic, settings)
    return departure


async def restart_searches(
    session: AsyncSession,
    engagement: Engagement,
    intake: Intake,
    clinic: Clinic,
    settings: Settings,
) -> int:
    """Start a fresh round of the intake for every open replacement search of the engagement
    (one state group per leaving director; a standing-backup search waits until they are
    replaced), offers of the earlier round withdrawn. One round at a time per intake, so a
    second director leaving never strands the first one's search. Returns the searches run."""
    departures = list(
        await session.scalars(
            select(DirectorDeparture)
            .where(
                DirectorDeparture.engagement_id == engagement.id,
                DirectorDeparture.status.in_(OPEN_DEPARTURE),
            )
            .order_by(DirectorDeparture.created_at)
            .with_for_update()
        )
    )
    await cancel_backup_search(session, engagement.id)
    await matching.withdraw_open_offers(session, intake.id)
    if not departures:
        return 0
    intake.matching_round += 1
    ctx = await matching.build_context(session, intake, clinic, settings)
    created: list[Match] = []
    for departure in departures:
        departure.matching_round = intake.matching_round
        departure.status = DepartureStatus.searching.value
        leaving = await session.get(EngagementDirector, departure.director_id)
        assert leaving is not None
        found = await matching.add_candidates(
            session,
            ctx,
            departure.states,
            payout_cents=leaving.monthly_payout_cents,
            settings=settings,
            start_rank=0,
        )
        if not found:
            await mark_uncovered(
                session,
                departure,
                {
                    "diagnostics": [
                        await diagnose(
                            session,
                            dataclasses.replace(ctx, payout_cents=leaving.monthly_payout_cents),
                            departure.states,
                        )
                    ]
                },
            )
        created += found
    await session.flush()
    if created:
        await matching.advance(session, intake, clinic, settings, ctx=ctx, matches=created)
    return len(departures)


async def join_replacement(
    session: AsyncSession,
    intake: Intake,
    clinic: Clinic,
    departure: DirectorDeparture,
    match: Match,
    *,
    actor_id: uuid.UUID | None,
) -> EngagementDirector:
    """The accepted replacement joins the engagement now and oversees from the day the leaving
    director stops (today if that day has passed). The subscription does not change."""
    engagement = await lock_for_joining(session, departure.engagement_id)
    now = utcnow()
    starts_on = max(departure.oversight_ends_on, today())
    director = seat_from_match(
        engagement, match, starts_on=starts_on, role=DirectorRole.primary, now=now
    )
    # The row exists before the departure points at it.
    await lifecycle.seat(session, engagement, director, reason="replacement", actor_id=actor_id)
    match.status = MatchStatus.confirmed.value
    departure.status = DepartureStatus.replaced.value
    departure.replacement_director_id = director.id
    departure.resolved_at = now
    await session.flush()
    await reaccrue_director(session, director)
    await session.refresh(engagement, ["directors"])
    await record_audit(
        session,
        actor_id=actor_id,
        action="engagement.director_replaced",
        object_type="engagement",
        object_id=engagement.id,
        before={
            "director": str(departure.physician_id),
            "ends_on": str(departure.oversight_ends_on),
        },
        after={
            "director": str(match.physician_id),
            "starts_on": starts_on.isoformat(),
            "states": director.states,
            "departure_id": str(departure.id),
        },
    )
    states = _states(director.states)
    for admin in await clinic_admin_ids(session, clinic.id):
        await notify(
            session,
            user_id=admin,
            kind="engagement.replacement_found",
            email=True,
            title="A new medical director accepted",
            body=f"Your new director for {states} oversees from {starts_on:%Y-%m-%d}; "
            "your subscription does not change.",
            data={"engagement_id": str(engagement.id)},
        )
    await notify(
        session,
        user_id=await physician_user_id(session, match.physician_id),
        kind="engagement.joined",
        email=True,
        title="You are now this clinic's medical director",
        body=f"Your oversight for {states} starts on {starts_on:%Y-%m-%d}.",
        data={"engagement_id": str(engagement.id)},
    )
    await notify_ops(
        session,
        kind="engagement.replacement_found",
        title="Replacement director found",
        body=f"Engagement {engagement.id} ({states}): the replacement starts {starts_on:%Y-%m-%d}.",
        data={"engagement_id": str(engagement.id)},
    )
    return director


@dataclass
class EndedOversight:
    directors_ended: int = 0
    gaps_opened: int = 0


async def end_due_oversight(session: AsyncSession, *, on: date) -> EndedOversight:
    """Daily: directors whose oversight ends today or earlier stop (capacity freed); where no
    replacement is in place, the clinic and operations hear that oversight has stopped."""
    result = EndedOversight()
    due_now = (EngagementDirector.ends_on <= on, EngagementDirector.ended_at.is_(None))
    engagement_ids = list(
        await session.scalars(
            select(EngagementDirector.engagement_id)
            .where(*due_now)
            .distinct()
            .order_by(EngagementDirector.engagement_id)
        )
    )
    now = utcnow()
    due: list[tuple[Engagement, EngagementDirector]] = []
    for engagement_id in engagement_ids:
        # The house lock order: the engagement before its directors. One a request holds (a
        # cancellation, a departure) is skipped; the next run ends its directors.
        engagement = await session.scalar(
            select(Engagement)
            .where(Engagement.id == engagement_id)
            .with_for_update(skip_locked=True)
        )
        if engagement is None:
            continue
        due += [
            (engagement, director)
            for director in await session.scalars(
                select(EngagementDirector)
                .where(EngagementDirector.engagement_id == engagement_id, *due_now)
                .order_by(EngagementDirector.position)
                .with_for_update()
            )
        ]
    for engagement, director in due:
        await lifecycle.end_oversight(
            session, engagement, director, reason="last_day_passed", at=now
        )
        result.directors_ended += 1
        departure = await session.scalar(
            select(DirectorDeparture).where(DirectorDeparture.director_id == director.id)
        )
        await record_audit(
            session,
            actor_id=None,
            action="engagement.director_ended",
            object_type="engagement",
            object_id=director.engagement_id,
            after={"director": str(director.physician_id), "ended_on": on.isoformat()},
        )
        if departure is None or departure.status == DepartureStatus.replaced.value:
            continue
        result.gaps_opened += 1
        await notify_parties(
            session,
            engagement,
            kind="engagement.oversight_gap",
            clinic=(
                "Medical director oversight has stopped",
                f"No director oversees {_states(director.states)} from {on:%Y-%m-%d}: services "
                "that need one must pause until a replacement accepts.",
            ),
            ops=(
                "Oversight gap",
                f"Engagement {engagement.id} has no director for {_states(director.states)} "
                f"from {on:%Y-%m-%d}.",
            ),
            ops_email=True,
        )
    return result


async def coverage_on(session: AsyncSession, engagement_id: uuid.UUID, day: date) -> set[str]:
    """The states some director of the engagement oversees on `day`."""
    rows = await session.execute(
        select(func.unnest(EngagementDirector.states)).where(
            EngagementDirector.engagement_id == engagement_id,
            EngagementDirector.role == DirectorRole.primary.value,
            func.coalesce(EngagementDirector.starts_on, date.min) <= day,
            func.coalesce(EngagementDirector.ends_on, date.max) > day,
        )
    )
    return {r[0] for r in rows}
