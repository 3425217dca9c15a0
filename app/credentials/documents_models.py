"""Credential documents: a file a physician uploaded to support one of their credentials, kept
in object storage (the row holds its metadata, digest and key) and reviewed by operations."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey, enum_check


class DocumentCredentialKind(StrEnum):
    """The credentials a document may support (rows of app/physicians/models.py)."""

    license = "license"
    dea = "dea"
    malpractice = "malpractice"
    board_certification = "board_certification"


class DocumentKind(StrEnum):
    license_certificate = "license_certificate"
    dea_certificate = "dea_certificate"
    malpractice_coi = "malpractice_coi"  # the carrier's certificate of insurance
    board_certificate = "board_certificate"
    board_printout = "board_printout"  # the board's verification page, printed


# Which documents fit which credential.
DOCUMENT_KINDS: dict[DocumentCredentialKind, frozenset[DocumentKind]] = {
    DocumentCredentialKind.license: frozenset(
        {DocumentKind.license_certificate, DocumentKind.board_printout}
    ),
    DocumentCredentialKind.dea: frozenset({DocumentKind.dea_certificate}),
    DocumentCredentialKind.malpractice: frozenset({DocumentKind.malpractice_coi}),
    DocumentCredentialKind.board_certification: frozenset(
        {DocumentKind.board_certificate, DocumentKind.board_printout}
    ),
}


class DocumentStatus(StrEnum):
    pending_review = "pending_review"
    approved = "approved"
    rejected = "rejected"


class CredentialDocument(UUIDPrimaryKey, Base):
    __tablename__ = "credential_documents"
    __table_args__ = (
        CheckConstraint(
            enum_check("credential_kind", DocumentCredentialKind), name="credential_kind"
        ),
        CheckConstraint(enum_check("document_kind", DocumentKind), name="document_kind"),
        CheckConstraint(enum_check("status", DocumentStatus), name="status"),
        CheckConstraint(
            "content_type IN ('application/pdf', 'image/png', 'image/jpeg')", name="content_type"
        ),
        CheckConstraint("size_bytes > 0", name="size_bytes"),
        CheckConstraint(
            "(status = 'pending_review') = (decided_at IS NULL)", name="decided_when_reviewed"
        ),
        Index("ix_credential_documents_physician_id_uploaded_at", "physician_id", "uploaded_at"),
        Index("ix_credential_documents_credential_id", "credential_id"),
    )

    physician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("physicians.id", ondelete="CASCADE"))
    credential_kind: Mapped[str] = mapped_column(String(24))
    # The license, DEA registration, policy or certification row the document supports.
    credential_id: Mapped[uuid.UUID]
    document_kind: Mapped[str] = mapped_column(String(24))
    # Sanitised: a base name of safe characters only.
    filename: Mapped[str] = mapped_column(String(160))
    # What the first bytes are (and the upload declared): PDF, PNG or JPEG.
    content_type: Mapped[str] = mapped_column(String(40))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    # credentials/<physician_id>/<document_id>
    object_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(
        String(16), server_default="pending_review", default="pending_review"
    )
    reason: Mapped[str | None] = mapped_column(Text)
    review_item_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("review_items.id", ondelete="SET NULL")
    )
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    uploaded_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
