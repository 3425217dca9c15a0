"""director continuity: oversight dates on directors, departures and their replacement search

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-23 11:55:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("engagement_directors", sa.Column("starts_on", sa.Date(), nullable=True))
    op.add_column("engagement_directors", sa.Column("ends_on", sa.Date(), nullable=True))
    op.create_table(
        "director_departures",
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("director_id", sa.Uuid(), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("intake_id", sa.Uuid(), nullable=False),
        sa.Column("matching_round", sa.Integer(), nullable=False),
        sa.Column("states", postgresql.ARRAY(sa.String(length=2)), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("oversight_ends_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("replacement_director_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "reason IN ('resigned', 'license_lapsed', 'malpractice_lapsed', 'suspended', "
            "'rejected')",
            name=op.f("ck_director_departures_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('searching', 'replaced', 'uncovered')",
            name=op.f("ck_director_departures_status"),
        ),
        sa.ForeignKeyConstraint(
            ["director_id"],
            ["engagement_directors.id"],
            name=op.f("fk_director_departures_director_id_engagement_directors"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_director_departures_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"], ["intakes.id"], name=op.f("fk_director_departures_intake_id_intakes")
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_director_departures_physician_id_physicians"),
        ),
        sa.ForeignKeyConstraint(
            ["replacement_director_id"],
            ["engagement_directors.id"],
            name=op.f("fk_director_departures_replacement_director_id_engagement_directors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_director_departures")),
    )
    op.create_index(
        "uq_director_departures_director", "director_departures", ["director_id"], unique=True
    )
    op.create_index(
        "ix_director_departures_engagement_id", "director_departures", ["engagement_id"]
    )
    op.create_index(
        "ix_director_departures_open",
        "director_departures",
        ["oversight_ends_on"],
        postgresql_where=sa.text("status <> 'replaced'"),
    )


def downgrade() -> None:
    op.drop_table("director_departures")
    op.drop_column("engagement_directors", "ends_on")
    op.drop_column("engagement_directors", "starts_on")
