"""state_rules: every rule as a cited fact; operations' edits tracked per field

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 19:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty until the loader runs (at start-up or `mdmatch seed`): it fills `rules` from the data
    # file and, for a row operations edited before (data_version NULL), keeps each flat value
    # they set as an operations fact.
    op.add_column(
        "state_rules",
        sa.Column("rules", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'")),
    )
    for column in ("operations_fields", "defaults_applied"):
        op.add_column(
            "state_rules",
            sa.Column(
                column,
                postgresql.ARRAY(sa.String(40)),
                nullable=False,
                server_default=sa.text("'{}'"),
            ),
        )


def downgrade() -> None:
    for column in ("defaults_applied", "operations_fields", "rules"):
        op.drop_column("state_rules", column)
