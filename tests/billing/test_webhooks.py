"""Stripe webhooks: signatures, storage once per event id, and processing that re-reads Stripe,
so duplicates and any order end in the same state. The emulator cannot reach the in-process
app: its events are listed from it and posted through the test client, signed with the test
secret; the types it never sends are built in real Stripe's current shape."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from sqlalchemy import delete, func, select, text, update

from app.billing import jobs
from app.billing.models import Invoice, PayoutEntry, StripeEvent
from app.engagements.models import Engagement
from tests.billing.helpers import (
    confirmed_engagement,
    post_event,
    real_event,
    real_invoice,
    real_subscription,
    sign,
)

PROBLEMS = "https://mdmatch.dev/problems/"


async def deferred_events(session) -> list[str]:
    """The processing jobs queued (in the webhook's own transaction) and not yet run."""
    rows = await session.execute(
        text(
            "SELECT args->>'event_id' FROM procrastinate_jobs WHERE task_name = :task "
            "AND status = 'todo' ORDER BY id"
        ),
        {"task": "billing.process_stripe_event"},
    )
    return [r[0] for r in rows]


async def run_deferred(session) -> None:
    """What a worker does with them (the job's function, then the job marked done)."""
    for event_id in await deferred_events(session):
        await jobs.handle_event(event_id)
    await session.execute(
        text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE task_name = :task"),
        {"task": "billing.process_stripe_event"},
    )
    await session.commit()


async def paid_engagement(client, session, settings, emulator, card="pm_card_visa"):
    engaged = await confirmed_engagement(client, session, settings)
    response = await client.post(
        f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
    )
    await emulator.confirm_card(response.json()["setup_intent_id"], card)
    body = (
        await client.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
    ).json()
    return engaged, body


async def state_of(session, engagement_id: uuid.UUID) -> tuple[Any, ...]:
    engagement = await session.scalar(
        select(Engagement)
        .where(Engagement.id == engagement_id)
        .execution_options(populate_existing=True)
    )
    assert engagement is not None
    invoices = await session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.engagement_id == engagement_id)
    )
    ledger = await session.scalar(
        select(func.count())
        .select_from(PayoutEntry)
        .where(PayoutEntry.engagement_id == engagement_id)
    )
    return (
        engagement.status,
        engagement.payment_status,
        engagement.failure_reason,
        engagement.stripe_subscription_id,
        engagement.current_period_end,
        engagement.activated_at is not None,
        invoices,
        ledger,
    )


async def forget_billing_state(session, engagement_id: uuid.UUID) -> None:
    """Back to what we knew before Stripe told us anything (the subscription id too: the sync
    must find the engagement from the subscription's metadata)."""
    await session.execute(delete(PayoutEntry).where(PayoutEntry.engagement_id == engagement_id))
    await session.execute(delete(Invoice).where(Invoice.engagement_id == engagement_id))
    await session.execute(delete(StripeEvent))
    await session.execute(
        update(Engagement)
        .where(Engagement.id == engagement_id)
        .values(
            status="pending_payment",
            payment_status=None,
            failure_reason=None,
            stripe_subscription_id=None,
            stripe_subscription_item_id=None,
            stripe_plan_id=None,
            stripe_latest_invoice_id=None,
            cancel_at_period_end=False,
            current_period_end=None,
            activated_at=None,
            stripe_status=None,
        )
    )
    await session.commit()


async def test_a_bad_signature_is_400_and_stores_nothing(client, session):
    event = real_event("invoice.paid", {"id": "in_forged", "object": "invoice"})
    payload = json.dumps(event).encode()
    for headers in (
        {"Stripe-Signature": sign(payload, secret="whsec_someone_else")},
        {"Stripe-Signature": sign(payload + b" ")},  # signed, then changed
        {"Stripe-Signature": sign(payload, at=0)},  # replayed long after
        {},
    ):
        response = await client.post("/v1/billing/stripe/webhook", content=payload, headers=headers)
        assert response.status_code == 400
        assert response.json()["type"] == PROBLEMS + "invalid-signature"
    stored = await session.scalar(select(func.count()).select_from(StripeEvent))
    assert stored == 0
    assert await deferred_events(session) == []


async def test_the_same_event_twice_is_stored_and_processed_once(
    client, session, settings, emulator
):
    _engaged, body = await paid_engagement(client, session, settings, emulator)
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    event = real_event("customer.subscription.updated", real_subscription(sub))
    first = await post_event(client, event)
    second = await post_event(client, event)
    assert (first.status_code, first.json()) == (200, {"received": True, "duplicate": False})
    assert (second.status_code, second.json()) == (200, {"received": True, "duplicate": True})
    assert await deferred_events(session) == [event["id"]]
    await run_deferred(session)
    row = await session.get(StripeEvent, event["id"])
    assert row is not None
    assert row.processed_at is not None
    assert row.attempts == 1
    # A redelivery after processing changes nothing either.
    assert (await post_event(client, event)).json()["duplicate"] is True
    assert await jobs.handle_event(event["id"]) == "done-before"


async def test_any_order_and_duplicates_end_in_the_same_state(client, session, settings, emulator):
    # A first charge declined, then a new card and the invoice paid: the richest sequence.
    engaged, body = await paid_engagement(
        client, session, settings, emulator, card="pm_card_chargeCustomerFail"
    )
    assert body["payment_status"] == "failed"
    response = await client.post(
        f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
    )
    await emulator.confirm_card(response.json()["setup_intent_id"])
    paid = (
        await client.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
    ).json()
    assert paid["status"] == "active"
    engagement_id = uuid.UUID(engaged.id)
    expected = await state_of(session, engagement_id)
    assert expected[:2] == ("active", "paid")
    assert expected[-2:] == (1, 1)  # one invoice, one month accrued

    sub = await emulator.get(f"/v1/subscriptions/{paid['stripe_subscription_id']}")
    customer = sub["customer"]
    sent = await emulator.events_for(customer)
    types = {e["type"] for e in sent}
    assert {"customer.subscription.created", "invoice.payment_succeeded"} <= types
    invoice = await emulator.get(f"/v1/invoices/{sub['latest_invoice']}")
    # What real Stripe also sends here and the emulator never does, in its current shape.
    built = [
        real_event(
            "invoice.payment_failed", real_invoice({**invoice, "status": "open"}, sub["id"])
        ),
        real_event("invoice.paid", real_invoice(invoice, sub["id"])),
        real_event("customer.subscription.updated", real_subscription(sub)),
    ]
    events = sent + built

    orderings = {
        "ordered": events,
        "reversed": list(reversed(events)),
        "shuffled": random.Random(7).sample(events, len(events)),
        "duplicated": [e for e in random.Random(11).sample(events, len(events)) for _ in (0, 1)],
    }
    for name, sequence in orderings.items():
        await forget_billing_state(session, engagement_id)
        for event in sequence:
            assert (await post_event(client, event)).status_code == 200
        await run_deferred(session)
        assert await state_of(session, engagement_id) == expected, name


async def test_events_about_other_objects_are_acknowledged_and_ignored(client, session):
    event = real_event("payout.paid", {"id": "po_123", "object": "payout", "amount": 1000})
    assert (await post_event(client, event)).status_code == 200
    assert await jobs.handle_event(event["id"]) == "ignored"
    row = await session.get(StripeEvent, event["id"])
    assert row is not None
    assert row.processed_at is not None
    # A subscription Stripe does not know (another integration's, or deleted): not ours.
    stranger = real_event(
        "customer.subscription.updated", {"id": "sub_unknown123", "object": "subscription"}
    )
    assert (await post_event(client, stranger)).status_code == 200
    assert await jobs.handle_event(stranger["id"]) == "not-ours"


async def test_a_lost_job_is_picked_up_by_the_backlog_sweep(client, session, settings, emulator):
    from datetime import timedelta

    from app.kit.clock import travel

    _engaged, body = await paid_engagement(client, session, settings, emulator)
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    event = real_event("customer.subscription.updated", real_subscription(sub))
    await post_event(client, event)
    # The job is lost (say, the queue's row was removed by hand): the sweep still finds it.
    await session.execute(
        text("DELETE FROM procrastinate_jobs WHERE task_name = 'billing.process_stripe_event'")
    )
    await session.commit()
    with travel(timedelta(minutes=2)):
        assert await jobs.process_event_backlog(timestamp=0) == 1
    row = await session.get(StripeEvent, event["id"])
    assert row is not None
    assert row.processed_at is not None


async def test_a_failed_renewal_makes_the_engagement_past_due_and_notifies(
    client, session, settings, emulator, bound_app
):
    from app.notifications.models import Notification

    engaged, body = await paid_engagement(client, session, settings, emulator)
    sub_id = body["stripe_subscription_id"]
    sub = await emulator.get(f"/v1/subscriptions/{sub_id}")
    customer = sub["customer"]
    # In Stripe: the card starts failing and the next invoice is not paid. (On the emulator
    # the only way there: a declining default card and a move to a yearly plan.)
    gateway = bound_app.state.stripe
    await gateway.attach_default_card(
        customer=customer, payment_method="pm_card_chargeCustomerFail", key=f"t:{uuid.uuid4()}"
    )
    plan = await gateway.ensure_plan(amount_cents=123_400, interval="year", currency="usd")
    await gateway.change_plan(
        subscription_id=sub_id,
        item_id=sub["items"]["data"][0]["id"],
        plan_id=plan,
        key=f"t:{uuid.uuid4()}",
    )
    sub = await emulator.get(f"/v1/subscriptions/{sub_id}")
    assert sub["status"] == "past_due"

    # Stripe tells us (the emulator would not: a real-shaped event).
    event = real_event("customer.subscription.updated", real_subscription(sub))
    assert (await post_event(client, event)).status_code == 200
    await run_deferred(session)
    engagement = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert engagement["status"] == "past_due"
    assert engagement["payment_status"] == "failed"
    notes = list(
        await session.scalars(
            select(Notification.kind).where(Notification.data["engagement_id"].astext == engaged.id)
        )
    )
    assert "payment.failed" in notes

    # The clinic fixes its card: subscribe pays the open invoice and the engagement is active.
    setup = await client.post(f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin)
    await emulator.confirm_card(setup.json()["setup_intent_id"])
    fixed = await client.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["status"], fixed.json()["payment_status"]) == ("active", "paid")
    assert (await emulator.get(f"/v1/subscriptions/{sub_id}"))["status"] == "active"
