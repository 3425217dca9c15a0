"""The operations daily summary: figures computed from the day's intakes, offers and
engagements, the current backlog, and the job that sends it to operations."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import select, update

from app.clinics.models import Intake
from app.engagements.models import Engagement
from app.kit.clock import today
from app.matching.models import Offer
from app.notifications.models import Notification
from app.operations.summary import daily_summary
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician, physician_headers


async def test_summary_of_a_day(client, session, settings):
    doc = await make_physician(session)
    await make_physician(
        session, states=("NY",), home_zip="10001", last_name="Licensed", license_days=30
    )
    await session.commit()
    doctor = await physician_headers(client, session, settings, doc)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    placed = await create_intake(client, admin, clinic["id"])
    waiting = await create_intake(client, admin, clinic["id"])
    for intake in (placed, waiting):
        r = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
        assert r.status_code == 200, r.text
    offer_id = await session.scalar(
        select(Offer.id).where(Offer.intake_id == uuid.UUID(placed["id"]))
    )
    assert (await client.post(f"/v1/offers/{offer_id}/accept", headers=doctor)).status_code == 200
    assert (
        await client.post(f"/v1/intakes/{placed['id']}/confirm", headers=admin)
    ).status_code == 201

    # Move the day's activity to three days ago, with known durations.
    day = today() - timedelta(days=3)
    t0 = datetime.combine(day, time(10, 0), tzinfo=UTC)
    for intake_id, first_offer, matched in (
        (placed["id"], 10, 70),
        (waiting["id"], 30, None),
    ):
        await session.execute(
            update(Intake)
            .where(Intake.id == uuid.UUID(intake_id))
            .values(
                submitted_at=t0,
                first_offer_at=t0 + timedelta(minutes=first_offer),
                matched_at=t0 + timedelta(minutes=matched) if matched else None,
            )
        )
        await session.execute(
            update(Offer)
            .where(Offer.intake_id == uuid.UUID(intake_id))
            .values(created_at=t0 + timedelta(minutes=first_offer))
        )
    await session.execute(
        update(Engagement)
        .where(Engagement.intake_id == uuid.UUID(placed["id"]))
        .values(confirmed_at=t0 + timedelta(hours=2))
    )
    await session.commit()

    summary = await daily_summary(session, day=day, settings=settings)
    assert summary.intakes_submitted == 2
    assert summary.offers_sent == 2
    assert summary.placements == 1
    assert summary.median_minutes_to_first_offer == 20.0
    assert summary.median_minutes_to_acceptance == 70.0
    # The waiting intake has been matching for three days without an acceptance.
    assert summary.stalled_intakes == 1
    # The NY physician's license expires in 30 days (within the 60-day window).
    assert summary.credentials_expiring == 1
    quiet = await daily_summary(session, day=day - timedelta(days=1), settings=settings)
    assert (quiet.intakes_submitted, quiet.placements, quiet.median_minutes_to_first_offer) == (
        0,
        0,
        None,
    )

    ops = await ops_headers(client, session, settings)
    served = await client.get("/v1/reports/daily", params={"on": str(day)}, headers=ops)
    assert served.status_code == 200
    assert served.json()["placements"] == 1
    assert (await client.get("/v1/reports/daily", headers=admin)).status_code == 403


async def test_the_daily_job_sends_the_summary_to_operations(
    bound_app, client, session, settings, outbox
):
    from app.notifications.jobs import send_emails
    from app.operations.jobs import send_daily_summary

    ops = await ops_headers(client, session, settings)
    me = (await client.get("/v1/me", headers=ops)).json()["id"]
    result = await send_daily_summary(timestamp=0)
    assert result["day"] == str(today() - timedelta(days=1))
    titles = list(
        await session.scalars(
            select(Notification.title).where(
                Notification.user_id == uuid.UUID(me), Notification.kind == "ops.daily_summary"
            )
        )
    )
    assert titles == [f"mdmatch daily summary {today() - timedelta(days=1):%Y-%m-%d}"]
    # ... and by e-mail, through the sender, rendered from its template.
    address = (await client.get("/v1/me", headers=ops)).json()["email"]
    await send_emails(timestamp=0)
    [mail] = [m for m in outbox.outbox if m.to == address]
    assert mail.subject == titles[0]
    assert "Placements" in mail.body or "placements" in mail.body
    assert "/ops/reports/daily" in mail.body


async def test_the_report_day_is_a_calendar_date_only(client, session, settings):
    """Found by schemathesis: a number was taken as a Unix time (1970-01-01)."""
    ops = await ops_headers(client, session, settings)
    for bad in ("-3.5e-129", "0", "2026-02-30", "yesterday"):
        response = await client.get("/v1/reports/daily", params={"on": bad}, headers=ops)
        assert response.status_code == 422, (bad, response.text)
    ok = await client.get("/v1/reports/daily", params={"on": "2026-11-22"}, headers=ops)
    assert ok.status_code == 200, ok.text
    assert ok.json()["day"] == "2026-11-22"
