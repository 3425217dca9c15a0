"""Engagements: the contract a confirmed intake becomes, its directors, and how clinics and
physicians see them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.clinics.models import ClinicMember
from app.clinics.schemas import DirectorGap, IntakeContinuity
from app.clinics.staffing import Charge
from app.directorships.locks import lock_intake_engagement as lock_intake_engagement
from app.engagements import lifecycle
from app.engagements.credentials_view import director_credentials
from app.engagements.models import (
    OPEN_BACKUP_SEARCH,
    OPEN_DEPARTURE,
    BackupSearch,
    DepartureReason,
    DepartureStatus,
    DirectorDeparture,
    DirectorRole,
    Engagement,
    EngagementDirector,
    EngagementStatus,
)
from app.engagements.schemas import (
    DepartureRead,
    DirectorCredentialRead,
    DirectorRead,
    EngagementRead,
)
from app.errors import NotFound
from app.kit.clock import today, utcnow
from app.kit.pagination import PageParams, paginate
from app.physicians.models import Physician
from app.pricing.models import Quote
from app.pricing.service import quote_read

# Stripe expires an unpaid first invoice's subscription after 23 hours (PAYMENT_WINDOW_HOURS).
DEFAULT_PAYMENT_WINDOW = timedelta(hours=23)


def payment_deadline(confirmed_at: datetime, window: timedelta) -> datetime:
    """When an unpaid engagement is canceled: the payment window of elapsed time after the
    clinic confirms, added in UTC (so a DST change in between makes it neither longer nor
    shorter)."""
    return confirmed_at.astimezone(UTC) + window


class EngagementNotFound(NotFound):
    pass


async def create_engagement(
    session: AsyncSession,
    *,
    intake_id: uuid.UUID,
    clinic_id: uuid.UUID,
    quote_id: uuid.UUID,
    directors: Sequence[tuple[uuid.UUID, uuid.UUID, list[str], int, Charge]],
    payment_window: timedelta = DEFAULT_PAYMENT_WINDOW,
    actor_id: uuid.UUID | None = None,
) -> Engagement:
    """`directors`: (physician_id, match_id, states, payout_cents, what each takes on)."""
    now = utcnow()
    engagement = Engagement(
        id=uuid.uuid4(),
        intake_id=intake_id,
        clinic_id=clinic_id,
        quote_id=quote_id,
        status=lifecycle.INITIAL.value,
        confirmed_at=now,
        payment_due_by=payment_deadline(now, payment_window),
        directors=[],
    )
    session.add(engagement)
    for position, (physician_id, match_id, states, payout, charge) in enumerate(directors):
        engagement.directors.append(
            EngagementDirector(
                id=uuid.uuid4(),
                engagement_id=engagement.id,
                physician_id=physician_id,
                match_id=match_id,
                position=position,
                states=sorted(states),
                monthly_payout_cents=payout,
                **charge.columns(),
                created_at=now,
            )
        )
    await session.flush()
    await lifecycle.confirmed(session, engagement, actor_id=actor_id)
    return engagement


def _visible(user: User) -> object:
    if user.role == Role.ops_admin.value:
        return True
    if user.role == Role.physician.value:
        return exists().where(
            EngagementDirector.engagement_id == Engagement.id,
            EngagementDirector.physician_id == Physician.id,
            Physician.user_id == user.id,
        )
    return exists().where(
        ClinicMember.clinic_id == Engagement.clinic_id, ClinicMember.user_id == user.id
    )


async def get_engagement(
    session: AsyncSession, user: User, engagement_id: uuid.UUID, *, for_update: bool = False
) -> Engagement:
    stmt = select(Engagement).where(Engagement.id == engagement_id)
    if user.role != Role.ops_admin.value:
        stmt = stmt.where(_visible(user))  # type: ignore[arg-type]
    if for_update:
        stmt = stmt.with_for_update(of=Engagement)
    engagement = await session.scalar(stmt)
    if engagement is None:
        raise EngagementNotFound("No such engagement.")
    return engagement


async def list_for_clinic(
    session: AsyncSession, clinic_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Engagement], str | None]:
    stmt = select(Engagement).where(Engagement.clinic_id == clinic_id)
    return await paginate(
        session, stmt, page, created_at=Engagement.created_at, id_column=Engagement.id
    )


async def list_for_physician(
    session: AsyncSession, physician_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Engagement], str | None]:
    stmt = select(Engagement).where(
        exists().where(
            EngagementDirector.engagement_id == Engagement.id,
            EngagementDirector.physician_id == physician_id,
        )
    )
    return await paginate(
        session, stmt, page, created_at=Engagement.created_at, id_column=Engagement.id
    )


def _director_read(
    d: EngagementDirector,
    physicians: dict[uuid.UUID, Physician],
    credentials: dict[uuid.UUID, list[DirectorCredentialRead]],
) -> DirectorRead:
    return DirectorRead(
        physician_id=d.physician_id,
        display_name=physicians[d.physician_id].display_name,
        states=d.states,
        monthly_payout_cents=d.monthly_payout_cents,
        starts_on=d.starts_on,
        ends_on=d.ends_on,
        credentials=credentials.get(d.physician_id, []),
    )


async def to_read(session: AsyncSession, engagement: Engagement) -> EngagementRead:
    quote = await session.get(Quote, engagement.quote_id)
    assert quote is not None
    ids = [d.physician_id for d in engagement.directors]
    physicians = {
        p.id: p for p in await session.scalars(select(Physician).where(or_(Physician.id.in_(ids))))
    }
    departures = list(
        await session.scalars(
            select(DirectorDeparture)
            .where(DirectorDeparture.engagement_id == engagement.id)
            .order_by(DirectorDeparture.created_at)
        )
    )
    by_director = {d.id: d for d in engagement.directors}
    status = EngagementStatus(engagement.status)
    leaving = any(d.status in OPEN_DEPARTURE for d in departures)
    if leaving and status is EngagementStatus.active:
        # A director is leaving without a replacement yet: the engagement is ending as far as
        # the clinic can count on today.
        status = EngagementStatus.ending
    day = today()
    covered: set[str] = set()
    primaries = [d for d in engagement.directors if d.role == DirectorRole.primary.value]
    backups = [
        d
        for d in engagement.directors
        if d.role == DirectorRole.backup.value and d.ended_at is None
    ]
    search = await session.scalar(
        select(BackupSearch.status).where(
            BackupSearch.engagement_id == engagement.id,
            BackupSearch.status.in_(OPEN_BACKUP_SEARCH),
        )
    )
    for d in primaries:
        if (d.starts_on is None or d.starts_on <= day) and (d.ends_on is None or d.ends_on > day):
            covered.update(d.states)
    uncovered = (
        sorted({s for d in departures for s in d.states} - covered)
        if status is not EngagementStatus.canceled
        else []
    )
    shown = [d for d in primaries if d.ended_at is None] + backups[-1:]
    overseen: dict[uuid.UUID, set[str]] = {}
    for d in shown:
        overseen.setdefault(d.physician_id, set()).update(d.states)
    credentials = await director_credentials(session, overseen, on=day)
    return EngagementRead(
        id=engagement.id,
        intake_id=engagement.intake_id,
        clinic_id=engagement.clinic_id,
        status=status,
        directors=[
            _director_read(d, physicians, credentials) for d in primaries if d.ended_at is None
        ],
        backup=_director_read(backups[-1], physicians, credentials) if backups else None,
        backup_search=search,
        quote=quote_read(quote),
        payment_status=engagement.payment_status,
        cancel_at_period_end=engagement.cancel_at_period_end,
        failure_reason=engagement.failure_reason,
        current_period_end=engagement.current_period_end,
        payment_due_by=engagement.payment_due_by,
        stripe_subscription_id=engagement.stripe_subscription_id,
        confirmed_at=engagement.confirmed_at,
        ends_on=engagement.ends_on,
        departures=[
            DepartureRead(
                physician_id=d.physician_id,
                states=d.states,
                reason=DepartureReason(d.reason),
                oversight_ends_on=d.oversight_ends_on,
                status=DepartureStatus(d.status),
                replacement_physician_id=by_director[d.replacement_director_id].physician_id
                if d.replacement_director_id in by_director
                else None,
            )
            for d in departures
        ],
        uncovered_states=uncovered,
        created_at=engagement.created_at,
    )


async def intake_continuity(session: AsyncSession, intake_id: uuid.UUID) -> IntakeContinuity | None:
    """What the clinic's intake view shows about its engagement's directors."""
    engagement = await session.scalar(
        select(Engagement)
        .where(Engagement.intake_id == intake_id)
        .order_by(Engagement.created_at.desc())
        .limit(1)
    )
    if engagement is None:
        return None
    read = await to_read(session, engagement)
    return IntakeContinuity(
        engagement_id=engagement.id,
        engagement_status=read.status.value,
        directors_leaving=[
            DirectorGap(
                states=d.states,
                oversight_ends_on=d.oversight_ends_on,
                reason=d.reason.value,
                status=d.status.value,
            )
            for d in read.departures
            if d.status.value in OPEN_DEPARTURE
        ],
        uncovered_states=read.uncovered_states,
        backup_search=read.backup_search,
    )
