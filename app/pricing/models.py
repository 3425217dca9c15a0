from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UUIDPrimaryKey


class PriceBookVersion(Base):
    """A published price book. Rows are never changed; the newest published one is current."""

    __tablename__ = "price_books"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    notes: Mapped[str] = mapped_column(Text, server_default="")
    published_at: Mapped[datetime] = mapped_column(index=True)
    published_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )


class Quote(UUIDPrimaryKey, Base):
    """A persisted quote: the result, and everything needed to reproduce it exactly (its inputs,
    the price-book version, and the state rules and catalog entries it used)."""

    __tablename__ = "quotes"
    __table_args__ = (Index("ix_quotes_intake_id_created_at", "intake_id", "created_at"),)

    intake_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("intakes.id", ondelete="CASCADE"))
    pricing_version: Mapped[str] = mapped_column(ForeignKey("price_books.version"))
    currency: Mapped[str] = mapped_column(String(3))
    billing_interval: Mapped[str] = mapped_column(String(8))
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    monthly_total_cents: Mapped[int]
    first_invoice_cents: Mapped[int]
    physician_payout_cents: Mapped[int]
    platform_fee_cents: Mapped[int]
    oversight_tier: Mapped[int]
    valid_until: Mapped[date]
    compliance_flags: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state_rules_used: Mapped[dict[str, Any]] = mapped_column(JSONB)
    services_used: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime]
