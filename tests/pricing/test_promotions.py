"""FIRST200 is once per clinic: one of its intakes at a time may be matched or engaged with it."""

from __future__ import annotations

from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import user_headers
from tests.matching.helpers import make_physician

PROBLEMS = "https://mdmatch.dev/problems/"


async def test_a_once_per_clinic_promotion_goes_with_one_intake_at_a_time(client, session):
    await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    first = await create_intake(client, admin, clinic["id"], promo_code="FIRST200")
    second = await create_intake(client, admin, clinic["id"], promo_code="first200")
    submitted = await client.post(f"/v1/intakes/{first['id']}/submit", headers=admin)
    assert submitted.json()["status"] == "matching", submitted.text

    refused = await client.post(f"/v1/intakes/{second['id']}/submit", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEMS + "promotion-used"
    assert refused.json()["intake_id"] == first["id"]
    still = (await client.get(f"/v1/intakes/{second['id']}", headers=admin)).json()
    assert still["status"] == "draft"  # nothing was written

    # Another clinic is not affected; this clinic's second intake goes through without the
    # code, or with it once the first is withdrawn.
    other = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    theirs = await create_intake(client, admin, other["id"], promo_code="FIRST200")
    ok = await client.post(f"/v1/intakes/{theirs['id']}/submit", headers=admin)
    assert ok.json()["status"] == "matching", ok.text
    withdrawn = await client.post(f"/v1/intakes/{first['id']}/withdraw", headers=admin)
    assert withdrawn.status_code == 200
    again = await client.post(f"/v1/intakes/{second['id']}/submit", headers=admin)
    assert again.json()["status"] == "matching", again.text
