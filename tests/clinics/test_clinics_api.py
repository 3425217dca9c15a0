from __future__ import annotations

import pytest

from tests.clinics.helpers import clinic_body, create_clinic
from tests.factories import ops_headers, user_headers


async def test_create_and_read_a_clinic(client):
    headers = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, headers, ("TX", "CA"))
    assert clinic["legal_name"] == "Glow Aesthetics PLLC"
    assert clinic["states"] == ["CA", "TX"]
    assert [loc["zip"] for loc in clinic["locations"]] == ["78701", "90210"]
    assert (await client.get(f"/v1/clinics/{clinic['id']}", headers=headers)).json() == clinic
    me = (await client.get("/v1/me", headers=headers)).json()
    assert me["clinic_ids"] == [clinic["id"]]


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda b: b["locations"][0].update(zip="90210"), ["body", "locations", 0]),
        (lambda b: b["locations"][0].update(zip="00000"), ["body", "locations", 0]),
        (lambda b: b["locations"][0].update(state="ZZ"), ["body", "locations", 0, "state"]),
        (lambda b: b.update(locations=[]), ["body", "locations"]),
        (lambda b: b.update(ownership_model="franchise"), ["body", "ownership_model"]),
        (lambda b: b["contact"].update(email="nope"), ["body", "contact", "email"]),
        (lambda b: b["contact"].update(phone="call me"), ["body", "contact", "phone"]),
        (lambda b: b.update(legal_name=""), ["body", "legal_name"]),
    ],
)
async def test_invalid_clinics_are_422_naming_the_field(client, mutate, loc):
    headers = await user_headers(client, "clinic_admin")
    body = clinic_body()
    mutate(body)
    response = await client.post("/v1/clinics", json=body, headers=headers)
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["errors"]]
    assert any(e[: len(loc)] == loc for e in locs), locs


async def test_zip_of_another_state_says_which(client):
    headers = await user_headers(client, "clinic_admin")
    body = clinic_body()
    body["locations"][0]["zip"] = "90210"
    response = await client.post("/v1/clinics", json=body, headers=headers)
    assert "zip 90210 is in CA, not TX" in response.json()["detail"]


async def test_another_admins_clinic_is_invisible(client):
    alice = await user_headers(client, "clinic_admin")
    bob = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, alice)
    assert (await client.get(f"/v1/clinics/{clinic['id']}", headers=bob)).status_code == 404
    patch = await client.patch(
        f"/v1/clinics/{clinic['id']}", json={"legal_name": "Mine now"}, headers=bob
    )
    assert patch.status_code == 404
    assert (await client.get("/v1/clinics", headers=bob)).json()["items"] == []
    intake = await client.post(f"/v1/clinics/{clinic['id']}/intakes", json={}, headers=bob)
    assert intake.status_code in (404, 422)
    listing = await client.get(f"/v1/clinics/{clinic['id']}/intakes", headers=bob)
    assert listing.status_code == 404


async def test_physicians_cannot_use_clinic_endpoints(client):
    physician = await user_headers(client, "physician")
    assert (await client.get("/v1/clinics", headers=physician)).status_code == 403
    assert (
        await client.post("/v1/clinics", json=clinic_body(), headers=physician)
    ).status_code == 403


async def test_ops_sees_every_clinic_but_does_not_edit(client, session, settings):
    alice = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, alice)
    ops = await ops_headers(client, session, settings)
    listed = (await client.get("/v1/clinics", headers=ops)).json()["items"]
    assert clinic["id"] in {c["id"] for c in listed}
    assert (await client.get(f"/v1/clinics/{clinic['id']}", headers=ops)).status_code == 200
    assert (
        await client.patch(f"/v1/clinics/{clinic['id']}", json={"legal_name": "X Co"}, headers=ops)
    ).status_code == 403


async def test_patch_clinic_and_audit(client, session, settings):
    headers = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, headers)
    response = await client.patch(
        f"/v1/clinics/{clinic['id']}",
        json={
            "ownership_model": "mso",
            "locations": [{"address": "1 Main", "city": "New York", "state": "NY", "zip": "10001"}],
        },
        headers=headers,
    )
    assert response.status_code == 200
    assert response.json()["ownership_model"] == "mso"
    assert response.json()["states"] == ["NY"]
    ops = await ops_headers(client, session, settings)
    audit = (await client.get("/v1/audit", params={"object_id": clinic["id"]}, headers=ops)).json()
    assert audit["items"][0]["action"] == "clinic.updated"
    assert audit["items"][0]["after"]["ownership_model"] == "mso"
    assert (
        await client.patch(
            f"/v1/clinics/{clinic['id']}", json={"legal_name": None}, headers=headers
        )
    ).status_code == 422


async def test_clinic_list_pages(client):
    headers = await user_headers(client, "clinic_admin")
    ids = [(await create_clinic(client, headers))["id"] for _ in range(3)]
    first = (await client.get("/v1/clinics", params={"limit": 2}, headers=headers)).json()
    second = (
        await client.get(
            "/v1/clinics", params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
        )
    ).json()
    assert [c["id"] for c in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None
