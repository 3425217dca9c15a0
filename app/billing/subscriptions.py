"""Subscribe: attach the clinic's card, put the quote's one-time lines on the first invoice,
start the subscription (or adopt one a lost commit left behind), or pay the open invoice again
with a new card."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import User
from app.billing.access import load_for_admin, refuse_when_canceled
from app.billing.amounts import period_amount
from app.billing.customers import attach_card, ensure_customer
from app.billing.invoice_items import add_invoice_item_once
from app.billing.stripe_gateway import CardDeclined, StripeGateway, StripeRejected
from app.billing.sync import apply_subscription
from app.engagements.models import Engagement
from app.pricing.models import Quote

log = structlog.get_logger(__name__)


@dataclasses.dataclass
class SubscribeResult:
    engagement: Engagement
    client_secret: str | None


async def subscribe(
    session: AsyncSession,
    gateway: StripeGateway,
    user: User,
    engagement_id: uuid.UUID,
) -> SubscribeResult:
    engagement, clinic = await load_for_admin(session, user, engagement_id)
    refuse_when_canceled(engagement)
    if engagement.stripe_subscription_id and engagement.status in ("active", "ending"):
        # Already paid (a double click or a retry): report, do not charge again.
        sub = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
        outcome = await apply_subscription(session, gateway, engagement, sub, reason="subscribe")
        return SubscribeResult(engagement, outcome.client_secret)
    customer = await ensure_customer(session, gateway, clinic)
    try:
        await attach_card(gateway, engagement, customer)
    except CardDeclined as exc:
        # Nothing was charged; the clinic collects another card (payment_status failed).
        engagement.payment_status = "failed"
        engagement.failure_reason = exc.message
        await session.flush()
        return SubscribeResult(engagement, None)

    if engagement.stripe_subscription_id is None:
        # A subscription created by an attempt whose commit was lost is adopted, not repeated.
        found = await gateway.find_subscription(customer=customer, engagement_id=str(engagement.id))
        if found is None:
            found = await _start_subscription(session, gateway, engagement, customer)
            await record_audit(
                session,
                actor_id=user.id,
                action="engagement.subscribed",
                object_type="engagement",
                object_id=engagement.id,
                after={"stripe_subscription_id": found["id"], "stripe_status": found.get("status")},
            )
        current = found
    else:
        # pending_payment or past_due: pay the open invoice with the card just attached.
        current = await gateway.retrieve_subscription(engagement.stripe_subscription_id)
        current = await _retry_open_invoice(gateway, engagement, current)
    outcome = await apply_subscription(session, gateway, engagement, current, reason="subscribe")
    return SubscribeResult(engagement, outcome.client_secret)


async def _start_subscription(
    session: AsyncSession, gateway: StripeGateway, engagement: Engagement, customer: str
) -> dict[str, Any]:
    quote = await session.get(Quote, engagement.quote_id)
    assert quote is not None
    # One-time fees and first-invoice discounts ride on the first invoice as pending items
    # (created before the subscription, whose first invoice collects them).
    for line in quote.line_items:
        if line["kind"] in ("one_time", "discount") and line["amount_cents"]:
            await add_invoice_item_once(
                session,
                gateway,
                engagement,
                key=f"invoice-item:{engagement.id}:{line['code']}",
                kind=line["kind"],
                amount_cents=int(line["amount_cents"]),
                description=line["description"],
                customer=customer,
            )
    amount, interval = period_amount(quote)
    plan = await gateway.ensure_plan(amount_cents=amount, interval=interval, currency="usd")
    return await gateway.create_subscription(
        customer=customer,
        plan_id=plan,
        metadata={"engagement_id": str(engagement.id), "clinic_id": str(engagement.clinic_id)},
        key=f"subscription:{engagement.id}",
    )


async def _retry_open_invoice(
    gateway: StripeGateway, engagement: Engagement, sub: dict[str, Any]
) -> dict[str, Any]:
    """Pay the subscription's open latest invoice with the (new) default card. The key names
    the card, so a retry with a new card is a new payment, not a replay of the old decline."""
    invoice = sub.get("latest_invoice")
    if not isinstance(invoice, dict) or invoice.get("status") not in ("open", "draft"):
        return sub
    engagement.payment_attempts += 1
    key = (
        f"invoice-pay:{invoice['id']}:{engagement.stripe_payment_method_id}:"
        f"{engagement.payment_attempts}"
    )
    try:
        await gateway.pay_invoice(invoice["id"], key=key)
    except CardDeclined as exc:
        log.info("invoice_payment_declined", engagement_id=str(engagement.id), code=exc.code)
    except StripeRejected as exc:
        # Paid in the meantime (3-D Secure completed, or a concurrent payment): re-read below.
        if exc.stripe_status != 400:
            raise
    return await gateway.retrieve_subscription(sub["id"])
