"""Webhook endpoints, one delivery per (event, endpoint), and every attempt with its answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, Timestamps, UUIDPrimaryKey, enum_check
from app.engagements.events import EngagementEvent


class DeliveryStatus(StrEnum):
    """Where a delivery stands: `pending` (being sent, or a retry is scheduled), `delivered` (a
    2xx answer), `failed` (every scheduled attempt failed), `skipped` (the endpoint was disabled
    before it could be sent). Failed and skipped deliveries may be replayed."""

    pending = "pending"
    delivered = "delivered"
    failed = "failed"
    skipped = "skipped"


class AttemptTrigger(StrEnum):
    automatic = "automatic"  # the first send and the scheduled retries
    replay = "replay"  # POST /v1/webhook-deliveries/{id}/replay


class AttemptOutcome(StrEnum):
    sending = "sending"  # under way (or the worker stopped mid-attempt; the sweep closes it)
    succeeded = "succeeded"
    failed = "failed"


class WebhookEndpoint(UUIDPrimaryKey, Timestamps, Base):
    """A URL that receives engagement events: a clinic's (its events only) or, without a clinic,
    a platform endpoint of operations (every clinic's events)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        CheckConstraint(
            "(previous_secret IS NULL) = (previous_secret_expires_at IS NULL)",
            name="previous_secret",
        ),
        CheckConstraint("cardinality(enabled_events) >= 1", name="enabled_events"),
        Index("ix_webhook_endpoints_clinic_id", "clinic_id"),
    )

    # None: a platform endpoint (operations), which receives every clinic's events.
    clinic_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clinics.id", ondelete="CASCADE")
    )
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500))
    # Event kinds (`app.engagements.events.EventKind` values), or ["*"] for all of them.
    enabled_events: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    is_enabled: Mapped[bool]
    # Stored as is (the repository has no encryption-key facility): whoever reads this table can
    # sign events. The API shows a secret once, when it is made.
    secret: Mapped[str] = mapped_column(String(100))
    # After a roll the replaced secret keeps signing, alongside, until it expires.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class WebhookDelivery(UUIDPrimaryKey, Base):
    """One event for one endpoint (at most one: the fan-out may run twice)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint(enum_check("status", DeliveryStatus), name="status"),
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_deliveries_event_id"),
        Index("ix_webhook_deliveries_endpoint_id_created_at", "endpoint_id", "created_at", "id"),
        # The sweep finds pending deliveries whose retry is overdue (its job was lost).
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engagement_events.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16))
    # Every attempt made, replays included (at most `delivery.MAX_ATTEMPTS`); `automatic_attempts`
    # counts the scheduled ones (the retry budget, WEBHOOK_MAX_ATTEMPTS).
    attempts: Mapped[int] = mapped_column(Integer)
    automatic_attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class WebhookAttempt(UUIDPrimaryKey, Base):
    """One POST of a delivery and what the receiver answered."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (
        CheckConstraint(enum_check("trigger", AttemptTrigger), name="trigger"),
        CheckConstraint(enum_check("outcome", AttemptOutcome), name="outcome"),
        UniqueConstraint("delivery_id", "number", name="uq_webhook_attempts_delivery_id"),
        # A job's key ("automatic-3", "replay-<id>"): a redelivered job finds its attempt made.
        UniqueConstraint("delivery_id", "key", name="uq_webhook_attempts_delivery_id_key"),
        Index(
            "ix_webhook_attempts_sending",
            "started_at",
            postgresql_where=text("outcome = 'sending'"),
        ),
    )

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None]
    status_code: Mapped[int | None] = mapped_column(SmallInteger)
    # The first WEBHOOK_RESPONSE_BODY_LIMIT characters of the answer.
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))


# The webhook sweep finds the events the fan-out never reached by their time
# (`app.webhooks.delivery.unfanned_events`, a few days' worth every five minutes): declared here,
# beside the only query that needs it, and made (and dropped) by migration 0027.
Index("ix_engagement_events_occurred_at", EngagementEvent.occurred_at)
