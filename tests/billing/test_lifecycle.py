"""The engagement after it is paid: scope changes (directors re-checked, our own prorated
difference billed), expiry of unpaid engagements, and reconciliation with Stripe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from app.billing import jobs
from app.billing.service import prorated_difference
from app.clinics.models import Intake
from app.engagements.models import Engagement
from app.kit.clock import travel, utcnow
from tests.billing.helpers import subscribed
from tests.factories import bearer, login
from tests.matching.helpers import ALL_SERVICES, make_physician

PROBLEMS = "https://mdmatch.dev/problems/"


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def test_change_scope_reprices_moves_the_plan_and_bills_our_prorated_difference(
    client, session, settings, emulator
):
    engaged, body = await subscribed(client, session, settings, emulator)
    old = body["quote"]
    sub_id = body["stripe_subscription_id"]
    sub = await emulator.get(f"/v1/subscriptions/{sub_id}")
    start, end = at(sub["current_period_start"]), at(sub["current_period_end"])

    with travel(timedelta(days=10)):
        admin = bearer((await login(client, engaged.admin_email))["access_token"])
        before = utcnow()
        response = await client.post(
            f"/v1/engagements/{engaged.id}/change-scope",
            json={"services": ["neurotoxins", "dermal_fillers"], "monthly_patient_volume": 400},
            headers=admin,
        )
        after = utcnow()
    assert response.status_code == 200, response.text
    changed = response.json()
    new = changed["quote"]
    assert new["id"] != old["id"]
    assert new["monthly_total_cents"] > old["monthly_total_cents"]
    assert not [i for i in new["line_items"] if i["kind"] != "recurring"]
    assert changed["directors"][0]["monthly_payout_cents"] == new["physician_payout_cents"]
    assert changed["status"] == "active"

    # Our own proration: (new - old) for the part of the period still to run.
    diff = new["monthly_total_cents"] - old["monthly_total_cents"]
    lo = prorated_difference(0, diff, start=start, end=end, now=after)
    hi = prorated_difference(0, diff, start=start, end=end, now=before)
    assert lo <= changed["proration_cents"] <= hi
    assert 0 < changed["proration_cents"] < diff  # ten days in, two thirds remain

    # Stripe: the item is on the new plan; the only pending item is ours (the emulator's own
    # wrong "unused time" credit is gone), billed on the next invoice.
    sub = await emulator.get(f"/v1/subscriptions/{sub_id}")
    assert sub["items"]["data"][0]["plan"]["amount"] == new["monthly_total_cents"]
    pending = [
        i
        for i in (await emulator.get("/v1/invoiceitems", customer=sub["customer"]))["data"]
        if not i.get("invoice")
    ]
    assert [i["amount"] for i in pending] == [changed["proration_cents"]]

    intake = await session.scalar(
        select(Intake)
        .where(Intake.id == uuid.UUID(engaged.intake["id"]))
        .execution_options(populate_existing=True)
    )
    assert intake is not None
    assert intake.services == ["neurotoxins", "dermal_fillers"]


async def test_a_director_who_does_not_fit_the_new_scope_is_409_and_nothing_changes(
    client, session, settings, emulator
):
    no_lasers = [s for s in ALL_SERVICES if not s.startswith("laser")]
    doc = await make_physician(session, services=no_lasers, max_supervisees=3)
    engaged, body = await subscribed(client, session, settings, emulator, physician=doc)
    response = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={
            "services": ["neurotoxins", "laser_hair_removal"],
            "providers": [{"type": "rn", "count": 5}],
        },
        headers=engaged.admin,
    )
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["type"] == PROBLEMS + "scope-needs-new-director"
    [reason] = problem["reasons"]
    assert reason["physician_id"] == str(doc.id)
    assert {f["name"] for f in reason["failed"]} == {"services", "capacity_supervisees"}

    unchanged = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert unchanged["quote"]["id"] == body["quote"]["id"]
    intake = await session.scalar(
        select(Intake)
        .where(Intake.id == uuid.UUID(engaged.intake["id"]))
        .execution_options(populate_existing=True)
    )
    assert intake is not None
    assert intake.services == ["neurotoxins"]
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    assert sub["items"]["data"][0]["plan"]["amount"] == body["quote"]["monthly_total_cents"]


async def test_scope_change_validation(client, session, settings, emulator):
    engaged, _ = await subscribed(client, session, settings, emulator)
    bodies: list[dict[str, object]] = [
        {},
        {"billing_interval": "year"},
        {"services": []},
        {"services": None},
    ]
    for bad in bodies:
        response = await client.post(
            f"/v1/engagements/{engaged.id}/change-scope", json=bad, headers=engaged.admin
        )
        assert response.status_code == 422, bad


async def test_an_engagement_unpaid_after_23_hours_is_canceled(client, session, settings, emulator):
    engaged, body = await subscribed(
        client, session, settings, emulator, card="pm_card_chargeCustomerFail"
    )
    assert body["status"] == "pending_payment"
    with travel(timedelta(hours=22)):
        assert await jobs.expire_unpaid_engagements() == 0
    with travel(timedelta(hours=23, minutes=1)):
        assert await jobs.expire_unpaid_engagements() == 1
    engagement = await session.scalar(
        select(Engagement)
        .where(Engagement.id == uuid.UUID(engaged.id))
        .execution_options(populate_existing=True)
    )
    assert engagement is not None
    assert engagement.status == "canceled"
    assert all(d.ended_at is not None for d in engagement.directors)
    sub = await emulator.get(f"/v1/subscriptions/{body['stripe_subscription_id']}")
    assert sub["status"] == "canceled"


async def test_reconciliation_repairs_drift(client, session, settings, emulator):
    engaged, body = await subscribed(client, session, settings, emulator)
    assert body["status"] == "active"
    await session.execute(
        update(Engagement)
        .where(Engagement.id == uuid.UUID(engaged.id))
        .values(status="past_due", payment_status="failed", current_period_end=None)
    )
    await session.commit()
    result = await jobs.reconcile_all()
    assert result["repaired"] == 1
    assert result["unreachable"] == 0
    again = await jobs.reconcile_all()
    assert again["repaired"] == 0
    fixed = (await client.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)).json()
    assert (fixed["status"], fixed["payment_status"]) == ("active", "paid")
    assert fixed["current_period_end"] == body["current_period_end"]


async def test_scope_cannot_change_before_the_first_payment(client, session, settings):
    from tests.billing.helpers import confirmed_engagement

    engaged = await confirmed_engagement(client, session, settings)
    response = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={"monthly_patient_volume": 300},
        headers=engaged.admin,
    )
    assert response.status_code == 409
    assert response.json()["type"] == PROBLEMS + "engagement-not-billable"
    assert "subscribe first" in response.json()["detail"]


async def test_directors_cannot_change_scope_and_operations_see_invoices(
    client, session, settings, emulator
):
    from tests.factories import ops_headers

    engaged, _ = await subscribed(client, session, settings, emulator)
    by_doctor = await client.post(
        f"/v1/engagements/{engaged.id}/change-scope",
        json={"monthly_patient_volume": 300},
        headers=engaged.doctor,
    )
    assert by_doctor.status_code == 403
    ops = await ops_headers(client, session, settings)
    listed = await client.get(f"/v1/clinics/{engaged.clinic['id']}/invoices", headers=ops)
    assert listed.status_code == 200
    assert [i["status"] for i in listed.json()["items"]] == ["paid"]
    denied = await client.get(
        f"/v1/clinics/{engaged.clinic['id']}/invoices", headers=engaged.doctor
    )
    assert denied.status_code == 403
