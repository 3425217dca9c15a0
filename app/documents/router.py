"""Routes of compliance documents (docs/documents.md): an engagement's documents and what it
still misses, one document with its audit trail, downloads through signed URLs, signing
(parties with an account; roster providers through a one-time link), seal verification, and
the templates with counsel's reviews."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.auth.deps import ClinicAdminUser, CurrentUser, OpsUser
from app.config import Settings
from app.credentials.storage import ObjectStore
from app.db import SessionDep
from app.documents import service, signing
from app.documents.catalog import TEMPLATES, CounselReview, review_notice
from app.documents.generation import add_event
from app.documents.jobs import send_signing_invitation
from app.documents.models import ComplianceDocument, DocumentSigner
from app.documents.schemas import (
    CounselReviewIn,
    CounselReviewRead,
    DocumentAuditEntry,
    DocumentDetail,
    DocumentRead,
    DownloadRead,
    DownloadVersion,
    EngagementDocuments,
    InviteRequest,
    LinkSignRequest,
    LinkView,
    LinkViewRequest,
    MissingDocument,
    OversightReadiness,
    SealCheck,
    SignerRead,
    SignRequest,
    SourceRead,
    TemplateRead,
)
from app.errors import problem_responses
from app.jobs.queue import defer_in_transaction
from app.kit.clock import utcnow
from app.kit.idempotency import AppRoute
from app.kit.ratelimit import client_address, rate_limit

router = APIRouter(prefix="/v1", tags=["documents"], route_class=AppRoute)

DISCLAIMER = (
    "mdmatch generates these documents from templates and the state rules it has researched, "
    "each with its source. They are not legal advice; a document says whether counsel has "
    "reviewed its template."
)


def object_store(request: Request) -> ObjectStore:
    store = getattr(request.app.state, "object_store", None)
    if store is None:
        store = request.app.state.object_store = ObjectStore.from_settings(
            request.app.state.settings
        )
    return store


StoreDep = Annotated[ObjectStore, Depends(object_store)]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]


def _signer(s: DocumentSigner) -> SignerRead:
    return SignerRead(
        id=s.id,
        role=s.role,
        name=s.name,
        physician_id=s.physician_id,
        provider_id=s.provider_id,
        signed=s.signed_at is not None,
        signed_at=s.signed_at,
        signer_name=s.signer_name,
        invited_email=s.invited_email,
    )


def _read(document: ComplianceDocument) -> DocumentRead:
    review = (
        CounselReview(reviewed_on=document.counsel_reviewed_on, reviewer="counsel")
        if document.counsel_reviewed_on
        else None
    )
    return DocumentRead(
        id=document.id,
        engagement_id=document.engagement_id,
        clinic_id=document.clinic_id,
        slot=document.slot,
        template_key=document.template_key,
        template_version=document.template_version,
        title=document.title,
        state=document.state,
        provider_id=document.provider_id,
        physician_id=document.physician_id,
        required=document.required,
        status=document.status,
        reason=document.reason,
        counsel_reviewed_on=document.counsel_reviewed_on,
        legal_notice=str(document.merge_data.get("notice") or review_notice(review)),
        sha256=document.sha256,
        size_bytes=document.size_bytes,
        sealed_sha256=document.sealed_sha256,
        generated_at=document.generated_at,
        sign_by=document.sign_by,
        executed_at=document.executed_at,
        superseded_at=document.superseded_at,
        superseded_by_id=document.superseded_by_id,
        ended_at=document.ended_at,
        termination_of_id=document.termination_of_id,
        signers=[_signer(s) for s in document.signers],
    )


async def _detail(session: SessionDep, document: ComplianceDocument) -> DocumentDetail:
    trail = await service.trail(session, document.id)
    return DocumentDetail(
        **_read(document).model_dump(),
        trail=[DocumentAuditEntry.model_validate(e) for e in trail],
        consent_text=signing.CONSENT_TEXT,
        intent_text=signing.INTENT_TEXT,
    )


@router.get(
    "/engagements/{engagement_id}/documents",
    operation_id="list_engagement_documents",
    responses=problem_responses(401, 404, 422),
)
async def list_engagement_documents(
    engagement_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    include_history: Annotated[
        bool, Query(description="Also superseded and ended versions")
    ] = False,
) -> EngagementDocuments:
    """The engagement's compliance documents (the clinic's team, its directors, operations),
    with what it still needs signed before it counts as under oversight."""
    engagement, documents = await service.engagement_documents(
        session, user, engagement_id, include_history=include_history
    )
    ready = service.readiness(documents, now=utcnow())
    return EngagementDocuments(
        engagement_id=engagement.id,
        readiness=OversightReadiness(
            standing=ready.standing,
            under_oversight=ready.under_oversight,
            required=ready.required,
            executed=ready.executed,
            sign_by=ready.sign_by,
            missing=[
                MissingDocument(
                    id=d.id,
                    title=d.title,
                    sign_by=d.sign_by,
                    unsigned_by=[s.name for s in d.signers if s.signed_at is None],
                )
                for d in ready.missing
            ],
        ),
        documents=[_read(d) for d in documents],
        disclaimer=DISCLAIMER,
    )


@router.get(
    "/documents/{document_id}",
    operation_id="get_document",
    responses=problem_responses(401, 404, 422),
)
async def get_document(
    document_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> DocumentDetail:
    """One document, its parties and its audit trail."""
    document = await signing.visible_document(session, user, document_id)
    return await _detail(session, document)


@router.get(
    "/documents/{document_id}/download",
    operation_id="download_document",
    responses=problem_responses(401, 404, 409, 422),
)
async def download_document(
    document_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
    version: Annotated[
        DownloadVersion,
        Query(description="current: the executed PDF once there is one, else the unsigned one"),
    ] = DownloadVersion.current,
) -> DownloadRead:
    """A short-lived signed URL to the PDF in object storage (never through the API)."""
    document = await signing.visible_document(session, user, document_id)
    link = await service.download(
        session,
        store,
        settings,
        user,
        document,
        version=version.value,
        ip_address=client_address(request),
    )
    await session.commit()
    return DownloadRead(**link.__dict__)


def _signature(request: Request, body: SignRequest | LinkSignRequest) -> signing.SignatureInput:
    return signing.SignatureInput(
        document_sha256=body.document_sha256,
        signer_name=body.signer_name,
        consent=body.consent,
        intent=body.intent,
        ip_address=client_address(request),
        user_agent=request.headers.get("user-agent"),
    )


@router.post(
    "/documents/{document_id}/sign",
    operation_id="sign_document",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def sign_document(
    document_id: uuid.UUID,
    body: SignRequest,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
) -> DocumentDetail:
    """Sign as your party: a director their own line, a clinic owner or admin the clinic's.
    Send the SHA-256 of the PDF you reviewed, your typed name, and your consent and intent.
    The last signature executes the document: the sealed PDF is filed and the state's filings
    open."""
    document = await signing.sign_as_user(
        session,
        store,
        settings,
        user,
        document_id,
        _signature(request, body),
        signer_id=body.signer_id,
    )
    await session.commit()
    return await _detail(session, document)


@router.post(
    "/documents/{document_id}/signers/{signer_id}/invite",
    operation_id="invite_document_signer",
    status_code=202,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def invite_signer(
    document_id: uuid.UUID,
    signer_id: uuid.UUID,
    body: InviteRequest,
    user: ClinicAdminUser,
    session: SessionDep,
) -> SignerRead:
    """E-mail a roster NP or PA a one-time link to sign (the clinic's owners and admins)."""
    signer = await signing.invite_provider(session, user, document_id, signer_id, body.email)
    await defer_in_transaction(session, send_signing_invitation.name, signer_id=str(signer.id))
    await session.commit()
    return _signer(signer)


@router.post(
    "/signing/view",
    operation_id="view_signing_link",
    responses=problem_responses(404, 409, 422, 429),
    dependencies=[Depends(rate_limit("signing-links", "rate_limit_signing_links"))],
)
async def view_signing_link(
    body: LinkViewRequest,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
) -> LinkView:
    """What a one-time signing link is for (no account: the link is the credential, sent in
    the body so it stays out of URLs and logs), with a download link to the exact PDF."""
    document, signer = await signing.signer_by_token(session, body.token)
    if signer.signed_at is not None:
        raise signing.SigningLinkNotFound("This signing link is unknown, used or expired.")
    if document.status != "awaiting_signatures":
        raise signing.NotSignable(
            "This document is no longer awaiting signatures (it was superseded by a newer "
            "version or ended); the clinic sends a new link when one is needed."
        )
    url = await store.presigned_get(
        document.object_key,
        expires_in=settings.document_url_seconds,
        filename=service.filename(document, sealed=False),
        content_type="application/pdf",
    )
    await add_event(
        session,
        document,
        "link_opened",
        f"The signing link for {signer.name} was opened.",
        actor=signer.invited_email or signer.name,
        ip_address=client_address(request),
    )
    await session.commit()
    return LinkView(
        document_id=document.id,
        title=document.title,
        clinic=await signing.clinic_name(session, document.clinic_id),
        signer=signer.name,
        sha256=document.sha256,
        download_url=url,
        download_expires_at=utcnow() + timedelta(seconds=settings.document_url_seconds),
        consent_text=signing.CONSENT_TEXT,
        intent_text=signing.INTENT_TEXT,
        legal_notice=str(document.merge_data.get("notice") or review_notice(None)),
    )


@router.post(
    "/signing/sign",
    operation_id="sign_with_link",
    responses=problem_responses(404, 409, 422, 429),
    dependencies=[Depends(rate_limit("signing-links", "rate_limit_signing_links"))],
)
async def sign_with_link(
    body: LinkSignRequest,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
) -> SignerRead:
    """Sign through a one-time link (a roster NP or PA). The link works once."""
    _, signer = await signing.sign_with_link(
        session, store, settings, body.token, _signature(request, body)
    )
    await session.commit()
    return _signer(signer)


def _check(report: service.Verification) -> SealCheck:
    r = report.report
    return SealCheck(
        ok=r.ok and report.matches_record,
        sealed=r.sealed,
        intact=r.intact,
        valid=r.valid,
        trusted=r.trusted,
        covers_whole_file=r.covers_whole_file,
        modified_after_seal=r.modified_after_seal,
        signed_at=r.signed_at,
        signer_subject=r.signer_subject,
        certificate_fingerprint=r.certificate_fingerprint,
        summary=r.summary,
        sha256=report.sha256,
        matches_record=report.matches_record,
    )


@router.post(
    "/documents/{document_id}/verify",
    operation_id="verify_document",
    responses=problem_responses(401, 404, 409, 422),
)
async def verify_document(
    document_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    store: StoreDep,
    settings: SettingsDep,
) -> SealCheck:
    """Re-check the executed PDF on record: its seal (pyHanko's validator, trusting the
    platform's certificate) and that it is byte for byte the file sealed at execution."""
    document = await signing.visible_document(session, user, document_id)
    result = await service.verify_stored(
        session, store, settings, user, document, ip_address=client_address(request)
    )
    await session.commit()
    return _check(result)


@router.get(
    "/document-templates",
    operation_id="list_document_templates",
    responses=problem_responses(401),
)
async def list_document_templates(user: CurrentUser, session: SessionDep) -> list[TemplateRead]:
    """Every template with its version, the state rules it prints, its legal sources and
    counsel's review of the current version (null: not reviewed)."""
    reviews = await service.reviews_by_template(session)
    return [
        TemplateRead(
            key=t.key,
            version=t.version,
            title=t.title,
            parties=t.parties,
            rules=list(t.rules),
            sources=[
                SourceRead(text=s.text, url=s.url, confidence=s.confidence, state=s.state)
                for s in t.sources
            ],
            counsel_review=(
                CounselReviewRead.model_validate(reviews[t.key]) if t.key in reviews else None
            ),
        )
        for t in TEMPLATES.values()
    ]


@router.put(
    "/document-templates/{key}/counsel-review",
    operation_id="record_counsel_review",
    responses=problem_responses(401, 403, 404, 422),
)
async def record_counsel_review(
    key: str, body: CounselReviewIn, user: OpsUser, session: SessionDep
) -> CounselReviewRead:
    """Record counsel's review of a template's current version (operations). Documents
    generated from then on say so instead of "not reviewed by counsel"."""
    review = await service.record_review(
        session,
        user,
        key,
        version=body.version,
        reviewed_on=body.reviewed_on,
        reviewer=body.reviewer,
        note=body.note,
    )
    await session.commit()
    return CounselReviewRead.model_validate(review)
