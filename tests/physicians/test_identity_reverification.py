"""Nothing reached through a state-restoring path skips verification: an identity changed
while suspended must be verified again after reinstatement."""

from __future__ import annotations

import pytest

from tests.factories import ops_headers
from tests.physicians.helpers import create_physician, new_npi
from tests.physicians.test_verification import verify


async def _suspend(client, ops, physician_id):
    r = await client.post(
        f"/v1/physicians/{physician_id}/suspend", json={"reason": "review"}, headers=ops
    )
    assert r.status_code == 200, r.text


async def _reinstate(client, ops, physician_id):
    r = await client.post(
        f"/v1/physicians/{physician_id}/reinstate", json={"reason": "cleared"}, headers=ops
    )
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize(
    "change",
    ["npi", "last_name", "npi and first_name"],
)
async def test_identity_changed_while_suspended_needs_verification_after_reinstatement(
    client, session, settings, nppes, change
):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client)
    nppes.add(doc["npi"], doc["first_name"], doc["last_name"])
    change = {
        "npi": {"npi": new_npi()},
        "last_name": {"last_name": "Impostor"},
        "npi and first_name": {"npi": new_npi(), "first_name": "X"},
    }[change]
    assert (await verify(client, ops, doc["id"])).json()["verification_status"] == "verified"
    await _suspend(client, ops, doc["id"])
    edited = await client.patch("/v1/physicians/me", json=change, headers=headers)
    assert edited.status_code == 200, edited.text
    assert edited.json()["verification_status"] == "suspended"
    back = await _reinstate(client, ops, doc["id"])
    assert back["verification_status"] == "pending"
    assert back["verified_at"] is None


async def test_unchanged_identity_is_restored_to_verified(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client)
    nppes.add(doc["npi"], doc["first_name"], doc["last_name"])
    await verify(client, ops, doc["id"])
    await _suspend(client, ops, doc["id"])
    # A change that is not the identity (the travel radius) keeps the verification.
    edited = await client.patch(
        "/v1/physicians/me", json={"travel_radius_miles": 40}, headers=headers
    )
    assert edited.status_code == 200, edited.text
    assert (await _reinstate(client, ops, doc["id"]))["verification_status"] == "verified"
