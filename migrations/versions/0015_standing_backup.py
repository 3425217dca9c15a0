"""standing backup director: the intake option, the director role and the backup search

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-23 14:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A departure whose engagement ended first needs no replacement: `canceled`.
    op.drop_constraint(op.f("ck_director_departures_status"), "director_departures", type_="check")
    op.create_check_constraint(
        op.f("ck_director_departures_status"),
        "director_departures",
        "status IN ('searching', 'replaced', 'uncovered', 'canceled')",
    )
    op.drop_index("ix_director_departures_open", table_name="director_departures")
    op.create_index(
        "ix_director_departures_open",
        "director_departures",
        ["oversight_ends_on"],
        postgresql_where=sa.text("status IN ('searching', 'uncovered')"),
    )
    op.add_column(
        "intakes",
        sa.Column("standing_backup", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "engagement_directors",
        sa.Column("role", sa.String(length=8), server_default=sa.text("'primary'"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_engagement_directors_role"),
        "engagement_directors",
        "role IN ('primary', 'backup')",
    )
    op.create_table(
        "backup_searches",
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("intake_id", sa.Uuid(), nullable=False),
        sa.Column("matching_round", sa.Integer(), nullable=False),
        sa.Column("states", postgresql.ARRAY(sa.String(length=2)), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("backup_director_id", sa.Uuid(), nullable=True),
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
            "status IN ('searching', 'filled', 'uncovered', 'canceled')",
            name=op.f("ck_backup_searches_status"),
        ),
        sa.ForeignKeyConstraint(
            ["backup_director_id"],
            ["engagement_directors.id"],
            name=op.f("fk_backup_searches_backup_director_id_engagement_directors"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_backup_searches_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"], ["intakes.id"], name=op.f("fk_backup_searches_intake_id_intakes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_searches")),
    )
    op.create_index("ix_backup_searches_engagement_id", "backup_searches", ["engagement_id"])
    op.create_index(
        "uq_backup_searches_open",
        "backup_searches",
        ["engagement_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('searching', 'uncovered')"),
    )


def downgrade() -> None:
    op.drop_table("backup_searches")
    op.drop_constraint(op.f("ck_engagement_directors_role"), "engagement_directors", type_="check")
    op.drop_column("engagement_directors", "role")
    op.drop_column("intakes", "standing_backup")
    op.drop_index("ix_director_departures_open", table_name="director_departures")
    op.create_index(
        "ix_director_departures_open",
        "director_departures",
        ["oversight_ends_on"],
        postgresql_where=sa.text("status <> 'replaced'"),
    )
    op.execute("UPDATE director_departures SET status = 'uncovered' WHERE status = 'canceled'")
    op.drop_constraint(op.f("ck_director_departures_status"), "director_departures", type_="check")
    op.create_check_constraint(
        op.f("ck_director_departures_status"),
        "director_departures",
        "status IN ('searching', 'replaced', 'uncovered')",
    )
