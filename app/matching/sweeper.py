"""Time-driven steps of the cascade, re-derived from state with the app clock."""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clinics.models import IntakeStatus
from app.clinics.status import transition
from app.config import Settings
from app.kit.clock import utcnow
from app.matching.models import Match, MatchStatus, Offer, OfferStatus
from app.matching.service import advance, current_round, lock_intake
from app.physicians.models import Physician


def physician_available() -> ColumnElement[bool]:
    return and_(Physician.verification_status == "verified", Physician.accepting_new.is_(True))


log = structlog.get_logger(__name__)


async def expire_overdue(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> dict[str, int]:
    """Expire offers past `respond_by` and lapse accepted matches past `confirm_by`, then move
    each affected intake's cascade on. Re-derived from state with the app clock, so it is safe to
    run any number of times and after any crash. Each intake is its own transaction: one intake's
    trouble never rolls back the others, and locks are held briefly."""
    now = utcnow()
    async with sessionmaker() as session:
        due_offers = await session.scalars(
            select(Offer.intake_id).where(
                Offer.status == OfferStatus.pending.value, Offer.respond_by <= now
            )
        )
        due_matches = await session.scalars(
            select(Match.intake_id).where(
                Match.status == MatchStatus.accepted.value, Match.confirm_by <= now
            )
        )
        # Offers to physicians suspended or no longer accepting since: withdrawn, so their
        # places go to the next candidates without waiting for the offers to expire.
        orphaned = await session.scalars(
            select(Offer.intake_id)
            .join(Physician, Physician.id == Offer.physician_id)
            .where(Offer.status == OfferStatus.pending.value, ~physician_available())
        )
        intake_ids = sorted(set(due_offers) | set(due_matches) | set(orphaned))
    totals = {"offers_expired": 0, "acceptances_lapsed": 0}
    for intake_id in intake_ids:
        try:
            async with sessionmaker() as session:
                expired, lapsed = await _sweep_intake(session, intake_id, now, settings)
                await session.commit()
        except Exception:
            log.exception("sweep_failed", intake_id=str(intake_id))
            continue
        totals["offers_expired"] += expired
        totals["acceptances_lapsed"] += lapsed
    return totals


async def _still_held(
    session: AsyncSession, intake_id: uuid.UUID, round_: int, key: str, now: datetime
) -> bool:
    """Whether a state group of a round still has an acceptance that has not lapsed."""
    return bool(
        await session.scalar(
            select(func.count())
            .select_from(Match)
            .where(
                Match.intake_id == intake_id,
                Match.round == round_,
                Match.group_key == key,
                Match.status == MatchStatus.accepted.value,
                Match.confirm_by > now,
            )
        )
    )


async def _sweep_intake(
    session: AsyncSession, intake_id: uuid.UUID, now: datetime, settings: Settings
) -> tuple[int, int]:
    intake, clinic = await lock_intake(session, intake_id)
    offers = list(
        await session.scalars(
            select(Offer)
            .where(
                Offer.intake_id == intake_id,
                Offer.status == OfferStatus.pending.value,
                Offer.respond_by <= now,
            )
            .with_for_update()
        )
    )
    for offer in offers:
        offer.status = OfferStatus.expired.value
        match = await session.get(Match, offer.match_id)
        assert match is not None
        match.status = MatchStatus.expired.value
    unavailable = list(
        await session.scalars(
            select(Offer)
            .join(Physician, Physician.id == Offer.physician_id)
            .where(
                Offer.intake_id == intake_id,
                Offer.status == OfferStatus.pending.value,
                ~physician_available(),
            )
            .with_for_update(of=Offer)
        )
    )
    for offer in unavailable:
        offer.status = OfferStatus.withdrawn.value
        offer.responded_at = now
        match = await session.get(Match, offer.match_id)
        assert match is not None
        match.status = MatchStatus.withdrawn.value
    stale = list(
        await session.scalars(
            select(Match)
            .where(
                Match.intake_id == intake_id,
                Match.status == MatchStatus.accepted.value,
                Match.confirm_by <= now,
            )
            .with_for_update()
        )
    )
    for match in stale:
        match.status = MatchStatus.expired.value
        accepted_offer = await session.scalar(
            select(Offer).where(
                Offer.match_id == match.id, Offer.status == OfferStatus.accepted.value
            )
        )
        if accepted_offer is not None:
            accepted_offer.status = OfferStatus.expired.value
    await session.flush()
    for round_, key in sorted({(m.round, m.group_key) for m in stale}):
        if await _still_held(session, intake_id, round_, key, now):
            # A clinic reviewing several acceptances still has another one in this group.
            continue
        # The candidates the acceptance withdrew may be asked again.
        await session.execute(
            update(Match)
            .where(
                Match.intake_id == intake_id,
                Match.round == round_,
                Match.group_key == key,
                Match.status == MatchStatus.withdrawn.value,
            )
            .values(status=MatchStatus.candidate.value)
        )
    if stale and intake.status == IntakeStatus.matched.value:
        groups = set(
            await session.scalars(current_round(intake).with_only_columns(Match.group_key))
        )
        held = {
            key
            for key in groups
            if await _still_held(session, intake_id, intake.matching_round, key, now)
        }
        if held != groups:
            transition(intake, IntakeStatus.matching)
            intake.matched_at = None
    await session.flush()
    await advance(session, intake, clinic, settings)
    return len(offers), len(stale)
