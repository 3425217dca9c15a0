"""The clinic's Stripe customer and card: the customer (once per clinic), the SetupIntent that
Stripe.js confirms, and attaching the confirmed card as the customer's default."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.billing.access import load_for_admin, refuse_when_canceled
from app.billing.stripe_gateway import StripeGateway, StripeNotFound
from app.clinics.models import Clinic
from app.engagements.models import Engagement
from app.errors import Conflict


class PaymentMethodRequired(Conflict):
    slug, title = "payment-method-required", "Collect a card first"


async def ensure_customer(session: AsyncSession, gateway: StripeGateway, clinic: Clinic) -> str:
    """The clinic's Stripe customer, created once (the clinic row is locked by the caller)."""
    if clinic.stripe_customer_id:
        return clinic.stripe_customer_id
    customer = await gateway.find_customer(clinic_id=str(clinic.id), email=clinic.contact_email)
    if customer is None:
        customer = await gateway.create_customer(
            clinic_id=str(clinic.id),
            name=clinic.legal_name,
            email=clinic.contact_email,
            key=f"customer:{clinic.id}",
        )
    clinic.stripe_customer_id = customer
    await session.flush()
    return customer


# --- card collection -------------------------------------------------------------------------


async def payment_method(
    session: AsyncSession, gateway: StripeGateway, user: User, engagement_id: uuid.UUID
) -> dict[str, str]:
    """A SetupIntent for Stripe.js to collect and confirm the clinic's card. An unconfirmed
    one is handed out again (a double click does not make two)."""
    engagement, clinic = await load_for_admin(session, user, engagement_id)
    refuse_when_canceled(engagement)
    customer = await ensure_customer(session, gateway, clinic)
    if engagement.stripe_setup_intent_id:
        try:
            current = await gateway.retrieve_setup_intent(engagement.stripe_setup_intent_id)
        except StripeNotFound:
            current = {}
        if current.get("status") in (
            "requires_payment_method",
            "requires_confirmation",
            "requires_action",
        ):
            return _setup_intent_read(current)
    previous = engagement.stripe_setup_intent_id or "first"
    intent = await gateway.create_setup_intent(
        customer=customer,
        engagement_id=str(engagement.id),
        key=f"setup-intent:{engagement.id}:{previous}",
    )
    engagement.stripe_setup_intent_id = intent["id"]
    await session.flush()
    return _setup_intent_read(intent)


def _setup_intent_read(intent: dict[str, Any]) -> dict[str, str]:
    return {
        "setup_intent_id": intent["id"],
        "setup_intent_client_secret": intent["client_secret"],
        "status": intent["status"],
    }


async def attach_card(gateway: StripeGateway, engagement: Engagement, customer: str) -> None:
    """Attach the card confirmed on the engagement's SetupIntent and make it the default.
    Raises `CardDeclined` when Stripe refuses the card."""
    if not engagement.stripe_setup_intent_id:
        raise PaymentMethodRequired(
            "No card yet: call POST /v1/engagements/{id}/payment-method and confirm the "
            "SetupIntent with Stripe.js first."
        )
    try:
        intent = await gateway.retrieve_setup_intent(engagement.stripe_setup_intent_id)
    except StripeNotFound:
        intent = {"status": "missing"}
    card = intent.get("payment_method")
    card_id = card.get("id") if isinstance(card, dict) else card
    if intent.get("status") != "succeeded" or not card_id:
        raise PaymentMethodRequired(
            f"The card on the SetupIntent is not confirmed (status {intent.get('status')}); "
            "confirm it with Stripe.js (or request a new one), then subscribe.",
            setup_intent_status=intent.get("status"),
        )
    engagement.stripe_payment_method_id = await gateway.attach_default_card(
        customer=customer,
        payment_method=str(card_id),
        key=f"card:{engagement.id}:{engagement.stripe_setup_intent_id}",
    )
