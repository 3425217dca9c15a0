"""Tenant isolation on every route that takes an id: another clinic's or another physician's
token gets 404 (the object might as well not exist, so nothing leaks), operations-only routes
refuse the other roles with 403, and none of these calls changes anything. A test of its own
fails when a route with a path parameter is added without a row here."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from app.clinics.models import Intake
from app.documents.jobs import refresh_clinic
from app.engagements.models import Engagement
from app.matching.models import Offer
from tests.clinics.helpers import create_clinic, create_intake, intake_body
from tests.documents.fixtures import document_store
from tests.documents.helpers import documents_of, run_event_jobs, signature
from tests.factories import user_headers
from tests.matching.helpers import make_physician, physician_headers

CLINIC, PHYSICIAN, OPS_ONLY, PUBLIC = "clinic", "physician", "ops-only", "public"

# (method, path, whose id it is, body)
ROUTES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/me/notifications/{notification_id}/read", PHYSICIAN, None),
    ("GET", "/v1/states/{code}", PUBLIC, None),
    ("PUT", "/v1/states/{code}", OPS_ONLY, {}),
    ("PUT", "/v1/states/{code}/rules/{field}", OPS_ONLY, {"value": None, "note": "x"}),
    ("GET", "/v1/physicians/{physician_id}", OPS_ONLY, None),
    ("POST", "/v1/physicians/{physician_id}/verify", OPS_ONLY, None),
    ("POST", "/v1/physicians/{physician_id}/suspend", OPS_ONLY, {"reason": "audit hold"}),
    ("POST", "/v1/physicians/{physician_id}/reinstate", OPS_ONLY, {"reason": "cleared"}),
    ("GET", "/v1/clinics/{clinic_id}", CLINIC, None),
    ("PATCH", "/v1/clinics/{clinic_id}", CLINIC, {"legal_name": "Taken Over LLC"}),
    ("POST", "/v1/clinics/{clinic_id}/intakes", CLINIC, intake_body()),
    ("GET", "/v1/clinics/{clinic_id}/providers", CLINIC, None),
    ("POST", "/v1/clinics/{clinic_id}/providers", CLINIC, None),  # body: see PROVIDER below
    ("GET", "/v1/clinics/{clinic_id}/providers/{provider_id}", CLINIC, None),
    ("PATCH", "/v1/clinics/{clinic_id}/providers/{provider_id}", CLINIC, {"fte": 0.2}),
    ("DELETE", "/v1/clinics/{clinic_id}/providers/{provider_id}", CLINIC, None),
    ("GET", "/v1/clinics/{clinic_id}/team", CLINIC, None),
    (
        "POST",
        "/v1/clinics/{clinic_id}/invitations",
        CLINIC,
        {"email": "x@example.com", "role": "admin"},
    ),
    ("DELETE", "/v1/clinics/{clinic_id}/invitations/{invitation_id}", CLINIC, None),
    ("PATCH", "/v1/clinics/{clinic_id}/members/{user_id}", CLINIC, {"role": "viewer"}),
    ("DELETE", "/v1/clinics/{clinic_id}/members/{user_id}", CLINIC, None),
    ("POST", "/v1/clinics/{clinic_id}/owner", CLINIC, None),  # body: the owner's id, below
    ("GET", "/v1/clinics/{clinic_id}/intakes", CLINIC, None),
    ("GET", "/v1/intakes/{intake_id}", CLINIC, None),
    ("PATCH", "/v1/intakes/{intake_id}", CLINIC, {"monthly_patient_volume": 10}),
    ("GET", "/v1/intakes/{intake_id}/quote", CLINIC, None),
    ("POST", "/v1/intakes/{intake_id}/submit", CLINIC, None),
    ("POST", "/v1/intakes/{intake_id}/withdraw", CLINIC, None),
    ("GET", "/v1/intakes/{intake_id}/matches", CLINIC, None),
    ("POST", "/v1/intakes/{intake_id}/confirm", CLINIC, None),
    ("GET", "/v1/intakes/{intake_id}/diagnostics", OPS_ONLY, None),
    ("GET", "/v1/offers/{offer_id}", PHYSICIAN, None),
    ("POST", "/v1/offers/{offer_id}/accept", PHYSICIAN, None),
    ("POST", "/v1/offers/{offer_id}/decline", PHYSICIAN, {"reason": "not me"}),
    ("GET", "/v1/engagements/{engagement_id}", CLINIC, None),
    ("GET", "/v1/clinics/{clinic_id}/engagements", CLINIC, None),
    ("POST", "/v1/engagements/{engagement_id}/payment-method", CLINIC, None),
    ("POST", "/v1/engagements/{engagement_id}/subscribe", CLINIC, None),
    ("POST", "/v1/engagements/{engagement_id}/cancel", CLINIC, {"at_period_end": False}),
    ("POST", "/v1/engagements/{engagement_id}/change-scope", CLINIC, {"monthly_patient_volume": 9}),
    ("GET", "/v1/clinics/{clinic_id}/invoices", CLINIC, None),
    (
        "POST",
        "/v1/engagements/{engagement_id}/case-reports",
        CLINIC,
        {"month": f"{date.today():%Y-%m}", "cases": 3},
    ),
    ("GET", "/v1/engagements/{engagement_id}/case-reports", CLINIC, None),
    ("POST", "/v1/intakes/{intake_id}/rematch", OPS_ONLY, {"reason": "stalled"}),
    (
        "POST",
        "/v1/intakes/{intake_id}/offers",
        OPS_ONLY,
        {"physician_id": "00000000-0000-4000-8000-000000000000", "reason": "named"},
    ),
    ("POST", "/v1/offers/{offer_id}/withdraw", OPS_ONLY, {"reason": "mistake"}),
    ("POST", "/v1/invoices/{invoice_id}/refund", OPS_ONLY, {"reason": "goodwill"}),
    (
        "POST",
        "/v1/engagements/{engagement_id}/resign",
        PHYSICIAN,
        {"reason": "taking over", "effective_on": str(date.today() + timedelta(days=90))},
    ),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}", CLINIC, None),
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}", CLINIC, {"enabled": False}),
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}", CLINIC, None),
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/roll-secret", CLINIC, None),
    ("GET", "/v1/webhook-endpoints/{endpoint_id}/deliveries", CLINIC, None),
    ("POST", "/v1/webhook-deliveries/{delivery_id}/replay", CLINIC, None),
    ("GET", "/v1/physicians/{physician_id}/credential-checks", OPS_ONLY, None),
    ("GET", "/v1/review-items/{review_item_id}", OPS_ONLY, None),
    (
        "POST",
        "/v1/review-items/{review_item_id}/decision",
        OPS_ONLY,
        {"decision": "approve", "reason": "looks right"},
    ),
    ("GET", "/v1/physicians/{physician_id}/credential-documents", OPS_ONLY, None),
    ("GET", "/v1/credential-documents/{document_id}/download", PHYSICIAN, None),
    ("GET", "/v1/engagements/{engagement_id}/documents", CLINIC, None),
    ("GET", "/v1/engagements/{engagement_id}/filings", CLINIC, None),
    ("GET", "/v1/documents/{document_id}", CLINIC, None),
    ("GET", "/v1/documents/{document_id}/download", CLINIC, None),
    ("POST", "/v1/documents/{document_id}/sign", CLINIC, None),  # body: below
    (
        "POST",
        "/v1/documents/{document_id}/signers/{signer_id}/invite",
        CLINIC,
        {"email": "np@example.com"},
    ),
    ("POST", "/v1/documents/{document_id}/verify", CLINIC, None),
    ("POST", "/v1/filings/{filing_id}/complete", CLINIC, {"filed_on": str(date.today())}),
    (
        "PUT",
        "/v1/document-templates/{key}/counsel-review",
        OPS_ONLY,
        {"version": "2026.1", "reviewed_on": "2026-11-30", "reviewer": "Counsel LLP"},
    ),
]


__all__ = ["document_store"]  # the fixture, for the test below


def test_every_route_with_an_id_is_in_the_table(app):
    served = {
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        if "{" in path
        for method in ops
    }
    assert served == {(m, p) for m, p, _, _ in ROUTES}


async def test_other_tenants_get_404_and_other_roles_403_and_nothing_changes(
    client, session, settings, document_store
):
    # Tenant A: a clinic whose intake was offered to, and accepted by, its physician, confirmed.
    doc_a = await make_physician(session)
    doctor_a = await physician_headers(client, session, settings, doc_a)
    admin_a = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin_a, ("TX",), ownership_model="mso")
    intake = await create_intake(client, admin_a, clinic["id"])
    await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin_a)
    [offer] = (await client.get("/v1/physicians/me/offers", headers=doctor_a)).json()["items"]
    assert (
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=doctor_a)
    ).status_code == 200
    engagement = (await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin_a)).json()
    provider_body = {
        "type": "np",
        "first_name": "Rosa",
        "last_name": "Lind",
        "license_type": "APRN-CNP",
        "license_state": "TX",
        "license_number": "AP123456",
        "fte": 0.8,
        "location_ids": [clinic["locations"][0]["id"]],
        "services": ["neurotoxins"],
    }
    added = await client.post(
        f"/v1/clinics/{clinic['id']}/providers", json=provider_body, headers=admin_a
    )
    assert added.status_code == 201, added.text
    provider = added.json()
    # The engagement's compliance documents (the NP's agreement made by the roster edit).
    await run_event_jobs(session, engagement["id"])
    await refresh_clinic(clinic["id"])
    listing = await documents_of(client, admin_a, engagement["id"])
    [agreement] = [
        d for d in listing["documents"] if d["template_key"] == "collaboration_agreement"
    ]
    [np_line] = [s for s in agreement["signers"] if s["role"] == "provider"]
    owner_id = (await client.get("/v1/me", headers=admin_a)).json()["id"]
    invitation = await client.post(
        f"/v1/clinics/{clinic['id']}/invitations",
        json={"email": "teammate@example.com", "role": "viewer"},
        headers=admin_a,
    )
    assert invitation.status_code == 201, invitation.text
    [note, *_] = (await client.get("/v1/me/notifications", headers=doctor_a)).json()["items"]
    endpoint = await client.post(
        "/v1/webhook-endpoints",
        json={"url": "https://hooks.example.com/mdmatch", "enabled_events": ["*"]},
        headers=admin_a,
    )
    assert endpoint.status_code == 201, endpoint.text

    # Tenant B: another clinic admin (with a clinic of their own) and another physician.
    admin_b = await user_headers(client, "clinic_admin")
    await create_clinic(client, admin_b, ("TX",), ownership_model="mso")
    doc_b = await make_physician(session, last_name="Other")
    doctor_b = await physician_headers(client, session, settings, doc_b)

    ids = {
        "notification_id": note["id"],
        "code": "TX",
        "field": "cpom",
        "physician_id": str(doc_a.id),
        "clinic_id": clinic["id"],
        "intake_id": intake["id"],
        "offer_id": offer["id"],
        "engagement_id": engagement["id"],
        "invoice_id": str(uuid.uuid4()),
        "provider_id": provider["id"],
        "invitation_id": invitation.json()["id"],
        "user_id": owner_id,
        "endpoint_id": endpoint.json()["id"],
        "delivery_id": str(uuid.uuid4()),
        "review_item_id": str(uuid.uuid4()),
        "document_id": agreement["id"],
        "signer_id": np_line["id"],
        "filing_id": str(uuid.uuid4()),
        "key": "collaboration_agreement",
    }
    others = {CLINIC: admin_b, PHYSICIAN: doctor_b}
    checked = 0
    for method, template, owner, body in ROUTES:
        path = template.format(**ids)
        if owner == PUBLIC:
            continue
        if template == "/v1/clinics/{clinic_id}/providers" and method == "POST":
            body = provider_body
        if template == "/v1/clinics/{clinic_id}/owner":
            body = {"user_id": owner_id}
        if template == "/v1/documents/{document_id}/sign":
            body = signature(agreement, "Someone Else")
        callers = [admin_b, doctor_b] if owner == OPS_ONLY else [others[owner]]
        expected = 403 if owner == OPS_ONLY else 404
        if (
            owner == CLINIC
            and template.startswith("/v1/engagements/{engagement_id}")
            and (method == "GET")
        ):
            callers = [admin_b, doctor_b]  # neither the other clinic nor a non-director
        for headers in callers:
            response = await client.request(method, path, json=body, headers=headers)
            allowed = {expected}
            if owner == CLINIC and headers is doctor_b and method != "GET":
                allowed = {403}
            if owner == CLINIC and headers is doctor_b and method == "GET":
                allowed = {403, 404}  # the clinic routes refuse the role; the engagement hides
            assert response.status_code in allowed, (method, path, response.status_code)
            assert response.headers["content-type"] == "application/problem+json"
            checked += 1
    assert checked >= len(ROUTES) - 1

    # Nothing changed for tenant A.
    await session.commit()
    row = await session.scalar(
        select(Intake)
        .where(Intake.id == uuid.UUID(intake["id"]))
        .execution_options(populate_existing=True)
    )
    assert row is not None
    assert (row.status, row.monthly_patient_volume) == (
        "confirmed",
        intake["monthly_patient_volume"],
    )
    offer_row = await session.get(Offer, uuid.UUID(offer["id"]))
    assert offer_row is not None
    assert offer_row.status == "accepted"
    engagement_row = await session.get(Engagement, uuid.UUID(engagement["id"]))
    assert engagement_row is not None
    assert engagement_row.status == "pending_payment"
    assert engagement_row.stripe_setup_intent_id is None
    await session.refresh(engagement_row, ["directors"])
    assert [d.ends_on for d in engagement_row.directors] == [None]
    team = (await client.get(f"/v1/clinics/{clinic['id']}/team", headers=admin_a)).json()
    assert [(m["user_id"], m["role"]) for m in team["members"]] == [(owner_id, "owner")]
    assert [i["id"] for i in team["invitations"]] == [invitation.json()["id"]]
    roster = (await client.get(f"/v1/clinics/{clinic['id']}/providers", headers=admin_a)).json()
    assert [(p["id"], p["fte"]) for p in roster["items"]] == [(provider["id"], 0.8)]
    mine = (await client.get(f"/v1/clinics/{clinic['id']}", headers=admin_a)).json()
    assert mine["legal_name"] == clinic["legal_name"]
    after = await documents_of(client, admin_a, engagement["id"])
    assert [(d["id"], d["status"]) for d in after["documents"]] == [
        (d["id"], d["status"]) for d in listing["documents"]
    ]
    assert not any(s["signed"] for d in after["documents"] for s in d["signers"])
    assert all(s["invited_email"] is None for d in after["documents"] for s in d["signers"])
    unread = (await client.get("/v1/me/notifications", headers=doctor_a)).json()["items"]
    assert next(n for n in unread if n["id"] == note["id"])["read_at"] is None
