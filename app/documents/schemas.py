"""Request and response bodies of compliance documents (docs/documents.md)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints


class ComplianceDocumentStatus(StrEnum):
    awaiting_signatures = "awaiting_signatures"
    executed = "executed"
    superseded = "superseded"
    ended = "ended"


class DocumentSignerRole(StrEnum):
    clinic = "clinic"
    director = "director"
    provider = "provider"


class OversightStanding(StrEnum):
    """in_force: every required document is executed. awaiting_signatures: some are not,
    within the grace period. overdue: the grace period ended; the engagement does not count as
    under oversight until they are signed. not_generated: being prepared."""

    in_force = "in_force"
    awaiting_signatures = "awaiting_signatures"
    overdue = "overdue"
    not_generated = "not_generated"


class DownloadVersion(StrEnum):
    current = "current"  # the executed PDF once there is one, else the unsigned one
    unsigned = "unsigned"  # what each party signed
    executed = "executed"  # the sealed PDF (409 before execution)


Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{64}$")]
SignerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]


class SignerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    role: DocumentSignerRole
    name: str = Field(description="The party as the document names it")
    physician_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    signed: bool
    signed_at: datetime | None
    signer_name: str | None = Field(description="The name the signer typed as their signature")
    invited_email: str | None = Field(
        description="Roster providers: where their one-time signing link was sent"
    )


class DocumentRead(BaseModel):
    id: uuid.UUID
    engagement_id: uuid.UUID
    clinic_id: uuid.UUID
    slot: str = Field(description="Which document of the engagement this is, across versions")
    template_key: str
    template_version: str
    title: str
    state: str | None
    provider_id: uuid.UUID | None
    physician_id: uuid.UUID | None
    required: bool = Field(description="Needed before the engagement counts as under oversight")
    status: ComplianceDocumentStatus
    reason: str = Field(description="What made this version")
    counsel_reviewed_on: date | None = Field(
        description="Counsel's review of the template version (null: a template, not reviewed)"
    )
    legal_notice: str
    sha256: str = Field(description="SHA-256 of the unsigned PDF: what each party signs")
    size_bytes: int
    sealed_sha256: str | None = Field(description="SHA-256 of the executed, sealed PDF")
    generated_at: datetime
    sign_by: datetime | None
    executed_at: datetime | None
    superseded_at: datetime | None
    superseded_by_id: uuid.UUID | None
    ended_at: datetime | None
    termination_of_id: uuid.UUID | None
    signers: list[SignerRead]


class MissingDocument(BaseModel):
    id: uuid.UUID
    title: str
    sign_by: datetime | None
    unsigned_by: list[str] = Field(description="The parties who have not signed yet")


class OversightReadiness(BaseModel):
    standing: OversightStanding
    under_oversight: bool
    required: int
    executed: int
    sign_by: datetime | None
    missing: list[MissingDocument]


class EngagementDocuments(BaseModel):
    engagement_id: uuid.UUID
    readiness: OversightReadiness
    documents: list[DocumentRead]
    disclaimer: str


class DocumentAuditEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    action: str
    actor: str
    detail: str
    ip_address: str | None


class DocumentDetail(DocumentRead):
    trail: list[DocumentAuditEntry]
    consent_text: str = Field(description="What a signer consents to (ESIGN/UETA)")
    intent_text: str = Field(description="What a signer affirms by signing")


class SignRequest(BaseModel):
    document_sha256: Sha256 = Field(
        description="The SHA-256 of the unsigned PDF you reviewed (the document's `sha256`)"
    )
    signer_name: SignerName = Field(description="Your full name, typed: your signature")
    consent: Literal[True] = Field(
        description="You consent to sign electronically (`consent_text`); must be true"
    )
    intent: Literal[True] = Field(
        description="You intend to sign this document (`intent_text`); must be true"
    )
    signer_id: uuid.UUID | None = Field(
        default=None, description="Which of your lines, when you sign for more than one party"
    )


class LinkSignRequest(BaseModel):
    token: str = Field(min_length=16, max_length=200)
    document_sha256: Sha256
    signer_name: SignerName
    consent: Literal[True]
    intent: Literal[True]


class LinkViewRequest(BaseModel):
    token: str = Field(min_length=16, max_length=200)


class LinkView(BaseModel):
    document_id: uuid.UUID
    title: str
    clinic: str
    signer: str = Field(description="The party you sign as")
    sha256: str
    download_url: str
    download_expires_at: datetime
    consent_text: str
    intent_text: str
    legal_notice: str


class InviteRequest(BaseModel):
    email: EmailStr


class DownloadRead(BaseModel):
    url: str = Field(description="A short-lived signed URL to the PDF in object storage")
    expires_at: datetime
    sha256: str
    sealed: bool = Field(description="The executed PDF, with signature page, trail and seal")
    filename: str
    size_bytes: int


class SealCheck(BaseModel):
    ok: bool = Field(description="Sealed by mdmatch and unaltered since")
    sealed: bool
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool
    modified_after_seal: bool
    signed_at: datetime | None
    signer_subject: str | None
    certificate_fingerprint: str | None
    summary: str
    sha256: str = Field(description="SHA-256 of the file checked")
    matches_record: bool = Field(description="The file is the sealed file mdmatch recorded")


class SourceRead(BaseModel):
    text: str
    url: str | None
    confidence: str
    state: str | None


class CounselReviewRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    template_version: str
    reviewed_on: date
    reviewer: str
    note: str | None
    recorded_at: datetime


class TemplateRead(BaseModel):
    key: str
    version: str
    title: str
    parties: str
    rules: list[str] = Field(description="The state rules the template prints")
    sources: list[SourceRead]
    counsel_review: CounselReviewRead | None = Field(
        description="Counsel's review of the current version (null: not reviewed)"
    )


class CounselReviewIn(BaseModel):
    version: str = Field(min_length=1, max_length=20)
    reviewed_on: date
    reviewer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
