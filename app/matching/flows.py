"""The clinic-side steps around matching: submit (start matching), withdraw and confirm."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.clinics.models import Clinic, Intake, IntakeStatus
from app.clinics.service import withdraw_intake as clinics_withdraw
from app.clinics.staffing import Charge
from app.clinics.status import transition
from app.config import Settings
from app.engagements.backup import start_backup_search
from app.engagements.models import Engagement
from app.engagements.service import create_engagement
from app.errors import Conflict, ValidationFailed
from app.kit.clock import utcnow
from app.matching.models import Match, MatchStatus
from app.matching.service import current_round, start_matching, withdraw_open_offers
from app.notifications.service import notify
from app.physicians.models import Physician
from app.pricing.service import latest_quote, submit_intake


class NoAcceptedMatch(Conflict):
    slug, title = "no-accepted-match", "No accepted match to confirm"


async def submit(
    session: AsyncSession, intake: Intake, clinic: Clinic, *, actor: User, settings: Settings
) -> None:
    await submit_intake(
        session, intake, clinic, actor=actor, default_cap=settings.default_supervisee_cap
    )
    await start_matching(session, intake, clinic, settings)


async def withdraw(session: AsyncSession, intake: Intake, *, actor: User) -> None:
    await withdraw_open_offers(session, intake.id)
    await clinics_withdraw(session, intake, actor=actor)


async def confirm(
    session: AsyncSession,
    intake: Intake,
    clinic: Clinic,
    *,
    match_id: uuid.UUID | None,
    actor: User,
    settings: Settings,
) -> Engagement:
    # Only the current round's acceptances that have not lapsed (the sweeper may not have run
    # yet when the window closed).
    accepted = list(
        await session.scalars(
            current_round(intake)
            .where(Match.status == MatchStatus.accepted.value, Match.confirm_by > utcnow())
            .order_by(Match.group_key)
            .with_for_update()
        )
    )
    if intake.status != IntakeStatus.matched.value or not accepted:
        raise NoAcceptedMatch(
            "No director has accepted yet (or the acceptance lapsed); we will notify you as "
            "soon as one does.",
            intake_status=intake.status,
        )
    if match_id is not None and match_id not in {m.id for m in accepted}:
        raise ValidationFailed(
            [{"loc": ["body", "match_id"], "msg": "not one of this intake's accepted matches"}]
        )
    quote = await latest_quote(session, intake.id)
    engagement = await create_engagement(
        session,
        intake_id=intake.id,
        clinic_id=clinic.id,
        quote_id=quote.id,
        directors=[
            (
                m.physician_id,
                m.id,
                m.covers_states,
                m.monthly_payout_cents,
                Charge.stored(m),
            )
            for m in accepted
        ],
        payment_window=timedelta(hours=settings.payment_window_hours),
    )
    for m in accepted:
        m.status = MatchStatus.confirmed.value
    transition(intake, IntakeStatus.confirmed)
    await session.flush()
    for m in accepted:
        user_id = await session.scalar(
            select(Physician.user_id).where(Physician.id == m.physician_id)
        )
        assert user_id is not None
        await notify(
            session,
            user_id=user_id,
            kind="engagement.confirmed",
            email=True,
            title=f"Confirmed: {clinic.legal_name}",
            body=(
                f"{clinic.legal_name} confirmed you as medical director for "
                f"{', '.join(m.covers_states)} (${m.monthly_payout_cents / 100:,.2f} a month). "
                f"Contact: {clinic.contact_name}, {clinic.contact_email}, {clinic.contact_phone}."
            ),
            data={"engagement_id": str(engagement.id)},
        )
    await record_audit(
        session,
        actor_id=actor.id,
        action="intake.confirmed",
        object_type="intake",
        object_id=intake.id,
        after={
            "engagement_id": str(engagement.id),
            "confirmed_at": utcnow().isoformat(),
            "directors": [str(m.physician_id) for m in accepted],
        },
    )
    # A clinic that bought a standing backup gets its search started at once.
    await start_backup_search(session, engagement, intake, clinic, settings, actor_id=actor.id)
    return engagement
