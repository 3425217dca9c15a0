"""invoices: the months a paid invoice pays the subscription for

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 15:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Null for invoices mirrored before: their months are known from the payout ledger only.
    op.add_column("invoices", sa.Column("covered_months", postgresql.ARRAY(sa.Date())))


def downgrade() -> None:
    op.drop_column("invoices", "covered_months")
