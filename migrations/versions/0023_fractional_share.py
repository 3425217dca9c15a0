"""intakes.fractional_share: a fractional engagement's share of the physician's capacity

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 08:50:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "intakes",
        sa.Column("fractional_share", sa.Numeric(precision=3, scale=2), nullable=True),
    )
    op.create_check_constraint(
        op.f("ck_intakes_fractional_share"),
        "intakes",
        "fractional_share IS NULL OR (fractional_share >= 0.1 AND fractional_share <= 0.9 "
        "AND engagement_model = 'fractional')",
    )


def downgrade() -> None:
    op.drop_column("intakes", "fractional_share")
