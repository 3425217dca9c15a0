"""Pending Stripe invoice items created at most once: a `billing_operations` row per key, found
again by its `mdmatch_key` metadata after a crash, created otherwise."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.billing.models import BillingOperation
from app.billing.stripe_gateway import StripeGateway
from app.engagements.models import Engagement
from app.kit.clock import utcnow


async def add_invoice_item_once(
    session: AsyncSession,
    gateway: StripeGateway,
    engagement: Engagement,
    *,
    key: str,
    kind: str,
    amount_cents: int,
    description: str,
    customer: str,
) -> str:
    """A pending invoice item, created at most once under `key`: our operation row, then a
    Stripe item carrying the key in its metadata (found again after a crash), then a create."""
    done = await session.get(BillingOperation, key)
    if done is not None:
        return done.stripe_id
    stripe_id = next(
        (
            str(item["id"])
            for item in await gateway.list_invoice_items(customer=customer)
            if (item.get("metadata") or {}).get("mdmatch_key") == key
        ),
        None,
    )
    if stripe_id is None:
        stripe_id = await gateway.create_invoice_item(
            customer=customer,
            amount_cents=amount_cents,
            currency="usd",
            description=description,
            metadata={"mdmatch_key": key, "engagement_id": str(engagement.id)},
            key=key,
        )
    session.add(
        BillingOperation(
            key=key,
            kind=kind,
            engagement_id=engagement.id,
            stripe_id=stripe_id,
            amount_cents=amount_cents,
            created_at=utcnow(),
        )
    )
    await session.flush()
    return stripe_id
