from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey, enum_check

# The record of checks lives with the credentials it is about (app.physicians.checks), so the
# physicians domain writes its own (the NPPES lookup, what the physician typed in).
from app.physicians.checks import CheckMethod as CheckMethod
from app.physicians.checks import CheckResult as CheckResult
from app.physicians.checks import CheckSource as CheckSource
from app.physicians.checks import CredentialCheck as CredentialCheck
from app.physicians.checks import CredentialKind as CredentialKind


class ReviewKind(StrEnum):
    document = "document"  # an uploaded credential document to compare with the record
    exclusion_match = "exclusion_match"  # a possible match on an exclusion list
    license_check = "license_check"  # a license the board shows with disciplinary actions


class ReviewStatus(StrEnum):
    open = "open"
    approved = "approved"
    rejected = "rejected"


class ReviewItem(UUIDPrimaryKey, Base):
    """Something only a person can decide, waiting in the operations review queue."""

    __tablename__ = "review_items"
    __table_args__ = (
        CheckConstraint(enum_check("kind", ReviewKind), name="kind"),
        CheckConstraint(enum_check("status", ReviewStatus), name="status"),
        CheckConstraint("(status = 'open') = (decided_at IS NULL)", name="decided_when_closed"),
        Index("ix_review_items_open", "created_at", postgresql_where=text("status = 'open'")),
        Index("ix_review_items_physician_id", "physician_id"),
        # One open item per subject (a document, a physician's possible match).
        Index(
            "uq_review_items_open_subject",
            "kind",
            "subject_key",
            unique=True,
            postgresql_where=text("status = 'open'"),
        ),
    )

    kind: Mapped[str] = mapped_column(String(20))
    physician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("physicians.id", ondelete="CASCADE"))
    # What the item is about, as a stable key ("document:<id>", "exclusion:<physician>:<row>").
    subject_key: Mapped[str] = mapped_column(String(120))
    # What the reviewer needs to see (the record and the candidate evidence).
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}", default=dict)
    status: Mapped[str] = mapped_column(String(12), server_default="open", default="open")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


# --- the federal exclusion list (HHS-OIG LEIE): the one file imported last, and each import


class ExclusionImport(UUIDPrimaryKey, Base):
    """One imported file: where from, its digest, how many rows, how many physicians matched."""

    __tablename__ = "exclusion_imports"
    __table_args__ = (
        CheckConstraint("source IN ('oig_leie')", name="source"),
        Index("ix_exclusion_imports_imported_at", "imported_at"),
        Index("ix_exclusion_imports_sha256", "sha256"),
    )

    source: Mapped[str] = mapped_column(String(16), server_default="oig_leie", default="oig_leie")
    # The file name or URL it was read from.
    file_name: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    row_count: Mapped[int]
    # Physicians the screening after the import found on the list (possible matches).
    matches_found: Mapped[int] = mapped_column(server_default="0", default=0)
    imported_at: Mapped[datetime]


class Exclusion(Base):
    """One row of the LEIE, typed: dates as dates (none for `00000000`), NPI null when none.
    `row_key` names the listing across imports (the NPI, else a digest of the identifying
    fields); `last_key`/`first_key` are the names folded for matching (case and accents)."""

    __tablename__ = "exclusions"
    __table_args__ = (
        CheckConstraint("source IN ('oig_leie')", name="source"),
        Index("ix_exclusions_npi", "npi", postgresql_where=text("npi IS NOT NULL")),
        Index(
            "ix_exclusions_name",
            "last_key",
            "first_key",
            postgresql_where=text("npi IS NULL AND last_key <> ''"),
        ),
        Index("ix_exclusions_import_id", "import_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("exclusion_imports.id", ondelete="CASCADE")
    )
    source: Mapped[str] = mapped_column(String(16), server_default="oig_leie")
    row_key: Mapped[str] = mapped_column(String(40))
    last_name: Mapped[str | None] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(100))
    mid_name: Mapped[str | None] = mapped_column(String(100))
    bus_name: Mapped[str | None] = mapped_column(String(300))
    general: Mapped[str | None] = mapped_column(String(100))
    specialty: Mapped[str | None] = mapped_column(String(100))
    upin: Mapped[str | None] = mapped_column(String(20))
    npi: Mapped[str | None] = mapped_column(String(10))
    dob: Mapped[date | None]
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(2))
    zip: Mapped[str | None] = mapped_column(String(10))
    excl_type: Mapped[str | None] = mapped_column(String(20))
    excl_date: Mapped[date | None]
    rein_date: Mapped[date | None]
    waiver_date: Mapped[date | None]
    waiver_state: Mapped[str | None] = mapped_column(String(2))
    last_key: Mapped[str] = mapped_column(String(100), server_default="")
    first_key: Mapped[str] = mapped_column(String(100), server_default="")
