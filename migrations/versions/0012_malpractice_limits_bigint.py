"""malpractice policy limits as bigint (a $25M aggregate is more cents than int4 holds)

Found by schemathesis: the API accepts limits up to $1B (aggregate) and the int4 columns
overflowed with a 500.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 11:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column in ("per_claim_cents", "aggregate_cents"):
        op.alter_column(
            "malpractice_policies", column, type_=sa.BigInteger(), existing_nullable=False
        )


def downgrade() -> None:
    for column in ("per_claim_cents", "aggregate_cents"):
        op.alter_column("malpractice_policies", column, type_=sa.Integer(), existing_nullable=False)
