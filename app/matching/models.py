from __future__ import annotations

import uuid
from datetime import datetime
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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamps, UUIDPrimaryKey, enum_check


class MatchStatus(StrEnum):
    candidate = "candidate"
    offered = "offered"
    accepted = "accepted"
    declined = "declined"
    expired = "expired"
    withdrawn = "withdrawn"
    confirmed = "confirmed"


class OfferStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    expired = "expired"
    withdrawn = "withdrawn"


class Match(UUIDPrimaryKey, Timestamps, Base):
    """A ranked candidate physician for one state group of an intake, with its explanation.

    `group_key` names the state group ("CA,TX"); a single-director intake has one group with
    every state. The supervisee counts are what an accepted match takes of the physician's
    capacity until it is confirmed into an engagement (or lapses)."""

    __tablename__ = "matches"
    __table_args__ = (
        CheckConstraint(enum_check("status", MatchStatus), name="status"),
        Index(
            "uq_matches_intake_round_physician", "intake_id", "round", "physician_id", unique=True
        ),
        # A state group of an intake's round holds its acceptances in numbered slots (one, or
        # up to the intake's `review_choices` when the clinic reviews), and one confirmed
        # director. Accepts are serialised by the intake's lock; these make it a fact.
        CheckConstraint(
            "hold_slot IS NOT NULL OR status NOT IN ('accepted', 'confirmed')", name="hold_slot"
        ),
        Index(
            "uq_matches_hold_slot_per_group",
            "intake_id",
            "round",
            "group_key",
            "hold_slot",
            unique=True,
            postgresql_where=text("status IN ('accepted', 'confirmed')"),
        ),
        Index(
            "uq_matches_one_confirmed_per_group",
            "intake_id",
            "round",
            "group_key",
            unique=True,
            postgresql_where=text("status = 'confirmed'"),
        ),
        Index(
            "ix_matches_accepted_physician",
            "physician_id",
            postgresql_where=text("status = 'accepted'"),
        ),
    )

    intake_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intakes.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(server_default="1", default=1)
    physician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("physicians.id"))
    group_key: Mapped[str] = mapped_column(String(160))
    covers_states: Mapped[list[str]] = mapped_column(ARRAY(String(2)))
    rank: Mapped[int]
    score: Mapped[float]
    status: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    monthly_payout_cents: Mapped[int]
    supervisees: Mapped[int]
    pa_count: Mapped[int]
    np_count: Mapped[int]
    # The same in full-time equivalents (caps that count FTE, the physician's own limit).
    supervisees_fte: Mapped[float] = mapped_column(Numeric(6, 2, asdecimal=False))
    pa_fte: Mapped[float] = mapped_column(Numeric(6, 2, asdecimal=False))
    np_fte: Mapped[float] = mapped_column(Numeric(6, 2, asdecimal=False))
    accepted_at: Mapped[datetime | None]
    confirm_by: Mapped[datetime | None]
    hold_slot: Mapped[int | None] = mapped_column(SmallInteger)


class Offer(UUIDPrimaryKey, Base):
    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(enum_check("status", OfferStatus), name="status"),
        # One open offer per physician and intake.
        Index(
            "uq_offers_open_physician_intake",
            "physician_id",
            "intake_id",
            unique=True,
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_offers_pending_respond_by",
            "respond_by",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_offers_physician_created_at", "physician_id", "created_at"),
        Index("ix_offers_intake_id", "intake_id"),
        # A match is offered again when an acceptance that withdrew it lapses; at most one of
        # its offers is live at a time.
        Index("ix_offers_match_id", "match_id"),
        Index(
            "uq_offers_live_per_match",
            "match_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'accepted')"),
        ),
    )

    match_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("matches.id", ondelete="CASCADE"))
    intake_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intakes.id", ondelete="CASCADE"))
    physician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("physicians.id"))
    group_key: Mapped[str] = mapped_column(String(160))
    status: Mapped[str] = mapped_column(String(16))
    respond_by: Mapped[datetime]
    monthly_payout_cents: Mapped[int]
    created_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    decline_reason: Mapped[str | None] = mapped_column(Text)
