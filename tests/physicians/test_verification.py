from __future__ import annotations

from sqlalchemy import select, text

from app.devtools.nppes import NURSE_PRACTITIONER, PHYSICIAN_ASSISTANT
from app.notifications.models import Notification
from app.physicians.models import Physician
from tests.factories import ops_headers, user_headers
from tests.physicians.helpers import create_physician, in_days, new_npi

PROBLEMS = "https://mdmatch.dev/problems/"


async def verify(client, ops, physician_id):
    return await client.post(f"/v1/physicians/{physician_id}/verify", headers=ops)


async def test_verified_against_the_registry(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client, licenses=("TX", "CA"))
    nppes.add(doc["npi"], "Maya", "Alvarez")

    response = await verify(client, ops, doc["id"])
    assert response.status_code == 200
    assert response.json() == {"verification_status": "verified", "reasons": []}
    [request] = nppes.requests
    assert request.url.path == "/api/"
    assert dict(request.url.params) == {"version": "2.1", "number": doc["npi"]}

    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    assert profile["verification_status"] == "verified"
    # The identity is verified; no credential is until its source backs it, which the
    # credentials domain's jobs do once this commits.
    assert profile["states_licensed"] == []
    assert {c["status"] for c in profile["licenses"] + profile["malpractice_policies"]} == {
        "pending"
    }
    queued = await session.execute(
        text(
            "SELECT task_name, args FROM procrastinate_jobs WHERE args->>'physician_id' = :p "
            "ORDER BY task_name"
        ),
        {"p": doc["id"]},
    )
    assert [(row.task_name, row.args["actor_id"] is not None) for row in queued] == [
        ("credentials.check_credentials", True),
        ("credentials.screen_physician", True),
    ]
    notes = (await client.get("/v1/me/notifications", headers=headers)).json()["items"]
    assert notes[0]["kind"] == "verification.result"
    assert "checked with its state board" in notes[0]["body"]


async def test_nurse_practitioner_taxonomy_is_rejected_with_that_reason(
    client, session, settings, nppes
):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client)
    nppes.add(doc["npi"], "Maya", "Alvarez", taxonomy=NURSE_PRACTITIONER, credential="FNP")
    response = await verify(client, ops, doc["id"])
    body = response.json()
    assert body["verification_status"] == "rejected"
    [reason] = body["reasons"]
    assert "Nurse Practitioner" in reason
    assert "not an allopathic or osteopathic physician" in reason
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    assert profile["verification_reasons"] == [reason]
    assert {lic["status"] for lic in profile["licenses"]} == {"pending"}


async def test_registry_mismatches_are_each_explained(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    cases = {
        "not in the NPPES registry": None,
        "does not match the profile": {"first_name": "Maya", "last_name": "Smith"},
        "belongs to an organisation": {
            "first_name": "",
            "last_name": "Alvarez",
            "enumeration_type": "NPI-2",
        },
        "deactivated": {"first_name": "Maya", "last_name": "Alvarez", "status": "D"},
        "Physician Assistant": {
            "first_name": "Maya",
            "last_name": "Alvarez",
            "taxonomy": PHYSICIAN_ASSISTANT,
        },
    }
    for expected, record in cases.items():
        _, doc = await create_physician(client)
        if record is not None:
            nppes.add(doc["npi"], **record)
        body = (await verify(client, ops, doc["id"])).json()
        assert body["verification_status"] == "rejected", expected
        assert any(expected in r for r in body["reasons"]), (expected, body)


async def test_name_matching_ignores_case_and_punctuation(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    _, doc = await create_physician(client, last_name="O'Neil-Hart")
    nppes.add(doc["npi"], "Maya", "ONEIL HART")
    assert (await verify(client, ops, doc["id"])).json()["verification_status"] == "verified"


async def test_missing_license_and_malpractice_are_reasons(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    _, doc = await create_physician(client, licenses=(), malpractice=False)
    nppes.add(doc["npi"], "Maya", "Alvarez")
    body = (await verify(client, ops, doc["id"])).json()
    assert body["verification_status"] == "rejected"
    assert any("license" in r for r in body["reasons"])
    assert any("malpractice" in r for r in body["reasons"])


async def test_registry_down_is_503_and_status_stays_pending(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client)
    nppes.add(doc["npi"], "Maya", "Alvarez")
    nppes.fail_with = ["timeout", 503, "connect"]
    response = await verify(client, ops, doc["id"])
    assert response.status_code == 503
    assert response.json()["type"] == PROBLEMS + "upstream-unavailable"
    assert len(nppes.requests) == 3  # every attempt was made
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    assert profile["verification_status"] == "pending"
    assert {lic["status"] for lic in profile["licenses"]} == {"pending"}


async def test_a_transient_registry_error_is_retried(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    _, doc = await create_physician(client)
    nppes.add(doc["npi"], "Maya", "Alvarez")
    nppes.fail_with = [502]
    assert (await verify(client, ops, doc["id"])).json()["verification_status"] == "verified"
    assert len(nppes.requests) == 2


async def test_a_license_without_a_board_check_counts_only_once_its_document_is_approved(
    client, session, credentialing
):
    headers, physician_id, ops = await credentialing.physician()
    added = await client.post(
        "/v1/physicians/me/licenses",
        json={"state": "NV", "number": "NV-9912", "expires_on": in_days(200)},
        headers=headers,
    )
    assert added.status_code == 201, added.text
    nv = added.json()
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    assert profile["states_licensed"] == ["TX"]
    # A verified physician's new credential queues its check; re-verifying changes nothing.
    queued = await session.scalar(
        text(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = "
            "'credentials.check_credentials' AND args->>'physician_id' = :p"
        ),
        {"p": str(physician_id)},
    )
    assert queued == 2  # at verification, and for the new license
    await verify(client, ops, physician_id)
    assert (await client.get("/v1/physicians/me", headers=headers)).json()["states_licensed"] == [
        "TX"
    ]
    # Nevada has no board adapter: the check asks for a document and the credential says so.
    summary = await credentialing.check(physician_id)
    assert [(n["credential_kind"], n["credential_id"]) for n in summary.documents_needed] == [
        ("license", nv["id"])
    ]
    asked = (await client.get("/v1/me/notifications", headers=headers)).json()["items"]
    assert asked[0]["kind"] == "credentials.documents_needed"
    assert "NV license NV-9912" in asked[0]["body"]
    view = (await client.get("/v1/physicians/me/credential-checks", headers=headers)).json()
    [standing] = [c for c in view["credentials"] if c["credential_id"] == nv["id"]]
    assert (standing["status"], standing["route"]) == ("pending", "document_review")
    assert "no board check is available for NV" in standing["route_detail"]
    # Uploaded, it still counts for nothing until operations approve it.
    uploaded = await credentialing.upload(headers, "license", nv["id"], "board_printout")
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    assert profile["states_licensed"] == ["TX"]
    await credentialing.approve(uploaded["review_item_id"], "board printout matches")
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    assert profile["states_licensed"] == ["NV", "TX"]
    view = (await client.get("/v1/physicians/me/credential-checks", headers=headers)).json()
    [standing] = [c for c in view["credentials"] if c["credential_id"] == nv["id"]]
    assert standing["status"] == "verified"
    assert (standing["latest_check"]["source"], standing["latest_check"]["method"]) == (
        "document",
        "document_review",
    )


async def test_changing_npi_or_name_resets_to_pending(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client)
    nppes.add(doc["npi"], "Maya", "Alvarez")
    await verify(client, ops, doc["id"])
    same = await client.patch("/v1/physicians/me", json={"max_clinics": 7}, headers=headers)
    assert same.json()["verification_status"] == "verified"
    renamed = await client.patch(
        "/v1/physicians/me", json={"last_name": "Alvarez-Reyes"}, headers=headers
    )
    assert renamed.json()["verification_status"] == "pending"
    await verify(client, ops, doc["id"])  # the registry still says Alvarez
    moved = await client.patch("/v1/physicians/me", json={"npi": new_npi()}, headers=headers)
    assert moved.json()["verification_status"] == "pending"
    assert moved.json()["verification_reasons"] == []


async def test_suspend_and_reinstate(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client)
    nppes.add(doc["npi"], "Maya", "Alvarez")
    await verify(client, ops, doc["id"])

    suspended = await client.post(
        f"/v1/physicians/{doc['id']}/suspend",
        json={"reason": "Board complaint under review"},
        headers=ops,
    )
    assert suspended.status_code == 200
    assert suspended.json()["verification_status"] == "suspended"
    assert suspended.json()["suspension_reason"] == "Board complaint under review"
    again = await client.post(
        f"/v1/physicians/{doc['id']}/suspend", json={"reason": "twice"}, headers=ops
    )
    assert again.status_code == 409
    blocked = await verify(client, ops, doc["id"])
    assert blocked.status_code == 409
    assert blocked.json()["type"] == PROBLEMS + "physician-suspended"
    # Editing the name does not lift a suspension.
    edited = await client.patch("/v1/physicians/me", json={"first_name": "M."}, headers=headers)
    assert edited.json()["verification_status"] == "suspended"

    reinstated = await client.post(
        f"/v1/physicians/{doc['id']}/reinstate",
        json={"reason": "Complaint dismissed"},
        headers=ops,
    )
    # The name changed while suspended: the identity on file was never checked.
    assert reinstated.json()["verification_status"] == "pending"
    assert (
        await client.post(
            f"/v1/physicians/{doc['id']}/reinstate", json={"reason": "again"}, headers=ops
        )
    ).status_code == 409
    audit = (await client.get("/v1/audit", params={"object_id": doc["id"]}, headers=ops)).json()[
        "items"
    ]
    actions = [e["action"] for e in audit]
    assert actions[:3] == ["physician.reinstated", "physician.updated", "physician.suspended"]
    kinds = {
        n.kind
        for n in await session.scalars(
            select(Notification)
            .join(Physician, Physician.user_id == Notification.user_id)
            .where(Physician.id == doc["id"])
        )
    }
    assert {"physician.suspended", "physician.reinstated"} <= kinds


async def test_ops_only_actions(client, nppes):
    _, doc = await create_physician(client)
    for role in ("physician", "clinic_admin"):
        headers = await user_headers(client, role)
        for action, body in (
            ("verify", None),
            ("suspend", {"reason": "x" * 5}),
            ("reinstate", {"reason": "x" * 5}),
        ):
            response = await client.post(
                f"/v1/physicians/{doc['id']}/{action}", json=body, headers=headers
            )
            assert response.status_code == 403, (role, action)
    assert nppes.requests == []


async def test_verify_unknown_physician_is_404(client, session, settings, nppes):
    ops = await ops_headers(client, session, settings)
    response = await verify(client, ops, "5b7e3f0e-1111-4a4a-9b9b-000000000000")
    assert response.status_code == 404


async def test_a_board_certification_is_a_credential_verified_from_its_certificate(
    client, session, settings, nppes, credentialing
):
    ops = await ops_headers(client, session, settings)
    headers, doc = await create_physician(client)
    body = {
        "board": "American Board of Dermatology",
        "specialty": "dermatology",
        "certification": "certified",
        "expires_on": in_days(900),
    }
    added = await client.post("/v1/physicians/me/board-certifications", json=body, headers=headers)
    assert added.status_code == 201, added.text
    assert added.json()["status"] == "pending"
    again = await client.post("/v1/physicians/me/board-certifications", json=body, headers=headers)
    assert again.status_code == 409
    for bad in (
        body | {"expires_on": in_days(-1)},
        body | {"specialty": "astrology"},
        body | {"certification": "self_declared"},
        body | {"board": "A\nB"},
    ):
        response = await client.post(
            "/v1/physicians/me/board-certifications", json=bad, headers=headers
        )
        assert response.status_code == 422, bad
    clinic_admin = await user_headers(client, "clinic_admin")
    forbidden = await client.post(
        "/v1/physicians/me/board-certifications", json=body, headers=clinic_admin
    )
    assert forbidden.status_code == 403

    nppes.add(doc["npi"], "Maya", "Alvarez")
    assert (await verify(client, ops, doc["id"])).json()["verification_status"] == "verified"
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    [cert] = profile["board_certifications"]
    assert cert["status"] == "pending"  # verified from the certificate, not from the profile
    uploaded = await credentialing.upload(
        headers, "board_certification", cert["id"], "board_certificate"
    )
    await credentialing.approve(uploaded["review_item_id"])
    profile = (await client.get("/v1/physicians/me", headers=headers)).json()
    [cert] = profile["board_certifications"]
    assert (cert["specialty"], cert["certification"], cert["status"]) == (
        "dermatology",
        "certified",
        "verified",
    )
