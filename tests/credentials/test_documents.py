"""Credential documents against a real S3-compatible server process (tests/credentials/conftest):
upload and list, every refusal storing nothing, the object and its digest in the bucket, the
presigned download (working, expiring, not alterable), who may get it, operations' review, and
no orphan object when the commit fails."""

from __future__ import annotations

import hashlib
import uuid
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import botocore.auth  # type: ignore[import-untyped]
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.credentials.documents import ORPHAN_GRACE, DocumentConfig, sweep_orphans
from app.credentials.documents_files import active_pdf_content, check_file, safe_filename
from app.credentials.documents_models import CredentialDocument
from app.credentials.documents_router import UPLOAD_PATH, document_config, upload_body_limit
from app.credentials.models import CredentialCheck, ReviewItem
from app.credentials.storage import ObjectStore
from app.notifications.models import Notification
from app.physicians.models import License, MalpracticePolicy
from tests.conftest import make_settings
from tests.credentials.conftest import TEST_BUCKET, TEST_MAX_BYTES
from tests.factories import ops_headers, user_headers
from tests.matching.helpers import make_physician, physician_headers

PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


def _pdf_with(dictionary: bytes) -> bytes:
    return PDF.replace(b"trailer", b"3 0 obj\n" + dictionary + b"\nendobj\ntrailer")


def _pdf_with_object_stream(content: bytes) -> bytes:
    packed = zlib.compress(content)
    stream = (
        b"4 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
        + str(len(packed)).encode()
        + b" >>\nstream\n"
        + packed
        + b"\nendstream\nendobj\n"
    )
    return PDF.replace(b"trailer", stream + b"trailer")


async def _license(session: AsyncSession, physician_id: uuid.UUID) -> License:
    row = await session.scalar(select(License).where(License.physician_id == physician_id))
    assert row is not None
    return row


async def _upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    credential_id: Any,
    *,
    data: bytes = PDF,
    content_type: str = "application/pdf",
    filename: str = "license.pdf",
    credential_kind: str = "license",
    document_kind: str = "license_certificate",
) -> httpx.Response:
    return await client.post(
        "/v1/physicians/me/credential-documents",
        data={
            "credential_kind": credential_kind,
            "credential_id": str(credential_id),
            "document_kind": document_kind,
        },
        files={"file": (filename, data, content_type)},
        headers=headers,
    )


async def _objects(store: ObjectStore, physician_id: uuid.UUID) -> list[str]:
    listing = store.client().list_objects_v2(
        Bucket=TEST_BUCKET, Prefix=f"credentials/{physician_id}/"
    )
    return [o["Key"] for o in listing.get("Contents", [])]


async def _nothing_stored(session: AsyncSession, store: ObjectStore, physician_id: uuid.UUID):
    for model in (CredentialDocument, ReviewItem, CredentialCheck):
        count = await session.scalar(
            select(func.count()).select_from(model).where(model.physician_id == physician_id)
        )
        assert count == 0, model.__name__
    assert await _objects(store, physician_id) == []


async def test_upload_list_and_the_object_in_the_bucket(
    client, session, settings, documents_config, store
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)
    ops = await ops_headers(client, session, settings)

    response = await _upload(client, headers, license_.id, filename="TX license (2026).pdf")
    assert response.status_code == 201, response.text
    body = response.json()
    digest = hashlib.sha256(PDF).hexdigest()
    assert body["status"] == "pending_review"
    assert body["credential_kind"] == "license"
    assert body["credential_id"] == str(license_.id)
    assert body["document_kind"] == "license_certificate"
    assert body["content_type"] == "application/pdf"
    assert body["filename"] == "TX license_2026.pdf"
    assert (body["size_bytes"], body["sha256"]) == (len(PDF), digest)

    mine = (await client.get("/v1/physicians/me/credential-documents", headers=headers)).json()
    assert [d["id"] for d in mine["items"]] == [body["id"]]
    theirs = await client.get(f"/v1/physicians/{doc.id}/credential-documents", headers=ops)
    assert [d["id"] for d in theirs.json()["items"]] == [body["id"]]

    # The object really is in the bucket, under its key, encrypted, with the right digest.
    key = f"credentials/{doc.id}/{body['id']}"
    assert await _objects(store, doc.id) == [key]
    got = store.client().get_object(Bucket=TEST_BUCKET, Key=key)
    stored = got["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == digest == got["Metadata"]["sha256"]
    assert got["ServerSideEncryption"] == "AES256"
    assert got["ContentType"] == "application/pdf"

    # Queued for review with the evidence, a needs_review check, operations told, audited.
    row = await session.get(CredentialDocument, uuid.UUID(body["id"]))
    assert row is not None
    assert row.object_key == key
    item = await session.get(ReviewItem, row.review_item_id)
    assert item is not None
    assert (item.kind, item.subject_key, item.status) == ("document", f"document:{row.id}", "open")
    assert item.evidence["document"]["sha256"] == digest
    assert item.evidence["credential"] == {
        "kind": "license",
        "id": str(license_.id),
        "state": "TX",
        "number": license_.number,
        "expires_on": license_.expires_on.isoformat(),
        "status": "verified",
    }
    check = await session.scalar(
        select(CredentialCheck).where(CredentialCheck.physician_id == doc.id)
    )
    assert check is not None
    assert (check.source, check.method, check.result) == (
        "document",
        "document_review",
        "needs_review",
    )
    assert (check.credential_kind, check.credential_id) == ("license", license_.id)
    assert await session.scalar(
        select(Notification).where(
            Notification.kind == "credentials.review_needed",
            Notification.data["review_item_id"].astext == str(item.id),
        )
    )
    assert await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "credential_document.uploaded",
            AuditEntry.object_id == str(row.id),
        )
    )


async def test_png_and_jpeg_are_accepted_with_a_safe_name(
    client, session, settings, documents_config
):
    doc = await make_physician(session, dea_states=("TX",))
    headers = await physician_headers(client, session, settings, doc)
    policy = await session.scalar(
        select(MalpracticePolicy).where(MalpracticePolicy.physician_id == doc.id)
    )
    assert policy is not None
    png = await _upload(
        client,
        headers,
        policy.id,
        data=PNG,
        content_type="image/png",
        filename="../../etc/p\u00e4sswd<script>.png",
        credential_kind="malpractice",
        document_kind="malpractice_coi",
    )
    assert png.status_code == 201, png.text
    assert png.json()["filename"] == "passwd_script.png"
    jpeg = await _upload(
        client,
        headers,
        policy.id,
        data=JPEG,
        content_type="image/jpeg",
        filename="C:\\scans\\coi",
        credential_kind="malpractice",
        document_kind="malpractice_coi",
    )
    assert jpeg.status_code == 201, jpeg.text
    assert jpeg.json()["filename"] == "coi.jpg"


ACTIVE = [
    _pdf_with(b"<< /S /JavaScript /JS (app.alert(1)) >>"),
    _pdf_with(b"<< /OpenAction << /JS 5 0 R >> >>"),
    _pdf_with(b"<< /S /Launch /F (cmd.exe) >>"),
    _pdf_with(b"<< /Type /EmbeddedFile /Length 3 >>"),
    _pdf_with(b"<< /Names << /EmbeddedFiles 6 0 R >> >>"),
    _pdf_with(b"<< /S /J#61vaScript >>"),  # a name with an escaped letter
    _pdf_with_object_stream(b"<< /OpenAction << /S /Launch /F (x.exe) >> >>"),
]


@pytest.mark.parametrize(
    ("case", "upload", "status", "slug"),
    [
        ("too large", {"data": PDF + b"0" * TEST_MAX_BYTES}, 413, "document-too-large"),
        ("empty", {"data": b""}, 422, "document-empty"),
        ("declared pdf, is png", {"data": PNG}, 422, "document-type-mismatch"),
        ("declared png, is pdf", {"content_type": "image/png"}, 422, "document-type-mismatch"),
        (
            "a gif",
            {"data": b"GIF89a" + b"\x00" * 32, "content_type": "image/gif"},
            422,
            "document-type-not-allowed",
        ),
        (
            "html as pdf",
            {"data": b"<html><script>x</script>", "filename": "a.pdf"},
            422,
            "document-type-not-allowed",
        ),
        *[
            (f"active content {i}", {"data": data}, 422, "document-active-content")
            for i, data in enumerate(ACTIVE)
        ],
        (
            "dea certificate for a license",
            {"document_kind": "dea_certificate"},
            422,
            "document-kind-mismatch",
        ),
    ],
)
async def test_each_refusal_is_a_problem_and_stores_nothing(
    client, session, settings, documents_config, store, case, upload, status, slug
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)
    response = await _upload(client, headers, license_.id, **upload)
    assert response.status_code == status, (case, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/" + slug), problem
    if status == 422:
        assert problem["errors"], problem
    await _nothing_stored(session, store, doc.id)


async def test_a_body_over_the_routes_own_limit_is_refused_before_it_is_read(
    client, session, settings, documents_config, store
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)
    # The upload route's body cap is the document limit plus the multipart envelope, not the
    # app-wide cap for JSON bodies.
    cap = upload_body_limit(settings.document_max_bytes)[("POST", UPLOAD_PATH)]
    assert cap > settings.max_body_bytes
    big = PDF + b"0" * cap
    response = await _upload(client, headers, license_.id, data=big)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/payload-too-large")
    await _nothing_stored(session, store, doc.id)
    # A JSON body of that size elsewhere is still refused at the app-wide cap.
    other = await client.patch(
        "/v1/physicians/me", content=b"{" + b" " * settings.max_body_bytes + b"}", headers=headers
    )
    assert other.status_code == 413


async def test_a_document_larger_than_a_json_body_may_be_uploaded(
    client, session, settings, store, bound_app, documents_config
):
    # The app's own document limit (not the tests' small one): a 2 MB certificate scan is normal.
    bound_app.dependency_overrides[document_config] = lambda: DocumentConfig(
        store=store,
        max_bytes=settings.document_max_bytes,
        url_seconds=documents_config.url_seconds,
    )
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)
    scan = PDF + b"0" * (2 * settings.max_body_bytes)
    assert len(scan) < settings.document_max_bytes
    response = await _upload(client, headers, license_.id, data=scan)
    assert response.status_code == 201, response.text
    assert response.json()["size_bytes"] == len(scan)


async def test_someone_elses_or_an_unknown_credential_is_404(
    client, session, settings, documents_config, store
):
    doc = await make_physician(session)
    other = await make_physician(session, last_name="Other")
    headers = await physician_headers(client, session, settings, doc)
    theirs = await _license(session, other.id)
    for credential_id, kind, document_kind in (
        (theirs.id, "license", "license_certificate"),
        (uuid.uuid4(), "license", "license_certificate"),
        # Their license's id, claimed as the caller's board certification.
        ((await _license(session, doc.id)).id, "board_certification", "board_printout"),
    ):
        response = await _upload(
            client,
            headers,
            credential_id,
            credential_kind=kind,
            document_kind=document_kind,
        )
        assert response.status_code == 404, response.text
        assert response.json()["type"].endswith("/credential-not-found")
    await _nothing_stored(session, store, doc.id)
    await _nothing_stored(session, store, other.id)


async def test_only_physicians_upload(client, session, settings, documents_config):
    clinic = await user_headers(client, "clinic_admin")
    response = await _upload(client, clinic, uuid.uuid4())
    assert response.status_code == 403
    ops = await ops_headers(client, session, settings)
    assert (await _upload(client, ops, uuid.uuid4())).status_code == 403


async def test_the_download_url_works_expires_and_cannot_be_altered(
    client, session, settings, documents_config, store
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)
    first = (await _upload(client, headers, license_.id)).json()
    second = (
        await _upload(client, headers, license_.id, data=PNG, content_type="image/png")
    ).json()

    response = await client.get(f"/v1/credential-documents/{first['id']}/download", headers=headers)
    assert response.status_code == 303, response.text
    assert response.headers["cache-control"] == "no-store"
    url = response.headers["location"]
    assert "X-Amz-Signature=" in url
    async with httpx.AsyncClient() as s3:
        fetched = await s3.get(url)
        assert fetched.status_code == 200
        assert fetched.content == PDF
        assert fetched.headers["content-type"] == "application/pdf"
        assert fetched.headers["content-disposition"] == 'attachment; filename="license.pdf"'

        # The same URL pointed at another object: the signature no longer matches.
        altered = url.replace(first["id"], second["id"])
        assert (await s3.get(altered)).status_code == 403
        # Not signed at all: a private bucket.
        bare = url.split("?", 1)[0]
        assert (await s3.get(bare)).status_code == 403

        # A URL signed ten minutes ago for sixty seconds has expired.
        past = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=10)
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=past):
            stale = await store.presigned_get(
                f"credentials/{doc.id}/{first['id']}",
                expires_in=60,
                filename="license.pdf",
                content_type="application/pdf",
            )
        refused = await s3.get(stale)
        assert refused.status_code == 403
        assert b"Request has expired" in refused.content

    as_json = await client.get(
        f"/v1/credential-documents/{first['id']}/download",
        params={"redirect": "false"},
        headers=headers,
    )
    assert as_json.status_code == 200
    link = as_json.json()
    assert "X-Amz-Expires=60" in link["url"]
    expires_at = datetime.fromisoformat(link["expires_at"])
    assert timedelta(0) < expires_at - datetime.now(UTC) <= timedelta(seconds=61)
    assert await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "credential_document.download_link",
            AuditEntry.object_id == first["id"],
        )
    )


async def test_only_the_physician_and_operations_get_the_document(
    client, session, settings, documents_config
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    uploaded = (await _upload(client, headers, (await _license(session, doc.id)).id)).json()
    path = f"/v1/credential-documents/{uploaded['id']}/download"

    ops = await ops_headers(client, session, settings)
    assert (await client.get(path, headers=ops)).status_code == 303

    other = await make_physician(session, last_name="Other")
    other_headers = await physician_headers(client, session, settings, other)
    hidden = await client.get(path, headers=other_headers)
    assert hidden.status_code == 404
    assert hidden.json()["type"].endswith("/credential-document-not-found")
    assert "location" not in hidden.headers
    unknown = await client.get(f"/v1/credential-documents/{uuid.uuid4()}/download", headers=headers)
    assert unknown.status_code == 404
    clinic = await user_headers(client, "clinic_admin")
    assert (await client.get(path, headers=clinic)).status_code == 403
    assert (await client.get(path)).status_code == 401
    # The lists: another physician sees only their own; clinics and physicians not the ops list.
    theirs = await client.get("/v1/physicians/me/credential-documents", headers=other_headers)
    assert theirs.json()["items"] == []
    for caller in (other_headers, clinic, headers):
        listed = await client.get(f"/v1/physicians/{doc.id}/credential-documents", headers=caller)
        assert listed.status_code == 403


async def _decide(client, ops, item_id, decision: str, reason: str) -> httpx.Response:
    return await client.post(
        f"/v1/review-items/{item_id}/decision",
        json={"decision": decision, "reason": reason},
        headers=ops,
    )


async def test_approval_records_a_passed_check_due_at_expiry_and_tells_the_physician(
    client, session, settings, documents_config
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)
    status_before = license_.status
    uploaded = (await _upload(client, headers, license_.id)).json()
    ops = await ops_headers(client, session, settings)
    reviewer = (await client.get("/v1/me", headers=ops)).json()["id"]

    decided = await _decide(
        client, ops, uploaded["review_item_id"], "approve", "number and expiry match"
    )
    assert decided.status_code == 200, decided.text

    row = await session.scalar(
        select(CredentialDocument)
        .where(CredentialDocument.id == uuid.UUID(uploaded["id"]))
        .execution_options(populate_existing=True)
    )
    assert row is not None
    assert row.status == "approved"
    assert row.decided_at is not None
    check = await session.scalar(
        select(CredentialCheck).where(
            CredentialCheck.physician_id == doc.id, CredentialCheck.result == "passed"
        )
    )
    assert check is not None
    assert (check.source, check.method) == ("document", "document_review")
    assert check.checked_by == uuid.UUID(reviewer)
    assert check.recheck_due == license_.expires_on
    assert check.compared["number"] == {"ours": license_.number, "source": license_.number}
    assert check.compared["expires_on"]["source"] == license_.expires_on.isoformat()
    assert check.compared["document"]["sha256"] == uploaded["sha256"]
    assert check.source_detail == f"document {uploaded['id']}"
    note = await session.scalar(
        select(Notification).where(
            Notification.user_id == doc.user_id,
            Notification.kind == "credentials.document_approved",
        )
    )
    assert note is not None
    assert note.data["credential_id"] == str(license_.id)
    assert note.email_status == "pending"
    for action in ("credential_document.approved", "credentials.review_approved"):
        assert await session.scalar(select(AuditEntry).where(AuditEntry.action == action)), action
    # The credential itself is not changed (that is for another change).
    await session.refresh(license_)
    assert license_.status == status_before
    listed = (await client.get("/v1/physicians/me/credential-documents", headers=headers)).json()
    assert listed["items"][0]["status"] == "approved"


async def test_rejection_records_a_failed_check_with_the_reason(
    client, session, settings, documents_config
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)
    uploaded = (await _upload(client, headers, license_.id)).json()
    ops = await ops_headers(client, session, settings)

    reason = "the certificate shows another license number"
    decided = await _decide(client, ops, uploaded["review_item_id"], "reject", reason)
    assert decided.status_code == 200, decided.text
    row = await session.scalar(
        select(CredentialDocument)
        .where(CredentialDocument.id == uuid.UUID(uploaded["id"]))
        .execution_options(populate_existing=True)
    )
    assert row is not None
    assert (row.status, row.reason) == ("rejected", reason)
    check = await session.scalar(
        select(CredentialCheck).where(
            CredentialCheck.physician_id == doc.id, CredentialCheck.result == "failed"
        )
    )
    assert check is not None
    assert check.detail == reason
    assert check.recheck_due is None
    note = await session.scalar(
        select(Notification).where(
            Notification.user_id == doc.user_id,
            Notification.kind == "credentials.document_rejected",
        )
    )
    assert note is not None
    assert reason in note.body
    assert await session.scalar(
        select(AuditEntry).where(
            AuditEntry.action == "credential_document.rejected",
            AuditEntry.object_id == str(row.id),
        )
    )
    again = await _decide(client, ops, uploaded["review_item_id"], "approve", "changed my mind")
    assert again.status_code == 409


async def test_a_failed_commit_leaves_no_orphan_object(
    client, session, settings, documents_config, store, monkeypatch
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)

    async def failing_commit(self: AsyncSession) -> None:
        raise OperationalError("COMMIT", {}, ConnectionError("connection lost"))

    with monkeypatch.context() as patched:
        patched.setattr(AsyncSession, "commit", failing_commit)
        response = await _upload(client, headers, license_.id)
    assert response.status_code >= 500
    await _nothing_stored(session, store, doc.id)


async def test_an_unreachable_store_is_503_and_stores_nothing(
    client, session, settings, bound_app, store
):
    from app.devtools.stripe_emulator import free_port

    dead = ObjectStore(
        bucket=TEST_BUCKET,
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key_id="x",
        secret_access_key="y",
    )
    config = DocumentConfig(store=dead, max_bytes=TEST_MAX_BYTES, url_seconds=60)
    bound_app.dependency_overrides[document_config] = lambda: config
    try:
        doc = await make_physician(session)
        headers = await physician_headers(client, session, settings, doc)
        response = await _upload(client, headers, (await _license(session, doc.id)).id)
    finally:
        bound_app.dependency_overrides.pop(document_config, None)
    assert response.status_code == 503, response.text
    assert response.json()["type"].endswith("/object-store-unavailable")
    await _nothing_stored(session, store, doc.id)


def test_the_store_and_limits_come_from_the_settings(database_url):
    from starlette.datastructures import State

    settings = make_settings(
        database_url,
        s3_endpoint_url="http://127.0.0.1:9",
        s3_bucket="b-docs",
        document_max_bytes=2048,
        document_url_seconds=30,
    )
    request = mock.Mock()
    request.app.state = State({"settings": settings})
    config = document_config(request)
    assert (config.max_bytes, config.url_seconds) == (2048, 30)
    assert (config.store.bucket, config.store.endpoint_url) == ("b-docs", "http://127.0.0.1:9")
    assert document_config(request).store is config.store  # built once per app


def test_file_checks():
    assert check_file(PDF, declared="application/pdf; charset=binary", filename="a").filename == (
        "a.pdf"
    )
    assert check_file(JPEG, declared="image/jpg", filename="x.jpeg").content_type == "image/jpeg"
    assert active_pdf_content(PDF) is None
    # Words that merely start like an active name are not one.
    assert active_pdf_content(_pdf_with(b"<< /JSON 1 /Launcher 2 >>")) is None
    assert active_pdf_content(ACTIVE[0]) == "/JavaScript"
    assert safe_filename("...", "application/pdf") == "document.pdf"
    assert safe_filename("a" * 300 + ".png", "image/png") == "a" * 112 + ".png"
    assert safe_filename('x"; filename=evil.exe', "application/pdf") == "x_filename_evil.exe.pdf"


async def test_an_approved_document_verifies_a_pending_license_which_then_counts_for_matching(
    client, session, settings, documents_config
):
    from datetime import timedelta

    from app.kit.clock import today
    from app.physicians.eligibility import matchable_physicians
    from app.physicians.models import Physician

    doc = await make_physician(session)  # verified, licensed in TX
    pending = License(
        id=uuid.uuid4(),
        physician_id=doc.id,
        state="OK",
        number="OK-31337",
        expires_on=today() + timedelta(days=300),
        status="pending",
    )
    session.add(pending)
    await session.commit()

    async def matchable_in_ok() -> bool:
        stmt = matchable_physicians(states=["OK"], on=today()).with_only_columns(Physician.id)
        return doc.id in set(await session.scalars(stmt))

    assert not await matchable_in_ok()  # a license only typed in does not count
    headers = await physician_headers(client, session, settings, doc)
    uploaded = (await _upload(client, headers, pending.id)).json()
    ops = await ops_headers(client, session, settings)
    rejected_first = await _upload(client, headers, pending.id, filename="second.pdf")
    assert rejected_first.status_code == 201, rejected_first.text
    # Rejecting one document changes nothing; approving the other verifies the license.
    await _decide(client, ops, rejected_first.json()["review_item_id"], "reject", "blurred scan")
    await session.refresh(pending)
    assert pending.status == "pending"
    assert not await matchable_in_ok()
    decided = await _decide(client, ops, uploaded["review_item_id"], "approve", "matches record")
    assert decided.status_code == 200, decided.text
    await session.refresh(pending)
    assert pending.status == "verified"
    assert pending.verified_at is not None
    assert await matchable_in_ok()
    assert await session.scalar(
        select(AuditEntry).where(AuditEntry.action == "credential.verified_by_document")
    )


# --- orphaned objects -------------------------------------------------------------------------


async def test_the_sweep_deletes_only_old_objects_no_row_names(
    client, session, settings, documents_config, store
):
    doc = await make_physician(session)
    headers = await physician_headers(client, session, settings, doc)
    license_ = await _license(session, doc.id)
    kept = (await _upload(client, headers, license_.id)).json()
    orphan = f"credentials/{doc.id}/{uuid.uuid4()}"
    foreign = f"credentials/{doc.id}/not-a-document-id"
    for key in (orphan, foreign):
        await store.put(key, PDF, content_type="application/pdf", sha256="0" * 64)
    now = datetime.now(UTC)

    # Everything was written just now: within the grace period nothing goes.
    young = await sweep_orphans(session, store, older_than=now - ORPHAN_GRACE)
    assert orphan not in young.deleted
    # Past it (the cut-off moved after the writes), the object no row names goes; the one a
    # row names and a key not of our shape stay. (Earlier tests' rows were rolled back, so
    # their objects are orphans too.)
    swept = await sweep_orphans(session, store, older_than=now + timedelta(minutes=1))
    assert orphan in swept.deleted
    remaining = set(await _objects(store, doc.id))
    assert remaining == {f"credentials/{doc.id}/{kept['id']}", foreign}
    assert swept.objects >= 3


async def test_the_orphan_sweep_job_reads_the_store_from_the_settings(bound_app, store):
    from app.credentials.jobs import sweep_orphan_documents_job
    from app.jobs.runtime import configure_runtime, get_runtime

    original = get_runtime()
    settings = original.settings.model_copy(
        update={
            "s3_endpoint_url": store.endpoint_url,
            "s3_bucket": store.bucket,
            "s3_access_key_id": store.access_key_id,
            "s3_secret_access_key": SecretStr(store.secret_access_key or ""),
        }
    )
    young = f"credentials/{uuid.uuid4()}/{uuid.uuid4()}"
    await store.put(young, PDF, content_type="application/pdf", sha256="0" * 64)
    configure_runtime(replace(original, settings=settings))
    try:
        result = await sweep_orphan_documents_job(timestamp=0)
    finally:
        configure_runtime(original)
    # It listed the test bucket; the object just written is within the grace period.
    assert isinstance(result["objects"], int)
    assert result["objects"] >= 1
    listing = store.client().list_objects_v2(Bucket=TEST_BUCKET, Prefix=young)
    assert [o["Key"] for o in listing.get("Contents", [])] == [young]
    await store.delete(young)
