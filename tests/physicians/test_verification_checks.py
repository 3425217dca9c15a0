"""Verification records what it checked: the NPPES lookup (what was compared, the result), and
for each credential accepted with the profile, that it was taken as stated (self-attested), so
nothing reads as checked at its source when it was not."""

from __future__ import annotations

from sqlalchemy import select

from app.physicians.checks import CredentialCheck
from tests.factories import ops_headers
from tests.physicians.helpers import create_physician
from tests.physicians.test_eligibility_and_expiry import verified_physician


async def _checks(session, physician_id) -> list[CredentialCheck]:
    return list(
        await session.scalars(
            select(CredentialCheck)
            .where(CredentialCheck.physician_id == physician_id)
            .order_by(CredentialCheck.checked_at, CredentialCheck.credential_kind)
        )
    )


async def test_a_verification_records_the_registry_check_and_what_was_taken_as_stated(
    client, session, settings, nppes
):
    headers, physician_id, _ = await verified_physician(client, session, settings, nppes)
    checks = await _checks(session, physician_id)
    [npi] = [c for c in checks if c.credential_kind == "npi"]
    assert (npi.source, npi.method, npi.result) == ("nppes", "primary_source", "passed")
    last_name = npi.compared["last_name"]
    assert last_name["ours"] == "Alvarez"
    assert last_name["source"].lower() == "alvarez"
    assert npi.compared["enumeration_type"]["source"] == "NPI-1"
    assert npi.checked_by is not None
    stated = [c for c in checks if c.credential_kind != "npi"]
    assert {c.credential_kind for c in stated} >= {"license", "malpractice"}
    for check in stated:
        assert (check.source, check.method, check.result) == (
            "physician",
            "self_attested",
            "needs_review",
        )
        assert check.credential_id is not None
    # The physician sees the same through the API: nothing self-attested reads as passed.
    mine = (await client.get("/v1/physicians/me/credential-checks", headers=headers)).json()
    assert {(c["credential_kind"], c["result"]) for c in mine["latest"]} >= {
        ("npi", "passed"),
        ("license", "needs_review"),
    }


async def test_a_failed_registry_check_says_what_did_not_match(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    _, doc = await create_physician(client)
    nppes.add(doc["npi"], "Maya", "Someone-Else")
    result = await client.post(f"/v1/physicians/{doc['id']}/verify", headers=ops)
    assert result.json()["verification_status"] == "rejected"
    checks = await _checks(session, doc["id"])
    [npi] = [c for c in checks if c.credential_kind == "npi"]
    assert npi.result == "failed"
    assert npi.compared["last_name"]["source"].lower() == "someone-else"
    assert npi.detail is not None
    assert "last name" in npi.detail
    # Nothing was accepted, so nothing is recorded as taken as stated.
    assert [c.credential_kind for c in checks] == ["npi"]
