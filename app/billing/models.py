"""Billing records: Stripe events received, reported cases, and the Stripe operations we started
(at-most-once on any backend). Invoices and the payout ledger are the books (`app.ledger`)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey

# The books moved to app.ledger; billing's names for them stay.
from app.ledger.models import Invoice, InvoiceStatus, PayoutEntry, PayoutKind, PayoutStatus

__all__ = [
    "BillingOperation",
    "CaseReport",
    "Invoice",
    "InvoiceStatus",
    "PayoutEntry",
    "PayoutKind",
    "PayoutStatus",
    "StripeEvent",
]


class StripeEvent(Base):
    """A verified webhook event, stored once by its Stripe id before it is processed."""

    __tablename__ = "stripe_events"
    __table_args__ = (
        Index(
            "ix_stripe_events_unprocessed",
            "received_at",
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    stripe_created: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(server_default=text("0"), default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class CaseReport(UUIDPrimaryKey, Base):
    """The cases a per-case engagement's clinic (or its director) reports for one month, and
    how they were billed: a Stripe invoice item on the next invoice, then that invoice paid."""

    __tablename__ = "case_reports"
    __table_args__ = (
        UniqueConstraint("engagement_id", "month"),
        CheckConstraint("cases >= 0 AND cases <= 10000", name="cases"),
        CheckConstraint("EXTRACT(DAY FROM month) = 1", name="month_start"),
        CheckConstraint("amount_cents = cases * fee_cents", name="amount"),
    )

    engagement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("engagements.id"))
    month: Mapped[date] = mapped_column(Date)
    cases: Mapped[int]
    fee_cents: Mapped[int]
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(Text)
    reported_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    reported_at: Mapped[datetime]
    stripe_invoice_item_id: Mapped[str | None] = mapped_column(String(64))
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64))
    paid_at: Mapped[datetime | None]


class BillingOperation(Base):
    """A money-moving Stripe call we made, under the deterministic key it was made with. The
    row commits with the object id in the same transaction as the state it explains; a retry
    finds it and does not call Stripe again."""

    __tablename__ = "billing_operations"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    engagement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("engagements.id"), index=True)
    stripe_id: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int | None]
    created_at: Mapped[datetime]
