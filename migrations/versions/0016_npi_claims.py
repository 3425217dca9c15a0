"""NPI claims: many profiles may claim an NPI; one verified identity holds it

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 15:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain unique NPI let the first account to type an NPI block the real doctor, and its
    # 409 told anyone which NPIs are on the platform. Claims are now settled by verification:
    # only identities that verification checked (verified_at set) hold an NPI exclusively.
    op.drop_constraint(op.f("uq_physicians_npi"), "physicians", type_="unique")
    op.create_index("ix_physicians_npi", "physicians", ["npi"])
    op.create_index(
        "uq_physicians_npi_verified",
        "physicians",
        ["npi"],
        unique=True,
        postgresql_where=sa.text("verified_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_physicians_npi_verified", table_name="physicians")
    op.drop_index("ix_physicians_npi", table_name="physicians")
    op.create_unique_constraint(op.f("uq_physicians_npi"), "physicians", ["npi"])
