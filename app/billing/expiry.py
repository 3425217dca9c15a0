"""Expiry of unpaid engagements: one still `pending_payment` after its payment window is
canceled, here and in Stripe (Stripe expires an incomplete subscription after 23 hours; the
emulator never does)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing import shapes
from app.billing.stripe_gateway import StripeGateway
from app.billing.sync import apply_subscription, mark_canceled
from app.engagements.models import Engagement, EngagementStatus
from app.kit.clock import utcnow


async def expire_unpaid(
    session: AsyncSession, gateway: StripeGateway | None, engagement_id: uuid.UUID
) -> bool:
    """Cancel one engagement still unpaid after its payment window (Stripe expires an
    incomplete subscription after 23 hours; the emulator never does, so we cancel it)."""
    engagement = await session.scalar(
        select(Engagement).where(Engagement.id == engagement_id).with_for_update(skip_locked=True)
    )
    if engagement is None or engagement.status != EngagementStatus.pending_payment.value:
        return False
    if engagement.payment_due_by is None or engagement.payment_due_by > utcnow():
        return False
    if engagement.stripe_subscription_id and gateway is not None:
        sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
        if shapes.ENGAGEMENT_STATUS.get(str(sub.get("status"))) == "active":
            # Paid in the meantime (the webhook has not arrived yet): sync instead.
            await apply_subscription(session, gateway, engagement, sub, reason="reconcile")
            return False
        if sub.get("status") not in ("canceled", "incomplete_expired"):
            sub = await gateway.cancel_now(engagement.stripe_subscription_id)
        engagement.stripe_status = sub.get("status")
    await mark_canceled(
        session,
        engagement,
        reason="the first payment was not made within the payment window",
        actor_id=None,
    )
    return True


async def overdue_engagements(session: AsyncSession) -> Sequence[uuid.UUID]:
    return list(
        await session.scalars(
            select(Engagement.id).where(
                Engagement.status == EngagementStatus.pending_payment.value,
                Engagement.payment_due_by <= utcnow(),
            )
        )
    )
