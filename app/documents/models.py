"""Compliance documents, their signers, their audit trail, the filings they oblige, and counsel's
reviews of the templates.

A document fills a `slot` of its engagement (`medical_director_agreement`,
`collaboration_agreement:TX:<provider>:<physician>`...; app/documents/plan.py). At most one
document per slot is current (awaiting signatures or executed); a regenerated one supersedes it,
and one whose slot is no longer needed ends. The unsigned PDF every party signs is stored once
and never changes (its SHA-256 is what each signer saw and signed); the sealed PDF is the
unsigned one with the signature page and audit trail appended, sealed with the platform's key.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Identity,
    Index,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, UUIDPrimaryKey, enum_check


class DocumentStatus(StrEnum):
    awaiting_signatures = "awaiting_signatures"
    executed = "executed"  # every party signed; the sealed PDF is filed
    superseded = "superseded"  # replaced by a regenerated version (`superseded_by_id`)
    ended = "ended"  # no longer needed: the engagement or the relationship it governs ended


CURRENT_STATUSES = (DocumentStatus.awaiting_signatures.value, DocumentStatus.executed.value)


class GenerationReason(StrEnum):
    confirmed = "confirmed"
    roster_changed = "roster_changed"
    scope_changed = "scope_changed"
    directors_changed = "directors_changed"
    termination = "termination"
    regenerated = "regenerated"  # asked for by operations (a new template version)


class SignerRole(StrEnum):
    clinic = "clinic"  # an admin of the clinic signs for it (or for its MSO / practice entity)
    director = "director"  # a directing physician, through their own account
    provider = "provider"  # a roster NP or PA, through a one-time link sent to them


class ComplianceDocument(UUIDPrimaryKey, Base):
    __tablename__ = "compliance_documents"
    __table_args__ = (
        CheckConstraint(enum_check("status", DocumentStatus), name="status"),
        CheckConstraint(enum_check("reason", GenerationReason), name="reason"),
        CheckConstraint(
            "(status = 'executed') <= (sealed_object_key IS NOT NULL)", name="executed_is_sealed"
        ),
        # One current document per slot: two regenerations racing meet here.
        Index(
            "uq_compliance_documents_current_slot",
            "engagement_id",
            "slot",
            unique=True,
            postgresql_where=text("status IN ('awaiting_signatures', 'executed')"),
        ),
        Index("ix_compliance_documents_engagement_id", "engagement_id", "generated_at"),
        Index("ix_compliance_documents_clinic_id", "clinic_id"),
        Index("ix_compliance_documents_physician_id", "physician_id"),
    )

    engagement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagements.id", ondelete="CASCADE")
    )
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    slot: Mapped[str] = mapped_column(String(200))
    template_key: Mapped[str] = mapped_column(String(60))
    template_version: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(300))
    state: Mapped[str | None] = mapped_column(String(2))
    # The roster provider (no foreign key: a provider removed from the roster keeps their
    # documents) and the director the document concerns, when it concerns one.
    provider_id: Mapped[uuid.UUID | None]
    physician_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("physicians.id"))
    required: Mapped[bool]
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(24))
    # The facts it was built from (app/documents/plan.py): a change regenerates it.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # What was printed (the template's merge data): the record of what each party agreed to,
    # and what a termination notice names once the roster or the directors have moved on.
    merge_data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # Counsel's review of the template version it came from, as printed on it (null: none).
    counsel_reviewed_on: Mapped[date | None] = mapped_column(Date)
    # The unsigned PDF: what each party is shown and signs.
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(200), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    # The executed PDF: signature page and audit trail appended, sealed.
    sealed_sha256: Mapped[str | None] = mapped_column(String(64))
    sealed_object_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    sealed_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # The certificate that sealed it (PEM): still trusted when verifying after a rotation.
    seal_certificate_pem: Mapped[str | None] = mapped_column(Text)
    generated_at: Mapped[datetime]
    executed_at: Mapped[datetime | None]
    # Until then the engagement may count as under oversight without it (the grace period).
    sign_by: Mapped[datetime | None]
    superseded_at: Mapped[datetime | None]
    superseded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("compliance_documents.id", ondelete="SET NULL")
    )
    ended_at: Mapped[datetime | None]
    # The termination notice produced when this one ended (for agreements).
    termination_of_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("compliance_documents.id", ondelete="SET NULL")
    )

    signers: Mapped[list[DocumentSigner]] = relationship(
        back_populates="document", lazy="selectin", order_by="DocumentSigner.position"
    )


class DocumentSigner(UUIDPrimaryKey, Base):
    """One party who must sign, and, once they have, the ESIGN/UETA record of their signature:
    consent to sign electronically, the intent they affirmed, how they were authenticated, the
    exact hash they signed, when and from where."""

    __tablename__ = "document_signers"
    __table_args__ = (
        CheckConstraint(enum_check("role", SignerRole), name="role"),
        CheckConstraint("(signed_at IS NULL) = (document_sha256 IS NULL)", name="signed_with_hash"),
        Index("uq_document_signers_position", "document_id", "position", unique=True),
        Index("ix_document_signers_physician_id", "physician_id"),
    )

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("compliance_documents.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(SmallInteger)
    role: Mapped[str] = mapped_column(String(16))
    # Who is expected: the party's name as printed, and the director or roster provider.
    name: Mapped[str] = mapped_column(String(200))
    physician_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("physicians.id"))
    provider_id: Mapped[uuid.UUID | None]
    # A provider's one-time signing link: where it was sent and its hash (never the token).
    invited_email: Mapped[str | None] = mapped_column(String(320))
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None]
    # The signature.
    signed_at: Mapped[datetime | None]
    signed_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    signer_name: Mapped[str | None] = mapped_column(String(200))
    signer_email: Mapped[str | None] = mapped_column(String(320))
    auth_method: Mapped[str | None] = mapped_column(String(120))
    consent_text: Mapped[str | None] = mapped_column(Text)
    consent_at: Mapped[datetime | None]
    intent_text: Mapped[str | None] = mapped_column(Text)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    document: Mapped[ComplianceDocument] = relationship(back_populates="signers")


class DocumentEvent(UUIDPrimaryKey, Base):
    """The document's audit trail, printed on its execution page: generated, viewed,
    downloaded, invited, signed, executed, sealed, verified, superseded, ended."""

    __tablename__ = "document_events"
    __table_args__ = (Index("ix_document_events_document_id", "document_id", "at"),)

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("compliance_documents.id", ondelete="CASCADE")
    )
    # The order events were written in (two at one instant keep it).
    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(40))
    # Who: a user's name and e-mail, a roster provider through their link, or "mdmatch".
    actor: Mapped[str] = mapped_column(String(400))
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    detail: Mapped[str] = mapped_column(Text)
    ip_address: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", default=dict)


class FilingStatus(StrEnum):
    open = "open"
    done = "done"
    canceled = "canceled"  # no longer owed (the agreement was superseded before filing)


class FilingParty(StrEnum):
    """Who must file: the director, or the clinic (for its roster NP or PA)."""

    director = "director"
    clinic = "clinic"


class Filing(UUIDPrimaryKey, Base):
    """A filing a state's rules oblige (registering an agreement, notice of termination...),
    with its deadline and who owes it. The obligation itself is the catalog's (`source`: the
    rule's citation and confidence, copied when the task is made)."""

    __tablename__ = "document_filings"
    __table_args__ = (
        CheckConstraint(enum_check("status", FilingStatus), name="status"),
        CheckConstraint(enum_check("responsible", FilingParty), name="responsible"),
        CheckConstraint("(status = 'done') = (completed_at IS NOT NULL)", name="done_when"),
        # Made once per obligation and subject, however often the event is delivered.
        Index("uq_document_filings_key", "dedupe_key", unique=True),
        Index("ix_document_filings_due", "status", "due_on"),
        Index("ix_document_filings_engagement_id", "engagement_id"),
        Index("ix_document_filings_clinic_id", "clinic_id"),
        Index("ix_document_filings_physician_id", "physician_id"),
    )

    engagement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagements.id", ondelete="CASCADE")
    )
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("compliance_documents.id", ondelete="SET NULL")
    )
    state: Mapped[str] = mapped_column(String(2))
    what: Mapped[str] = mapped_column(Text)
    filed_with: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(16))
    triggered_on: Mapped[date] = mapped_column(Date)
    within_days: Mapped[int | None]
    # Null: the source states no deadline (shown as such, never invented).
    due_on: Mapped[date | None] = mapped_column(Date)
    responsible: Mapped[str] = mapped_column(String(16))
    physician_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("physicians.id"))
    provider_id: Mapped[uuid.UUID | None]
    source: Mapped[dict[str, Any]] = mapped_column(JSONB)
    dedupe_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    filed_on: Mapped[date | None] = mapped_column(Date)
    reference: Mapped[str | None] = mapped_column(String(200))
    # Reminders sent (due_soon, due_tomorrow, overdue), so each goes once.
    reminders_sent: Mapped[list[str]] = mapped_column(JSONB, server_default="[]", default=list)


class TemplateReview(UUIDPrimaryKey, Base):
    """Counsel's review of a template version, recorded by operations; printed on every
    document made from that version afterwards."""

    __tablename__ = "document_template_reviews"
    __table_args__ = (
        Index("uq_document_template_reviews", "template_key", "template_version", unique=True),
    )

    template_key: Mapped[str] = mapped_column(String(60))
    template_version: Mapped[str] = mapped_column(String(20))
    reviewed_on: Mapped[date] = mapped_column(Date)
    reviewer: Mapped[str] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    recorded_at: Mapped[datetime]
