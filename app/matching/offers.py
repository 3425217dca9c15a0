"""A physician's answer to an offer: accept (atomic, capacity checked under lock) or decline."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.clinics.models import IntakeStatus
from app.clinics.status import transition
from app.config import Settings
from app.kit.clock import utcnow
from app.matching import constraints as mc
from app.matching.models import Match, MatchStatus, Offer, OfferStatus
from app.matching.service import (
    CapacityExhausted,
    OfferNotOpen,
    _release_open,
    advance,
    build_context,
    clinic_admin_ids,
    lock_intake,
    own_offer,
)
from app.notifications.service import notify
from app.physicians.models import Physician


async def accept_offer(
    session: AsyncSession, user: User, offer_id: uuid.UUID, settings: Settings
) -> Offer:
    peek = await own_offer(session, user, offer_id)
    intake, clinic = await lock_intake(session, peek.intake_id)
    offer = await session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    assert offer is not None
    now = utcnow()
    if offer.status != OfferStatus.pending.value or offer.respond_by <= now:
        raise OfferNotOpen(
            "This offer is no longer open: another physician accepted, it expired, or the "
            "clinic withdrew.",
            offer_status=offer.status if offer.respond_by > now else "expired",
        )
    physician = await session.scalar(
        select(Physician).where(Physician.id == offer.physician_id).with_for_update()
    )
    assert physician is not None
    match = await session.get(Match, offer.match_id)
    assert match is not None
    # Capacity rechecked under the physician's lock: two accepts by one physician serialise.
    held = mc.capacity_load()
    load = await session.execute(
        select(held.c.clinics, held.c.supervisees, held.c.pas, held.c.nps)
        .select_from(Physician)
        .join(held, true())
        .where(Physician.id == physician.id)
    )
    clinics_held, supervisees, pas, nps = load.one()
    reasons = []
    if clinics_held + 1 > physician.max_clinics:
        reasons.append(
            f"you already oversee {clinics_held} of your {physician.max_clinics} clinics"
        )
    if supervisees + match.supervisees > physician.max_supervisees:
        reasons.append(
            f"{match.supervisees} more providers would exceed your limit of "
            f"{physician.max_supervisees}"
        )
    ctx = await build_context(session, intake, clinic, settings)
    states = match.covers_states
    pa_cap = mc._min_cap(ctx.pa_caps, states)
    np_cap = mc._min_cap(ctx.np_caps, states)
    if pa_cap is not None and match.pa_count and pas + match.pa_count > pa_cap:
        reasons.append(f"the PAs would exceed the state cap of {pa_cap}")
    if np_cap is not None and match.np_count and nps + match.np_count > np_cap:
        reasons.append(f"the NPs would exceed the state cap of {np_cap}")
    if reasons:
        raise CapacityExhausted(
            "You have no capacity left for this clinic: " + "; ".join(reasons) + "."
        )
    offer.status = OfferStatus.accepted.value
    offer.responded_at = now
    match.status = MatchStatus.accepted.value
    match.accepted_at = now
    match.confirm_by = now + timedelta(hours=settings.confirm_window_hours)
    physician.offers_accepted += 1
    await session.flush()
    await _release_open(session, intake.id, include_accepted=False, group=offer.group_key)
    groups = set(
        await session.scalars(
            select(Match.group_key).where(Match.intake_id == intake.id).distinct()
        )
    )
    accepted = set(
        await session.scalars(
            select(Match.group_key).where(
                Match.intake_id == intake.id,
                Match.status.in_([MatchStatus.accepted.value, MatchStatus.confirmed.value]),
            )
        )
    )
    if groups <= accepted:
        transition(intake, IntakeStatus.matched)
        intake.matched_at = now
        for admin in await clinic_admin_ids(session, clinic.id):
            await notify(
                session,
                user_id=admin,
                kind="intake.matched",
                email=True,
                title="Your medical director accepted",
                body="Review your director and confirm within "
                f"{settings.confirm_window_hours:g} hours to start the engagement.",
                data={"intake_id": str(intake.id)},
            )
    await session.flush()
    return offer


async def decline_offer(
    session: AsyncSession, user: User, offer_id: uuid.UUID, reason: str, settings: Settings
) -> Offer:
    peek = await own_offer(session, user, offer_id)
    intake, clinic = await lock_intake(session, peek.intake_id)
    offer = await session.scalar(select(Offer).where(Offer.id == offer_id).with_for_update())
    assert offer is not None
    if offer.status != OfferStatus.pending.value:
        raise OfferNotOpen("This offer is no longer open.", offer_status=offer.status)
    offer.status = OfferStatus.declined.value
    offer.responded_at = utcnow()
    offer.decline_reason = reason
    match = await session.get(Match, offer.match_id)
    assert match is not None
    match.status = MatchStatus.declined.value
    await session.execute(
        update(Physician)
        .where(Physician.id == offer.physician_id)
        .values(offers_declined=Physician.offers_declined + 1)
    )
    await session.flush()
    await advance(session, intake, clinic, settings)
    return offer
