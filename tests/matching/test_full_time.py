"""A full-time engagement takes the physician's whole capacity."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.matching.models import Match
from tests.clinics.helpers import create_clinic, create_intake, intake_body
from tests.factories import user_headers
from tests.matching.helpers import make_physician
from tests.matching.test_constraints import hold_capacity


async def _matched(client, session, admin, model: str) -> set[uuid.UUID]:
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    intake = await create_intake(client, admin, clinic["id"], engagement_model=model)
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.status_code == 200, submitted.text
    rows = await session.scalars(select(Match).where(Match.intake_id == uuid.UUID(intake["id"])))
    return {m.physician_id for m in rows}


async def test_full_time_needs_a_free_physician_and_keeps_them(client, session):
    busy = await make_physician(session, last_name="Busy")
    free = await make_physician(session, last_name="Free")
    full = await make_physician(session, last_name="Fulltime")
    admin = await user_headers(client, "clinic_admin")
    elsewhere = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    await hold_capacity(session, busy, clinic_id=elsewhere["id"])
    await hold_capacity(session, full, clinic_id=elsewhere["id"], engagement_model="full_time")

    # A full-time intake goes only to a physician who directs no other clinic.
    assert await _matched(client, session, admin, "full_time") == {free.id}
    # Any other engagement skips the physician already working full time elsewhere.
    assert await _matched(client, session, admin, "retainer") == {busy.id, free.id}


async def test_a_fractional_engagement_takes_its_stated_share_of_the_clinics(client, session):
    """Four clinic places; a half share takes two, three quarters take three."""
    doctor = await make_physician(session, last_name="Shared", max_clinics=4)
    admin = await user_headers(client, "clinic_admin")
    elsewhere = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    await hold_capacity(
        session,
        doctor,
        clinic_id=elsewhere["id"],
        engagement_model="fractional",
        fractional_share=0.5,
    )

    async def matched(**intake) -> bool:
        clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
        created = await create_intake(client, admin, clinic["id"], **intake)
        answer = await client.post(f"/v1/intakes/{created['id']}/submit", headers=admin)
        rows = await session.scalars(
            select(Match).where(Match.intake_id == uuid.UUID(answer.json()["id"]))
        )
        return doctor.id in {m.physician_id for m in rows}

    assert await matched(engagement_model="fractional", fractional_share=0.75) is False
    assert await matched(engagement_model="fractional", fractional_share=0.5) is True
    assert await matched(engagement_model="retainer") is True
    refused = await client.post(
        f"/v1/clinics/{elsewhere['id']}/intakes",
        json=intake_body(engagement_model="retainer", fractional_share=0.5),
        headers=admin,
    )
    assert refused.status_code == 422
