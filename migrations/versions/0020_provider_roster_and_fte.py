"""clinic_providers (the roster); intakes.staffing (its snapshot); FTE charged per director;
services.rationale (the catalog review)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 08:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FTE_COLUMNS = (("supervisees_fte", "supervisees"), ("pa_fte", "pa_count"), ("np_fte", "np_count"))


def upgrade() -> None:
    op.create_table(
        "clinic_providers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=24), nullable=False),
        sa.Column("first_name", sa.String(length=80), nullable=False),
        sa.Column("last_name", sa.String(length=80), nullable=False),
        sa.Column("license_type", sa.String(length=40), nullable=False),
        sa.Column("license_state", sa.String(length=2), nullable=False),
        sa.Column("license_number", sa.String(length=40), nullable=False),
        sa.Column("fte", sa.Numeric(precision=3, scale=2), nullable=False),
        sa.Column("location_ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "type IN ('rn', 'lpn', 'np', 'pa', 'esthetician', 'laser_technician', "
            "'medical_assistant')",
            name=op.f("ck_clinic_providers_type"),
        ),
        sa.CheckConstraint("fte >= 0.1 AND fte <= 1.0", name=op.f("ck_clinic_providers_fte")),
        sa.CheckConstraint(
            "cardinality(location_ids) >= 1", name=op.f("ck_clinic_providers_locations")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_clinic_providers_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_providers")),
    )
    op.create_index(
        "ix_clinic_providers_clinic_id", "clinic_providers", ["clinic_id", "created_at"]
    )
    op.add_column("services", sa.Column("rationale", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "intakes", sa.Column("staffing", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    for table in ("matches", "engagement_directors"):
        for column, heads in _FTE_COLUMNS:
            op.add_column(table, sa.Column(column, sa.Numeric(precision=6, scale=2), nullable=True))
            # Before rosters every supervisee counted as one full-time person.
            rows = sa.table(table, sa.column(column), sa.column(heads))
            op.execute(rows.update().values({column: rows.c[heads]}))
            op.alter_column(table, column, nullable=False)


def downgrade() -> None:
    for table in ("matches", "engagement_directors"):
        for column, _ in _FTE_COLUMNS:
            op.drop_column(table, column)
    op.drop_column("intakes", "staffing")
    op.drop_column("services", "rationale")
    op.drop_table("clinic_providers")
