"""matching rounds

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 07:23:41.327308+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "intakes", sa.Column("matching_round", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("matches", sa.Column("round", sa.Integer(), server_default="1", nullable=False))
    op.drop_index(op.f("uq_matches_intake_physician"), table_name="matches")
    op.drop_index(
        op.f("uq_matches_one_accepted_per_group"),
        table_name="matches",
        postgresql_where="((status)::text = ANY ((ARRAY['accepted'::character varying, 'confirmed'::character varying])::text[]))",
    )
    op.create_index(
        "uq_matches_one_accepted_per_group",
        "matches",
        ["intake_id", "round", "group_key"],
        unique=True,
        postgresql_where=sa.text("status IN ('accepted', 'confirmed')"),
    )
    op.create_index(
        "uq_matches_intake_round_physician",
        "matches",
        ["intake_id", "round", "physician_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_matches_intake_round_physician", table_name="matches")
    op.drop_index(
        "uq_matches_one_accepted_per_group",
        table_name="matches",
        postgresql_where=sa.text("status IN ('accepted', 'confirmed')"),
    )
    op.create_index(
        op.f("uq_matches_one_accepted_per_group"),
        "matches",
        ["intake_id", "group_key"],
        unique=True,
        postgresql_where="((status)::text = ANY ((ARRAY['accepted'::character varying, 'confirmed'::character varying])::text[]))",
    )
    op.create_index(
        op.f("uq_matches_intake_physician"), "matches", ["intake_id", "physician_id"], unique=True
    )
    op.drop_column("matches", "round")
    op.drop_column("intakes", "matching_round")
