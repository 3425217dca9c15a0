"""From a confirmed engagement to a paid subscription, against the Stripe emulator running as a
real process: the happy path, declined cards, FIRST200, annual prepay, double submits, Stripe
unreachable, and what other tenants can see."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from app.billing.models import Invoice, PayoutEntry
from app.billing.stripe_gateway import StripeGateway
from app.config import StripeBackend
from app.devtools.stripe_emulator import EMULATOR_SECRET_KEY, free_port
from app.engagements.models import Engagement
from app.errors import UpstreamUnavailable
from tests.billing.helpers import confirmed_engagement
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import user_headers
from tests.matching.helpers import make_physician

PROBLEMS = "https://mdmatch.dev/problems/"


async def collect_card(client, emulator, engaged, card="pm_card_visa") -> str:
    response = await client.post(
        f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["setup_intent_client_secret"].startswith(body["setup_intent_id"])
    return await emulator.confirm_card(body["setup_intent_id"], card)


async def subscribe(client, engaged, **headers):
    return await client.post(
        f"/v1/engagements/{engaged.id}/subscribe", headers={**engaged.admin, **headers}
    )


async def test_happy_path_pays_activates_accrues_and_cancels(client, session, settings, emulator):
    engaged = await confirmed_engagement(client, session, settings)
    assert engaged.engagement["status"] == "pending_payment"
    assert await collect_card(client, emulator, engaged) == "succeeded"

    response = await subscribe(client, engaged)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "active"
    assert body["payment_status"] == "paid"
    assert body["failure_reason"] is None
    assert body["client_secret"] is None
    assert body["stripe_subscription_id"].startswith("sub_")
    assert body["current_period_end"] is not None

    # What Stripe holds: one subscription on the plan for the quoted amount, paid.
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    quote = engaged.engagement["quote"]
    assert sub["items"]["data"][0]["plan"]["amount"] == quote["monthly_total_cents"]
    assert sub["metadata"]["engagement_id"] == engaged.id

    invoices = (
        await client.get(f"/v1/clinics/{engaged.clinic['id']}/invoices", headers=engaged.admin)
    ).json()["items"]
    assert [(i["status"], i["amount_paid_cents"]) for i in invoices] == [
        ("paid", quote["first_invoice_cents"])
    ]
    ledger = list(
        await session.scalars(
            select(PayoutEntry).where(PayoutEntry.engagement_id == uuid.UUID(engaged.id))
        )
    )
    assert [(e.physician_id, e.amount_cents, e.status) for e in ledger] == [
        (engaged.physician.id, quote["physician_payout_cents"], "accrued")
    ]

    # Cancel at the period's end: ending, with the date; then now: canceled.
    ending = await client.post(
        f"/v1/engagements/{engaged.id}/cancel", json={}, headers=engaged.admin
    )
    assert ending.status_code == 200, ending.text
    assert ending.json()["status"] == "ending"
    assert ending.json()["cancel_at_period_end"] is True
    assert ending.json()["ends_on"] == body["current_period_end"][:10]
    now = await client.post(
        f"/v1/engagements/{engaged.id}/cancel", json={"at_period_end": False}, headers=engaged.admin
    )
    assert now.json()["status"] == "canceled"
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    assert sub["status"] == "canceled"
    again = await client.post(f"/v1/engagements/{engaged.id}/cancel", headers=engaged.admin)
    assert again.status_code == 409
    assert again.json()["type"] == PROBLEMS + "engagement-not-billable"


async def test_cancel_frees_the_directors_capacity(client, session, settings, emulator):
    doc = await make_physician(session, max_clinics=1)
    engaged = await confirmed_engagement(client, session, settings, physician=doc)
    await collect_card(client, emulator, engaged)
    assert (await subscribe(client, engaged)).json()["status"] == "active"

    # The only physician has no room for a second clinic ...
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    intake = await create_intake(client, admin, clinic["id"])
    first = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert first.json()["status"] == "unmatched"

    canceled = await client.post(
        f"/v1/engagements/{engaged.id}/cancel", json={"at_period_end": False}, headers=engaged.admin
    )
    assert canceled.json()["status"] == "canceled"
    # ... until the engagement is canceled.
    second = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert second.json()["status"] == "matching"


async def test_declining_card_stays_pending_with_the_reason_until_fixed(
    client, session, settings, emulator
):
    engaged = await confirmed_engagement(client, session, settings)
    # This card attaches, but every charge is declined.
    await collect_card(client, emulator, engaged, card="pm_card_chargeCustomerFail")
    failed = await subscribe(client, engaged)
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert body["status"] == "pending_payment"
    assert body["payment_status"] == "failed"
    assert body["failure_reason"] == "Your card was declined."
    sub_id = body["stripe_subscription_id"]
    assert (await emulator.get(f"/v1/subscriptions/{sub_id}"))["status"] == "incomplete"

    # Retrying with the same card fails the same way, and makes no second subscription.
    retry = await subscribe(client, engaged)
    assert retry.json()["payment_status"] == "failed"
    assert retry.json()["stripe_subscription_id"] == sub_id

    # A new card, then subscribe again: the open invoice is paid.
    assert await collect_card(client, emulator, engaged) == "succeeded"
    fixed = await subscribe(client, engaged)
    assert fixed.json()["status"] == "active"
    assert fixed.json()["payment_status"] == "paid"
    assert fixed.json()["failure_reason"] is None
    assert fixed.json()["stripe_subscription_id"] == sub_id
    clinic_customer = (await emulator.get(f"/v1/subscriptions/{sub_id}"))["customer"]
    subs = await emulator.get("/v1/subscriptions", customer=clinic_customer, status="all")
    assert len(subs["data"]) == 1


async def test_a_card_refused_at_confirmation_cannot_subscribe(client, session, settings, emulator):
    engaged = await confirmed_engagement(client, session, settings)
    before = await subscribe(client, engaged)
    assert before.status_code == 409
    assert before.json()["type"] == PROBLEMS + "payment-method-required"

    response = await client.post(
        f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin
    )
    setup_intent = response.json()["setup_intent_id"]
    # Asking again before confirming hands out the same SetupIntent.
    again = await client.post(f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin)
    assert again.json()["setup_intent_id"] == setup_intent
    # Stripe.js gets the decline; the SetupIntent stays unconfirmed.
    status = await emulator.confirm_card(setup_intent, "pm_card_visa_chargeDeclined")
    assert status != "succeeded"
    refused = await subscribe(client, engaged)
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEMS + "payment-method-required"
    engagement = await session.get(Engagement, uuid.UUID(engaged.id))
    assert engagement is not None
    assert engagement.stripe_subscription_id is None


async def test_first200_and_rush_ride_on_the_first_invoice(client, session, settings, emulator):
    engaged = await confirmed_engagement(
        client, session, settings, promo_code="FIRST200", rush=True
    )
    quote = engaged.engagement["quote"]
    monthly = quote["monthly_total_cents"]
    rush = next(i for i in quote["line_items"] if i["code"] == "rush_placement")["amount_cents"]
    await collect_card(client, emulator, engaged)
    body = (await subscribe(client, engaged)).json()
    assert body["status"] == "active"

    [invoice] = (
        await client.get(f"/v1/clinics/{engaged.clinic['id']}/invoices", headers=engaged.admin)
    ).json()["items"]
    # Exactly $200 below the first month plus the one-time fee.
    assert invoice["total_cents"] == monthly + rush - 20_000
    assert invoice["total_cents"] == quote["first_invoice_cents"]
    assert sorted(line["amount_cents"] for line in invoice["lines"]) == sorted(
        [monthly, rush, -20_000]
    )


async def test_annual_prepay_is_a_yearly_plan_and_accrues_twelve_months(
    client, session, settings, emulator
):
    engaged = await confirmed_engagement(client, session, settings, billing_interval="year")
    quote = engaged.engagement["quote"]
    await collect_card(client, emulator, engaged)
    body = (await subscribe(client, engaged)).json()
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    plan = sub["items"]["data"][0]["plan"]
    assert (plan["interval"], plan["amount"]) == ("year", quote["monthly_total_cents"] * 12)
    months = await session.scalar(
        select(func.count())
        .select_from(PayoutEntry)
        .where(PayoutEntry.engagement_id == uuid.UUID(engaged.id))
    )
    assert months == 12


async def test_subscribing_twice_makes_one_subscription(client, session, settings, emulator):
    engaged = await confirmed_engagement(client, session, settings)
    await collect_card(client, emulator, engaged)
    key = {"Idempotency-Key": f"subscribe-{uuid.uuid4()}"}
    first = await subscribe(client, engaged, **key)
    assert first.status_code == 200, first.text
    replay = await subscribe(client, engaged, **key)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json() == first.json()
    double_click = await subscribe(client, engaged)  # no key: the row lock and our ids
    assert double_click.status_code == 200
    assert double_click.json()["stripe_subscription_id"] == first.json()["stripe_subscription_id"]
    customer = (await emulator.get(f"/v1/subscriptions/{first.json()['stripe_subscription_id']}"))[
        "customer"
    ]
    subs = await emulator.get("/v1/subscriptions", customer=customer, status="all")
    assert len(subs["data"]) == 1
    invoices = await session.scalar(
        select(func.count())
        .select_from(Invoice)
        .where(Invoice.engagement_id == uuid.UUID(engaged.id))
    )
    assert invoices == 1


async def test_stripe_unreachable_is_503_changes_nothing_and_retry_succeeds(
    client, session, settings, emulator, bound_app
):
    engaged = await confirmed_engagement(client, session, settings)
    await collect_card(client, emulator, engaged)
    real = bound_app.state.stripe
    bound_app.state.stripe = StripeGateway(
        api_key=EMULATOR_SECRET_KEY,
        webhook_secret=None,
        backend=StripeBackend.localstripe,
        api_base=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        timeout=2,
    )
    try:
        down = await subscribe(client, engaged)
    finally:
        await bound_app.state.stripe.aclose()
        bound_app.state.stripe = real
    assert down.status_code == 503
    assert down.headers["content-type"] == "application/problem+json"
    assert down.json()["type"] == PROBLEMS + "upstream-unavailable"
    unchanged = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert unchanged["status"] == "pending_payment"
    assert unchanged["stripe_subscription_id"] is None
    assert unchanged["payment_status"] is None

    retried = await subscribe(client, engaged)
    assert retried.status_code == 200
    assert retried.json()["status"] == "active"


async def test_other_tenants_and_roles_are_refused(client, session, settings, emulator):
    engaged = await confirmed_engagement(client, session, settings)
    other = await user_headers(client, "clinic_admin")
    for path in ("payment-method", "subscribe", "cancel"):
        response = await client.post(f"/v1/engagements/{engaged.id}/{path}", headers=other)
        assert response.status_code == 404, path
    scope = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={"monthly_patient_volume": 300},
        headers=other,
    )
    assert scope.status_code == 404
    invoices = await client.get(f"/v1/clinics/{engaged.clinic['id']}/invoices", headers=other)
    assert invoices.status_code == 404
    # The director sees the engagement but cannot act for the clinic.
    for path in ("payment-method", "subscribe", "cancel"):
        response = await client.post(f"/v1/engagements/{engaged.id}/{path}", headers=engaged.doctor)
        assert response.status_code == 403, path
    missing = await client.post(f"/v1/engagements/{uuid.uuid4()}/subscribe", headers=engaged.admin)
    assert missing.status_code == 404


class LosesTheSubscriptionAnswer(StripeGateway):
    """Stripe creates the subscription, but its answer never reaches us (a timeout after
    Stripe acted): the worst moment for a failure."""

    async def create_subscription(self, **kwargs):
        await super().create_subscription(**kwargs)
        raise UpstreamUnavailable("Stripe could not be reached; nothing was changed.")


class FailsAfterTheInvoiceItems(StripeGateway):
    """The first invoice's items are made, then Stripe stops answering."""

    async def ensure_plan(self, **kwargs):
        raise UpstreamUnavailable("Stripe could not be reached; nothing was changed.")


@pytest.mark.parametrize("failing", [LosesTheSubscriptionAnswer, FailsAfterTheInvoiceItems])
async def test_a_failure_after_stripe_acted_is_503_and_the_retry_adopts_what_it_made(
    client, session, settings, emulator, bound_app, failing
):
    engaged = await confirmed_engagement(client, session, settings, rush=True)
    await collect_card(client, emulator, engaged)
    real = bound_app.state.stripe
    bound_app.state.stripe = failing(
        api_key=EMULATOR_SECRET_KEY,
        webhook_secret=None,
        backend=StripeBackend.localstripe,
        api_base=settings.stripe_api_base,
    )
    try:
        lost = await subscribe(client, engaged)
    finally:
        await bound_app.state.stripe.aclose()
        bound_app.state.stripe = real
    assert lost.status_code == 503
    unchanged = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert (unchanged["status"], unchanged["stripe_subscription_id"]) == ("pending_payment", None)

    retried = await subscribe(client, engaged)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "active"
    sub = await emulator.get(f"/v1/subscriptions/{retried.json()['stripe_subscription_id']}")
    subs = await emulator.get("/v1/subscriptions", customer=sub["customer"], status="all")
    assert len(subs["data"]) == 1  # adopted, not made again
    [invoice] = (
        await client.get(f"/v1/clinics/{engaged.clinic['id']}/invoices", headers=engaged.admin)
    ).json()["items"]
    assert invoice["total_cents"] == engaged.engagement["quote"]["first_invoice_cents"]
    rush = [line for line in invoice["lines"] if line["description"].startswith("Rush")]
    assert len(rush) == 1  # found again (by its metadata), not made twice
