from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.vocabulary import CredentialStatus, Degree
from app.db import Base, Timestamps, UUIDPrimaryKey, enum_check


class VerificationStatus(StrEnum):
    pending = "pending"
    verified = "verified"
    rejected = "rejected"
    suspended = "suspended"


class Physician(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "physicians"
    __table_args__ = (
        CheckConstraint(enum_check("degree", Degree), name="degree"),
        CheckConstraint(enum_check("verification_status", VerificationStatus), name="status"),
        CheckConstraint("years_experience BETWEEN 0 AND 70", name="years"),
        CheckConstraint("aesthetic_years BETWEEN 0 AND years_experience", name="aesthetic_years"),
        CheckConstraint("travel_radius_miles BETWEEN 0 AND 500", name="radius"),
        CheckConstraint("max_clinics >= 1", name="max_clinics"),
        CheckConstraint("max_supervisees >= 1", name="max_supervisees"),
        CheckConstraint("min_monthly_rate_cents >= 0", name="min_rate"),
        Index("ix_physicians_status_accepting", "verification_status", "accepting_new"),
        # Several profiles may claim an NPI; only the identity verification checked holds it.
        Index("ix_physicians_npi", "npi"),
        Index(
            "uq_physicians_npi_verified",
            "npi",
            unique=True,
            postgresql_where=text("verified_at IS NOT NULL"),
        ),
        # Matching's first cut: one GIN scan intersects the state, the services, the engagement
        # model and the oversight mode, so a query touches only physicians who could match.
        Index(
            "ix_physicians_matching",
            "licensed_states",
            "services",
            "engagement_models",
            "oversight_modes",
            postgresql_using="gin",
            # Physicians change rarely and are read on every submit: no pending list, so scans
            # never pay for entries not yet merged into the index.
            postgresql_with={"fastupdate": "off"},
            # Only physicians who can be matched at all are indexed (matching filters on both).
            postgresql_where=text("verification_status = 'verified' AND accepting_new IS TRUE"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    npi: Mapped[str] = mapped_column(String(10))
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    degree: Mapped[str] = mapped_column(String(2))
    specialties: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    years_experience: Mapped[int]
    aesthetic_years: Mapped[int]
    services: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    engagement_models: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    oversight_modes: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    home_zip: Mapped[str] = mapped_column(String(5))
    home_lat: Mapped[float]
    home_lon: Mapped[float]
    travel_radius_miles: Mapped[int]
    max_clinics: Mapped[int]
    max_supervisees: Mapped[int]
    min_monthly_rate_cents: Mapped[int]
    accepting_new: Mapped[bool]
    # The director's Stripe Connect account (payout transfers; real Stripe only).
    stripe_connect_account_id: Mapped[str | None] = mapped_column(String(64))
    verification_status: Mapped[str] = mapped_column(String(16))
    verification_reasons: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    verified_at: Mapped[datetime | None]
    registry_taxonomy: Mapped[str | None] = mapped_column(String(200))
    suspended_at: Mapped[datetime | None]
    suspension_reason: Mapped[str | None] = mapped_column(Text)
    status_before_suspension: Mapped[str | None] = mapped_column(String(16))
    # Kept by triggers on `licenses` and `malpractice_policies` (migrations 0006, 0007), so
    # matching reads one row per physician instead of probing credentials: the states with a
    # verified license (for the GIN index), the latest expiry of a verified license per state,
    # and the latest expiry of a verified malpractice policy.
    licensed_states: Mapped[list[str]] = mapped_column(
        ARRAY(String(2)), server_default="{}", default=list
    )
    license_expiry: Mapped[dict[str, str]] = mapped_column(JSONB, server_default="{}", default=dict)
    malpractice_expires_on: Mapped[date | None]
    # Response history, kept with each offer outcome (a ranking factor).
    offers_received: Mapped[int] = mapped_column(server_default="0", default=0)
    offers_accepted: Mapped[int] = mapped_column(server_default="0", default=0)
    offers_declined: Mapped[int] = mapped_column(server_default="0", default=0)
    offers_expired: Mapped[int] = mapped_column(server_default="0", default=0)

    licenses: Mapped[list[License]] = relationship(
        back_populates="physician", order_by="License.state", lazy="selectin"
    )
    dea_registrations: Mapped[list[DeaRegistration]] = relationship(
        back_populates="physician", order_by="DeaRegistration.state", lazy="selectin"
    )
    malpractice_policies: Mapped[list[MalpracticePolicy]] = relationship(
        back_populates="physician", order_by="MalpracticePolicy.expires_on", lazy="selectin"
    )
    board_certifications: Mapped[list[BoardCertification]] = relationship(
        back_populates="physician", order_by="BoardCertification.specialty", lazy="selectin"
    )

    @property
    def display_name(self) -> str:
        return f"Dr. {self.first_name} {self.last_name}"


class _Credential(UUIDPrimaryKey):
    expires_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))
    verified_at: Mapped[datetime | None]
    # The day the physician and operations were warned of the coming expiry (warned once).
    expiry_warned_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


_STATUS_CHECK = enum_check("status", CredentialStatus)


class License(_Credential, Base):
    __tablename__ = "licenses"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
        UniqueConstraint(
            "physician_id", "state", "number", name="uq_licenses_physician_state_number"
        ),
        Index("ix_licenses_state_status_expires_on", "state", "status", "expires_on"),
    )

    physician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("physicians.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(ForeignKey("state_rules.code"))
    number: Mapped[str] = mapped_column(String(40))
    physician: Mapped[Physician] = relationship(back_populates="licenses")


class DeaRegistration(_Credential, Base):
    __tablename__ = "dea_registrations"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
        UniqueConstraint("physician_id", "state", "number", name="uq_dea_physician_state_number"),
    )

    physician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("physicians.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(ForeignKey("state_rules.code"))
    number: Mapped[str] = mapped_column(String(20))
    physician: Mapped[Physician] = relationship(back_populates="dea_registrations")


class MalpracticePolicy(_Credential, Base):
    __tablename__ = "malpractice_policies"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
        CheckConstraint("per_claim_cents > 0", name="per_claim"),
        CheckConstraint("aggregate_cents >= per_claim_cents", name="aggregate"),
        CheckConstraint("coverage_basis IN ('occurrence', 'claims_made')", name="coverage_basis"),
        # Tail (extended reporting) cover is a claims-made policy's; occurrence needs none.
        CheckConstraint(
            "tail_coverage IS NULL OR coverage_basis = 'claims_made'", name="tail_coverage"
        ),
        UniqueConstraint(
            "physician_id", "carrier", "policy_number", name="uq_malpractice_physician_policy"
        ),
    )

    physician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("physicians.id", ondelete="CASCADE"), index=True
    )
    carrier: Mapped[str] = mapped_column(String(120))
    policy_number: Mapped[str] = mapped_column(String(60))
    # Policy limits run to tens of millions of dollars: more cents than a 32-bit integer holds.
    per_claim_cents: Mapped[int] = mapped_column(BigInteger)
    aggregate_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), server_default="usd")
    # `occurrence` covers incidents during the policy whenever claimed; `claims_made` only
    # claims made while it runs, unless tail cover extends it after it ends (null: not stated).
    coverage_basis: Mapped[str | None] = mapped_column(String(12))
    tail_coverage: Mapped[bool | None]
    physician: Mapped[Physician] = relationship(back_populates="malpractice_policies")


class BoardCertification(_Credential, Base):
    """A specialty board's certification (or board eligibility), a credential of its own: rules
    that need a board-certified physician (Florida's satellite offices) read it; self-declared
    specialties stay a ranking signal only."""

    __tablename__ = "board_certifications"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
        CheckConstraint("certification IN ('certified', 'eligible')", name="certification"),
        UniqueConstraint(
            "physician_id", "board", "specialty", name="uq_board_certifications_physician_board"
        ),
        Index("ix_board_certifications_specialty_status", "specialty", "status", "expires_on"),
    )

    physician_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("physicians.id", ondelete="CASCADE"), index=True
    )
    board: Mapped[str] = mapped_column(String(120))
    specialty: Mapped[str] = mapped_column(String(40))
    certification: Mapped[str] = mapped_column(String(16))
    physician: Mapped[Physician] = relationship(back_populates="board_certifications")


def credential_summary(c: Any) -> dict[str, Any]:
    return {"id": str(c.id), "status": c.status, "expires_on": c.expires_on.isoformat()}
