"""matching index covers matchable physicians only

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 07:49:39.872100+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


COLUMNS = ["licensed_states", "services", "engagement_models", "oversight_modes"]


def upgrade() -> None:
    # Only physicians who can be matched at all are indexed: a smaller index, fewer heap pages.
    op.drop_index("ix_physicians_matching", table_name="physicians", postgresql_using="gin")
    op.create_index(
        "ix_physicians_matching",
        "physicians",
        COLUMNS,
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
        postgresql_where=sa.text("verification_status = 'verified' AND accepting_new IS TRUE"),
    )


def downgrade() -> None:
    op.drop_index("ix_physicians_matching", table_name="physicians", postgresql_using="gin")
    op.create_index(
        "ix_physicians_matching",
        "physicians",
        COLUMNS,
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )
