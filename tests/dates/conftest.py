from __future__ import annotations

import uuid

import pytest

from tests.billing.helpers import confirmed_engagement
from tests.clinics.helpers import create_clinic, create_intake
from tests.dates.helpers import Draft, EngagementIds
from tests.factories import user_headers
from tests.matching.helpers import make_physician

FOREVER = 50_000  # days


@pytest.fixture
async def engaged(client, session, settings) -> EngagementIds:
    """A confirmed engagement (pending payment, one director), made once per test and shared by
    its examples."""
    made = await confirmed_engagement(client, session, settings)
    return EngagementIds(uuid.UUID(made.id), made.physician.id, made.physician.user_id)


@pytest.fixture
async def draft(client, session) -> Draft:
    """A draft intake in Texas and the one physician who fits it, licensed and insured past
    every instant the strategies draw (to 2101)."""
    doc = await make_physician(session, license_days=FOREVER, malpractice_days=FOREVER)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    intake = await create_intake(client, admin, clinic["id"])
    me = (await client.get("/v1/me", headers=admin)).json()
    return Draft(uuid.UUID(intake["id"]), uuid.UUID(me["id"]), doc.id, doc.user_id)
