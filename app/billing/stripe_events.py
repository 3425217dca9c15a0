"""Processing of incoming Stripe webhook events (stored by the router, applied by the
`billing.process_stripe_event` job): the event only says which objects to re-fetch from Stripe;
they are applied with the same sync subscribe and reconciliation use."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.billing import shapes
from app.billing.stripe_gateway import StripeGateway
from app.billing.sync import apply_subscription, engagement_for_subscription
from app.clinics.models import Clinic

log = structlog.get_logger(__name__)


async def process_event(
    session: AsyncSession, gateway: StripeGateway, payload: dict[str, Any]
) -> str:
    """Apply one stored event: re-fetch what it is about and sync. Returns what was done."""
    sub_id, invoice_id = shapes.object_ids(payload)
    if sub_id is None:
        return "ignored"
    engagement, sub = await engagement_for_subscription(session, gateway, sub_id)
    if engagement is None or sub is None:
        return "not-ours"
    invoice = await gateway.retrieve_invoice(invoice_id) if invoice_id else None
    # The payload only says which objects to fetch; how they relate comes from Stripe's own
    # copies. A (signed) event pairing one clinic's invoice with another's subscription, or
    # objects of a customer that is not the engagement's clinic, changes nothing.
    customer = await session.scalar(
        select(Clinic.stripe_customer_id).where(Clinic.id == engagement.clinic_id)
    )
    mismatch = shapes.customer_id(sub) != customer or (
        invoice is not None
        and (
            shapes.invoice_subscription_id(invoice) != sub["id"]
            or shapes.customer_id(invoice) != customer
        )
    )
    if mismatch:
        log.warning(
            "stripe_event_objects_mismatch",
            event_id=payload.get("id"),
            engagement_id=str(engagement.id),
        )
        return "mismatched"
    await apply_subscription(
        session, gateway, engagement, sub, invoice=invoice, reason=str(payload.get("type"))
    )
    return "synced"
