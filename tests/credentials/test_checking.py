"""From typed in to verified (app/credentials/checking.py): a verified physician's pending
licenses looked up at the (faked, at the httpx transport) Texas Medical Board, what each answer
comes to, the review of a license the board shows with disciplinary actions, a board that was
down tried again by the daily re-check, the document route where no board check exists, the
job queued and run through the app's runtime, and license numbers checked on entry."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from app.credentials.checking import Route, check_credentials, route_of
from app.credentials.jobs import check_credentials_job
from app.credentials.models import CredentialCheck, CredentialKind, ReviewItem
from app.credentials.rechecks import run_rechecks
from app.kit.clock import today
from app.physicians.eligibility import matchable_physicians
from app.physicians.models import License, Physician
from tests.physicians.credentialing import board_transport, texas_profile
from tests.physicians.helpers import create_physician, in_days


async def _matchable_in(session, physician_id, state: str) -> bool:
    stmt = matchable_physicians(states=[state], on=today()).with_only_columns(Physician.id)
    return uuid.UUID(str(physician_id)) in set(await session.scalars(stmt))


async def _license(client, headers, state: str = "TX") -> dict[str, Any]:
    doc = (await client.get("/v1/physicians/me", headers=headers)).json()
    [found] = [lic for lic in doc["licenses"] if lic["state"] == state]
    return found


async def _notifications(client, headers) -> list[dict[str, Any]]:
    return (await client.get("/v1/me/notifications", headers=headers)).json()["items"]


async def test_the_board_showing_disciplinary_actions_sends_the_license_to_operations(
    client, session, credentialing
):
    headers, doc = await credentialing.verify_identity()
    board = texas_profile(doc, action="Agreed Order, 03/01/2019")
    summary = await credentialing.check(doc["id"], board=board)
    assert (summary.licenses_checked, summary.verified, summary.for_review) == (1, 0, 1)
    assert (await _license(client, headers))["status"] == "pending"
    ops = await credentialing.ops()
    [item] = (await client.get("/v1/review-items?kind=license_check", headers=ops)).json()["items"]
    assert item["physician_id"] == doc["id"]
    assert item["evidence"]["license"]["number"] == "N5521"
    assert item["evidence"]["board"] == "Texas Medical Board"
    assert "disciplinary actions" in item["evidence"]["detail"]
    # Checking again opens no second item while this one is open.
    await credentialing.check(doc["id"], board=board)
    again = (await client.get("/v1/review-items?kind=license_check", headers=ops)).json()
    assert len(again["items"]) == 1

    await credentialing.approve(item["id"], "an old agreed order, completed; no restriction")
    license_ = await _license(client, headers)
    assert license_["status"] == "verified"
    assert await _matchable_in(session, doc["id"], "TX") is False  # malpractice still pending
    check = await session.scalar(
        select(CredentialCheck)
        .where(CredentialCheck.credential_id == license_["id"])
        .order_by(CredentialCheck.checked_at.desc())
        .limit(1)
    )
    assert check is not None
    assert (check.source, check.result, check.checked_by is not None) == (
        "state_board",
        "passed",
        True,
    )
    assert "completed; no restriction" in (check.detail or "")


async def test_a_license_item_rejected_by_operations_rejects_the_license(
    client, session, credentialing
):
    headers, doc = await credentialing.verify_identity()
    await credentialing.check(doc["id"], board=texas_profile(doc, action="Revocation stayed"))
    ops = await credentialing.ops()
    [item] = (await client.get("/v1/review-items?kind=license_check", headers=ops)).json()["items"]
    decided = await client.post(
        f"/v1/review-items/{item['id']}/decision",
        json={"decision": "reject", "reason": "probation terms exclude supervision"},
        headers=ops,
    )
    assert decided.status_code == 200, decided.text
    assert (await _license(client, headers))["status"] == "rejected"
    [note] = [n for n in await _notifications(client, headers) if "not accepted" in n["title"]]
    assert "probation terms exclude supervision" in note["body"]


async def test_a_board_saying_revoked_rejects_the_license_and_says_why(
    client, session, credentialing
):
    headers, doc = await credentialing.verify_identity()
    summary = await credentialing.check(doc["id"], board=texas_profile(doc, status="Revoked"))
    assert (summary.failed, summary.verified) == (1, 0)
    assert (await _license(client, headers))["status"] == "rejected"
    [note] = [
        n
        for n in await _notifications(client, headers)
        if n["kind"] == "credentials.license_check_failed"
    ]
    assert "status revoked" in note["body"]
    assert await _matchable_in(session, doc["id"], "TX") is False


async def test_a_record_differing_only_in_expiry_stays_pending_for_a_document(
    client, session, credentialing
):
    headers, doc = await credentialing.verify_identity()
    other_expiry = (today() + timedelta(days=30)).strftime("%m/%d/%Y")
    summary = await credentialing.check(doc["id"], board=texas_profile(doc, expires=other_expiry))
    assert summary.failed == 1
    license_ = await _license(client, headers)
    assert license_["status"] == "pending"
    [note] = [
        n
        for n in await _notifications(client, headers)
        if n["kind"] == "credentials.license_check_failed"
    ]
    assert "expires_on" in note["body"]
    assert "upload the license or a board printout" in note["body"]
    # Operations may still verify it from the document.
    uploaded = await credentialing.upload(headers, "license", license_["id"], "board_printout")
    await credentialing.approve(uploaded["review_item_id"], "renewal letter shows the new date")
    assert (await _license(client, headers))["status"] == "verified"


async def test_a_board_that_was_down_is_asked_again_the_next_day(client, session, credentialing):
    headers, doc = await credentialing.verify_identity()
    # Only Texas answers in board_transport; make Texas down by pointing it elsewhere.
    down = credentialing.board_settings.model_copy(
        update={"board_tx_url": "https://tmb-down.test/HCP_Search"}
    )
    summary = await check_credentials(
        session,
        doc["id"],
        settings=down,
        transport=board_transport(credentialing.settings, texas_profile(doc)),
    )
    assert (summary.unavailable, summary.verified) == (1, 0)
    assert summary.documents_needed[0]["credential_kind"] == "malpractice"
    assert [n["credential_kind"] for n in summary.documents_needed] == ["malpractice"]
    assert (await _license(client, headers))["status"] == "pending"
    # The same day nothing is due; the next day the board answers and the license is verified.
    transport = board_transport(credentialing.settings, texas_profile(doc))
    same_day = await run_rechecks(
        session, settings=credentialing.board_settings, on=today(), transport=transport
    )
    assert same_day.licenses_checked == 0
    next_day = await run_rechecks(
        session,
        settings=credentialing.board_settings,
        on=today() + timedelta(days=1),
        transport=transport,
    )
    assert (next_day.licenses_checked, next_day.licenses_passed) == (1, 1)
    assert (await _license(client, headers))["status"] == "verified"


async def test_an_unverified_physician_is_left_alone(client, session, credentialing):
    _, doc = await create_physician(client)
    summary = await credentialing.check(doc["id"], board=texas_profile(doc))
    assert summary.skipped == "physician is pending"
    assert summary.licenses_checked == 0


async def test_the_job_is_queued_for_a_verified_physicians_new_credential_only(
    client, session, credentialing
):
    pending_headers, pending = await create_physician(client, licenses=("NV",))
    await client.post(
        "/v1/physicians/me/licenses",
        json={"state": "OR", "number": "MD123456", "expires_on": in_days(300)},
        headers=pending_headers,
    )
    headers, doc = await credentialing.verify_identity(licenses=("NV",))

    async def queued(physician_id: str) -> list[dict[str, Any]]:
        rows = await session.execute(
            text(
                "SELECT args FROM procrastinate_jobs WHERE task_name = "
                "'credentials.check_credentials' AND args->>'physician_id' = :p"
            ),
            {"p": physician_id},
        )
        return [r[0] for r in rows]

    assert await queued(pending["id"]) == []  # never verified: nothing to check yet
    [at_verification] = await queued(doc["id"])
    # The job, through the app's runtime: Nevada has no board adapter, so it asks for the
    # license document and the certificate of insurance, and verifies nothing.
    result = await check_credentials_job(**at_verification)
    assert (result["licenses_checked"], result["verified"], result["documents_needed"]) == (
        0,
        0,
        2,
    )
    [asked] = [
        n
        for n in await _notifications(client, headers)
        if n["kind"] == "credentials.documents_needed"
    ]
    assert {c["credential_kind"] for c in asked["data"]["credentials"]} == {
        "license",
        "malpractice",
    }
    await client.post(
        "/v1/physicians/me/licenses",
        json={"state": "OR", "number": "MD123456", "expires_on": in_days(300)},
        headers=headers,
    )
    assert len(await queued(doc["id"])) == 2


async def test_a_document_in_review_is_not_asked_for_again(client, session, credentialing):
    headers, doc = await credentialing.verify_identity(licenses=("NV",))
    license_ = await _license(client, headers, "NV")
    await credentialing.upload(headers, "license", license_["id"], "license_certificate")
    summary = await credentialing.check(doc["id"])
    assert [n["credential_kind"] for n in summary.documents_needed] == ["malpractice"]


def test_what_verifies_each_credential(settings):
    assert route_of(CredentialKind.license, "TX", settings)[0] == Route.state_board
    # California and New York need their API keys; Nevada has no adapter.
    for state in ("CA", "NY", "NV"):
        route, why = route_of(CredentialKind.license, state, settings)
        assert route == Route.document_review
        assert f"no board check is available for {state}" in why
    off = settings.model_copy(update={"license_board_checks": False})
    route, why = route_of(CredentialKind.license, "TX", off)
    assert (route, "LICENSE_BOARD_CHECKS" in why) == (Route.document_review, True)
    keyed = settings.model_copy(update={"board_ny_api_key": "k"})
    assert route_of(CredentialKind.license, "NY", keyed)[0] == Route.state_board
    for kind in (
        CredentialKind.dea,
        CredentialKind.malpractice,
        CredentialKind.board_certification,
    ):
        assert route_of(kind, None, settings)[0] == Route.document_review


@pytest.mark.parametrize(
    ("state", "number", "status"),
    [
        ("NY", "123456", 201),  # New York's confirmed format: six digits
        ("NY", "012345", 201),  # leading zeros kept
        ("NY", "12345", 422),
        ("NY", "ME12345", 422),
        ("TX", "XY-99", 201),  # Texas's format is not confirmed: not enforced on entry
        ("NV", "anything-1", 201),  # no known format
    ],
)
async def test_license_numbers_are_refused_only_against_a_confirmed_format(
    client, state, number, status
):
    headers, _ = await create_physician(client, licenses=())
    response = await client.post(
        "/v1/physicians/me/licenses",
        json={"state": state, "number": number, "expires_on": in_days(300)},
        headers=headers,
    )
    assert response.status_code == status, response.text
    if status == 422:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert "NY license numbers are six digits" in response.text
        rows = await client.get("/v1/physicians/me", headers=headers)
        assert rows.json()["licenses"] == []


async def test_the_license_row_counts_for_matching_only_once_verified(session, credentialing):
    headers, doc = await credentialing.verify_identity()
    row = await session.scalar(select(License).where(License.physician_id == doc["id"]))
    assert row is not None
    assert row.status == "pending"
    assert await _matchable_in(session, doc["id"], "TX") is False
    await credentialing.check(doc["id"], board=texas_profile(doc))
    await session.refresh(row)
    assert row.status == "verified"
    assert await _matchable_in(session, doc["id"], "TX") is False  # no verified cover yet
    await credentialing.documents_for_pending(headers)
    assert await _matchable_in(session, doc["id"], "TX") is True
    items = await session.scalars(select(ReviewItem).where(ReviewItem.physician_id == doc["id"]))
    assert {i.kind for i in items} == {"document"}  # the certificate of insurance only


async def test_a_document_cannot_verify_a_license_whose_disciplinary_review_is_open(
    client, session, credentialing
):
    headers, doc = await credentialing.verify_identity()
    await credentialing.check(doc["id"], board=texas_profile(doc, action="Agreed Order 2021"))
    license_ = await _license(client, headers)
    uploaded = await credentialing.upload(headers, "license", license_["id"], "board_printout")
    await credentialing.approve(uploaded["review_item_id"], "the printout matches")
    # The document matches, but the board's disciplinary record still waits for operations.
    assert (await _license(client, headers))["status"] == "pending"
    held = [
        n
        for n in await _notifications(client, headers)
        if n["title"] == "Your TX license is not verified yet"
    ]
    assert "disciplinary record waits for operations' review" in held[0]["body"]
    ops = await credentialing.ops()
    [item] = (await client.get("/v1/review-items?kind=license_check", headers=ops)).json()["items"]
    await client.post(
        f"/v1/review-items/{item['id']}/decision",
        json={"decision": "reject", "reason": "active restriction on supervising"},
        headers=ops,
    )
    assert (await _license(client, headers))["status"] == "rejected"


async def test_cover_below_a_new_states_minimum_holds_its_license_until_cover_meets_it(
    client, session, credentialing
):
    # Florida's law asks $100,000 / $300,000: a $500,000 / $1,000,000 policy meets it.
    headers, doc = await create_physician(client, licenses=("FL",), malpractice=False)
    policy = await client.post(
        "/v1/physicians/me/malpractice",
        json={
            "carrier": "Small Mutual",
            "policy_number": "SM-1",
            "per_claim_cents": 50_000_000,
            "aggregate_cents": 100_000_000,
            "expires_on": in_days(300),
        },
        headers=headers,
    )
    assert policy.status_code == 201, policy.text
    credentialing.nppes.add(doc["npi"], "Maya", "Alvarez")
    ops = await credentialing.ops()
    verified = await client.post(f"/v1/physicians/{doc['id']}/verify", headers=ops)
    assert verified.json()["verification_status"] == "verified", verified.text
    await credentialing.documents_for_pending(headers)
    assert await _matchable_in(session, doc["id"], "FL") is True
    # Texas sets no minimum: mdmatch's own ($1M / $3M) applies, which this cover misses.
    added = await client.post(
        "/v1/physicians/me/licenses",
        json={"state": "TX", "number": "N5521", "expires_on": in_days(400)},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    summary = await credentialing.check(doc["id"], board=texas_profile(profile))
    assert (summary.licenses_checked, summary.verified) == (1, 0)
    assert (await _license(client, headers))["status"] == "pending"
    assert await _matchable_in(session, doc["id"], "TX") is False
    [held] = [
        n
        for n in await _notifications(client, headers)
        if n["title"] == "Your TX license is not verified yet"
    ]
    assert "TX sets no minimum, so mdmatch's own minimum applies" in held["body"]
    # A policy meeting it, once its certificate is approved, releases the license.
    bigger = await client.post(
        "/v1/physicians/me/malpractice",
        json={
            "carrier": "The Doctors Company",
            "policy_number": "TDC-2",
            "per_claim_cents": 100_000_000,
            "aggregate_cents": 300_000_000,
            "expires_on": in_days(300),
        },
        headers=headers,
    )
    assert bigger.status_code == 201, bigger.text
    uploaded = await credentialing.upload(
        headers, "malpractice", bigger.json()["id"], "malpractice_coi"
    )
    await credentialing.approve(uploaded["review_item_id"], "certificate matches")
    assert (await _license(client, headers))["status"] == "verified"
    assert await _matchable_in(session, doc["id"], "TX") is True


async def test_a_needs_document_answer_is_not_retried_daily_for_a_pending_license(
    client, session, credentialing
):
    headers, doc = await credentialing.verify_identity()
    summary = await credentialing.check(doc["id"], board=None)  # no such license at the board
    assert summary.unavailable == 1
    assert [n["credential_kind"] for n in summary.documents_needed] == ["license", "malpractice"]
    license_ = await _license(client, headers)
    check = await session.scalar(
        select(CredentialCheck).where(CredentialCheck.credential_id == license_["id"])
    )
    assert check is not None
    assert (check.result, check.recheck_due) == ("unavailable", None)
    later = await run_rechecks(
        session,
        settings=credentialing.board_settings,
        on=today() + timedelta(days=1),
        transport=board_transport(credentialing.settings, None),
    )
    assert later.licenses_checked == 0
    # Asking again does not repeat the request for the same documents.
    before = len(await _notifications(client, headers))
    await credentialing.check(doc["id"], board=None)
    assert len(await _notifications(client, headers)) == before


async def test_reinstating_a_verified_physician_queues_the_credential_check(
    client, session, credentialing
):
    _, doc = await credentialing.verify_identity()
    ops = await credentialing.ops()

    async def queued() -> int:
        count = await session.scalar(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
                "'credentials.check_credentials' AND args->>'physician_id' = :p"
            ),
            {"p": doc["id"]},
        )
        return int(count or 0)

    assert await queued() == 1  # at verification
    suspended = await client.post(
        f"/v1/physicians/{doc['id']}/suspend", json={"reason": "audit"}, headers=ops
    )
    assert suspended.status_code == 200, suspended.text
    assert (await credentialing.check(doc["id"])).skipped == "physician is suspended"
    reinstated = await client.post(
        f"/v1/physicians/{doc['id']}/reinstate", json={"reason": "audit closed"}, headers=ops
    )
    assert reinstated.status_code == 200, reinstated.text
    assert await queued() == 2
