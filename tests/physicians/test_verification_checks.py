"""Verification records what it checked: the NPPES lookup (what was compared, the result). It
verifies the identity only: each credential stays pending until its source backs it (a board
look-up, a document operations approved), so nothing reads as checked when it was not."""

from __future__ import annotations

from sqlalchemy import select

from app.physicians.checks import CredentialCheck
from tests.factories import ops_headers
from tests.physicians.credentialing import texas_profile
from tests.physicians.helpers import create_physician


async def _checks(session, physician_id) -> list[CredentialCheck]:
    return list(
        await session.scalars(
            select(CredentialCheck)
            .where(CredentialCheck.physician_id == physician_id)
            .order_by(CredentialCheck.checked_at, CredentialCheck.credential_kind)
        )
    )


async def test_identity_verification_checks_no_credential_which_its_source_then_verifies(
    client, session, credentialing
):
    headers, doc = await credentialing.verify_identity()
    checks = await _checks(session, doc["id"])
    [npi] = [c for c in checks if c.credential_kind == "npi"]
    assert (npi.source, npi.method, npi.result) == ("nppes", "primary_source", "passed")
    last_name = npi.compared["last_name"]
    assert last_name["ours"] == "Alvarez"
    assert last_name["source"].lower() == "alvarez"
    assert npi.compared["enumeration_type"]["source"] == "NPI-1"
    assert npi.checked_by is not None
    # The identity is verified; nothing typed in is: no credential has a check, none verified.
    assert [c.credential_kind for c in checks] == ["npi"]
    assert {lic["status"] for lic in doc["licenses"]} == {"pending"}
    assert {p["status"] for p in doc["malpractice_policies"]} == {"pending"}

    # The Texas license at the (faked) board; the malpractice policy by an approved document.
    summary = await credentialing.check(doc["id"], board=texas_profile(doc))
    assert (summary.licenses_checked, summary.verified) == (1, 1)
    assert [n["credential_kind"] for n in summary.documents_needed] == ["malpractice"]
    await credentialing.documents_for_pending(headers)
    mine = (await client.get("/v1/physicians/me/credential-checks", headers=headers)).json()
    latest = {c["credential_kind"]: c for c in mine["latest"]}
    assert (latest["license"]["source"], latest["license"]["method"]) == (
        "state_board",
        "primary_source",
    )
    assert latest["license"]["result"] == "passed"
    assert latest["license"]["compared"]["number"] == {"ours": "N5521", "board": "N5521"}
    assert (latest["malpractice"]["source"], latest["malpractice"]["method"]) == (
        "document",
        "document_review",
    )
    assert latest["malpractice"]["result"] == "passed"
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    assert {lic["status"] for lic in profile["licenses"]} == {"verified"}
    assert {p["status"] for p in profile["malpractice_policies"]} == {"verified"}


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
