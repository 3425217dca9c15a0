"""Florida's satellite-office rule (Fla. Stat. §458.348(3)) in the pre-check and in matching:
a physician supervising NPs or PAs at a skin-care office that is not their own practice must be
board-certified or board-eligible in dermatology or plastic surgery and practise within 25 miles;
self-declared specialties do not count."""

from __future__ import annotations

import uuid
from datetime import timedelta

from app.kit.clock import today, utcnow
from app.physicians.models import BoardCertification
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician

INTAKE = {
    "services": ["neurotoxins", "dermal_fillers"],
    "providers": [{"type": "np", "count": 1}],
    "oversight_mode": "hybrid",
}


async def certify(session, physician, specialty="dermatology", *, status="verified"):
    session.add(
        BoardCertification(
            id=uuid.uuid4(),
            physician_id=physician.id,
            board=f"American Board of {specialty.replace('_', ' ').title()}",
            specialty=specialty,
            certification="certified",
            status=status,
            verified_at=utcnow() if status == "verified" else None,
            expires_on=today() + timedelta(days=365),
        )
    )
    await session.commit()


async def test_the_florida_probe(client, session, settings):
    # The probe: a family physician about 66 miles away (West Palm Beach) was offered a Miami
    # dermatology intake.
    family = await make_physician(
        session, states=("FL",), home_zip="33401", specialties=("family_medicine",), last_name="Far"
    )
    self_declared = await make_physician(
        session, states=("FL",), home_zip="33134", specialties=("dermatology",), last_name="Says"
    )
    too_far = await make_physician(session, states=("FL",), home_zip="33441", last_name="North")
    await certify(session, too_far)
    pending = await make_physician(session, states=("FL",), home_zip="33134", last_name="Wait")
    await certify(session, pending, status="pending")
    plastics = await make_physician(session, states=("FL",), home_zip="33009", last_name="Near")
    await certify(session, plastics, "plastic_surgery")

    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("FL",))
    intake = await create_intake(client, admin, clinic["id"], **INTAKE)
    [flag] = [f for f in intake["compliance_flags"] if f["code"] == "satellite_office_rule"]
    assert flag["severity"] == "warning"
    assert "458.348" in flag["citation"]
    assert "dermatology or plastic surgery" in flag["message"]
    assert "25 miles" in flag["message"]

    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.status_code == 200, submitted.text
    ops = await ops_headers(client, session, settings)
    offered = {
        m["physician"]["id"]
        for m in (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()[
            "items"
        ]
    }
    assert offered == {str(plastics.id)}

    for physician in (family, self_declared, too_far, pending):
        report = (
            await client.get(
                f"/v1/intakes/{intake['id']}/diagnostics",
                params={"physician_id": str(physician.id)},
                headers=ops,
            )
        ).json()["physician"]
        failed = [c for c in report if not c["passed"]]
        assert [c["name"] for c in failed] == ["satellite:FL:0"], physician.last_name
        assert "458.348" in failed[0]["description"]


async def test_on_site_oversight_is_not_a_satellite_office(client, session, settings):
    family = await make_physician(
        session, states=("FL",), home_zip="33134", specialties=("family_medicine",)
    )
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("FL",))
    onsite = INTAKE | {"oversight_mode": "onsite"}
    intake = await create_intake(client, admin, clinic["id"], **onsite)
    assert "satellite_office_rule" not in {f["code"] for f in intake["compliance_flags"]}
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.json()["status"] == "matching"
    ops = await ops_headers(client, session, settings)
    matches = (await client.get(f"/v1/intakes/{intake['id']}/matches", headers=ops)).json()
    assert [m["physician"]["id"] for m in matches["items"]] == [str(family.id)]


async def test_wellness_only_or_no_nps_and_pas_is_not_a_skin_care_satellite(client):
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("FL",))
    wellness = await create_intake(
        client, admin, clinic["id"], **(INTAKE | {"services": ["iv_therapy", "glp1_weight_loss"]})
    )
    assert "satellite_office_rule" not in {f["code"] for f in wellness["compliance_flags"]}
    rns_only = await create_intake(
        client, admin, clinic["id"], **(INTAKE | {"providers": [{"type": "rn", "count": 2}]})
    )
    assert "satellite_office_rule" not in {f["code"] for f in rns_only["compliance_flags"]}
