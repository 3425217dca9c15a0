"""Malpractice cover against each licensed state's minimum: the state's law where the rules
record one (cited), mdmatch's own minimum where the state sets none or its rule is unknown,
said as such; verification refuses cover below it and records why."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.physicians import malpractice
from app.physicians.checks import CredentialCheck
from tests.factories import ops_headers
from tests.physicians.helpers import create_physician, in_days

PLATFORM = {"platform_per_claim_cents": 100_000_000, "platform_aggregate_cents": 300_000_000}
RULES: dict[str, Any] = {
    "FL": {
        "malpractice_minimum": {
            "value": {"summary": "s", "per_claim_cents": 10_000_000, "aggregate_cents": 30_000_000},
            "citation": "Fla. Stat. §458.320(1)(b)",
        }
    },
    "TX": {"malpractice_minimum": {"value": "none", "citation": "TMB FAQ"}},
    "OK": {"malpractice_minimum": {"value": None}},
}


def test_the_states_law_where_recorded_else_mdmatchs_minimum_said_as_such():
    fl, ok, tx, wy = malpractice.minimums(["TX", "FL", "OK", "WY"], RULES, **PLATFORM)
    assert (fl.state, fl.basis, fl.per_claim_cents, fl.aggregate_cents, fl.citation) == (
        "FL",
        "state_law",
        10_000_000,
        30_000_000,
        "Fla. Stat. §458.320(1)(b)",
    )
    assert (tx.basis, tx.because, tx.per_claim_cents) == (
        "platform_default",
        "sets no minimum",
        100_000_000,
    )
    assert (ok.basis, ok.because) == ("platform_default", "has no minimum on record")
    assert (wy.basis, wy.because) == ("platform_default", "has no minimum on record")


def test_shortfalls_name_the_state_law_or_the_product_default():
    required = malpractice.minimums(["FL", "TX"], RULES, **PLATFORM)
    # $500,000 / $1,000,000 meets Florida's law, not mdmatch's minimum for Texas.
    [problem] = malpractice.shortfalls(50_000_000, 100_000_000, required)
    assert problem.startswith("TX sets no minimum, so mdmatch's own minimum applies")
    assert "$1,000,000 per claim / $3,000,000 aggregate" in problem
    assert "$500,000 / $1,000,000" in problem
    [fl_problem] = malpractice.shortfalls(
        5_000_000, 100_000_000, malpractice.minimums(["FL"], RULES, **PLATFORM)
    )
    assert fl_problem.startswith("FL law (Fla. Stat. §458.320(1)(b)) requires $100,000 per claim")
    # Exactly the minimum is enough; one cent less per claim or in aggregate is not.
    assert malpractice.shortfalls(100_000_000, 300_000_000, required) == []
    assert malpractice.shortfalls(99_999_999, 300_000_000, required)
    assert malpractice.shortfalls(100_000_000, 299_999_999, required)


async def _policy(client, headers, per_claim: int, aggregate: int) -> None:
    r = await client.post(
        "/v1/physicians/me/malpractice",
        json={
            "carrier": "Small Mutual",
            "policy_number": "SM-1",
            "per_claim_cents": per_claim,
            "aggregate_cents": aggregate,
            "expires_on": in_days(300),
        },
        headers=headers,
    )
    assert r.status_code == 201, r.text


async def test_verification_refuses_cover_below_the_minimum_and_records_why(
    client, session, settings, nppes
):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client, licenses=("TX",), malpractice=False)
    await _policy(client, headers, 50_000_000, 100_000_000)
    nppes.add(doc["npi"], "Maya", "Alvarez")
    result = (await client.post(f"/v1/physicians/{doc['id']}/verify", headers=ops)).json()
    assert result["verification_status"] == "rejected"
    [reason] = [r for r in result["reasons"] if "Malpractice" in r]
    assert "TX sets no minimum, so mdmatch's own minimum applies" in reason
    check = await session.scalar(
        select(CredentialCheck).where(
            CredentialCheck.physician_id == doc["id"],
            CredentialCheck.credential_kind == "malpractice",
        )
    )
    assert check is not None
    assert check.result == "failed"
    assert check.compared["cover"] == {
        "per_claim_cents": 50_000_000,
        "aggregate_cents": 100_000_000,
    }
    assert check.compared["required"][0]["basis"] == "platform_default"


async def test_cover_meeting_a_states_own_law_is_accepted_there(client, session, credentialing):
    headers, doc = await create_physician(client, licenses=("FL",), malpractice=False)
    await _policy(client, headers, 50_000_000, 100_000_000)
    credentialing.nppes.add(doc["npi"], "Maya", "Alvarez")
    ops = await credentialing.ops()
    result = (await client.post(f"/v1/physicians/{doc['id']}/verify", headers=ops)).json()
    assert result["verification_status"] == "verified", result
    # The policy is verified from its certificate, and its limits against Florida's law.
    await credentialing.documents_for_pending(headers)
    check = await session.scalar(
        select(CredentialCheck)
        .where(
            CredentialCheck.physician_id == doc["id"],
            CredentialCheck.credential_kind == "malpractice",
        )
        .order_by(CredentialCheck.checked_at.desc())
        .limit(1)
    )
    assert check is not None
    assert (check.method, check.result) == ("document_review", "passed")
    [required] = check.compared["required"]
    assert (required["state"], required["basis"], required["per_claim_cents"]) == (
        "FL",
        "state_law",
        10_000_000,
    )
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    assert [p["status"] for p in profile["malpractice_policies"]] == ["verified"]


async def test_a_certificate_below_the_minimum_does_not_verify_the_policy(
    client, session, credentialing
):
    headers, _ = await credentialing.verify_identity(licenses=("TX", "FL"))
    # A second, smaller policy: its certificate is genuine, its limits below mdmatch's minimum
    # for Texas (which sets none), so it stays pending with a failed check saying so.
    await _policy(client, headers, 50_000_000, 100_000_000)
    await credentialing.documents_for_pending(headers)
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    statuses = {p["per_claim_cents"]: p["status"] for p in profile["malpractice_policies"]}
    assert statuses == {100_000_000: "verified", 50_000_000: "pending"}
    small = next(p for p in profile["malpractice_policies"] if p["per_claim_cents"] == 50_000_000)
    check = await session.scalar(
        select(CredentialCheck)
        .where(CredentialCheck.credential_id == small["id"])
        .order_by(CredentialCheck.checked_at.desc())
        .limit(1)
    )
    assert check is not None
    assert (check.source, check.result) == ("document", "failed")
    assert check.detail is not None
    assert "TX sets no minimum, so mdmatch's own minimum applies" in check.detail
    # The physician is told the cover does not count, not only that the document was approved.
    notes = (await client.get("/v1/me/notifications", headers=headers)).json()["items"]
    [told] = [n for n in notes if n["title"].endswith("but the cover is below the minimum")]
    assert "does not count for matching" in told["body"]


async def test_a_policy_says_its_basis_and_a_claims_made_policy_its_tail_cover(client):
    headers, _ = await create_physician(client, malpractice=False)
    body = {
        "carrier": "Claims Mutual",
        "policy_number": "CM-7",
        "per_claim_cents": 100_000_000,
        "aggregate_cents": 300_000_000,
        "expires_on": in_days(200),
    }
    made = await client.post(
        "/v1/physicians/me/malpractice",
        json={**body, "coverage_basis": "claims_made", "tail_coverage": True},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert (made.json()["coverage_basis"], made.json()["tail_coverage"]) == ("claims_made", True)
    contradictory = await client.post(
        "/v1/physicians/me/malpractice",
        json={
            **body,
            "policy_number": "CM-8",
            "coverage_basis": "occurrence",
            "tail_coverage": False,
        },
        headers=headers,
    )
    assert contradictory.status_code == 422
    assert "claims_made" in contradictory.text
    unstated = await client.post(
        "/v1/physicians/me/malpractice",
        json={**body, "policy_number": "CM-9"},
        headers=headers,
    )
    assert (unstated.json()["coverage_basis"], unstated.json()["tail_coverage"]) == (None, None)
