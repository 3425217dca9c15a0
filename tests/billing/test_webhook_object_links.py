"""A signed event cannot tie one clinic's objects to another's: relationships come from Stripe's
own copies of the objects, not from the event's payload."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.billing import jobs
from app.billing.models import Invoice, StripeEvent
from tests.billing.helpers import post_event, real_event, real_invoice
from tests.billing.test_webhooks import paid_engagement


async def test_an_event_pairing_one_clinics_invoice_with_anothers_subscription_changes_nothing(
    client, session, settings, emulator
):
    a, a_body = await paid_engagement(client, session, settings, emulator)
    b, b_body = await paid_engagement(client, session, settings, emulator)
    a_sub = await emulator.get(f"/v1/subscriptions/{a_body['stripe_subscription_id']}")
    a_invoice = await emulator.get(f"/v1/invoices/{a_sub['latest_invoice']}")
    b_list = f"/v1/clinics/{b.clinic['id']}/invoices"
    b_invoices_before = (await client.get(b_list, headers=b.admin)).json()

    # A's real invoice, presented as belonging to B's subscription.
    forged = real_event("invoice.paid", real_invoice(a_invoice, b_body["stripe_subscription_id"]))
    assert (await post_event(client, forged)).status_code == 200
    assert await jobs.handle_event(forged["id"]) == "mismatched"

    row = await session.scalar(
        select(Invoice)
        .where(Invoice.stripe_invoice_id == a_invoice["id"])
        .execution_options(populate_existing=True)
    )
    assert row is not None
    assert row.engagement_id == uuid.UUID(a.id)
    b_invoices = (await client.get(b_list, headers=b.admin)).json()
    assert b_invoices == b_invoices_before
    assert a_invoice["id"] not in {i.get("stripe_invoice_id") for i in b_invoices["items"]}
    event = await session.get(StripeEvent, forged["id"])
    assert event is not None
    await session.refresh(event)
    assert event.processed_at is not None  # handled (and ignored), not retried forever


async def test_the_matching_pair_is_still_applied(client, session, settings, emulator):
    _, a_body = await paid_engagement(client, session, settings, emulator)
    a_sub = await emulator.get(f"/v1/subscriptions/{a_body['stripe_subscription_id']}")
    a_invoice = await emulator.get(f"/v1/invoices/{a_sub['latest_invoice']}")
    honest = real_event("invoice.paid", real_invoice(a_invoice, a_sub["id"]))
    assert (await post_event(client, honest)).status_code == 200
    assert await jobs.handle_event(honest["id"]) == "synced"
