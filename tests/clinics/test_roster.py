"""The provider roster: who works where, by FTE; the rules count them per state."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.matching.models import Match
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician

PROBLEMS = "https://mdmatch.dev/problems/"


def person(where: list[str], **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "pa",
        "first_name": "Sam",
        "last_name": "Ortiz",
        "license_type": "PA-C",
        "license_state": "TX",
        "license_number": "PA10001",
        "fte": 1.0,
        "location_ids": where,
        "services": ["neurotoxins"],
    }
    body.update(overrides)
    return body


async def add(
    client: httpx.AsyncClient, headers: dict[str, str], clinic: dict[str, Any], **kw: Any
) -> dict[str, Any]:
    locations = kw.pop("locations", None) or [clinic["locations"][0]["id"]]
    response = await client.post(
        f"/v1/clinics/{clinic['id']}/providers", json=person(locations, **kw), headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def caps(intake: dict[str, Any]) -> list[tuple[str, str]]:
    """(state, the count that exceeded) of each cap flag."""
    return [
        (f["state"], f["message"].split(" exceed ")[0])
        for f in intake["compliance_flags"]
        if f["code"] == "supervisee_cap_exceeded"
    ]


async def test_roster_crud_is_audited_on_the_clinic(client, session, settings):
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",))
    path = f"/v1/clinics/{clinic['id']}/providers"

    added = await add(client, admin, clinic, type="np", license_type="APRN-CNP", fte=0.75)
    assert (added["type"], added["fte"], added["location_ids"]) == (
        "np",
        0.75,
        [clinic["locations"][0]["id"]],
    )
    listed = (await client.get(path, headers=admin)).json()["items"]
    assert [p["id"] for p in listed] == [added["id"]]
    one = await client.get(f"{path}/{added['id']}", headers=admin)
    assert one.json() == added

    changed = await client.patch(f"{path}/{added['id']}", json={"fte": 0.5}, headers=admin)
    assert changed.status_code == 200
    assert changed.json()["fte"] == 0.5
    gone = await client.delete(f"{path}/{added['id']}", headers=admin)
    assert gone.status_code == 204
    assert (await client.get(f"{path}/{added['id']}", headers=admin)).status_code == 404

    ops = await ops_headers(client, session, settings)
    audit = (
        await client.get(
            "/v1/audit", params={"object_type": "clinic", "object_id": clinic["id"]}, headers=ops
        )
    ).json()["items"]
    roster_entries = {e["action"]: e for e in audit if e["action"].startswith("clinic.provider")}
    assert set(roster_entries) == {
        "clinic.provider_added",
        "clinic.provider_updated",
        "clinic.provider_removed",
    }
    updated = roster_entries["clinic.provider_updated"]
    assert (updated["before"], updated["after"]) == (
        {"id": added["id"], "fte": 0.75},
        {"id": added["id"], "fte": 0.5},
    )
    assert roster_entries["clinic.provider_removed"]["before"]["last_name"] == "Ortiz"
    # Operations read the roster; they do not edit it.
    assert (await client.get(path, headers=ops)).status_code == 200
    refused = await client.post(path, json=person([clinic["locations"][0]["id"]]), headers=ops)
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"fte": 0.05}, "fte"),
        ({"fte": 1.5}, "fte"),
        ({"fte": 0.333}, "fte"),
        ({"type": "doula"}, "type"),
        ({"location_ids": []}, "location_ids"),
        ({"services": ["unicorn_facials"]}, "services"),
        ({"license_state": "ZZ"}, "license_state"),
        ({"license_number": "bad\nnumber"}, "license_number"),
        ({"first_name": ""}, "first_name"),
    ],
)
async def test_invalid_roster_entries_are_422_naming_the_field(client, overrides, field):
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",))
    response = await client.post(
        f"/v1/clinics/{clinic['id']}/providers",
        json=person([clinic["locations"][0]["id"]], **overrides),
        headers=admin,
    )
    assert response.status_code == 422, response.text
    assert any(field in e["loc"] for e in response.json()["errors"]), response.json()


async def test_a_location_of_another_clinic_is_refused(client):
    admin = await user_headers(client, "clinic_admin")
    mine = await create_clinic(client, admin, ("TX",))
    theirs = await create_clinic(client, await user_headers(client, "clinic_admin"), ("TX",))
    response = await client.post(
        f"/v1/clinics/{mine['id']}/providers",
        json=person([theirs["locations"][0]["id"]]),
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "location_ids"]
    bad_patch = await client.patch(
        f"/v1/clinics/{mine['id']}/providers/{(await add(client, admin, mine))['id']}",
        json={"location_ids": [theirs["locations"][0]["id"]]},
        headers=admin,
    )
    assert bad_patch.status_code == 422


async def test_caps_count_the_people_of_each_state_by_head_or_fte(client):
    """Texas caps NPs and PAs together at seven full-time equivalents (22 TAC §185.4 / Occ.
    Code §157.0512); Florida caps PAs at ten heads (§458.347). A clinic in both states is
    checked in each with the people who work there."""
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX", "FL"))
    tx, fl = (loc["id"] for loc in clinic["locations"])

    # Without a roster, eight PAs count as full-time in both states: Texas' seven is exceeded.
    counted = await create_intake(
        client, admin, clinic["id"], providers=[{"type": "pa", "count": 8}]
    )
    assert counted["staffing_source"] == "counts"
    assert counted["staffing"] is None
    assert sorted(caps(counted)) == [("TX", "8 NPs and PAs together"), ("TX", "8 PAs")]

    # The same eight on the roster, working only in Florida: no Texas cap applies, and eight
    # heads are within Florida's ten. The draft follows the roster.
    for i in range(8):
        await add(client, admin, clinic, locations=[fl], license_number=f"PA{i}")
    intake = (await client.get(f"/v1/intakes/{counted['id']}", headers=admin)).json()
    assert intake["staffing_source"] == "roster"
    assert intake["providers"] == [{"type": "pa", "count": 8}]
    assert {tuple(p["states"]) for p in intake["staffing"]} == {("FL",)}
    assert caps(intake) == []

    # Florida counts heads: three more half-time PAs (5.5 FTE in all) exceed its ten.
    for i in range(3):
        await add(client, admin, clinic, locations=[fl], fte=0.5, license_number=f"PB{i}")
    intake = (await client.get(f"/v1/intakes/{counted['id']}", headers=admin)).json()
    [(state, count)] = caps(intake)
    assert (state, count) == ("FL", "11 PAs")

    # Texas counts FTE: ten half-time NPs in Texas are five full-time equivalents, within seven;
    # a person working in both states counts in each.
    clinic2 = await create_clinic(client, admin, ("TX", "FL"))
    tx2, fl2 = (loc["id"] for loc in clinic2["locations"])
    for i in range(10):
        await add(
            client, admin, clinic2, type="np", locations=[tx2], fte=0.5, license_number=f"N{i}"
        )
    both = await add(client, admin, clinic2, locations=[tx2, fl2], fte=1.0, license_number="B1")
    drafted = await create_intake(client, admin, clinic2["id"])
    assert drafted["providers"] == [{"type": "np", "count": 10}, {"type": "pa", "count": 1}]
    assert caps(drafted) == []
    await client.patch(
        f"/v1/clinics/{clinic2['id']}/providers/{both['id']}", json={"fte": 1.0}, headers=admin
    )
    for i in range(2):
        await add(client, admin, clinic2, locations=[tx2], fte=0.5, license_number=f"P{i}")
    # 10 x 0.5 + 1.0 + 2 x 0.5 = 7.0: still within seven; one more quarter-time PA is not.
    assert caps((await client.get(f"/v1/intakes/{drafted['id']}", headers=admin)).json()) == []
    await add(client, admin, clinic2, locations=[tx2], fte=0.25, license_number="P9")
    after = (await client.get(f"/v1/intakes/{drafted['id']}", headers=admin)).json()
    assert caps(after) == [("TX", "7.25 NPs and PAs together")]
    assert tx  # the first clinic's Texas location took nobody


async def test_a_submitted_intake_keeps_the_roster_it_was_submitted_with(client, session):
    await make_physician(session)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    await add(client, admin, clinic, type="rn", license_type="RN", license_number="RN1")
    intake = await create_intake(client, admin, clinic["id"])
    submitted = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert submitted.status_code == 200, submitted.text
    await add(client, admin, clinic, type="rn", license_type="RN", license_number="RN2")
    later = (await client.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()
    assert later["providers"] == [{"type": "rn", "count": 1}]
    assert len(later["staffing"]) == 1


async def test_locations_keep_their_ids_and_nobody_is_left_without_one(client):
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX", "FL"))
    tx, fl = clinic["locations"]
    only_fl = await add(client, admin, clinic, locations=[fl["id"]], license_number="F1")
    both = await add(client, admin, clinic, locations=[tx["id"], fl["id"]], license_number="B1")
    keep = [{k: tx[k] for k in ("address", "city", "state", "zip")}]

    refused = await client.patch(
        f"/v1/clinics/{clinic['id']}", json={"locations": keep}, headers=admin
    )
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEMS + "provider-without-location"
    assert refused.json()["provider_ids"] == [only_fl["id"]]
    unchanged = (await client.get(f"/v1/clinics/{clinic['id']}", headers=admin)).json()
    assert [loc["id"] for loc in unchanged["locations"]] == [tx["id"], fl["id"]]

    path = f"/v1/clinics/{clinic['id']}/providers"
    assert (await client.delete(f"{path}/{only_fl['id']}", headers=admin)).status_code == 204
    moved = {**keep[0], "address": "900 Lavaca St"}
    updated = await client.patch(
        f"/v1/clinics/{clinic['id']}", json={"locations": [moved]}, headers=admin
    )
    assert updated.status_code == 200, updated.text
    [location] = updated.json()["locations"]
    assert (location["id"], location["address"]) == (tx["id"], "900 Lavaca St")
    remaining = (await client.get(f"{path}/{both['id']}", headers=admin)).json()
    assert remaining["location_ids"] == [tx["id"]]


async def test_a_half_time_roster_is_matched_by_fte(client, session):
    """A physician's own limit counts full-time equivalents: ten half-time NPs are five."""
    doctor = await make_physician(session, max_supervisees=6)
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    for i in range(10):
        await add(client, admin, clinic, type="np", fte=0.5, license_number=f"N{i}")
    intake = await create_intake(client, admin, clinic["id"])
    submitted = (await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)).json()
    assert submitted["status"] == "matching", submitted
    [match] = (
        await session.scalars(select(Match).where(Match.intake_id == uuid.UUID(intake["id"])))
    ).all()
    assert match.physician_id == doctor.id
    assert (match.supervisees, match.np_count, match.supervisees_fte, match.np_fte) == (
        10,
        10,
        5.0,
        5.0,
    )

    # The same ten as full-time counts would need 10 of the physician's 6, and exceed Texas'
    # seven: the intake cannot be matched to one director.
    other = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    counted = await create_intake(
        client, admin, other["id"], providers=[{"type": "np", "count": 10}]
    )
    result = (await client.post(f"/v1/intakes/{counted['id']}/submit", headers=admin)).json()
    assert result["status"] == "unmatched"
    assert result["matching_outcome"]["reason"] == "needs_multiple_directors"
