"""Reconciliation with Stripe: re-read each open engagement's subscription and every invoice of
it, and repair what drifted (a lost or late webhook)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing import shapes
from app.billing.stripe_gateway import StripeGateway
from app.billing.sync import apply_subscription, mirror_invoice
from app.engagements.models import Engagement, EngagementStatus

log = structlog.get_logger(__name__)


async def open_engagements(session: AsyncSession) -> Sequence[uuid.UUID]:
    return list(
        await session.scalars(
            select(Engagement.id).where(
                Engagement.status != EngagementStatus.canceled.value,
                Engagement.stripe_subscription_id.is_not(None),
            )
        )
    )


async def reconcile_one(
    session: AsyncSession, gateway: StripeGateway, engagement_id: uuid.UUID
) -> bool:
    """Re-read one engagement's subscription from Stripe and repair drift. True if anything
    visible (status, payment status, period end) changed."""
    engagement = await session.scalar(
        select(Engagement).where(Engagement.id == engagement_id).with_for_update(skip_locked=True)
    )
    if engagement is None or not engagement.stripe_subscription_id:
        return False
    before = (engagement.status, engagement.payment_status, engagement.current_period_end)
    sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
    await apply_subscription(session, gateway, engagement, sub, reason="reconcile")
    # Every invoice of the subscription, not only the latest: a lost webhook of an older paid
    # invoice would otherwise never be mirrored or accrue its payouts.
    customer = str(sub.get("customer"))
    async for invoice in gateway.list_invoices(customer=customer):
        if shapes.invoice_subscription_id(invoice) == engagement.stripe_subscription_id:
            await mirror_invoice(session, engagement, engagement.clinic_id, invoice)
    after = (engagement.status, engagement.payment_status, engagement.current_period_end)
    if before != after:
        log.warning(
            "stripe_drift_repaired",
            engagement_id=str(engagement.id),
            before=[str(x) for x in before],
            after=[str(x) for x in after],
        )
        return True
    return False
