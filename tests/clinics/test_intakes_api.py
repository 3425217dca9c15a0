from __future__ import annotations

from datetime import timedelta

import pytest

from app.kit.clock import today
from tests.clinics.helpers import create_clinic, create_intake, intake_body
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician

PROBLEMS = "https://mdmatch.dev/problems/"


async def admin_with_clinic(client, states=("TX",), **clinic):
    headers = await user_headers(client, "clinic_admin")
    return headers, await create_clinic(client, headers, states, **clinic)


async def test_intake_starts_draft_with_flags(client):
    headers, clinic = await admin_with_clinic(client)
    intake = await create_intake(client, headers, clinic["id"])
    assert intake["status"] == "draft"
    assert intake["clinic_id"] == clinic["id"]
    assert [(f["code"], f["severity"], f["state"]) for f in intake["compliance_flags"]] == [
        ("gfe_by_director", "warning", "TX")
    ]
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=headers)).json() == intake


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"services": ["neurotoxins", "unicorn_facials"]}, "services"),
        ({"services": []}, "services"),
        ({"providers": [{"type": "rn", "count": -1}]}, "count"),
        ({"providers": [{"type": "rn", "count": 501}]}, "count"),
        ({"providers": [{"type": "doula", "count": 1}]}, "type"),
        ({"providers": [{"type": "rn", "count": 1}, {"type": "rn", "count": 2}]}, "providers"),
        ({"desired_start": "2020-01-01"}, "desired_start"),
        ({"engagement_model": "weekends"}, "engagement_model"),
        ({"oversight_mode": "telepathy"}, "oversight_mode"),
        ({"billing_interval": "week"}, "billing_interval"),
        ({"monthly_patient_volume": -5}, "monthly_patient_volume"),
    ],
)
async def test_invalid_intakes_are_422_naming_the_field(client, overrides, field):
    headers, clinic = await admin_with_clinic(client)
    response = await client.post(
        f"/v1/clinics/{clinic['id']}/intakes", json=intake_body(**overrides), headers=headers
    )
    assert response.status_code == 422, response.text
    assert any(field in e["loc"] for e in response.json()["errors"]), response.json()


async def test_nobody_to_perform_services_is_422_unless_the_physician_does(client):
    headers, clinic = await admin_with_clinic(client)
    path = f"/v1/clinics/{clinic['id']}/intakes"
    empty = await client.post(path, json=intake_body(providers=[]), headers=headers)
    assert empty.status_code == 422
    assert "physician_performs_services" in empty.json()["detail"]
    ok = await client.post(
        path, json=intake_body(providers=[], physician_performs_services=True), headers=headers
    )
    assert ok.status_code == 201


async def test_acceptance_cpom_blocks_submit_until_mso(client, session):
    await make_physician(session, states=("CA",), home_zip="90210")
    headers, clinic = await admin_with_clinic(
        client, ("CA",), ownership_model="non_physician_owned"
    )
    intake = await create_intake(
        client, headers, clinic["id"], providers=[{"type": "np", "count": 1}]
    )
    assert ("cpom_requires_mso", "blocking", "CA") in {
        (f["code"], f["severity"], f["state"]) for f in intake["compliance_flags"]
    }
    submit = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=headers)
    assert submit.status_code == 409
    body = submit.json()
    assert body["type"] == PROBLEMS + "blocking-compliance-flags"
    assert [f["code"] for f in body["flags"]] == ["cpom_requires_mso"]
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=headers)).json()[
        "status"
    ] == "draft"

    # The same clinic restructured as an MSO: every view of the intake drops the blocking flag
    # at once (not only at submit), and submit goes through.
    await client.patch(
        f"/v1/clinics/{clinic['id']}", json={"ownership_model": "mso"}, headers=headers
    )
    view = (await client.get(f"/v1/intakes/{intake['id']}", headers=headers)).json()
    listed = (await client.get(f"/v1/clinics/{clinic['id']}/intakes", headers=headers)).json()
    for shown in (view, listed["items"][0]):
        assert "cpom_requires_mso" not in {f["code"] for f in shown["compliance_flags"]}
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=headers)
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "matching"
    assert not [f for f in submitted.json()["compliance_flags"] if f["severity"] == "blocking"]


async def test_acceptance_tx_rns_only_warns_and_submits(client, session):
    await make_physician(session)
    headers, clinic = await admin_with_clinic(client)
    intake = await create_intake(
        client, headers, clinic["id"], providers=[{"type": "rn", "count": 3}]
    )
    assert {f["code"] for f in intake["compliance_flags"]} == {"gfe_by_director"}
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=headers)
    assert submitted.status_code == 200
    assert submitted.json()["status"] == "matching"
    assert submitted.json()["submitted_at"] is not None


async def test_submitted_intake_is_frozen(client, session):
    await make_physician(session)
    headers, clinic = await admin_with_clinic(client)
    intake = await create_intake(client, headers, clinic["id"])
    await client.post(f"/v1/intakes/{intake['id']}/submit", headers=headers)
    patch = await client.patch(f"/v1/intakes/{intake['id']}", json={"rush": True}, headers=headers)
    assert patch.status_code == 409
    assert patch.json()["type"] == PROBLEMS + "intake-not-editable"
    again = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=headers)
    assert again.status_code == 409
    locations = await client.patch(
        f"/v1/clinics/{clinic['id']}",
        json={"locations": [{"address": "1 Main", "city": "NYC", "state": "NY", "zip": "10001"}]},
        headers=headers,
    )
    assert locations.status_code == 409


async def test_patch_a_draft_recomputes_flags(client):
    headers, clinic = await admin_with_clinic(client)
    intake = await create_intake(client, headers, clinic["id"])
    response = await client.patch(
        f"/v1/intakes/{intake['id']}",
        json={
            "providers": [{"type": "np", "count": 1}, {"type": "rn", "count": 2}],
            "services": ["neurotoxins", "hormone_therapy"],
        },
        headers=headers,
    )
    assert response.status_code == 200
    flags = {f["code"]: f for f in response.json()["compliance_flags"]}
    # Texas' monthly quality-assurance meetings apply to the NP (cited); hormones need a DEA.
    assert set(flags) == {"controlled_substance_dea", "site_visits_required"}
    assert flags["site_visits_required"]["citation"].startswith("Tex. Occ. Code §157.0512")
    bads: list[dict[str, object]] = [
        {"desired_start": (today() - timedelta(days=1)).isoformat()},
        {"providers": []},
        {"services": None},
    ]
    for bad in bads:
        assert (
            await client.patch(f"/v1/intakes/{intake['id']}", json=bad, headers=headers)
        ).status_code == 422, bad


async def test_withdraw(client, session):
    await make_physician(session)
    headers, clinic = await admin_with_clinic(client)
    intake = await create_intake(client, headers, clinic["id"])
    await client.post(f"/v1/intakes/{intake['id']}/submit", headers=headers)
    withdrawn = await client.post(f"/v1/intakes/{intake['id']}/withdraw", headers=headers)
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["withdrawn_at"] is not None
    again = await client.post(f"/v1/intakes/{intake['id']}/withdraw", headers=headers)
    assert again.status_code == 409
    assert (
        await client.post(f"/v1/intakes/{intake['id']}/submit", headers=headers)
    ).status_code == 409


async def test_another_admins_token_on_the_intake_is_404(client, session, settings):
    headers, clinic = await admin_with_clinic(client)
    intake = await create_intake(client, headers, clinic["id"])
    other = await user_headers(client, "clinic_admin")
    for method, path in [
        ("GET", f"/v1/intakes/{intake['id']}"),
        ("PATCH", f"/v1/intakes/{intake['id']}"),
        ("POST", f"/v1/intakes/{intake['id']}/submit"),
        ("POST", f"/v1/intakes/{intake['id']}/withdraw"),
        ("GET", f"/v1/intakes/{intake['id']}/quote"),
        ("GET", f"/v1/clinics/{clinic['id']}/intakes"),
    ]:
        response = await client.request(
            method, path, json={} if method == "PATCH" else None, headers=other
        )
        assert response.status_code == 404, (method, path)
    physician = await user_headers(client, "physician")
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=physician)).status_code == 403
    ops = await ops_headers(client, session, settings)
    assert (await client.get(f"/v1/intakes/{intake['id']}", headers=ops)).status_code == 200
    assert (await client.post(f"/v1/intakes/{intake['id']}/submit", headers=ops)).status_code == 403


async def test_intake_list_with_status_filter(client, session):
    await make_physician(session)
    headers, clinic = await admin_with_clinic(client)
    first = await create_intake(client, headers, clinic["id"])
    second = await create_intake(client, headers, clinic["id"])
    await client.post(f"/v1/intakes/{first['id']}/submit", headers=headers)
    drafts = (
        await client.get(
            f"/v1/clinics/{clinic['id']}/intakes", params={"status": "draft"}, headers=headers
        )
    ).json()
    assert [i["id"] for i in drafts["items"]] == [second["id"]]
    everything = (await client.get(f"/v1/clinics/{clinic['id']}/intakes", headers=headers)).json()
    assert [i["id"] for i in everything["items"]] == [second["id"], first["id"]]


async def test_changing_ownership_back_brings_the_flag_back_on_every_intake(client, session):
    headers, clinic = await admin_with_clinic(client, ("CA",), ownership_model="mso")
    first = await create_intake(client, headers, clinic["id"])
    second = await create_intake(client, headers, clinic["id"])
    changed = await client.patch(
        f"/v1/clinics/{clinic['id']}",
        json={"ownership_model": "non_physician_owned"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    for intake in (first, second):
        view = (await client.get(f"/v1/intakes/{intake['id']}", headers=headers)).json()
        assert ("cpom_requires_mso", "blocking", "CA") in {
            (f["code"], f["severity"], f["state"]) for f in view["compliance_flags"]
        }
    # A change that does not touch ownership or locations leaves the flags as they are.
    renamed = await client.patch(
        f"/v1/clinics/{clinic['id']}",
        json={"legal_name": "Renamed Aesthetics LLC"},
        headers=headers,
    )
    assert renamed.status_code == 200
    view = (await client.get(f"/v1/intakes/{first['id']}", headers=headers)).json()
    assert "cpom_requires_mso" in {f["code"] for f in view["compliance_flags"]}
