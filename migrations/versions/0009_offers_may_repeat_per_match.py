"""offers may repeat per match

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 07:31:06.793133+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("uq_offers_match_id"), "offers", type_="unique")
    op.create_index("ix_offers_match_id", "offers", ["match_id"], unique=False)
    op.create_index(
        "uq_offers_live_per_match",
        "offers",
        ["match_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'accepted')"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_offers_live_per_match",
        table_name="offers",
        postgresql_where=sa.text("status IN ('pending', 'accepted')"),
    )
    op.drop_index("ix_offers_match_id", table_name="offers")
    op.create_unique_constraint(
        op.f("uq_offers_match_id"), "offers", ["match_id"], postgresql_nulls_not_distinct=False
    )
