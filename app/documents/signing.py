"""Signing in the product, with the elements ESIGN (15 U.S.C. §7001) and UETA ask of an
electronic signature: the signer's consent to sign electronically, their intent (they adopt
the name they type as their signature), their identity (authenticated by their mdmatch session,
or for a roster NP or PA without an account, by a one-time link sent to the address the clinic
gave), the association of the signature with the exact record (the SHA-256 of the unsigned PDF
they were shown, which they send back and we compare), and a record of all of it kept with
the document: time, address, user agent, in the audit trail that the final PDF carries.

When the last party signs, in the same transaction, the document is executed: the signature
page and audit trail are appended to the unsigned PDF and the whole is sealed with the
platform's key (app/documents/seal.py, execution.py); the filings the state asks for open.
The document row is locked while a signature is recorded, so two parties signing at the same
moment execute it exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, User
from app.auth.tokens import hash_token, new_opaque_token
from app.clinics.models import Clinic, ClinicMember
from app.clinics.service import MANAGE_ROLES
from app.config import Settings
from app.credentials.storage import ObjectStore
from app.documents import filings
from app.documents.days import trigger_day
from app.documents.execution import AuditEntry, ExecutionInfo, SignatureRecord, finalize
from app.documents.generation import PDF, add_event, object_key, sha256_hex
from app.documents.models import (
    ComplianceDocument,
    DocumentEvent,
    DocumentSigner,
    DocumentStatus,
    SignerRole,
)
from app.documents.seal import SealConfigurationError, seal_identity
from app.engagements import service as engagements
from app.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from app.kit.clock import utcnow
from app.kit.mailer import OutgoingEmail
from app.notifications.emails import render_signing_invitation
from app.notifications.recipients import clinic_admin_ids, physician_user_id
from app.notifications.service import notify
from app.physicians.models import Physician

CONSENT_TEXT = (
    "I agree to use electronic records and an electronic signature for this document. I "
    "understand that my electronic signature is as binding as a handwritten one, that I may "
    "download and print the document, and that I may decline by not signing."
)
INTENT_TEXT = (
    "I have reviewed the document identified by the SHA-256 digest shown. By signing I adopt "
    "the name I typed as my signature and intend to sign it."
)
SESSION_AUTH = "mdmatch account session (password login, bearer token)"
LINK_AUTH = "one-time signing link sent by e-mail to {email}"
INVITE_DAYS = 7


class DocumentNotFound(NotFound):
    slug, title = "document-not-found", "Document not found"


class SigningLinkNotFound(NotFound):
    slug, title = "signing-link-not-found", "Signing link not found"


class SignerNotFound(NotFound):
    slug, title = "signer-not-found", "Signer not found"


class NotYourSignature(Forbidden):
    slug, title = "not-a-signer", "You do not sign this document"


class DocumentChanged(Conflict):
    """The hash the signer sends is not the document's: they saw other bytes."""

    slug, title = "document-changed", "The document is not the one you were shown"


class SealUnavailable(ServiceUnavailable):
    slug, title = "document-seal-unavailable", "The document seal cannot be used"


class NotSignable(Conflict):
    slug, title = "document-not-signable", "The document cannot be signed now"


@dataclass(frozen=True)
class SignatureInput:
    document_sha256: str
    signer_name: str
    consent: bool
    intent: bool
    ip_address: str | None
    user_agent: str | None


async def visible_document(
    session: AsyncSession, user: User, document_id: uuid.UUID, *, for_update: bool = False
) -> ComplianceDocument:
    """The document, when its engagement is visible to the user (the clinic's team, the
    engagement's directors, operations); 404 otherwise, so nobody learns it exists."""
    stmt = select(ComplianceDocument).where(ComplianceDocument.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    document = await session.scalar(stmt)
    if document is None:
        raise DocumentNotFound("No such document.")
    try:
        await engagements.get_engagement(session, user, document.engagement_id)
    except NotFound:
        raise DocumentNotFound("No such document.") from None
    return document


async def signer_for(
    session: AsyncSession, user: User, document: ComplianceDocument, signer_id: uuid.UUID | None
) -> DocumentSigner:
    """The party the user signs as: a director their own line, a clinic owner or admin the
    clinic's. 403 for anyone else who may see the document (viewers, billing, operations)."""
    candidates: list[DocumentSigner] = []
    if user.role == Role.physician.value:
        physician_id = await session.scalar(
            select(Physician.id).where(Physician.user_id == user.id)
        )
        candidates = [
            s
            for s in document.signers
            if s.role == SignerRole.director.value and s.physician_id == physician_id
        ]
    elif user.role == Role.clinic_admin.value:
        role = await session.scalar(
            select(ClinicMember.role).where(
                ClinicMember.clinic_id == document.clinic_id, ClinicMember.user_id == user.id
            )
        )
        if role in MANAGE_ROLES:
            candidates = [s for s in document.signers if s.role == SignerRole.clinic.value]
    if signer_id is not None:
        candidates = [s for s in candidates if s.id == signer_id]
    unsigned = [s for s in candidates if s.signed_at is None]
    if not candidates:
        raise NotYourSignature("You are not a party who signs this document.")
    if not unsigned:
        raise NotSignable("You have already signed this document.")
    return unsigned[0]


def _check(document: ComplianceDocument, data: SignatureInput) -> None:
    if document.status != DocumentStatus.awaiting_signatures.value:
        detail = {
            DocumentStatus.executed.value: "The document is already executed.",
            DocumentStatus.superseded.value: "The document was superseded by a newer version; "
            "sign that one.",
            DocumentStatus.ended.value: "The document ended; it is no longer signed.",
        }[document.status]
        raise NotSignable(detail)
    errors = []
    if not data.consent:
        errors.append(
            {"loc": ["body", "consent"], "msg": "Consent to sign electronically is needed."}
        )
    if not data.intent:
        errors.append({"loc": ["body", "intent"], "msg": "Confirm that you intend to sign."})
    if errors:
        raise ValidationFailed(errors, "The signature lacks consent or intent.")
    if data.document_sha256.lower() != document.sha256:
        raise DocumentChanged(
            "The document you were shown is not this document's current file (its SHA-256 "
            "differs); download it again and review it before signing."
        )


async def sign_as_user(
    session: AsyncSession,
    store: ObjectStore,
    settings: Settings,
    user: User,
    document_id: uuid.UUID,
    data: SignatureInput,
    *,
    signer_id: uuid.UUID | None = None,
) -> ComplianceDocument:
    document = await visible_document(session, user, document_id, for_update=True)
    signer = await signer_for(session, user, document, signer_id)
    _check(document, data)
    await _record(
        session,
        document,
        signer,
        data,
        user_id=user.id,
        email=user.email,
        auth_method=SESSION_AUTH,
    )
    return await _execute_when_complete(session, store, settings, document)


async def _record(
    session: AsyncSession,
    document: ComplianceDocument,
    signer: DocumentSigner,
    data: SignatureInput,
    *,
    user_id: uuid.UUID | None,
    email: str,
    auth_method: str,
) -> None:
    now = utcnow()
    signer.signed_at = now
    signer.signed_by_user_id = user_id
    signer.signer_name = data.signer_name
    signer.signer_email = email
    signer.auth_method = auth_method
    signer.consent_text = CONSENT_TEXT
    signer.consent_at = now
    signer.intent_text = INTENT_TEXT
    signer.document_sha256 = document.sha256
    signer.ip_address = data.ip_address
    signer.user_agent = (data.user_agent or "")[:300] or None
    await add_event(
        session,
        document,
        "signed",
        f"{data.signer_name} signed as {signer.name} ({signer.role}), consenting to sign "
        f"electronically; SHA-256 {document.sha256}; authenticated by {auth_method}.",
        actor=f"{data.signer_name} <{email}>",
        actor_user_id=user_id,
        ip_address=data.ip_address,
        at=now,
        data={"signer_id": str(signer.id), "user_agent": signer.user_agent},
    )
    await session.flush()


async def _execute_when_complete(
    session: AsyncSession, store: ObjectStore, settings: Settings, document: ComplianceDocument
) -> ComplianceDocument:
    if any(s.signed_at is None for s in document.signers):
        return document
    now = utcnow()
    await add_event(session, document, "executed", "Every party signed.", at=now)
    await session.flush()
    trail = await _trail(session, document.id)
    info = ExecutionInfo(
        document_id=str(document.id),
        title=document.title,
        template_key=document.template_key,
        template_version=document.template_version,
        document_sha256=document.sha256,
        signatures=[_signature(s, document) for s in document.signers],
        trail=trail,
        executed_at=now,
    )
    try:
        identity = seal_identity(settings)
    except SealConfigurationError as exc:
        # Nothing is written: the request's transaction rolls back with this answer.
        raise SealUnavailable(
            f"The platform's document seal cannot be used ({exc}); the last signature was not "
            "recorded. Operations have to renew the seal certificate."
        ) from exc
    unsigned = await store.get(document.object_key)
    sealed = await finalize(unsigned, info, identity)
    digest = sha256_hex(sealed)
    key = object_key(document.engagement_id, document.id, sealed=True)
    await store.put(key, sealed, content_type=PDF, sha256=digest)
    document.sealed_object_key = key
    document.sealed_sha256 = digest
    document.sealed_size_bytes = len(sealed)
    document.seal_certificate_pem = identity.certificate.public_bytes(Encoding.PEM).decode()
    document.executed_at = now
    document.status = DocumentStatus.executed.value
    await add_event(
        session,
        document,
        "sealed",
        f"Signature page and audit trail appended; sealed with the platform's certificate; "
        f"SHA-256 of the sealed file {digest}.",
        data={"sealed_sha256": digest},
    )
    await session.flush()
    await filings.open_filings(
        session,
        document,
        trigger="signing",
        on=await trigger_day(session, document.clinic_id, document.state, now),
        provider_type=_provider_type(document),
    )
    await _notify_executed(session, document)
    return document


def _provider_type(document: ComplianceDocument) -> str | None:
    provider = document.merge_data.get("provider")
    if isinstance(provider, dict) and provider.get("type"):
        return str(provider["type"])
    return None


def _signature(signer: DocumentSigner, document: ComplianceDocument) -> SignatureRecord:
    assert signer.signed_at is not None
    assert signer.consent_at is not None
    return SignatureRecord(
        party_role=_role_label(signer.role),
        signer_name=signer.signer_name or signer.name,
        signer_email=signer.signer_email or "",
        on_behalf_of=signer.name,
        signed_at=signer.signed_at,
        ip_address=signer.ip_address,
        user_agent=signer.user_agent,
        consent_text=signer.consent_text or CONSENT_TEXT,
        consent_at=signer.consent_at,
        intent_text=signer.intent_text or INTENT_TEXT,
        document_sha256=signer.document_sha256 or document.sha256,
        auth_method=signer.auth_method or "",
        user_id=str(signer.signed_by_user_id or ""),
    )


def _role_label(role: str) -> str:
    return {
        SignerRole.clinic.value: "For the clinic",
        SignerRole.director.value: "Medical director",
        SignerRole.provider.value: "Nurse practitioner / physician assistant",
    }.get(role, role)


async def _trail(session: AsyncSession, document_id: uuid.UUID) -> Sequence[AuditEntry]:
    rows = await session.scalars(
        select(DocumentEvent)
        .where(DocumentEvent.document_id == document_id)
        .order_by(DocumentEvent.seq)
    )
    return [
        AuditEntry(
            at=e.at, actor=e.actor, action=e.action, detail=e.detail, ip_address=e.ip_address
        )
        for e in rows
    ]


async def _notify_executed(session: AsyncSession, document: ComplianceDocument) -> None:
    users = set(await clinic_admin_ids(session, document.clinic_id))
    for signer in document.signers:
        if signer.physician_id is not None:
            users.add(await physician_user_id(session, signer.physician_id))
    for user_id in sorted(users):
        await notify(
            session,
            user_id=user_id,
            kind="documents.executed",
            title=f"Signed by every party: {document.title}",
            body=f"{document.title} is executed and sealed.",
            data={"engagement_id": str(document.engagement_id), "document_id": str(document.id)},
            email=True,
        )


# --- roster providers: a one-time link ---------------------------------------------------------


async def invite_provider(
    session: AsyncSession,
    user: User,
    document_id: uuid.UUID,
    signer_id: uuid.UUID,
    email: str,
) -> DocumentSigner:
    """A clinic owner or admin names the address a roster NP or PA signs from. The link's
    token is made and e-mailed by a job (`documents.send_signing_invitation`), so it never
    sits in the job's arguments; a new invitation replaces the last one."""
    document = await visible_document(session, user, document_id, for_update=True)
    role = await session.scalar(
        select(ClinicMember.role).where(
            ClinicMember.clinic_id == document.clinic_id, ClinicMember.user_id == user.id
        )
    )
    if role not in MANAGE_ROLES:
        raise NotYourSignature("Only the clinic's owners and admins invite signers.")
    signer = next((s for s in document.signers if s.id == signer_id), None)
    if signer is None:
        raise SignerNotFound("No such signer on this document.")
    if signer.role != SignerRole.provider.value:
        raise NotSignable("Only a roster provider signs through an e-mailed link.")
    if signer.signed_at is not None:
        raise NotSignable("This party has already signed.")
    if document.status != DocumentStatus.awaiting_signatures.value:
        raise NotSignable("The document is no longer awaiting signatures.")
    now = utcnow()
    signer.invited_email = email
    signer.invite_token_hash = None  # the last link stops working
    signer.invite_expires_at = now + timedelta(days=INVITE_DAYS)
    await add_event(
        session,
        document,
        "invited",
        f"A one-time signing link for {signer.name} is being sent to {email}.",
        actor=user.email,
        actor_user_id=user.id,
        at=now,
    )
    await session.flush()
    return signer


async def issue_signing_link(
    session: AsyncSession, settings: Settings, signer_id: uuid.UUID
) -> OutgoingEmail | None:
    """Make the signer's link and return the e-mail that carries it (None when they signed,
    the invitation lapsed, or the document is no longer awaiting signatures)."""
    signer = await session.scalar(
        select(DocumentSigner).where(DocumentSigner.id == signer_id).with_for_update()
    )
    if (
        signer is None
        or signer.signed_at is not None
        or signer.invited_email is None
        or signer.invite_expires_at is None
        or signer.invite_expires_at <= utcnow()
    ):
        return None
    document = await session.get(ComplianceDocument, signer.document_id)
    if document is None or document.status != DocumentStatus.awaiting_signatures.value:
        return None
    token = new_opaque_token()
    signer.invite_token_hash = hash_token(token)
    await session.flush()
    rendered = render_signing_invitation(
        # In the fragment: a browser never sends it to a server or in a Referer.
        link=f"{settings.public_base_url.rstrip('/')}/sign#token={token}",
        token=token,
        title=document.title,
        clinic_name=await clinic_name(session, document.clinic_id),
        expires=expires_text(signer.invite_expires_at),
        base_url=settings.public_base_url,
    )
    return OutgoingEmail(
        to=signer.invited_email, subject=rendered.subject, body=rendered.text, html=rendered.html
    )


async def signer_by_token(
    session: AsyncSession, token: str, *, for_update: bool = False
) -> tuple[ComplianceDocument, DocumentSigner]:
    """The document and party a signing link is for; 404 for an unknown, used or expired
    link (one answer for all three)."""
    stmt = select(DocumentSigner).where(DocumentSigner.invite_token_hash == hash_token(token))
    signer = await session.scalar(stmt)
    if signer is None or signer.invite_expires_at is None or signer.invite_expires_at <= utcnow():
        raise SigningLinkNotFound("This signing link is unknown, used or expired.")
    doc_stmt = select(ComplianceDocument).where(ComplianceDocument.id == signer.document_id)
    if for_update:
        doc_stmt = doc_stmt.with_for_update()
    document = await session.scalar(doc_stmt)
    if document is None:
        raise SigningLinkNotFound("This signing link is unknown, used or expired.")
    await session.refresh(signer)
    return document, signer


async def sign_with_link(
    session: AsyncSession, store: ObjectStore, settings: Settings, token: str, data: SignatureInput
) -> tuple[ComplianceDocument, DocumentSigner]:
    document, signer = await signer_by_token(session, token, for_update=True)
    # Checked again under the document's lock: a re-invitation (a new link) or the expiry
    # may have come while this request waited for it.
    if (
        signer.signed_at is not None
        or signer.invite_token_hash != hash_token(token)
        or signer.invite_expires_at is None
        or signer.invite_expires_at <= utcnow()
    ):
        raise SigningLinkNotFound("This signing link is unknown, used or expired.")
    _check(document, data)
    email = signer.invited_email or ""
    await _record(
        session,
        document,
        signer,
        data,
        user_id=None,
        email=email,
        auth_method=LINK_AUTH.format(email=email),
    )
    # The link works once.
    signer.invite_token_hash = None
    return await _execute_when_complete(session, store, settings, document), signer


async def clinic_name(session: AsyncSession, clinic_id: uuid.UUID) -> str:
    clinic = await session.get(Clinic, clinic_id)
    return clinic.legal_name if clinic is not None else "A clinic"


def expires_text(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")
