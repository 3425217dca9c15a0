"""Row locks on engagement records, in the house order: engagement, intake, offer, physician."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.directorships.models import Engagement, EngagementStatus


async def lock_intake_engagement(session: AsyncSession, intake_id: uuid.UUID) -> Engagement | None:
    """Lock the intake's engagement (if it has one that is not canceled) before the intake:
    the house lock order is engagement, intake, offer, physician."""
    return await session.scalar(
        select(Engagement)
        .where(
            Engagement.intake_id == intake_id,
            Engagement.status != EngagementStatus.canceled.value,
        )
        .with_for_update()
    )
