"""Operations overrides: each refuses non-ops tokens, changes what it says, tells the people it
affects and leaves an audit entry with the operator's reason."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.audit.models import AuditEntry
from app.auth.models import User
from app.notifications.models import Notification
from tests.billing.helpers import subscribed
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician, physician_headers


async def _audit(session, action: str, object_id: str) -> list[AuditEntry]:
    return list(
        await session.scalars(
            select(AuditEntry).where(AuditEntry.action == action, AuditEntry.object_id == object_id)
        )
    )


async def _submitted_intake(client, states=("TX",)):
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, states, ownership_model="mso")
    intake = await create_intake(client, admin, clinic["id"])
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.status_code == 200, submitted.text
    return admin, submitted.json()


async def test_overrides_refuse_everyone_but_operations(client, session, settings):
    admin, intake = await _submitted_intake(client)
    doctor = await physician_headers(client, session, settings, await make_physician(session))
    calls = [
        ("POST", f"/v1/intakes/{intake['id']}/rematch", {"reason": "stalled"}),
        (
            "POST",
            f"/v1/intakes/{intake['id']}/offers",
            {"physician_id": str(uuid.uuid4()), "reason": "asked for"},
        ),
        ("POST", f"/v1/offers/{uuid.uuid4()}/withdraw", {"reason": "mistake"}),
        ("POST", f"/v1/invoices/{uuid.uuid4()}/refund", {"reason": "goodwill"}),
    ]
    for method, path, body in calls:
        for who in (admin, doctor, {}):
            response = await client.request(method, path, json=body, headers=who)
            assert response.status_code == (401 if not who else 403), (path, response.text)


async def test_overrides_on_missing_objects_are_404(client, session, settings):
    ops = await ops_headers(client, session, settings)
    missing = uuid.uuid4()
    for path, body in (
        (f"/v1/intakes/{missing}/rematch", {"reason": "stalled"}),
        (f"/v1/intakes/{missing}/offers", {"physician_id": str(missing), "reason": "named"}),
        (f"/v1/offers/{missing}/withdraw", {"reason": "mistake"}),
        (f"/v1/invoices/{missing}/refund", {"reason": "goodwill"}),
    ):
        response = await client.post(path, json=body, headers=ops)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_rematch_an_unmatched_intake_once_a_physician_is_available(client, session, settings):
    _, intake = await _submitted_intake(client, states=("CA",))
    assert intake["status"] == "unmatched"
    newcomer = await make_physician(session, states=("CA",), home_zip="90210")
    await session.commit()
    ops = await ops_headers(client, session, settings)
    missing_reason = await client.post(f"/v1/intakes/{intake['id']}/rematch", json={}, headers=ops)
    assert missing_reason.status_code == 422
    rematched = await client.post(
        f"/v1/intakes/{intake['id']}/rematch", json={"reason": "new CA physician"}, headers=ops
    )
    assert rematched.status_code == 200, rematched.text
    assert rematched.json()["status"] == "matching"
    doctor = await physician_headers(client, session, settings, newcomer)
    offers = (await client.get("/v1/physicians/me/offers", headers=doctor)).json()["items"]
    assert [o["status"] for o in offers] == ["pending"]
    [entry] = await _audit(session, "ops.rematch", intake["id"])
    assert entry.after is not None
    assert entry.after["reason"] == "new CA physician"
    assert entry.before == {"status": "unmatched", "round": 1}


async def test_offer_to_a_named_physician_checks_constraints_unless_forced(
    client, session, settings
):
    await make_physician(session, last_name="First")
    await session.commit()
    _, intake = await _submitted_intake(client)
    assert intake["status"] == "matching"
    ops = await ops_headers(client, session, settings)
    unlicensed = await make_physician(session, states=("CA",), last_name="Wu", home_zip="94103")
    eligible = await make_physician(session, last_name="Ng")
    await session.commit()

    refused = await client.post(
        f"/v1/intakes/{intake['id']}/offers",
        json={"physician_id": str(unlicensed.id), "reason": "clinic asked for Dr. Wu"},
        headers=ops,
    )
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("/constraints-not-met")
    assert "license_in_state" in problem["failed"] or problem["failed"]

    forced = await client.post(
        f"/v1/intakes/{intake['id']}/offers",
        json={
            "physician_id": str(unlicensed.id),
            "reason": "license issued today, registry lagging",
            "force": True,
        },
        headers=ops,
    )
    assert forced.status_code == 201, forced.text
    assert forced.json()["status"] == "pending"
    named = await client.post(
        f"/v1/intakes/{intake['id']}/offers",
        json={"physician_id": str(eligible.id), "reason": "clinic asked for Dr. Ng"},
        headers=ops,
    )
    assert named.status_code == 201, named.text
    again = await client.post(
        f"/v1/intakes/{intake['id']}/offers",
        json={"physician_id": str(eligible.id), "reason": "twice"},
        headers=ops,
    )
    assert again.status_code == 409

    entries = await _audit(session, "ops.offer_sent", intake["id"])
    forced_entry = next(
        e for e in entries if e.after and e.after["physician_id"] == str(unlicensed.id)
    )
    assert forced_entry.after is not None
    assert forced_entry.after["forced_constraints"] == problem["failed"]
    ng = next(e for e in entries if e.after and e.after["physician_id"] == str(eligible.id))
    assert ng.after is not None
    assert ng.after["forced_constraints"] == []


async def test_withdraw_an_offer_tells_the_physician_and_moves_the_cascade_on(
    client, session, settings
):
    first = await make_physician(session, last_name="Adams", aesthetic_years=14)
    second = await make_physician(session, last_name="Baker", aesthetic_years=1)
    await session.commit()
    settings.match_fan_out, fan_out = 1, settings.match_fan_out
    try:
        await _submitted_intake(client)
        ops = await ops_headers(client, session, settings)
        doctor_one = await physician_headers(client, session, settings, first)
        doctor_two = await physician_headers(client, session, settings, second)
        [offer] = (await client.get("/v1/physicians/me/offers", headers=doctor_one)).json()["items"]
        assert (await client.get("/v1/physicians/me/offers", headers=doctor_two)).json()[
            "items"
        ] == []
        withdrawn = await client.post(
            f"/v1/offers/{offer['id']}/withdraw",
            json={"reason": "conflict of interest"},
            headers=ops,
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert withdrawn.json()["status"] == "withdrawn"
        [next_offer] = (await client.get("/v1/physicians/me/offers", headers=doctor_two)).json()[
            "items"
        ]
        assert next_offer["status"] == "pending"
        twice = await client.post(
            f"/v1/offers/{offer['id']}/withdraw", json={"reason": "again"}, headers=ops
        )
        assert twice.status_code == 409
    finally:
        settings.match_fan_out = fan_out
    kinds = list(
        await session.scalars(
            select(Notification.kind).where(Notification.user_id == first.user_id)
        )
    )
    assert "offer.withdrawn" in kinds
    [entry] = await _audit(session, "ops.offer_withdrawn", offer["id"])
    assert entry.after == {"status": "withdrawn", "reason": "conflict of interest"}


async def test_operations_cancel_on_the_clinics_behalf_with_a_reason(
    client, session, settings, emulator
):
    engaged, _ = await subscribed(client, session, settings, emulator)
    ops = await ops_headers(client, session, settings)
    no_reason = await client.post(
        f"/v1/engagements/{engaged.id}/cancel", json={"at_period_end": False}, headers=ops
    )
    assert no_reason.status_code == 422
    canceled = await client.post(
        f"/v1/engagements/{engaged.id}/cancel",
        json={"at_period_end": False, "reason": "clinic closed, confirmed by phone"},
        headers=ops,
    )
    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    admin_id = (await client.get("/v1/me", headers=engaged.admin)).json()["id"]
    kinds = list(
        await session.scalars(
            select(Notification.kind).where(Notification.user_id == uuid.UUID(admin_id))
        )
    )
    assert "engagement.canceled_by_operations" in kinds
    [entry] = await _audit(session, "engagement.cancel_requested", engaged.id)
    assert entry.after is not None
    assert entry.after["reason"] == "clinic closed, confirmed by phone"


async def test_refund_part_then_the_rest_of_a_paid_invoice(client, session, settings, emulator):
    engaged, _ = await subscribed(client, session, settings, emulator)
    ops = await ops_headers(client, session, settings)
    [invoice] = (
        await client.get(f"/v1/clinics/{engaged.clinic['id']}/invoices", headers=ops)
    ).json()["items"]
    paid = invoice["amount_paid_cents"]
    assert paid > 1_000
    part = await client.post(
        f"/v1/invoices/{invoice['id']}/refund",
        json={"amount_cents": 1_000, "reason": "onboarding delay credit"},
        headers=ops,
    )
    assert part.status_code == 200, part.text
    assert (part.json()["amount_cents"], part.json()["amount_refunded_cents"]) == (1_000, 1_000)
    too_much = await client.post(
        f"/v1/invoices/{invoice['id']}/refund",
        json={"amount_cents": paid, "reason": "everything"},
        headers=ops,
    )
    assert too_much.status_code == 409
    assert too_much.json()["refundable_cents"] == paid - 1_000
    rest = await client.post(
        f"/v1/invoices/{invoice['id']}/refund", json={"reason": "clinic closed"}, headers=ops
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["amount_refunded_cents"] == paid
    # Stripe (the emulator) holds both refunds.
    refunds = await emulator.get("/v1/refunds", limit=100)
    mine = {r["id"] for r in refunds["data"]}
    assert {part.json()["stripe_refund_id"], rest.json()["stripe_refund_id"]} <= mine
    listed = (
        await client.get(f"/v1/clinics/{engaged.clinic['id']}/invoices", headers=engaged.admin)
    ).json()["items"]
    assert listed[0]["amount_refunded_cents"] == paid
    entries = await _audit(session, "ops.invoice_refunded", invoice["id"])
    assert sorted(e.after["amount_cents"] for e in entries if e.after) == sorted(
        [1_000, paid - 1_000]
    )


async def test_operations_see_who_got_each_offer_and_match_the_clinic_does_not(
    client, session, settings
):
    doctor = await make_physician(session, last_name="Okafor")
    await session.commit()
    admin, intake = await _submitted_intake(client)
    ops = await ops_headers(client, session, settings)
    email = await session.scalar(select(User.email).where(User.id == doctor.user_id))

    as_ops = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()
    [card] = as_ops["items"]
    assert card["physician"]["display_name"] == f"Dr. {doctor.first_name} Okafor"
    assert card["physician"]["email"] == email
    as_clinic = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).json()
    assert as_clinic["items"][0]["physician"]["email"] is None
    assert "Okafor" not in as_clinic["items"][0]["physician"]["display_name"]

    withdrawn = await client.post(
        f"/v1/offers/{card['offer_id']}/withdraw", json={"reason": "wrong state"}, headers=ops
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["physician"] == {
        "id": str(doctor.id),
        "name": f"Dr. {doctor.first_name} Okafor",
        "email": email,
    }
    # The physician's own view of the offer does not carry the operations-only field.
    own = await client.get(
        f"/v1/offers/{card['offer_id']}",
        headers=await physician_headers(client, session, settings, doctor),
    )
    assert own.json()["physician"] is None


async def test_the_clinic_sees_that_operations_overrode_not_their_note_or_who(
    client, session, settings
):
    await make_physician(session, last_name="First")
    await session.commit()
    admin, intake = await _submitted_intake(client)
    ops = await ops_headers(client, session, settings)
    unlicensed = await make_physician(session, states=("CA",), last_name="Wu", home_zip="94103")
    await session.commit()
    note = "internal: board complaint pending, ok'd by J."
    forced = await client.post(
        f"/v1/intakes/{intake['id']}/offers",
        json={"physician_id": str(unlicensed.id), "reason": note, "force": True},
        headers=ops,
    )
    assert forced.status_code == 201, forced.text
    ops_id = (await client.get("/v1/me", headers=ops)).json()["id"]

    seen = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).text
    assert note not in seen
    assert ops_id not in seen
    [card] = [
        m
        for m in (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=admin)).json()[
            "items"
        ]
        if "override" in m["explanation"]
    ]
    assert card["explanation"]["override"]["by"] == "operations"
    assert card["explanation"]["override"]["forced"]
    # Operations still see their note and who made it.
    ops_view = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()
    [mine] = [m for m in ops_view["items"] if "override" in m["explanation"]]
    assert mine["explanation"]["override"] == {
        "by": ops_id,
        "reason": note,
        "forced": card["explanation"]["override"]["forced"],
    }


async def test_a_direct_offer_to_a_ranked_candidate_reuses_their_match(client, session, settings):
    first = await make_physician(session, last_name="Adams", aesthetic_years=14)
    second = await make_physician(session, last_name="Baker", aesthetic_years=1)
    await session.commit()
    settings.match_fan_out, fan_out = 1, settings.match_fan_out
    try:
        _, intake = await _submitted_intake(client)
    finally:
        settings.match_fan_out = fan_out
    ops = await ops_headers(client, session, settings)
    cards = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()["items"]
    assert {c["physician"]["id"]: c["status"] for c in cards} == {
        str(first.id): "offered",
        str(second.id): "candidate",
    }
    direct = await client.post(
        f"/v1/intakes/{intake['id']}/offers",
        json={"physician_id": str(second.id), "reason": "the clinic asked for Dr. Baker"},
        headers=ops,
    )
    assert direct.status_code == 201, direct.text
    cards = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()["items"]
    assert len(cards) == 2  # the candidate's match was used, not a second one
    baker = next(c for c in cards if c["physician"]["id"] == str(second.id))
    assert baker["status"] == "offered"
    assert baker["explanation"]["override"]["reason"] == "the clinic asked for Dr. Baker"
    doctor = await physician_headers(client, session, settings, second)
    [offer] = (await client.get("/v1/physicians/me/offers", headers=doctor)).json()["items"]
    assert offer["status"] == "pending"
    again = await client.post(
        f"/v1/intakes/{intake['id']}/offers",
        json={"physician_id": str(second.id), "reason": "twice"},
        headers=ops,
    )
    assert again.status_code == 409
