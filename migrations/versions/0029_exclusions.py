"""exclusion_imports and exclusions: the HHS-OIG LEIE as last imported

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-03 16:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exclusion_imports",
        sa.Column("source", sa.String(length=16), server_default="oig_leie", nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("matches_found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("source IN ('oig_leie')", name=op.f("ck_exclusion_imports_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusion_imports")),
    )
    op.create_index("ix_exclusion_imports_imported_at", "exclusion_imports", ["imported_at"])
    op.create_index("ix_exclusion_imports_sha256", "exclusion_imports", ["sha256"])
    op.create_table(
        "exclusions",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), server_default="oig_leie", nullable=False),
        sa.Column("row_key", sa.String(length=40), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("mid_name", sa.String(length=100), nullable=True),
        sa.Column("bus_name", sa.String(length=300), nullable=True),
        sa.Column("general", sa.String(length=100), nullable=True),
        sa.Column("specialty", sa.String(length=100), nullable=True),
        sa.Column("upin", sa.String(length=20), nullable=True),
        sa.Column("npi", sa.String(length=10), nullable=True),
        sa.Column("dob", sa.Date(), nullable=True),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("zip", sa.String(length=10), nullable=True),
        sa.Column("excl_type", sa.String(length=20), nullable=True),
        sa.Column("excl_date", sa.Date(), nullable=True),
        sa.Column("rein_date", sa.Date(), nullable=True),
        sa.Column("waiver_date", sa.Date(), nullable=True),
        sa.Column("waiver_state", sa.String(length=2), nullable=True),
        sa.Column("last_key", sa.String(length=100), server_default="", nullable=False),
        sa.Column("first_key", sa.String(length=100), server_default="", nullable=False),
        sa.CheckConstraint("source IN ('oig_leie')", name=op.f("ck_exclusions_source")),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["exclusion_imports.id"],
            name=op.f("fk_exclusions_import_id_exclusion_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusions")),
    )
    op.create_index(
        "ix_exclusions_npi", "exclusions", ["npi"], postgresql_where=sa.text("npi IS NOT NULL")
    )
    op.create_index(
        "ix_exclusions_name",
        "exclusions",
        ["last_key", "first_key"],
        postgresql_where=sa.text("npi IS NULL AND last_key <> ''"),
    )
    op.create_index("ix_exclusions_import_id", "exclusions", ["import_id"])


def downgrade() -> None:
    op.drop_table("exclusions")
    op.drop_table("exclusion_imports")
