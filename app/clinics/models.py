from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.catalog.vocabulary import (
    BillingInterval,
    EngagementModel,
    OversightMode,
    OwnershipModel,
    ProviderType,
)
from app.db import Base, Timestamps, UUIDPrimaryKey, enum_check


class IntakeStatus(StrEnum):
    draft = "draft"
    matching = "matching"
    matched = "matched"
    confirmed = "confirmed"
    unmatched = "unmatched"
    withdrawn = "withdrawn"


class MemberRole(StrEnum):
    """A teammate's reach on a clinic: the owner does everything, including managing the team;
    admins manage the clinic, its intakes and roster and its billing; billing members manage
    payment and invoices; viewers read."""

    owner = "owner"
    admin = "admin"
    billing = "billing"
    viewer = "viewer"


class Clinic(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "clinics"
    __table_args__ = (
        CheckConstraint(enum_check("ownership_model", OwnershipModel), name="ownership"),
    )

    legal_name: Mapped[str] = mapped_column(String(200))
    ownership_model: Mapped[str] = mapped_column(String(32))
    contact_name: Mapped[str] = mapped_column(String(120))
    contact_email: Mapped[str] = mapped_column(String(320))
    contact_phone: Mapped[str] = mapped_column(String(32))
    # The clinic's Stripe customer (created once, on its first payment-method request).
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    locations: Mapped[list[Location]] = relationship(
        back_populates="clinic",
        order_by="Location.position",
        lazy="selectin",
        cascade="all, delete-orphan",
    )


class ClinicMember(Base):
    """Who administers a clinic. The creator is its owner; more admins can be invited later."""

    __tablename__ = "clinic_members"
    __table_args__ = (CheckConstraint(enum_check("role", MemberRole), name="role"),)

    clinic_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinics.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class Location(UUIDPrimaryKey, Base):
    __tablename__ = "locations"

    clinic_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("clinics.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    address: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(ForeignKey("state_rules.code"))
    zip: Mapped[str] = mapped_column(String(5))
    lat: Mapped[float]
    lon: Mapped[float]
    clinic: Mapped[Clinic] = relationship(back_populates="locations")


class Intake(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "intakes"
    __table_args__ = (
        CheckConstraint(enum_check("status", IntakeStatus), name="status"),
        CheckConstraint(enum_check("engagement_model", EngagementModel), name="engagement_model"),
        CheckConstraint(enum_check("oversight_mode", OversightMode), name="oversight_mode"),
        CheckConstraint(enum_check("billing_interval", BillingInterval), name="billing_interval"),
        CheckConstraint("monthly_patient_volume >= 0", name="volume"),
        CheckConstraint(
            "fractional_share IS NULL OR (fractional_share >= 0.1 AND fractional_share <= 0.9 "
            "AND engagement_model = 'fractional')",
            name="fractional_share",
        ),
        CheckConstraint("review_choices BETWEEN 1 AND 3", name="review_choices"),
        Index("ix_intakes_clinic_id_created_at", "clinic_id", "created_at"),
        Index("ix_intakes_status", "status"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    services: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    # [{"type": "rn", "count": 2}, ...]
    providers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    physician_performs_services: Mapped[bool]
    engagement_model: Mapped[str] = mapped_column(String(16))
    oversight_mode: Mapped[str] = mapped_column(String(16))
    billing_interval: Mapped[str] = mapped_column(String(8))
    monthly_patient_volume: Mapped[int]
    desired_start: Mapped[date]
    rush: Mapped[bool]
    # The clinic's roster when the intake was last saved or submitted ([{provider_id, type,
    # fte, states}]); null when the clinic has no roster and `providers` counts are used.
    staffing: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    # Ask for a standing backup director (an optional recurring item of the price book).
    standing_backup: Mapped[bool] = mapped_column(server_default=text("false"), default=False)
    promo_code: Mapped[str | None] = mapped_column(String(40))
    # A fractional engagement's share of the physician's capacity (0.1-0.9; null: one clinic).
    fractional_share: Mapped[float | None] = mapped_column(Numeric(3, 2, asdecimal=False))
    # [{location (position), hours_per_month}]: the physician's on-site hours a month.
    onsite_hours: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb"), default=list
    )
    # How many accepting physicians the clinic reviews before it confirms one (1: the first to
    # accept is the director, as by default; 2-3: each acceptance is held until its confirm_by).
    review_choices: Mapped[int] = mapped_column(SmallInteger, server_default="1", default=1)
    compliance_flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    submitted_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    # Matching: why it ended unmatched, and the placement timings operations watch.
    matching_outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    first_offer_at: Mapped[datetime | None]
    matched_at: Mapped[datetime | None]
    # Each submit starts a new matching round; matches belong to the round that made them.
    matching_round: Mapped[int] = mapped_column(server_default="0", default=0)

    @property
    def staffing_source(self) -> str:
        """Where the intake's staffing comes from: the clinic's roster, or `providers` counts."""
        return "roster" if self.staffing is not None else "counts"


class ClinicInvitation(UUIDPrimaryKey, Base):
    """An invitation to join a clinic's team with a role: single-use, expiring. Its token is
    issued when the e-mail is sent (only its hash is kept)."""

    __tablename__ = "clinic_invitations"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'billing', 'viewer')", name="role"),
        Index("ix_clinic_invitations_clinic_id", "clinic_id", "created_at"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    revoked_at: Mapped[datetime | None]


class ClinicProvider(UUIDPrimaryKey, Timestamps, Base):
    """A person on the clinic's provider roster: who they are, their license, how much they
    work (FTE), where and what they do. The rules count them per state."""

    __tablename__ = "clinic_providers"
    __table_args__ = (
        CheckConstraint(enum_check("type", ProviderType), name="type"),
        CheckConstraint("fte >= 0.1 AND fte <= 1.0", name="fte"),
        CheckConstraint("cardinality(location_ids) >= 1", name="locations"),
        Index("ix_clinic_providers_clinic_id", "clinic_id", "created_at"),
    )

    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(24))
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    license_type: Mapped[str] = mapped_column(String(40))
    license_state: Mapped[str] = mapped_column(String(2))
    license_number: Mapped[str] = mapped_column(String(40))
    fte: Mapped[float] = mapped_column(Numeric(3, 2, asdecimal=False))
    location_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid()))
    services: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
