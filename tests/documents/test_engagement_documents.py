"""Issue 21's acceptance, through the API: confirming a Texas engagement with two NPs produces
its agreement set; the parties sign (ESIGN/UETA record, the exact hash); the executed PDF is
sealed, validates with pyHanko's validator and carries the audit trail; a Texas filing with
its 30-day deadline opens; the engagement then counts as under oversight."""

from __future__ import annotations

import hashlib
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader
from sqlalchemy import func, select

from app.documents import jobs
from app.documents.models import ComplianceDocument, DocumentEvent
from app.documents.seal import seal_identity
from app.kit.clock import travel
from app.notifications.models import Notification
from tests.documents.helpers import (
    documents_of,
    sign,
    sign_as_provider,
    sign_everything,
    signature,
    texas_two_nps,
    token_in,
)
from tests.documents.test_seal import _key_pem, _self_signed
from tests.factories import ops_headers

pytestmark = pytest.mark.usefixtures("document_store")


def austin_day(instant: str) -> date:
    return datetime.fromisoformat(instant).astimezone(ZoneInfo("America/Chicago")).date()


def titles(listing):
    return sorted(d["title"] for d in listing["documents"])


def by_template(listing, key):
    return [d for d in listing["documents"] if d["template_key"] == key]


async def fetch(url: str) -> bytes:
    async with httpx.AsyncClient() as http:
        response = await http.get(url)
    assert response.status_code == 200, response.text
    return response.content


async def test_confirming_a_texas_engagement_with_two_nps_produces_the_agreement_set(
    client, session, settings
):
    texas = await texas_two_nps(client, session, settings)
    listing = await documents_of(client, texas.admin, texas.id)

    keys = sorted({d["template_key"] for d in listing["documents"]})
    assert keys == [
        "collaboration_agreement",
        "delegation_protocol",
        "good_faith_exam_policy",
        "medical_director_agreement",
        "quality_plan",
        "standing_orders",
    ]
    agreements = by_template(listing, "collaboration_agreement")
    assert len(agreements) == 2
    for agreement, np in zip(sorted(agreements, key=lambda d: d["title"]), texas.nps, strict=True):
        assert "Prescriptive Authority Agreement" in agreement["title"]
        assert np["first_name"] in agreement["title"]
        assert agreement["state"] == "TX"
        assert agreement["provider_id"] == np["id"]
        assert agreement["physician_id"] == str(texas.physician.id)
        assert {s["role"] for s in agreement["signers"]} == {"director", "provider"}
    assert len(by_template(listing, "delegation_protocol")) == 2  # one per service
    assert len(by_template(listing, "medical_director_agreement")) == 1
    # Physician-owned: no management services agreement.
    assert not by_template(listing, "management_services_agreement")
    for document in listing["documents"]:
        assert document["status"] == "awaiting_signatures"
        assert len(document["sha256"]) == 64
        assert "Not legal advice" in document["legal_notice"]
        assert document["counsel_reviewed_on"] is None
    ready = listing["readiness"]
    assert ready["standing"] == "awaiting_signatures"
    assert ready["under_oversight"] is True  # within the grace period
    assert ready["executed"] == 0
    assert ready["required"] == len([d for d in listing["documents"] if d["required"]])
    assert len(ready["missing"]) == ready["required"]
    assert "not legal advice" in listing["disclaimer"]

    # The director is told what to sign; so is the clinic.
    kinds = await session.scalars(
        select(Notification.kind).where(Notification.user_id == texas.physician.user_id)
    )
    assert "documents.ready_to_sign" in list(kinds)

    # The PDF in the store is the one whose hash is shown.
    agreement = agreements[0]
    link = await client.get(f"/v1/documents/{agreement['id']}/download", headers=texas.admin)
    assert link.status_code == 200, link.text
    assert link.json()["sealed"] is False
    pdf = await fetch(link.json()["url"])
    assert hashlib.sha256(pdf).hexdigest() == agreement["sha256"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Prescriptive Authority Agreement" in text
    assert "AP12345" in text or "AP23456" in text


async def test_the_parties_sign_and_the_sealed_pdf_validates_and_shows_the_audit_trail(
    client, session, settings, outbox, document_store
):
    texas = await texas_two_nps(client, session, settings)
    listing = await sign_everything(client, texas, outbox)

    assert {d["status"] for d in listing["documents"]} == {"executed"}
    assert listing["readiness"]["standing"] == "in_force"
    assert listing["readiness"]["missing"] == []

    [agreement, *_] = by_template(listing, "collaboration_agreement")
    link = (
        await client.get(f"/v1/documents/{agreement['id']}/download", headers=texas.doctor)
    ).json()
    assert link["sealed"] is True
    assert link["sha256"] == agreement["sealed_sha256"]
    sealed = await fetch(link["url"])

    # pyHanko's own validator, trusting the platform's certificate only.
    identity = seal_identity(settings)
    reader = PdfFileReader(io.BytesIO(sealed))
    [embedded] = reader.embedded_signatures
    status = await async_validate_pdf_signature(
        embedded, ValidationContext(trust_roots=list(identity.asn1_certificates))
    )
    assert status.intact
    assert status.valid
    assert status.trusted
    assert status.coverage is not None
    assert status.coverage.name == "ENTIRE_FILE"

    pages = PdfReader(io.BytesIO(sealed)).pages
    unsigned_pages = len(
        PdfReader(
            io.BytesIO(
                await fetch(
                    (
                        await client.get(
                            f"/v1/documents/{agreement['id']}/download",
                            params={"version": "unsigned"},
                            headers=texas.doctor,
                        )
                    ).json()["url"]
                )
            )
        ).pages
    )
    assert len(pages) > unsigned_pages
    tail = "\n".join(p.extract_text() for p in pages[unsigned_pages:])
    [provider_line] = [s for s in agreement["signers"] if s["role"] == "provider"]
    for expected in (
        agreement["sha256"],
        provider_line["name"],
        texas.physician.first_name + " MD",
        "one-time signing link",
        "signed",
    ):
        assert expected in tail, expected

    detail = (await client.get(f"/v1/documents/{agreement['id']}", headers=texas.admin)).json()
    actions = [e["action"] for e in detail["trail"]]
    for action in ("generated", "invited", "link_opened", "signed", "executed", "sealed"):
        assert action in actions
    assert all(s["signed"] for s in detail["signers"])

    verified = await client.post(f"/v1/documents/{agreement['id']}/verify", headers=texas.admin)
    assert verified.status_code == 200, verified.text
    check = verified.json()
    assert check["ok"] is True
    assert check["matches_record"] is True
    assert check["certificate_fingerprint"] == identity.fingerprint_sha256

    # A sealed file altered in storage is caught.
    row = await session.get(ComplianceDocument, uuid.UUID(agreement["id"]))
    assert row is not None
    assert row.sealed_object_key is not None
    tampered = bytearray(sealed)
    tampered[len(sealed) // 3] ^= 0x01
    await document_store.put(
        row.sealed_object_key, bytes(tampered), content_type="application/pdf", sha256="x"
    )
    altered = await client.post(f"/v1/documents/{agreement['id']}/verify", headers=texas.admin)
    assert altered.status_code == 200, altered.text
    assert altered.json()["ok"] is False
    assert altered.json()["matches_record"] is False


async def test_a_texas_paa_executed_opens_its_board_registration_due_in_30_days(
    client, session, settings, outbox
):
    texas = await texas_two_nps(client, session, settings)
    listing = await sign_everything(client, texas, outbox)
    agreements = by_template(listing, "collaboration_agreement")
    filings = await client.get(f"/v1/engagements/{texas.id}/filings", headers=texas.doctor)
    assert filings.status_code == 200, filings.text
    items = filings.json()["items"]
    for agreement in agreements:
        # The day in Austin (the clinic's Texas location), not the UTC day.
        executed_on = austin_day(agreement["executed_at"])
        registrations = [
            f
            for f in items
            if f["document_id"] == agreement["id"]
            and f["trigger"] == "signing"
            and "Texas Medical Board" in f["filed_with"]
        ]
        assert registrations, items
        [registration] = registrations

        assert registration["due_on"] == (executed_on + timedelta(days=30)).isoformat()
        assert registration["responsible"] == "director"
        assert registration["source"]["citation"]


async def test_signing_checks_the_hash_consent_and_the_party(client, session, settings):
    texas = await texas_two_nps(client, session, settings)
    listing = await documents_of(client, texas.admin, texas.id)
    [mda] = by_template(listing, "medical_director_agreement")
    path = f"/v1/documents/{mda['id']}/sign"

    other = signature(mda, "Dr A", document_sha256="0" * 64)
    changed = await client.post(path, json=other, headers=texas.doctor)
    assert changed.status_code == 409
    assert changed.json()["type"].endswith("/document-changed")

    no_consent = await client.post(
        path, json=signature(mda, "Dr A", consent=False), headers=texas.doctor
    )
    assert no_consent.status_code == 422
    bad_hash = await client.post(
        path, json=signature(mda, "Dr A", document_sha256="xyz"), headers=texas.doctor
    )
    assert bad_hash.status_code == 422

    await sign(client, texas.doctor, mda, "Dr A")
    again = await client.post(path, json=signature(mda, "Dr A"), headers=texas.doctor)
    assert again.status_code == 409

    # Nothing was written by the refused attempts: one signature event.
    count = await session.scalar(
        select(func.count())
        .select_from(DocumentEvent)
        .where(DocumentEvent.document_id == uuid.UUID(mda["id"]), DocumentEvent.action == "signed")
    )
    assert count == 1

    # A provider's line is signed only through their link.
    [agreement, *_] = by_template(listing, "collaboration_agreement")
    wrong = await client.post(
        f"/v1/documents/{agreement['id']}/sign",
        json=signature(agreement, "Dana Reyes"),
        headers=texas.admin,
    )
    assert wrong.status_code == 403
    unknown = await client.post(
        "/v1/signing/sign", json={"token": "x" * 40} | signature(agreement, "Jane Doe")
    )
    assert unknown.status_code == 404


async def test_a_signing_link_works_once(client, session, settings, outbox):
    texas = await texas_two_nps(client, session, settings)
    listing = await documents_of(client, texas.admin, texas.id)
    [agreement, *_] = by_template(listing, "collaboration_agreement")
    await sign_as_provider(client, texas.admin, outbox, agreement, "jane@glow.example", "Jane Doe")
    token = token_in(outbox, "jane@glow.example")
    again = await client.post(
        "/v1/signing/sign", json={"token": token} | signature(agreement, "Jane Doe")
    )
    assert again.status_code == 404
    view = await client.post("/v1/signing/view", json={"token": token})
    assert view.status_code == 404


async def test_other_tenants_see_none_of_it(client, session, settings):
    texas = await texas_two_nps(client, session, settings)
    other = await texas_two_nps(client, session, settings)
    listing = await documents_of(client, texas.admin, texas.id)
    document = listing["documents"][0]
    provider_doc = by_template(listing, "collaboration_agreement")[0]
    [line] = [s for s in provider_doc["signers"] if s["role"] == "provider"]
    for headers in (other.admin, other.doctor):
        for method, path, body in (
            ("GET", f"/v1/engagements/{texas.id}/documents", None),
            ("GET", f"/v1/documents/{document['id']}", None),
            ("GET", f"/v1/documents/{document['id']}/download", None),
            ("POST", f"/v1/documents/{document['id']}/sign", signature(document, "X Y")),
            ("POST", f"/v1/documents/{document['id']}/verify", None),
            ("GET", f"/v1/engagements/{texas.id}/filings", None),
        ):
            response = await client.request(method, path, json=body, headers=headers)
            assert response.status_code == 404, (method, path, response.text)
    invite = await client.post(
        f"/v1/documents/{provider_doc['id']}/signers/{line['id']}/invite",
        json={"email": "x@example.com"},
        headers=other.admin,
    )
    assert invite.status_code == 404
    # The director cannot invite for the clinic.
    doctor_invite = await client.post(
        f"/v1/documents/{provider_doc['id']}/signers/{line['id']}/invite",
        json={"email": "x@example.com"},
        headers=texas.doctor,
    )
    assert doctor_invite.status_code == 403
    rows = await session.scalar(
        select(func.count())
        .select_from(ComplianceDocument)
        .where(ComplianceDocument.engagement_id == uuid.UUID(texas.id))
    )
    assert rows == len(listing["documents"])


async def test_a_signing_link_expires_after_seven_days(client, session, settings, outbox):
    texas = await texas_two_nps(client, session, settings)
    listing = await documents_of(client, texas.admin, texas.id)
    [agreement, *_] = by_template(listing, "collaboration_agreement")
    [line] = [s for s in agreement["signers"] if s["role"] == "provider"]
    invited = await client.post(
        f"/v1/documents/{agreement['id']}/signers/{line['id']}/invite",
        json={"email": "late@glow.example"},
        headers=texas.admin,
    )
    assert invited.status_code == 202, invited.text
    assert await jobs.send_signing_invitation(line["id"]) is True
    token = token_in(outbox, "late@glow.example")
    with travel(timedelta(days=7, seconds=-1)):
        assert (await client.post("/v1/signing/view", json={"token": token})).status_code == 200
    with travel(timedelta(days=7)):
        expired = await client.post("/v1/signing/view", json={"token": token})
        assert expired.status_code == 404
        assert expired.json()["type"].endswith("/signing-link-not-found")
        signed = await client.post(
            "/v1/signing/sign", json={"token": token} | signature(agreement, "Jane Doe")
        )
        assert signed.status_code == 404


async def test_a_seal_made_before_a_rotation_or_an_expiry_still_verifies(
    client, session, settings, outbox, bound_app
):
    texas = await texas_two_nps(client, session, settings)
    listing = await sign_everything(client, texas, outbox)
    [mda] = by_template(listing, "medical_director_agreement")
    path = f"/v1/documents/{mda['id']}/verify"

    # The platform's seal is rotated to a configured key and certificate, which later expire.
    key, cert = _self_signed(
        "mdmatch document seal 2027",
        not_after=datetime.now(UTC) + timedelta(days=30),
    )
    bound_app.state.settings = settings.model_copy(
        update={
            "document_seal_key": _key_pem(key),
            "document_seal_cert": cert.public_bytes(Encoding.PEM).decode(),
        }
    )
    try:
        rotated = await client.post(path, headers=texas.admin)
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["ok"] is True  # sealed with the old certificate, on record
        with travel(timedelta(days=31)):
            ops = await ops_headers(client, session, settings)  # a token of the moved clock
            expired = await client.post(path, headers=ops)
            assert expired.status_code == 200, expired.text
            assert expired.json()["ok"] is True
            # Sealing needs a valid certificate: the last signature is refused with a 503
            # and nothing is recorded.
            later = await texas_two_nps(client, session, settings)
            [other] = by_template(
                await documents_of(client, later.admin, later.id), "medical_director_agreement"
            )
            await sign(client, later.doctor, other, "Dr A")
            refused = await client.post(
                f"/v1/documents/{other['id']}/sign",
                json=signature(other, "Dana Reyes"),
                headers=later.admin,
            )
            assert refused.status_code == 503, refused.text
            assert refused.json()["type"].endswith("/document-seal-unavailable")
            after = (await client.get(f"/v1/documents/{other['id']}", headers=later.admin)).json()
            assert after["status"] == "awaiting_signatures"
            assert [s["signed"] for s in after["signers"] if s["role"] == "clinic"] == [False]
    finally:
        bound_app.state.settings = settings


async def test_signing_links_are_rate_limited_per_address(client):
    answers = [
        (await client.post("/v1/signing/view", json={"token": f"guess-{n:04d}-xxxxxxxxxx"}))
        for n in range(31)
    ]
    assert {a.status_code for a in answers[:30]} == {404}
    assert answers[30].status_code == 429
    assert answers[30].headers["content-type"] == "application/problem+json"
