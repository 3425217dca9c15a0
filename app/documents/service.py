"""Reading documents: an engagement's set and what it still misses, downloads through signed
URLs, seal verification, and counsel's reviews of the templates."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.config import Settings
from app.credentials.storage import ObjectStore
from app.documents.catalog import TEMPLATES, template
from app.documents.generation import PDF, add_event, sha256_hex
from app.documents.models import (
    CURRENT_STATUSES,
    ComplianceDocument,
    DocumentEvent,
    DocumentStatus,
    TemplateReview,
)
from app.documents.schemas import OversightStanding
from app.documents.seal import SealReport, seal_identity, verify_pdf
from app.engagements import service as engagements
from app.engagements.models import Engagement
from app.errors import Conflict, NotFound, ValidationFailed
from app.kit.clock import today, utcnow


@dataclass(frozen=True)
class Readiness:
    standing: str
    required: int
    executed: int
    missing: list[ComplianceDocument]
    sign_by: datetime | None

    @property
    def under_oversight(self) -> bool:
        return self.standing in (OversightStanding.in_force, OversightStanding.awaiting_signatures)


def readiness(documents: Sequence[ComplianceDocument], *, now: datetime) -> Readiness:
    """From the engagement's current documents: every required one executed is `in_force`;
    otherwise the earliest `sign_by` of the missing ones decides between the grace period and
    `overdue`."""
    current = [d for d in documents if d.status in CURRENT_STATUSES and d.required]
    if not current:
        return Readiness(OversightStanding.not_generated, 0, 0, [], None)
    missing = [d for d in current if d.status != DocumentStatus.executed.value]
    executed = len(current) - len(missing)
    if not missing:
        return Readiness(OversightStanding.in_force, len(current), executed, [], None)
    deadlines = [d.sign_by for d in missing if d.sign_by is not None]
    sign_by = min(deadlines) if deadlines else None
    overdue = sign_by is not None and sign_by <= now
    standing = OversightStanding.overdue if overdue else OversightStanding.awaiting_signatures
    return Readiness(standing, len(current), executed, missing, sign_by)


async def engagement_documents(
    session: AsyncSession, user: User, engagement_id: uuid.UUID, *, include_history: bool
) -> tuple[Engagement, list[ComplianceDocument]]:
    engagement = await engagements.get_engagement(session, user, engagement_id)
    stmt = select(ComplianceDocument).where(ComplianceDocument.engagement_id == engagement.id)
    if not include_history:
        stmt = stmt.where(
            ComplianceDocument.status.in_(CURRENT_STATUSES)
            | (ComplianceDocument.template_key == "termination_notice")
        )
    rows = await session.scalars(
        stmt.order_by(ComplianceDocument.generated_at, ComplianceDocument.slot)
    )
    return engagement, list(rows)


async def trail(session: AsyncSession, document_id: uuid.UUID) -> list[DocumentEvent]:
    rows = await session.scalars(
        select(DocumentEvent)
        .where(DocumentEvent.document_id == document_id)
        .order_by(DocumentEvent.seq)
    )
    return list(rows)


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def filename(document: ComplianceDocument, *, sealed: bool) -> str:
    base = _SAFE.sub("-", document.title).strip("-")[:120] or "document"
    return f"{base}{'-executed' if sealed else ''}.pdf"


@dataclass(frozen=True)
class Download:
    url: str
    expires_at: datetime
    sha256: str
    sealed: bool
    filename: str
    size_bytes: int


async def download(
    session: AsyncSession,
    store: ObjectStore,
    settings: Settings,
    user: User,
    document: ComplianceDocument,
    *,
    version: str,
    ip_address: str | None,
) -> Download:
    """A short-lived URL for the executed (sealed) PDF when there is one, else the unsigned
    one; `version="unsigned"` asks for the unsigned one (what each party signed). Issuing it
    is recorded in the document's trail (who was shown which bytes, from where)."""
    sealed = version != "unsigned" and document.sealed_object_key is not None
    if version == "executed" and document.sealed_object_key is None:
        raise Conflict("The document is not executed yet; download the unsigned version.")
    key = document.sealed_object_key if sealed else document.object_key
    digest = document.sealed_sha256 if sealed else document.sha256
    size = document.sealed_size_bytes if sealed else document.size_bytes
    assert key is not None
    assert digest is not None
    assert size is not None
    name = filename(document, sealed=sealed)
    url = await store.presigned_get(
        key, expires_in=settings.document_url_seconds, filename=name, content_type=PDF
    )
    await add_event(
        session,
        document,
        "download_link_issued",
        f"A download link for the {'sealed' if sealed else 'unsigned'} PDF (SHA-256 {digest}) "
        f"was issued to {user.email}.",
        actor=user.email,
        actor_user_id=user.id,
        ip_address=ip_address,
    )
    return Download(
        url=url,
        expires_at=utcnow() + timedelta(seconds=settings.document_url_seconds),
        sha256=digest,
        sealed=sealed,
        filename=name,
        size_bytes=size,
    )


@dataclass(frozen=True)
class Verification:
    report: SealReport
    sha256: str
    matches_record: bool


async def verify_stored(
    session: AsyncSession,
    store: ObjectStore,
    settings: Settings,
    user: User,
    document: ComplianceDocument,
    *,
    ip_address: str | None,
) -> Verification:
    """Re-check the stored sealed PDF: its seal (pyHanko's validator, trusting the
    platform's certificate) and its digest against the one recorded at sealing."""
    if document.sealed_object_key is None or document.sealed_sha256 is None:
        raise Conflict("The document is not executed yet: there is no seal to verify.")
    pdf = await store.get(document.sealed_object_key)
    return await _verified(session, settings, user, document, pdf, ip_address=ip_address)


async def _verified(
    session: AsyncSession,
    settings: Settings,
    user: User,
    document: ComplianceDocument,
    pdf: bytes,
    *,
    ip_address: str | None,
) -> Verification:
    # The seal's certificate need not be valid today, and the one that sealed this document
    # (recorded at sealing) stays trusted after a rotation.
    sealed_with = (
        [x509.load_pem_x509_certificate(document.seal_certificate_pem.encode())]
        if document.seal_certificate_pem
        else []
    )
    report = await verify_pdf(pdf, seal_identity(settings, current=False), also_trusted=sealed_with)
    digest = sha256_hex(pdf)
    matches = digest == document.sealed_sha256
    await add_event(
        session,
        document,
        "verified",
        f"Seal checked by {user.email}: {report.summary} The file "
        f"{'matches' if matches else 'does not match'} the sealed file on record.",
        actor=user.email,
        actor_user_id=user.id,
        ip_address=ip_address,
        data={"ok": report.ok, "sha256": digest, "matches_record": matches},
    )
    return Verification(report=report, sha256=digest, matches_record=matches)


# --- counsel's reviews ---------------------------------------------------------------------------


class TemplateNotFound(NotFound):
    slug, title = "template-not-found", "Document template not found"


async def reviews_by_template(session: AsyncSession) -> dict[str, TemplateReview]:
    """The review of each template's current version (none: not reviewed)."""
    rows = await session.scalars(select(TemplateReview))
    current = {key: t.version for key, t in TEMPLATES.items()}
    return {r.template_key: r for r in rows if current.get(r.template_key) == r.template_version}


async def record_review(
    session: AsyncSession,
    user: User,
    key: str,
    *,
    version: str,
    reviewed_on: date,
    reviewer: str,
    note: str | None,
) -> TemplateReview:
    """Operations record that counsel reviewed a template version. Only the current version
    (a review of older text says nothing about what is generated now); a second record for the
    same version replaces the first. Documents generated from then on carry it."""
    try:
        tpl = template(key)
    except LookupError:
        raise TemplateNotFound(f"No document template {key!r}.") from None
    errors = []
    if version != tpl.version:
        errors.append(
            {
                "loc": ["body", "version"],
                "msg": f"The current version of {key} is {tpl.version}; review that one.",
            }
        )
    if reviewed_on > today():
        errors.append({"loc": ["body", "reviewed_on"], "msg": "A review date cannot be ahead."})
    if errors:
        raise ValidationFailed(errors)
    values = {
        "template_key": key,
        "template_version": version,
        "reviewed_on": reviewed_on,
        "reviewer": reviewer,
        "note": note,
        "recorded_by": user.id,
        "recorded_at": utcnow(),
    }
    await session.execute(
        insert(TemplateReview)
        .values(id=uuid.uuid4(), **values)
        .on_conflict_do_update(index_elements=["template_key", "template_version"], set_=values)
    )
    review = await session.scalar(
        select(TemplateReview).where(
            TemplateReview.template_key == key, TemplateReview.template_version == version
        )
    )
    assert review is not None
    await session.refresh(review)
    return review
