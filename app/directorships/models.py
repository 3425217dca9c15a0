from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamps, UUIDPrimaryKey, enum_check


class EngagementStatus(StrEnum):
    pending_payment = "pending_payment"
    active = "active"
    past_due = "past_due"
    ending = "ending"
    canceled = "canceled"


# Engagements in these statuses hold their directors' capacity.
LIVE_ENGAGEMENT_STATUSES = (
    EngagementStatus.pending_payment.value,
    EngagementStatus.active.value,
    EngagementStatus.past_due.value,
    EngagementStatus.ending.value,
)


class PaymentStatus(StrEnum):
    """The latest invoice's payment (`payment_status`; null before the first invoice)."""

    paid = "paid"
    requires_action = "requires_action"
    failed = "failed"


class DirectorRole(StrEnum):
    primary = "primary"
    backup = "backup"


class Engagement(UUIDPrimaryKey, Timestamps, Base):
    """The contract between a clinic and its director(s) for one intake, under one subscription."""

    __tablename__ = "engagements"
    __table_args__ = (
        CheckConstraint(enum_check("status", EngagementStatus), name="status"),
        # One live engagement per intake (it may have several directors).
        Index(
            "uq_engagements_live_intake",
            "intake_id",
            unique=True,
            postgresql_where=text("status <> 'canceled'"),
        ),
        Index("ix_engagements_clinic_id", "clinic_id"),
    )

    intake_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intakes.id"))
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    quote_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("quotes.id"))
    status: Mapped[str] = mapped_column(String(20))
    payment_status: Mapped[str | None] = mapped_column(String(20))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    current_period_end: Mapped[datetime | None]
    payment_due_by: Mapped[datetime | None]
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The SetupIntent the clinic's card is collected on, and the card attached from it.
    stripe_setup_intent_id: Mapped[str | None] = mapped_column(String(64))
    stripe_payment_method_id: Mapped[str | None] = mapped_column(String(64))
    stripe_plan_id: Mapped[str | None] = mapped_column(String(80))
    stripe_subscription_item_id: Mapped[str | None] = mapped_column(String(64))
    stripe_latest_invoice_id: Mapped[str | None] = mapped_column(String(64))
    # Stripe's own subscription status, as last seen (ours is derived from it).
    stripe_status: Mapped[str | None] = mapped_column(String(24))
    cancel_at_period_end: Mapped[bool] = mapped_column(server_default=text("false"), default=False)
    # Bumped by every subscribe attempt that pays an open invoice (part of its Stripe key).
    payment_attempts: Mapped[int] = mapped_column(server_default=text("0"), default=0)
    billing_synced_at: Mapped[datetime | None]
    activated_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime]
    ends_on: Mapped[date | None]
    canceled_at: Mapped[datetime | None]

    directors: Mapped[list[EngagementDirector]] = relationship(
        back_populates="engagement", lazy="selectin", order_by="EngagementDirector.position"
    )


class EngagementDirector(UUIDPrimaryKey, Base):
    """One director of an engagement, with the states they oversee and their payout share.
    The supervisee counts are what this engagement takes of the physician's capacity."""

    __tablename__ = "engagement_directors"
    __table_args__ = (
        CheckConstraint("monthly_payout_cents >= 0", name="payout"),
        CheckConstraint(enum_check("role", DirectorRole), name="role"),
        Index("ix_engagement_directors_physician_id", "physician_id"),
    )

    engagement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    physician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("physicians.id"))
    match_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("matches.id"))
    position: Mapped[int]
    states: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    monthly_payout_cents: Mapped[int]
    supervisees: Mapped[int]
    pa_count: Mapped[int]
    np_count: Mapped[int]
    # The same in full-time equivalents (caps that count FTE, the physician's own limit).
    supervisees_fte: Mapped[float] = mapped_column(Numeric(6, 2, asdecimal=False))
    pa_fte: Mapped[float] = mapped_column(Numeric(6, 2, asdecimal=False))
    np_fte: Mapped[float] = mapped_column(Numeric(6, 2, asdecimal=False))
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # Oversight dates: the director oversees from `starts_on` (null: from the engagement's
    # start) up to the day before `ends_on` (null: open-ended). A replacement starts on the day
    # the director it replaces ends, so payouts switch on that date.
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    # `backup`: the clinic's standing backup director, on standby for every state; they take
    # over automatically when a director leaves (and oversee nothing until then).
    role: Mapped[str] = mapped_column(
        String(8), server_default=text("'primary'"), default="primary"
    )

    engagement: Mapped[Engagement] = relationship(back_populates="directors")


class DepartureReason(StrEnum):
    resigned = "resigned"
    license_lapsed = "license_lapsed"
    malpractice_lapsed = "malpractice_lapsed"
    suspended = "suspended"
    rejected = "rejected"  # re-verification failed


class DepartureStatus(StrEnum):
    searching = "searching"  # replacement offers out; the director still oversees until the date
    replaced = "replaced"  # a replacement accepted and joined the engagement
    uncovered = "uncovered"  # nobody left to ask: operations must act
    canceled = "canceled"  # no replacement needed: the engagement ended (or ends) first


# A search still under way (`uncovered`: exhausted, waiting for operations).
OPEN_DEPARTURE = (DepartureStatus.searching.value, DepartureStatus.uncovered.value)


class DirectorDeparture(UUIDPrimaryKey, Timestamps, Base):
    """A director leaving an engagement, and the search for their replacement (a matching round
    of the engagement's intake limited to the leaving director's states)."""

    __tablename__ = "director_departures"
    __table_args__ = (
        CheckConstraint(enum_check("reason", DepartureReason), name="reason"),
        CheckConstraint(enum_check("status", DepartureStatus), name="status"),
        # One departure per director.
        Index("uq_director_departures_director", "director_id", unique=True),
        Index("ix_director_departures_engagement_id", "engagement_id"),
        Index(
            "ix_director_departures_open",
            "oversight_ends_on",
            postgresql_where=text("status IN ('searching', 'uncovered')"),
        ),
    )

    engagement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagements.id", ondelete="CASCADE")
    )
    director_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagement_directors.id", ondelete="CASCADE")
    )
    physician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("physicians.id"))
    intake_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intakes.id"))
    matching_round: Mapped[int]
    states: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    reason: Mapped[str] = mapped_column(String(24))
    note: Mapped[str | None] = mapped_column(Text)
    oversight_ends_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16))
    replacement_director_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("engagement_directors.id")
    )
    resolved_at: Mapped[datetime | None]


class BackupSearchStatus(StrEnum):
    searching = "searching"  # offers out for a standing backup director
    filled = "filled"  # a backup accepted and is on standby
    uncovered = "uncovered"  # nobody left to ask: operations must act
    canceled = "canceled"  # superseded (a departure's search, the option dropped, canceled)


OPEN_BACKUP_SEARCH = (BackupSearchStatus.searching.value, BackupSearchStatus.uncovered.value)


class BackupSearch(UUIDPrimaryKey, Timestamps, Base):
    """The search for an engagement's standing backup director: a matching round of the
    engagement's intake for all its states, its current directors excluded."""

    __tablename__ = "backup_searches"
    __table_args__ = (
        CheckConstraint(enum_check("status", BackupSearchStatus), name="status"),
        Index("ix_backup_searches_engagement_id", "engagement_id"),
        # At most one open search per engagement.
        Index(
            "uq_backup_searches_open",
            "engagement_id",
            unique=True,
            postgresql_where=text("status IN ('searching', 'uncovered')"),
        ),
    )

    engagement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagements.id", ondelete="CASCADE")
    )
    intake_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intakes.id"))
    matching_round: Mapped[int]
    states: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    status: Mapped[str] = mapped_column(String(16))
    backup_director_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("engagement_directors.id")
    )
    resolved_at: Mapped[datetime | None]
