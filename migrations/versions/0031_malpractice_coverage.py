"""malpractice_policies.coverage_basis and tail_coverage: occurrence or claims-made, and a
claims-made policy's tail cover

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-03 15:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "malpractice_policies", sa.Column("coverage_basis", sa.String(length=12), nullable=True)
    )
    op.add_column("malpractice_policies", sa.Column("tail_coverage", sa.Boolean(), nullable=True))
    op.create_check_constraint(
        op.f("ck_malpractice_policies_coverage_basis"),
        "malpractice_policies",
        "coverage_basis IN ('occurrence', 'claims_made')",
    )
    op.create_check_constraint(
        op.f("ck_malpractice_policies_tail_coverage"),
        "malpractice_policies",
        "tail_coverage IS NULL OR coverage_basis = 'claims_made'",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_malpractice_policies_tail_coverage"), "malpractice_policies", type_="check"
    )
    op.drop_constraint(
        op.f("ck_malpractice_policies_coverage_basis"), "malpractice_policies", type_="check"
    )
    op.drop_column("malpractice_policies", "tail_coverage")
    op.drop_column("malpractice_policies", "coverage_basis")
