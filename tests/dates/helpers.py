"""Objects the database-driven date properties share, as plain ids: each example rolls its own
writes back, which expires the ORM rows a fixture made."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.config import Settings
from app.matching import flows
from app.matching.models import Offer
from app.matching.offers import accept_offer
from app.matching.service import lock_intake


@dataclass(frozen=True)
class EngagementIds:
    engagement_id: uuid.UUID
    physician_id: uuid.UUID
    doctor_id: uuid.UUID  # the physician's user


@dataclass(frozen=True)
class Draft:
    intake_id: uuid.UUID
    admin_id: uuid.UUID
    physician_id: uuid.UUID
    doctor_id: uuid.UUID


async def submit(
    session: AsyncSession, settings: Settings, draft: Draft, *, rush: bool = False
) -> Offer:
    """Submit the draft at the app clock's now; returns the one offer sent."""
    intake, clinic = await lock_intake(session, draft.intake_id)
    intake.rush = rush
    actor = await session.get(User, draft.admin_id)
    assert actor is not None
    await flows.submit(session, intake, clinic, actor=actor, settings=settings)
    [offer] = list(await session.scalars(select(Offer).where(Offer.intake_id == intake.id)))
    return offer


async def accept(session: AsyncSession, settings: Settings, draft: Draft, offer: Offer) -> None:
    doctor = await session.get(User, draft.doctor_id)
    assert doctor is not None
    await accept_offer(session, doctor, offer.id, settings)


async def confirm(session: AsyncSession, settings: Settings, draft: Draft) -> uuid.UUID:
    """Confirm the accepted draft at the app clock's now; returns the engagement's id."""
    intake, clinic = await lock_intake(session, draft.intake_id)
    admin = await session.get(User, draft.admin_id)
    assert admin is not None
    engagement = await flows.confirm(
        session, intake, clinic, match_ids=[], actor=admin, settings=settings
    )
    return engagement.id
