"""The audit trail of a full flow: every change that matters leaves an entry, with who did it."""

from __future__ import annotations

from tests.billing.helpers import Emulator, confirmed_engagement
from tests.factories import ops_headers
from tests.matching.helpers import make_physician


async def entries(client, ops, **params):
    return (await client.get("/v1/audit", params={**params, "limit": 200}, headers=ops)).json()[
        "items"
    ]


async def test_a_full_flow_leaves_a_complete_trail(client, session, settings, stripe_url):
    ops = await ops_headers(client, session, settings)
    doc = await make_physician(session)
    # Operations suspend and reinstate the physician (both audited with the reason).
    assert (
        await client.post(
            f"/v1/physicians/{doc.id}/suspend", json={"reason": "license check"}, headers=ops
        )
    ).status_code == 200
    assert (
        await client.post(
            f"/v1/physicians/{doc.id}/reinstate", json={"reason": "cleared"}, headers=ops
        )
    ).status_code == 200
    engaged = await confirmed_engagement(client, session, settings, physician=doc)
    setup = await client.post(f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin)
    await Emulator(stripe_url).confirm_card(setup.json()["setup_intent_id"])
    await client.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
    await client.post(
        f"/v1/engagements/{engaged.id}/cancel", json={"at_period_end": False}, headers=engaged.admin
    )

    physician_trail = [e["action"] for e in await entries(client, ops, object_id=str(doc.id))]
    assert {"physician.suspended", "physician.reinstated"} <= set(physician_trail)
    intake_trail = [e["action"] for e in await entries(client, ops, object_id=engaged.intake["id"])]
    assert {"intake.created", "intake.submitted", "intake.confirmed"} <= set(intake_trail)
    offer_entries = await entries(client, ops, object_type="offer")
    accepted = [
        e
        for e in offer_entries
        if e["action"] == "offer.accepted" and e["after"]["intake_id"] == engaged.intake["id"]
    ]
    assert len(accepted) == 1
    assert accepted[0]["actor_id"] == str(doc.user_id)
    engagement_trail = await entries(client, ops, object_id=engaged.id)
    actions = [e["action"] for e in engagement_trail]
    assert {
        "engagement.subscribed",
        "engagement.status_changed",
        "engagement.cancel_requested",
        "engagement.canceled",
    } <= set(actions)
    activated = next(e for e in engagement_trail if e["action"] == "engagement.status_changed")
    assert (activated["before"]["status"], activated["after"]["status"]) == (
        "pending_payment",
        "active",
    )
    assert activated["actor_id"] is None  # the system, from Stripe's state
