"""What matching hands to the engagements domain above it, by name (`app.kit.handlers`), in the
caller's transaction and under the caller's locks (engagement, intake, offer, physician):

- confirming an intake opens its engagement (`open_engagement`), and once the intake is
  confirmed and everyone told, the engagement starts what follows it (`engagement_opened`:
  the standing backup's search, when the clinic bought one);
- an offer accepted in a round of a running engagement (a replacement or a standing backup)
  joins that engagement at once (`join_running_engagement`).

Matching imports nothing from `app.engagements`; `app.engagements.handoffs` handles these.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.clinics.models import Clinic, Intake
from app.clinics.staffing import Charge
from app.config import Settings
from app.directorships.models import Engagement
from app.kit import handlers
from app.matching.models import Match

OPEN_ENGAGEMENT = "engagements.open_engagement"
ENGAGEMENT_OPENED = "engagements.engagement_opened"
JOIN_RUNNING_ENGAGEMENT = "engagements.join_running_engagement"

NAMES = (OPEN_ENGAGEMENT, ENGAGEMENT_OPENED, JOIN_RUNNING_ENGAGEMENT)

# (physician_id, match_id, states, monthly payout in cents, what the director takes on)
DirectorSeat = tuple[uuid.UUID, uuid.UUID, list[str], int, Charge]


async def open_engagement(
    session: AsyncSession,
    *,
    intake: Intake,
    clinic: Clinic,
    quote_id: uuid.UUID,
    directors: Sequence[DirectorSeat],
    payment_window: timedelta,
    actor_id: uuid.UUID | None,
) -> Engagement:
    engagement: Engagement = await handlers.call(
        OPEN_ENGAGEMENT,
        session,
        intake=intake,
        clinic=clinic,
        quote_id=quote_id,
        directors=directors,
        payment_window=payment_window,
        actor_id=actor_id,
    )
    return engagement


async def engagement_opened(
    session: AsyncSession,
    *,
    engagement: Engagement,
    intake: Intake,
    clinic: Clinic,
    settings: Settings,
    actor_id: uuid.UUID | None,
) -> None:
    await handlers.call(
        ENGAGEMENT_OPENED,
        session,
        engagement=engagement,
        intake=intake,
        clinic=clinic,
        settings=settings,
        actor_id=actor_id,
    )


async def join_running_engagement(
    session: AsyncSession,
    *,
    intake: Intake,
    clinic: Clinic,
    match: Match,
    group_key: str,
    settings: Settings,
    actor_id: uuid.UUID | None,
) -> None:
    await handlers.call(
        JOIN_RUNNING_ENGAGEMENT,
        session,
        intake=intake,
        clinic=clinic,
        match=match,
        group_key=group_key,
        settings=settings,
        actor_id=actor_id,
    )
