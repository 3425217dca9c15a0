"""Credential documents: upload (checked, stored in object storage, queued for review), list,
a presigned download, and the consequence of operations' decision.

No partial writes. The rows (document, review item, check, audit) are flushed first, the
object is put last, and the router commits once; should the commit fail, the router deletes the
object (`discard`). So a refused or failed upload leaves neither a row nor an object. The one
gap: the process dying between the put and the commit leaves an object no row names; its key
(`credentials/<physician>/<document id>`) says whose it was and that no row has that id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from hashlib import sha256
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.auth.models import Role, User
from app.catalog.vocabulary import CredentialStatus
from app.credentials import checking, review
from app.credentials.documents_files import FileRefused, check_file
from app.credentials.documents_models import (
    DOCUMENT_KINDS,
    CredentialDocument,
    DocumentCredentialKind,
    DocumentKind,
    DocumentStatus,
)
from app.credentials.models import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialKind,
    ReviewItem,
    ReviewKind,
    ReviewStatus,
)
from app.credentials.provenance import record_check
from app.credentials.storage import ObjectStore, StorageError
from app.errors import AppError, NotFound, UpstreamUnavailable, ValidationFailed
from app.kit.clock import today, utcnow
from app.kit.pagination import PageParams, paginate
from app.notifications.service import notify
from app.physicians.models import (
    BoardCertification,
    DeaRegistration,
    License,
    MalpracticePolicy,
    Physician,
)
from app.physicians.service import physician_id_for_user
from app.physicians.verification import malpractice_cover

log = structlog.get_logger(__name__)

_CREDENTIALS: dict[DocumentCredentialKind, Any] = {
    DocumentCredentialKind.license: License,
    DocumentCredentialKind.dea: DeaRegistration,
    DocumentCredentialKind.malpractice: MalpracticePolicy,
    DocumentCredentialKind.board_certification: BoardCertification,
}
# The fields of each credential a reviewer compares with the document.
_COMPARED: dict[DocumentCredentialKind, tuple[str, ...]] = {
    DocumentCredentialKind.license: ("state", "number", "expires_on"),
    DocumentCredentialKind.dea: ("state", "number", "expires_on"),
    DocumentCredentialKind.malpractice: (
        "carrier",
        "policy_number",
        "per_claim_cents",
        "aggregate_cents",
        "expires_on",
    ),
    DocumentCredentialKind.board_certification: (
        "board",
        "specialty",
        "certification",
        "expires_on",
    ),
}


@dataclass(frozen=True, slots=True)
class DocumentConfig:
    """Where documents go and the limits (the router's dependency; tests give their own)."""

    store: ObjectStore
    max_bytes: int
    url_seconds: int


class DocumentTooLarge(AppError):
    status, slug, title = 413, "document-too-large", "The document is too large"


class DocumentRefused(ValidationFailed):
    slug, title = "document-refused", "The document is not accepted"


class DocumentEmpty(DocumentRefused):
    slug, title = "document-empty", "The document is empty"


class DocumentTypeNotAllowed(DocumentRefused):
    slug, title = "document-type-not-allowed", "Only PDF, PNG and JPEG documents are accepted"


class DocumentTypeMismatch(DocumentRefused):
    slug, title = "document-type-mismatch", "The declared type is not the file's"


class DocumentActiveContent(DocumentRefused):
    slug, title = "document-active-content", "The PDF contains active content"


class DocumentKindMismatch(DocumentRefused):
    slug, title = "document-kind-mismatch", "This kind of document does not fit the credential"


_REFUSALS: dict[str, type[DocumentRefused]] = {
    "document-empty": DocumentEmpty,
    "document-type-not-allowed": DocumentTypeNotAllowed,
    "document-type-mismatch": DocumentTypeMismatch,
    "document-active-content": DocumentActiveContent,
}


class CredentialNotFound(NotFound):
    slug, title = "credential-not-found", "Credential not found"


class DocumentNotFound(NotFound):
    slug, title = "credential-document-not-found", "Credential document not found"


class ObjectStoreUnavailable(UpstreamUnavailable):
    slug, title = "object-store-unavailable", "The document store is unavailable"


def object_key(physician_id: uuid.UUID, document_id: uuid.UUID) -> str:
    return f"credentials/{physician_id}/{document_id}"


def too_large(max_bytes: int) -> DocumentTooLarge:
    return DocumentTooLarge(
        f"The document is larger than {max_bytes:,} bytes.", max_bytes=max_bytes
    )


async def _credential(
    session: AsyncSession,
    kind: DocumentCredentialKind,
    credential_id: uuid.UUID,
    physician_id: uuid.UUID,
    *,
    lock: bool = False,
) -> Any:
    model = _CREDENTIALS[kind]
    stmt = select(model).where(model.id == credential_id, model.physician_id == physician_id)
    if lock:  # a board's answer applied meanwhile waits, or is seen
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


def _record(kind: DocumentCredentialKind, credential: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"kind": kind.value, "id": str(credential.id)}
    for name in (*_COMPARED[kind], "status"):
        value = getattr(credential, name)
        values[name] = value.isoformat() if isinstance(value, date) else value
    return values


def _metadata(document: CredentialDocument) -> dict[str, Any]:
    return {
        "id": str(document.id),
        "document_kind": document.document_kind,
        "filename": document.filename,
        "content_type": document.content_type,
        "size_bytes": document.size_bytes,
        "sha256": document.sha256,
        "uploaded_at": document.uploaded_at.isoformat(),
    }


async def upload(
    session: AsyncSession,
    config: DocumentConfig,
    physician: Physician,
    user: User,
    *,
    credential_kind: DocumentCredentialKind,
    credential_id: uuid.UUID,
    document_kind: DocumentKind,
    filename: str | None,
    declared_type: str | None,
    data: bytes,
) -> CredentialDocument:
    """Check the file, write the document's rows (document, review item, `needs_review` check,
    audit; flushed, not committed) and put the object. The caller commits, and on a failed
    commit calls `discard`."""
    if len(data) > config.max_bytes:
        raise too_large(config.max_bytes)
    if document_kind not in DOCUMENT_KINDS[credential_kind]:
        fits = ", ".join(sorted(k.value for k in DOCUMENT_KINDS[credential_kind]))
        raise DocumentKindMismatch(
            [{"loc": ["body", "document_kind"], "msg": f"a {credential_kind.value} takes {fits}"}],
            f"A {document_kind.value} does not support a {credential_kind.value}; it takes {fits}.",
        )
    try:
        accepted = check_file(data, declared=declared_type, filename=filename)
    except FileRefused as refused:
        raise _REFUSALS[refused.code]([{"loc": ["body", "file"], "msg": str(refused)}]) from None
    credential = await _credential(session, credential_kind, credential_id, physician.id)
    if credential is None:
        raise CredentialNotFound(
            f"You have no {credential_kind.value.replace('_', ' ')} with this id.",
            credential_kind=credential_kind.value,
        )
    what = document_kind.value.replace("_", " ")
    document_id = uuid.uuid4()
    document = CredentialDocument(
        id=document_id,
        physician_id=physician.id,
        credential_kind=credential_kind.value,
        credential_id=credential_id,
        document_kind=document_kind.value,
        filename=accepted.filename,
        content_type=accepted.content_type,
        size_bytes=len(data),
        sha256=sha256(data).hexdigest(),
        object_key=object_key(physician.id, document_id),
        status=DocumentStatus.pending_review.value,
        uploaded_by=user.id,
        uploaded_at=utcnow(),
    )
    session.add(document)
    await session.flush()
    item = await review.open_item(
        session,
        kind=ReviewKind.document,
        physician_id=physician.id,
        subject_key=f"document:{document.id}",
        evidence={
            "document": _metadata(document),
            "credential": _record(credential_kind, credential),
        },
        title=f"Document to review: {physician.display_name}, {what}",
    )
    document.review_item_id = item.id if item is not None else None
    await record_check(
        session,
        physician_id=physician.id,
        kind=CredentialKind(credential_kind.value),
        credential_id=credential_id,
        source=CheckSource.document,
        source_detail=f"document {document.id}",
        method=CheckMethod.document_review,
        result=CheckResult.needs_review,
        detail=f"{document_kind.value} uploaded; waits for operations' review",
    )
    await record_audit(
        session,
        actor_id=user.id,
        action="credential_document.uploaded",
        object_type="credential_document",
        object_id=document.id,
        after={
            **_metadata(document),
            "credential_kind": credential_kind.value,
            "credential_id": str(credential_id),
        },
    )
    await session.flush()
    try:
        await config.store.put(
            document.object_key,
            data,
            content_type=document.content_type,
            sha256=document.sha256,
        )
    except StorageError as exc:
        log.warning("credential_document.put_failed", document_id=str(document.id), error=str(exc))
        await discard(config.store, document.object_key)
        raise ObjectStoreUnavailable("The document could not be stored; try again.") from None
    return document


async def discard(store: ObjectStore, key: str) -> None:
    """Delete an object whose rows were not committed (best effort: a failure is logged)."""
    try:
        await store.delete(key)
    except StorageError as exc:
        log.error("credential_document.orphan_object", object_key=key, error=str(exc))


# An object younger than this may belong to an upload whose transaction has not committed yet.
ORPHAN_GRACE = timedelta(hours=1)


@dataclass
class OrphanSweep:
    objects: int = 0
    deleted: list[str] = field(default_factory=list)


async def sweep_orphans(
    session: AsyncSession, store: ObjectStore, *, older_than: datetime
) -> OrphanSweep:
    """Delete the objects under `credentials/` that no document row names and that were written
    before `older_than` (an upload whose process died between the put and the commit). A key
    not of the form `credentials/<uuid>/<uuid>` is left alone (not ours to judge)."""
    result = OrphanSweep()
    listed = await store.list_keys("credentials/")
    result.objects = len(listed)
    candidates: dict[uuid.UUID, str] = {}
    for key, modified in listed:
        parts = key.split("/")
        if len(parts) != 3 or modified >= older_than:
            continue
        try:
            uuid.UUID(parts[1])
            candidates[uuid.UUID(parts[2])] = key
        except ValueError:
            continue
    if not candidates:
        return result
    known: set[uuid.UUID] = set()
    ids = list(candidates)
    for start in range(0, len(ids), 5000):  # bounded statements, whatever the bucket holds
        known.update(
            await session.scalars(
                select(CredentialDocument.id).where(
                    CredentialDocument.id.in_(ids[start : start + 5000])
                )
            )
        )
    for document_id, key in candidates.items():
        if document_id in known:
            continue
        await store.delete(key)
        log.warning("credential_document.orphan_deleted", object_key=key)
        result.deleted.append(key)
    return result


async def list_documents(
    session: AsyncSession, physician_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[CredentialDocument], str | None]:
    stmt = select(CredentialDocument).where(CredentialDocument.physician_id == physician_id)
    return await paginate(
        session,
        stmt,
        page,
        created_at=CredentialDocument.uploaded_at,
        id_column=CredentialDocument.id,
    )


async def download_link(
    session: AsyncSession, config: DocumentConfig, document_id: uuid.UUID, user: User
) -> tuple[str, int]:
    """A presigned GET URL of the document and its lifetime, for its physician or operations
    (anyone else: 404, as if it did not exist). The download is audited."""
    document = await session.get(CredentialDocument, document_id)
    if document is None:
        raise DocumentNotFound("No such document.")
    if user.role != Role.ops_admin.value:
        own = await physician_id_for_user(session, user.id)
        if own is None or own != document.physician_id:
            raise DocumentNotFound("No such document.")
    try:
        url = await config.store.presigned_get(
            document.object_key,
            expires_in=config.url_seconds,
            filename=document.filename,
            content_type=document.content_type,
        )
    except StorageError as exc:
        raise ObjectStoreUnavailable("The document store cannot sign a link now.") from exc
    await record_audit(
        session,
        actor_id=user.id,
        action="credential_document.download_link",
        object_type="credential_document",
        object_id=document.id,
        after={"physician_id": str(document.physician_id), "seconds": config.url_seconds},
    )
    return url, config.url_seconds


def link_expiry(seconds: int) -> Any:
    return utcnow() + timedelta(seconds=seconds)


async def _on_document_decision(
    session: AsyncSession, item: ReviewItem, reviewer_id: uuid.UUID
) -> None:
    """Approve: operations confirmed the document shows the record (a `passed` check, due again
    when the credential expires). Reject: a `failed` check with the reason. The document's
    status follows; the physician is told. An approved document verifies a credential still
    pending (and unexpired): it is then checked, and counts for matching."""
    document = await session.scalar(
        select(CredentialDocument)
        .where(CredentialDocument.review_item_id == item.id)
        .with_for_update()
    )
    if document is None:
        log.warning("credential_document.review_without_document", review_item_id=str(item.id))
        return
    approved = item.status == ReviewStatus.approved.value
    kind = DocumentCredentialKind(document.credential_kind)
    credential = await _credential(
        session, kind, document.credential_id, document.physician_id, lock=True
    )
    compared: dict[str, Any] = {}
    if credential is not None:
        record = _record(kind, credential)
        for name in _COMPARED[kind]:
            compared[name] = {"ours": record[name], "source": record[name] if approved else None}
    compared["document"] = {"id": str(document.id), "sha256": document.sha256}
    short: list[str] = []
    if approved and kind == DocumentCredentialKind.malpractice and credential is not None:
        # The certificate shows the policy; its limits must still meet the minimum for every
        # state the physician is licensed in (the state's law, else the platform's setting).
        owner = await session.get(Physician, document.physician_id)
        assert owner is not None
        await session.refresh(owner, ["licenses", "malpractice_policies"])
        cover = await malpractice_cover(session, owner, review.current_settings())
        if credential.id in cover.short:
            short, limits = cover.short[credential.id]
        else:
            limits = cover.adequate.get(credential.id, {})
        compared |= limits
    passed = approved and not short
    await record_check(
        session,
        physician_id=document.physician_id,
        kind=CredentialKind(kind.value),
        credential_id=document.credential_id,
        source=CheckSource.document,
        source_detail=f"document {document.id}",
        method=CheckMethod.document_review,
        result=CheckResult.passed if passed else CheckResult.failed,
        compared=compared,
        detail=item.reason
        if not short
        else f"{item.reason}; below the minimum: " + " ".join(short),
        checked_by=reviewer_id,
        recheck_due=credential.expires_on if passed and credential is not None else None,
    )
    settings = review.current_settings()
    physician = await session.get(Physician, document.physician_id)
    assert physician is not None
    if (
        passed
        and credential is not None
        and credential.status == CredentialStatus.pending.value
        and credential.expires_on > today()
    ):
        if kind == DocumentCredentialKind.license:
            # Through the same gate as a board's answer (an open disciplinary review, cover
            # below the state's minimum hold it).
            await checking.verify_license(
                session,
                credential,
                physician,
                settings=settings,
                action="credential.verified_by_document",
                by=f"Operations' review of your {document.document_kind.replace('_', ' ')}",
                actor_id=reviewer_id,
            )
        else:
            credential.status = CredentialStatus.verified.value
            credential.verified_at = utcnow()
            await session.flush()
            await record_audit(
                session,
                actor_id=reviewer_id,
                action="credential.verified_by_document",
                object_type="physician",
                object_id=document.physician_id,
                before={"credential_id": str(credential.id), "status": "pending"},
                after={"status": credential.status, "document_id": str(document.id)},
            )
            if kind == DocumentCredentialKind.malpractice:
                # Licenses their source backed but this cover's absence held are verified now.
                await checking.release_held_licenses(
                    session, physician, settings=settings, actor_id=reviewer_id
                )
    before = document.status
    document.status = (DocumentStatus.approved if approved else DocumentStatus.rejected).value
    document.reason = item.reason
    document.decided_at = utcnow()
    await record_audit(
        session,
        actor_id=reviewer_id,
        action=f"credential_document.{document.status}",
        object_type="credential_document",
        object_id=document.id,
        before={"status": before},
        after={"status": document.status, "reason": item.reason},
    )
    what = document.document_kind.replace("_", " ")
    data = {"credential_id": str(document.credential_id), "document_id": str(document.id)}
    if approved:
        body = f"Operations checked your {what} ({document.filename}) against your record."
        if short:
            body += (
                " Its limits are below the minimum, so the policy does not count for matching: "
                + " ".join(short)
                + " Add a policy that meets it."
            )
        await notify(
            session,
            user_id=physician.user_id,
            kind="credentials.document_approved",
            email=True,
            title="Your document was approved"
            + (", but the cover is below the minimum" if short else ""),
            body=body,
            data=data | ({"below_minimum": short} if short else {}),
        )
    else:
        await notify(
            session,
            user_id=physician.user_id,
            kind="credentials.document_rejected",
            email=True,
            title="Your document was not accepted",
            body=f"Operations could not accept your {what} ({document.filename}): {item.reason}",
            data=data,
        )
    await session.flush()


review.on_decision(ReviewKind.document, _on_document_decision)
