"""The books: our copy of every invoice as Stripe billed it, and the payout ledger of what
each director is owed for the months those invoices pay. Billing writes invoices as Stripe shows
them; the engagement's lifecycle re-sizes the ledger when a director's oversight dates change.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
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
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey, enum_check


class Invoice(UUIDPrimaryKey, Base):
    """An invoice as Stripe last showed it (the clinic's billing history)."""

    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_clinic_id_created_at", "clinic_id", "created_at"),)

    stripe_invoice_id: Mapped[str] = mapped_column(String(64), unique=True)
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    engagement_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("engagements.id"), index=True
    )
    number: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int]
    amount_due_cents: Mapped[int]
    amount_paid_cents: Mapped[int]
    # Refunded by operations through our gateway (the refunds are also in the audit trail).
    amount_refunded_cents: Mapped[int] = mapped_column(server_default=text("0"), default=0)
    billing_reason: Mapped[str | None] = mapped_column(String(40))
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[datetime | None]
    period_end: Mapped[datetime | None]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # The first day of each month the invoice pays the subscription for (shapes.months_covered),
    # so a director joining later is paid for them even when no ledger row names the month.
    covered_months: Mapped[list[date] | None] = mapped_column(ARRAY(Date))
    # Stripe's creation time (the history is ordered by it).
    created_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    synced_at: Mapped[datetime]


class InvoiceStatus(StrEnum):
    """Stripe's invoice statuses, as mirrored in `invoices.status`."""

    draft = "draft"
    open = "open"
    paid = "paid"
    uncollectible = "uncollectible"
    void = "void"


class PayoutStatus(StrEnum):
    accrued = "accrued"
    transferred = "transferred"


class PayoutKind(StrEnum):
    oversight = "oversight"  # the subscription's months
    cases = "cases"  # a per-case engagement's reported cases, once their invoice is paid


class PayoutEntry(UUIDPrimaryKey, Base):
    """What we owe one director for one month a paid invoice covers (a yearly invoice accrues
    twelve rows), at their share when it was paid; and, for a per-case engagement, their share
    of a month's reported cases once the invoice that billed them is paid (kind `cases`)."""

    __tablename__ = "payout_ledger"
    __table_args__ = (
        UniqueConstraint("engagement_director_id", "month", "kind"),
        CheckConstraint(enum_check("status", PayoutStatus), name="status"),
        CheckConstraint(enum_check("kind", PayoutKind), name="kind"),
        CheckConstraint("amount_cents >= 0", name="amount"),
        Index("ix_payout_ledger_physician_id_month", "physician_id", "month"),
    )

    engagement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("engagements.id"))
    engagement_director_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("engagement_directors.id"))
    physician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("physicians.id"))
    month: Mapped[date]
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    stripe_invoice_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    stripe_transfer_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(
        String(16), server_default=PayoutKind.oversight.value, default=PayoutKind.oversight.value
    )
    created_at: Mapped[datetime]
