"""End to end through the API: a clinic registers an endpoint, confirms its intake, and the
`engagement.confirmed` event the lifecycle writes reaches the endpoint, signed."""

from __future__ import annotations

import json

from app.webhooks import jobs
from app.webhooks.signing import verify
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import user_headers
from tests.matching.helpers import make_physician, physician_headers
from tests.webhooks.helpers import queued, register_endpoint, run_deliveries


async def test_confirming_an_intake_pushes_engagement_confirmed_to_the_clinics_endpoint(
    client, session, settings, receiver
):
    doc = await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    endpoint = await register_endpoint(client, admin, receiver.url, ["engagement.confirmed"])
    intake = await create_intake(client, admin, clinic["id"])
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.status_code == 200, submitted.text
    doctor = await physician_headers(client, session, settings, doc)
    [offer] = (await client.get("/v1/physicians/me/offers", headers=doctor)).json()["items"]
    accepted = await client.post(f"/v1/offers/{offer['id']}/accept", headers=doctor)
    assert accepted.status_code == 200, accepted.text
    confirmed = await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)
    assert confirmed.status_code == 201, confirmed.text
    engagement = confirmed.json()

    # The confirm queued the fan-out with its event; a worker runs it, then the delivery.
    fan_outs = await queued(session, "webhooks.fan_out")
    assert fan_outs
    created = sum([await jobs.fan_out(**job.args) for job in fan_outs])
    assert created == 1
    assert await run_deliveries(session) == ["delivered"]

    [request] = receiver.requests
    sent = json.loads(request.body)
    assert sent["type"] == "engagement.confirmed"
    assert sent["engagement_id"] == engagement["id"]
    assert sent["clinic_id"] == clinic["id"]
    assert sent["data"]["intake_id"] == intake["id"]
    assert request.headers["mdmatch-event-id"] == sent["id"]
    assert verify(request.body, request.headers["mdmatch-signature"], endpoint["secret"])
    log = await client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=admin)
    [item] = log.json()["items"]
    assert (item["event_type"], item["status"]) == ("engagement.confirmed", "delivered")
