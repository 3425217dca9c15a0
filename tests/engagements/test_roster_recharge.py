"""A roster change during a live engagement charges its director again:
queued by the roster edit, run as a job, audited; a cap the new roster exceeds is reported to
the clinic and operations, with the rule it comes from."""

from __future__ import annotations

import uuid

from sqlalchemy import select, text

from app.audit.models import AuditEntry
from app.engagements import jobs
from app.engagements.models import EngagementDirector
from app.notifications.models import Notification
from tests.clinics.helpers import create_clinic, create_intake
from tests.clinics.test_roster import add
from tests.factories import user_headers
from tests.matching.helpers import make_physician, physician_headers


async def engaged_clinic(client, session, settings):
    doc = await make_physician(session, max_supervisees=40)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    await add(client, admin, clinic)  # one PA
    intake = await create_intake(client, admin, clinic["id"])
    assert (
        await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    ).status_code == 200
    doctor = await physician_headers(client, session, settings, doc)
    [offer] = (await client.get("/v1/physicians/me/offers", headers=doctor)).json()["items"]
    assert (
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=doctor)
    ).status_code == 200
    confirmed = await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)
    assert confirmed.status_code == 201, confirmed.text
    return admin, clinic, confirmed.json(), doc


async def director_of(session, engagement_id):
    row = await session.scalar(
        select(EngagementDirector)
        .where(EngagementDirector.engagement_id == uuid.UUID(engagement_id))
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def queued(session, clinic_id) -> int:
    return int(
        await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
                "'engagements.recharge_directors' AND args->>'clinic_id' = :c"
            ),
            {"c": clinic_id},
        )
    )


async def test_roster_changes_recharge_the_director_and_caps_are_reported(
    client, session, settings
):
    admin, clinic, engagement, _ = await engaged_clinic(client, session, settings)
    d = await director_of(session, engagement["id"])
    assert (d.pa_count, d.np_count, d.supervisees) == (1, 0, 1)

    await add(client, admin, clinic, type="np", license_type="APRN", license_number="AP1")
    assert await queued(session, clinic["id"]) >= 1  # queued with the roster change itself
    result = await jobs.recharge_directors_job(clinic["id"])
    assert result == {"directors_recharged": 1, "over_caps": 0}
    d = await director_of(session, engagement["id"])
    assert (d.pa_count, d.np_count, d.supervisees, float(d.supervisees_fte)) == (1, 1, 2, 2.0)
    audit = await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "engagement.director_recharged",
            AuditEntry.object_id == engagement["id"],
        )
    )
    assert audit is not None
    assert (audit.before["np_count"], audit.after["np_count"]) == (0, 1)
    # Run again: nothing changes.
    assert (await jobs.recharge_directors_job(clinic["id"]))["directors_recharged"] == 0

    # Texas: at most seven NPs and PAs together per physician (22 TAC §193.7).
    for i in range(7):
        await add(
            client, admin, clinic, type="np", license_type="APRN", license_number=f"AP{i + 2}"
        )
    result = await jobs.recharge_directors_job(clinic["id"])
    assert result["directors_recharged"] == 1
    assert result["over_caps"] >= 1
    d = await director_of(session, engagement["id"])
    assert (d.pa_count, d.np_count) == (1, 8)
    notes = list(
        await session.scalars(
            select(Notification).where(Notification.kind == "engagement.roster_over_cap")
        )
    )
    clinic_notes = [n for n in notes if (n.data or {}).get("engagement_id") == engagement["id"]]
    assert clinic_notes, "the clinic's admins and operations are told"
    assert any("Texas" in n.body and "193.7" in n.body for n in clinic_notes)
    # Removing people lowers the charge again.
    people = (await client.get(f"/v1/clinics/{clinic['id']}/providers", headers=admin)).json()[
        "items"
    ]
    for p in [p for p in people if p["type"] == "np"][:6]:
        r = await client.delete(f"/v1/clinics/{clinic['id']}/providers/{p['id']}", headers=admin)
        assert r.status_code == 204
    await jobs.recharge_directors_job(clinic["id"])
    d = await director_of(session, engagement["id"])
    assert (d.pa_count, d.np_count) == (1, 2)


async def test_a_clinic_without_live_engagements_is_left_alone(client, session):
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    await add(client, admin, clinic)
    assert await queued(session, clinic["id"]) == 1
    assert await jobs.recharge_directors_job(clinic["id"]) == {
        "directors_recharged": 0,
        "over_caps": 0,
    }
