"""Who may bill an engagement, and in what status: the engagement and its clinic, locked, for a
clinic member whose role may do this (operations always).

Concurrency and at-most-once: every billing operation locks the engagement row (FOR UPDATE)
before calling Stripe and keeps the lock until its commit, so two requests for one engagement (a
double click, a retry, a webhook job) run one after the other and the second sees the first's
Stripe ids. Every POST to Stripe carries a key derived from our ids; where a crash could separate
Stripe's answer from our commit, the object is found again by its metadata before anything is
created (the emulator ignores idempotency keys).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.clinics.models import Clinic
from app.clinics.service import BILLING_ROLES, require_role
from app.engagements.models import Engagement, EngagementStatus
from app.engagements.service import get_engagement
from app.errors import Conflict


class EngagementNotBillable(Conflict):
    slug, title = "engagement-not-billable", "Not possible in the engagement's current status"


async def load_for_admin(
    session: AsyncSession,
    user: User,
    engagement_id: uuid.UUID,
    roles: frozenset[str] = BILLING_ROLES,
) -> tuple[Engagement, Clinic]:
    """The engagement and its clinic, locked, for a clinic member whose role may do this
    (operations always)."""
    engagement = await get_engagement(session, user, engagement_id, for_update=True)
    if user.role == Role.clinic_admin.value:
        await require_role(session, user, engagement.clinic_id, roles)
    clinic = await session.scalar(
        select(Clinic).where(Clinic.id == engagement.clinic_id).with_for_update()
    )
    assert clinic is not None
    return engagement, clinic


def refuse_when_canceled(engagement: Engagement) -> None:
    if engagement.status == EngagementStatus.canceled.value:
        raise EngagementNotBillable(
            "This engagement is canceled; submit a new intake to engage a director again.",
            engagement_status=engagement.status,
        )
