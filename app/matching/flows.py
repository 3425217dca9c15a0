"""The clinic-side steps around matching: submit (start matching), withdraw and confirm."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.clinics.models import Clinic, Intake, IntakeStatus
from app.clinics.service import withdraw_intake as clinics_withdraw
from app.clinics.staffing import Charge
from app.clinics.status import transition
from app.config import Settings
from app.directorships.models import Engagement
from app.errors import Conflict, ValidationFailed
from app.kit.clock import utcnow
from app.matching.handoff import engagement_opened, open_engagement
from app.matching.models import Match, MatchStatus, Offer, OfferStatus
from app.matching.service import (
    current_round,
    release_open_offers,
    start_matching,
    withdraw_open_offers,
)
from app.notifications.recipients import physician_user_id
from app.notifications.service import notify
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
    match_ids: Sequence[uuid.UUID],
    actor: User,
    settings: Settings,
) -> Engagement:
    """Confirm one accepted physician per state group (the one chosen in `match_ids` where the
    clinic reviews several); the others who accepted are released and told so."""
    now = utcnow()
    round_matches = list(
        await session.scalars(current_round(intake).order_by(Match.group_key).with_for_update())
    )
    # Only acceptances that have not lapsed (the sweeper may not have run yet when the window
    # closed).
    accepted = [
        m
        for m in round_matches
        if m.status == MatchStatus.accepted.value and m.confirm_by and m.confirm_by > now
    ]
    groups = sorted({m.group_key for m in round_matches})
    if (
        intake.status != IntakeStatus.matched.value
        or not accepted
        or {m.group_key for m in accepted} != set(groups)
    ):
        raise NoAcceptedMatch(
            "No director has accepted yet (or the acceptance lapsed); we will notify you as "
            "soon as one does.",
            intake_status=intake.status,
        )
    chosen = set(match_ids)
    unknown = chosen - {m.id for m in accepted}
    if unknown:
        raise ValidationFailed(
            [
                {
                    "loc": ["body", "match_id"],
                    "msg": "not one of this intake's accepted matches: "
                    + ", ".join(sorted(map(str, unknown))),
                }
            ]
        )
    picked: list[Match] = []
    problems = []
    for key in groups:
        in_group = [m for m in accepted if m.group_key == key]
        mine = [m for m in in_group if m.id in chosen]
        if len(mine) > 1:
            problems.append(f"{key}: choose one of the physicians who accepted, not {len(mine)}")
        elif mine:
            picked.append(mine[0])
        elif len(in_group) == 1:
            picked.append(in_group[0])
        else:
            problems.append(
                f"{key}: {len(in_group)} physicians accepted; choose one with match_id "
                f"({', '.join(str(m.id) for m in in_group)})"
            )
    if problems:
        raise ValidationFailed([{"loc": ["body", "match_id"], "msg": p} for p in problems])
    released = [m for m in accepted if m not in picked]
    quote = await latest_quote(session, intake.id)
    engagement = await open_engagement(
        session,
        intake=intake,
        clinic=clinic,
        actor_id=actor.id,
        quote_id=quote.id,
        directors=[
            (
                m.physician_id,
                m.id,
                m.covers_states,
                m.monthly_payout_cents,
                Charge.stored(m),
            )
            for m in picked
        ],
        payment_window=timedelta(hours=settings.payment_window_hours),
    )
    for m in picked:
        m.status = MatchStatus.confirmed.value
    await _release_not_chosen(session, released, now)
    # Offers still open (a clinic that reviews confirms before everyone answered) close too.
    await release_open_offers(session, intake.id)
    transition(intake, IntakeStatus.confirmed)
    await session.flush()
    for m in picked:
        await notify(
            session,
            user_id=await physician_user_id(session, m.physician_id),
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
            "confirmed_at": now.isoformat(),
            "directors": [str(m.physician_id) for m in picked],
            "released": [str(m.physician_id) for m in released],
        },
    )
    # A clinic that bought a standing backup gets its search started at once.
    await engagement_opened(
        session,
        engagement=engagement,
        intake=intake,
        clinic=clinic,
        settings=settings,
        actor_id=actor.id,
    )
    return engagement


async def _release_not_chosen(
    session: AsyncSession, released: Sequence[Match], now: datetime
) -> None:
    """The physicians who accepted but were not chosen: their acceptance (and the capacity it
    held) ends, and each is told."""
    if not released:
        return
    offers = {
        o.match_id: o
        for o in await session.scalars(
            select(Offer)
            .where(
                Offer.match_id.in_([m.id for m in released]),
                Offer.status == OfferStatus.accepted.value,
            )
            .with_for_update()
        )
    }
    for m in released:
        m.status = MatchStatus.withdrawn.value
        offer = offers.get(m.id)
        if offer is not None:
            offer.status = OfferStatus.withdrawn.value
        await notify(
            session,
            user_id=await physician_user_id(session, m.physician_id),
            kind="offer.not_chosen",
            email=True,
            title="The clinic chose another physician",
            body="Thank you for accepting. The clinic reviewed the physicians who accepted and "
            "confirmed another; your acceptance is released and its capacity is yours again.",
            data={"offer_id": str(offer.id) if offer else None, "match_id": str(m.id)},
            flush=False,
        )
    await session.flush()
