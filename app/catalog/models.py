from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base
from app.kit.clock import utcnow


class Service(Base):
    """A row of the service catalog (mirrors data/services.json; code-owned)."""

    __tablename__ = "services"
    __table_args__ = (CheckConstraint("risk_tier BETWEEN 1 AND 3", name="risk_tier"),)

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40))
    injectable: Mapped[bool]
    energy_device: Mapped[bool]
    prescription: Mapped[bool]
    controlled_substance: Mapped[bool]
    risk_tier: Mapped[int]
    delegated_procedure: Mapped[bool]
    commonly_onsite: Mapped[bool]
    fit_specialties: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    rationale: Mapped[str] = mapped_column(Text, server_default="")
    catalog_version: Mapped[str] = mapped_column(String(20))


class StateRule(Base):
    """One jurisdiction's rules: research data, editable by operations, with derived values."""

    __tablename__ = "state_rules"
    __table_args__ = (
        CheckConstraint(
            "np_practice_authority IN ('full', 'reduced', 'restricted')",
            name="np_practice_authority",
        ),
        CheckConstraint("cpom IN ('strict', 'moderate', 'permissive')", name="cpom"),
        CheckConstraint("confidence IN ('high', 'medium', 'low')", name="confidence"),
        CheckConstraint("oversight_tier BETWEEN 1 AND 3", name="oversight_tier"),
        CheckConstraint("pa_supervision_ratio IS NULL OR pa_supervision_ratio >= 1", name="pa"),
        CheckConstraint("np_collaboration_ratio IS NULL OR np_collaboration_ratio >= 1", name="np"),
    )

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    np_practice_authority: Mapped[str] = mapped_column(String(16))
    cpom: Mapped[str] = mapped_column(String(16))
    pa_supervision_ratio: Mapped[int | None]
    np_collaboration_ratio: Mapped[int | None]
    # NULL = unknown, never "allowed".
    remote_supervision_allowed: Mapped[bool | None]
    gfe_required_by: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    rn_may_inject_neurotoxins_under_delegation: Mapped[bool | None]
    esthetician_may_use_lasers: Mapped[bool | None]
    chart_review_min_percent: Mapped[float | None] = mapped_column(Float)
    notable_rules: Mapped[str] = mapped_column(Text)
    sources: Mapped[list[str]] = mapped_column(ARRAY(Text))
    confidence: Mapped[str] = mapped_column(String(8))
    caveats: Mapped[str] = mapped_column(Text)
    # Derived (rules.py); onsite_required_services may be pinned by operations instead.
    oversight_tier: Mapped[int]
    onsite_required_services: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    onsite_services_pinned: Mapped[bool]
    reviewed_on: Mapped[date]
    # Every rule as a cited fact (dataset.Fact as JSON, keyed by dataset.FIELDS); the flat
    # columns above are projected from it (rules.project) for the engine.
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))
    # Fields (and `notable_rules` / `caveats`) that operations edited: a newer data file never
    # overwrites them. `defaults_applied`: flat fields holding the product's conservative default
    # because the state's rule is unknown.
    operations_fields: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), server_default=text("'{}'")
    )
    defaults_applied: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), server_default=text("'{}'")
    )
    # The research-data version last applied to this row (NULL: edited by operations before
    # edits were tracked per field).
    data_version: Mapped[str | None] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), default=utcnow, onupdate=utcnow
    )
