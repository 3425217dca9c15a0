"""Before accepting, the physician sees what they would take liability for, but not who."""

from __future__ import annotations

from tests.clinics.helpers import create_clinic, create_intake
from tests.clinics.test_roster import add
from tests.factories import user_headers
from tests.matching.helpers import make_physician, physician_headers


async def test_the_offer_shows_the_practice_but_not_the_clinic_before_confirmation(
    client, session, settings
):
    doctor = await make_physician(session, states=("TX",))
    headers = await physician_headers(client, session, settings, doctor)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    await add(client, admin, clinic, type="np", license_type="APRN-CNP", fte=0.5)
    await add(client, admin, clinic, type="np", license_type="APRN-CNP", fte=0.75)
    await add(client, admin, clinic, type="rn", license_type="RN", fte=1.0)
    intake = await create_intake(
        client, admin, clinic["id"], services=["neurotoxins"], monthly_patient_volume=180
    )
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.json()["status"] == "matching", submitted.text

    [offer] = (await client.get("/v1/physicians/me/offers", headers=headers)).json()["items"]
    practice = offer["practice"]
    assert practice["locations"] == [{"city": "Austin", "state": "TX"}]
    assert practice["ownership_model"] == "mso"
    assert practice["staffing_source"] == "roster"
    assert practice["supervisees"] == [
        {"type": "np", "count": 2, "fte": 1.25},
        {"type": "rn", "count": 1, "fte": 1.0},
    ]
    assert practice["expected_monthly_cases"] == 180
    assert {f["code"] for f in practice["compliance_flags"]} == {
        f["code"] for f in submitted.json()["compliance_flags"]
    }
    assert offer["clinic"] is None
    one = (await client.get(f"/v1/offers/{offer['id']}", headers=headers)).json()
    assert one["practice"] == practice
    assert clinic["legal_name"] not in str(one)
    assert clinic["contact"]["email"] not in str(one)
