"""engagement_events and their subscribers' receipts: the engagement's life as events

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-03 14:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = (
    "engagement.confirmed",
    "engagement.activated",
    "engagement.past_due",
    "engagement.ending",
    "engagement.canceled",
    "engagement.scope_changed",
    "engagement.roster_changed",
    "director.joined",
    "director.leaving",
    "director.ended",
    "director.rescheduled",
)


def upgrade() -> None:
    op.create_table(
        "engagement_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN (" + ", ".join(f"'{k}'" for k in KINDS) + ")",
            name=op.f("ck_engagement_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_engagement_events_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_engagement_events_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_engagement_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_engagement_events_seq")),
    )
    op.create_index(
        "ix_engagement_events_engagement_id_seq",
        "engagement_events",
        ["engagement_id", "seq"],
    )
    op.create_index("ix_engagement_events_clinic_id", "engagement_events", ["clinic_id"])
    op.create_table(
        "engagement_event_receipts",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("subscriber", sa.String(length=80), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["engagement_events.id"],
            name=op.f("fk_engagement_event_receipts_event_id_engagement_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_event_receipts")),
    )
    op.create_index(
        "uq_engagement_event_receipts",
        "engagement_event_receipts",
        ["event_id", "subscriber"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_table("engagement_event_receipts")
    op.drop_table("engagement_events")
