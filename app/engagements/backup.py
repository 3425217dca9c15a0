"""The standing backup director: a second physician on standby who takes over at once.

A clinic buys the option (`standing_backup` on the intake, or later as a scope change; the
price book's `standing_backup_cents` is a recurring line of the quote). When the engagement is
confirmed, a backup search starts: a matching round of the engagement's intake for all its
states, its current directors excluded, offered and cascaded like any round. The physician who
accepts joins as the engagement's `backup` director (paid the backup line's share of the
payout, counted against their capacity, overseeing nothing yet).

When a director leaves (`app.engagements.continuity.depart`) and a backup covers their states,
the backup takes over on the day the leaving director stops: no search, no day without a
director. A new backup search then starts, so the clinic keeps a standing backup.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.clinics.models import Clinic, Intake
from app.clinics.staffing import Charge
from app.config import Settings
from app.directorships.departures import mark_backup_uncovered
from app.directorships.departures import states_text as _states
from app.engagements import lifecycle
from app.engagements.models import (
    LIVE_ENGAGEMENT_STATUSES,
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
from app.kit.clock import today, utcnow
from app.ledger.payouts import reaccrue_director
from app.matching import service as matching
from app.matching.diagnostics import diagnose
from app.matching.models import Match, MatchStatus
from app.notifications.recipients import clinic_admin_ids, notify_parties, physician_user_id
from app.notifications.service import notify, notify_ops
from app.pricing.models import Quote
from app.pricing.service import backup_payout_cents


def standing_backup(engagement: Engagement) -> EngagementDirector | None:
    """The engagement's backup on standby (not one already leaving)."""
    for d in engagement.directors:
        if d.role == DirectorRole.backup.value and d.ended_at is None and d.ends_on is None:
            return d
    return None


async def lock_for_joining(session: AsyncSession, engagement_id: uuid.UUID) -> Engagement:
    """Lock the engagement an accepted offer joins; one that has ended takes nobody (409)."""
    engagement = await session.scalar(
        select(Engagement).where(Engagement.id == engagement_id).with_for_update()
    )
    assert engagement is not None
    if engagement.status not in LIVE_ENGAGEMENT_STATUSES:
        raise matching.OfferNotOpen(
            f"The clinic's engagement is {engagement.status}; this offer is closed.",
            engagement_status=engagement.status,
        )
    return engagement


def seat_from_match(
    engagement: Engagement,
    match: Match,
    *,
    starts_on: date,
    role: DirectorRole,
    now: datetime,
) -> EngagementDirector:
    """A new director row of the engagement for the physician of an accepted match (its states,
    payout and the capacity it takes), last in position."""
    return EngagementDirector(
        id=uuid.uuid4(),
        engagement_id=engagement.id,
        physician_id=match.physician_id,
        match_id=match.id,
        position=max((d.position for d in engagement.directors), default=0) + 1,
        states=list(match.covers_states),
        monthly_payout_cents=match.monthly_payout_cents,
        **Charge.stored(match).columns(),
        created_at=now,
        starts_on=starts_on,
        role=role.value,
    )


async def start_backup_search(
    session: AsyncSession,
    engagement: Engagement,
    intake: Intake,
    clinic: Clinic,
    settings: Settings,
    *,
    actor_id: uuid.UUID | None = None,
) -> BackupSearch | None:
    """Start looking for a standing backup (intake locked by the caller) unless the clinic did
    not buy one, one is on standby, a search is open, or a replacement search holds the
    intake's matching round (joining the replacement starts this search again)."""
    if (
        not intake.standing_backup
        or engagement.status not in LIVE_ENGAGEMENT_STATUSES
        or engagement.status == EngagementStatus.ending.value
        or engagement.cancel_at_period_end
    ):
        return None
    await session.refresh(engagement, ["directors"])
    if standing_backup(engagement) is not None:
        return None
    open_search = await session.scalar(
        select(BackupSearch.id).where(
            BackupSearch.engagement_id == engagement.id,
            BackupSearch.status.in_(OPEN_BACKUP_SEARCH),
        )
    )
    replacing = await session.scalar(
        select(DirectorDeparture.id).where(
            DirectorDeparture.engagement_id == engagement.id,
            DirectorDeparture.status.in_(OPEN_DEPARTURE),
        )
    )
    if open_search is not None or replacing is not None:
        return None
    quote = await session.get(Quote, engagement.quote_id)
    assert quote is not None
    intake.matching_round += 1
    states = sorted({loc.state for loc in clinic.locations})
    search = BackupSearch(
        id=uuid.uuid4(),
        engagement_id=engagement.id,
        intake_id=intake.id,
        matching_round=intake.matching_round,
        states=states,
        status=BackupSearchStatus.searching.value,
    )
    session.add(search)
    await session.flush()
    await record_audit(
        session,
        actor_id=actor_id,
        action="engagement.backup_search_started",
        object_type="engagement",
        object_id=engagement.id,
        after={"backup_search_id": str(search.id), "states": states},
    )
    ctx = await matching.build_context(session, intake, clinic, settings)
    created = await matching.add_candidates(
        session,
        ctx,
        states,
        payout_cents=backup_payout_cents(quote),
        settings=settings,
        start_rank=0,
    )
    if not created:
        await mark_backup_uncovered(
            session,
            search,
            {
                "diagnostics": [
                    await diagnose(
                        session,
                        dataclasses.replace(ctx, payout_cents=backup_payout_cents(quote)),
                        states,
                    )
                ]
            },
        )
        return search
    await matching.advance(session, intake, clinic, settings, ctx=ctx, matches=created)
    return search


async def cancel_backup_search(session: AsyncSession, engagement_id: uuid.UUID) -> None:
    """Close the engagement's open backup search, withdrawing its offers."""
    search = await session.scalar(
        select(BackupSearch)
        .where(
            BackupSearch.engagement_id == engagement_id,
            BackupSearch.status.in_(OPEN_BACKUP_SEARCH),
        )
        .with_for_update()
    )
    if search is None:
        return
    await matching.withdraw_open_offers(session, search.intake_id)
    search.status = BackupSearchStatus.canceled.value
    search.resolved_at = utcnow()
    await session.flush()


async def join_backup(
    session: AsyncSession,
    intake: Intake,
    clinic: Clinic,
    search: BackupSearch,
    match: Match,
    *,
    actor_id: uuid.UUID | None,
) -> EngagementDirector:
    """The physician who accepted the backup offer is the engagement's standing backup now."""
    engagement = await lock_for_joining(session, search.engagement_id)
    now = utcnow()
    # One backup is paid at a time: a standby still serving notice (or handing over) is paid
    # until its end, and the new one from then.
    starts_on = max(
        [today()]
        + [
            d.ends_on
            for d in engagement.directors
            if d.role == DirectorRole.backup.value and d.ends_on is not None
        ]
    )
    director = seat_from_match(
        engagement, match, starts_on=starts_on, role=DirectorRole.backup, now=now
    )
    await lifecycle.seat(session, engagement, director, reason="backup", actor_id=actor_id)
    match.status = MatchStatus.confirmed.value
    search.status = BackupSearchStatus.filled.value
    search.backup_director_id = director.id
    search.resolved_at = now
    await session.flush()
    await reaccrue_director(session, director)
    await session.refresh(engagement, ["directors"])
    await record_audit(
        session,
        actor_id=actor_id,
        action="engagement.backup_joined",
        object_type="engagement",
        object_id=engagement.id,
        after={
            "backup": str(match.physician_id),
            "states": director.states,
            "backup_search_id": str(search.id),
        },
    )
    states = _states(director.states)
    data = {"engagement_id": str(engagement.id)}
    for admin in await clinic_admin_ids(session, clinic.id):
        await notify(
            session,
            user_id=admin,
            kind="engagement.backup_joined",
            email=True,
            title="Your standing backup director is in place",
            body=f"A second physician is now on standby for {states}. If your director ever "
            "leaves, they take over on the same day, with no gap in oversight.",
            data=data,
        )
    await notify(
        session,
        user_id=await physician_user_id(session, match.physician_id),
        kind="engagement.backup_joined",
        email=True,
        title="You are this clinic's standing backup director",
        body=f"You are on standby for {states} (${director.monthly_payout_cents / 100:,.2f} a "
        "month). If the clinic's director leaves, you take over on the day they stop.",
        data=data,
    )
    await notify_ops(
        session,
        kind="engagement.backup_joined",
        title="Standing backup in place",
        body=f"Engagement {engagement.id} ({states}) has a standing backup director.",
        data=data,
    )
    return director


async def take_over(
    session: AsyncSession,
    engagement: Engagement,
    departure: DirectorDeparture,
    leaving: EngagementDirector,
    backup: EngagementDirector,
    *,
    actor_id: uuid.UUID | None,
) -> EngagementDirector:
    """The standing backup oversees the leaving director's states from the day they stop (today
    if that has passed) at the leaving director's payout; their standby ends that day."""
    now = utcnow()
    starts_on = max(departure.oversight_ends_on, today())
    director = EngagementDirector(
        id=uuid.uuid4(),
        engagement_id=engagement.id,
        physician_id=backup.physician_id,
        match_id=backup.match_id,
        position=max(d.position for d in engagement.directors) + 1,
        states=list(leaving.states),
        monthly_payout_cents=leaving.monthly_payout_cents,
        **Charge.stored(leaving).columns(),
        created_at=now,
        starts_on=starts_on,
        role=DirectorRole.primary.value,
    )
    await lifecycle.seat(session, engagement, director, reason="backup_takeover", actor_id=actor_id)
    # The standby is paid until the takeover; its capacity is the new directorship's from now.
    await lifecycle.end_oversight(
        session,
        engagement,
        backup,
        reason="took_over",
        at=now,
        ends_on=starts_on,
        actor_id=actor_id,
    )
    await session.flush()
    departure.status = DepartureStatus.replaced.value
    departure.replacement_director_id = director.id
    departure.resolved_at = now
    await session.flush()
    await reaccrue_director(session, backup)
    await reaccrue_director(session, director)
    await session.refresh(engagement, ["directors"])
    await record_audit(
        session,
        actor_id=actor_id,
        action="engagement.backup_takeover",
        object_type="engagement",
        object_id=engagement.id,
        before={"director": str(leaving.physician_id), "ends_on": str(leaving.ends_on)},
        after={
            "director": str(backup.physician_id),
            "starts_on": starts_on.isoformat(),
            "states": director.states,
            "departure_id": str(departure.id),
        },
    )
    states = _states(director.states)
    await notify_parties(
        session,
        engagement,
        kind="engagement.backup_takeover",
        clinic=(
            "Your standing backup director takes over",
            f"Your director for {states} stops on {departure.oversight_ends_on:%Y-%m-%d}; your "
            f"standing backup oversees from {starts_on:%Y-%m-%d}, with no gap in oversight. "
            "We are looking for a new standing backup.",
        ),
        ops=(
            "Backup director took over",
            f"Engagement {engagement.id} ({states}): the standing backup oversees from "
            f"{starts_on:%Y-%m-%d}.",
        ),
    )
    await notify(
        session,
        user_id=await physician_user_id(session, backup.physician_id),
        kind="engagement.backup_takeover",
        email=True,
        title="You take over as medical director",
        body=f"The clinic's director for {states} stops on "
        f"{departure.oversight_ends_on:%Y-%m-%d}: your oversight starts on {starts_on:%Y-%m-%d} "
        f"at ${director.monthly_payout_cents / 100:,.2f} a month.",
        data={"engagement_id": str(engagement.id)},
    )
    return director


async def end_backup(
    session: AsyncSession,
    engagement: Engagement,
    backup: EngagementDirector,
    *,
    ends_on: date,
    reason: str,
    actor_id: uuid.UUID | None,
) -> None:
    """The standing backup stops being one on `ends_on` (resigned, suspended, a credential
    lapsed, or the clinic dropped the option)."""
    before = backup.ends_on
    last_day = ends_on if before is None else min(before, ends_on)
    if last_day <= today():
        await lifecycle.end_oversight(
            session, engagement, backup, reason=reason, ends_on=last_day, actor_id=actor_id
        )
    else:
        await lifecycle.set_last_day(
            session, engagement, backup, last_day, reason=reason, actor_id=actor_id
        )
    await session.flush()
    await reaccrue_director(session, backup)
    await record_audit(
        session,
        actor_id=actor_id,
        action="engagement.backup_ended",
        object_type="engagement",
        object_id=engagement.id,
        before={"backup": str(backup.physician_id), "ends_on": str(before)},
        after={
            "backup": str(backup.physician_id),
            "ends_on": last_day.isoformat(),
            "reason": reason,
        },
    )
    await notify_parties(
        session,
        engagement,
        kind="engagement.backup_ended",
        clinic=(
            "Your standing backup director is stepping down",
            f"Your standing backup stops on {last_day:%Y-%m-%d} ({reason}). Your director "
            "is not affected.",
        ),
        ops=(
            "Standing backup ending",
            f"The standing backup of engagement {engagement.id} stops on "
            f"{last_day:%Y-%m-%d} ({reason}).",
        ),
    )
    await notify(
        session,
        user_id=await physician_user_id(session, backup.physician_id),
        kind="engagement.backup_ended",
        email=True,
        title="Your standby ends",
        body=f"You are this clinic's standing backup until {last_day:%Y-%m-%d} ({reason}).",
        data={"engagement_id": str(engagement.id)},
    )


async def resume_backup_search(
    session: AsyncSession,
    intake: Intake,
    clinic: Clinic,
    engagement_id: uuid.UUID,
    settings: Settings,
) -> BackupSearch | None:
    """After a replacement joined (the intake's round is free again): look for a standing
    backup if the clinic has bought one and has none."""
    engagement = await session.get(Engagement, engagement_id)
    assert engagement is not None
    return await start_backup_search(session, engagement, intake, clinic, settings)
