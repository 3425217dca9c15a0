"""case_reports, and payout_ledger.kind: per-case engagements bill the cases reported

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 12:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "payout_ledger",
        sa.Column("kind", sa.String(length=16), server_default="oversight", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_payout_ledger_kind"), "payout_ledger", "kind IN ('oversight', 'cases')"
    )
    op.drop_constraint(
        op.f("uq_payout_ledger_engagement_director_id"), "payout_ledger", type_="unique"
    )
    op.create_unique_constraint(
        op.f("uq_payout_ledger_engagement_director_id"),
        "payout_ledger",
        ["engagement_director_id", "month", "kind"],
    )
    op.create_table(
        "case_reports",
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reported_by", sa.Uuid(), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stripe_invoice_item_id", sa.String(length=64), nullable=True),
        sa.Column("stripe_invoice_id", sa.String(length=64), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("cases >= 0 AND cases <= 10000", name=op.f("ck_case_reports_cases")),
        sa.CheckConstraint("EXTRACT(DAY FROM month) = 1", name=op.f("ck_case_reports_month_start")),
        sa.CheckConstraint("amount_cents = cases * fee_cents", name=op.f("ck_case_reports_amount")),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_case_reports_engagement_id_engagements"),
        ),
        sa.ForeignKeyConstraint(
            ["reported_by"],
            ["users.id"],
            name=op.f("fk_case_reports_reported_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_reports")),
        sa.UniqueConstraint("engagement_id", "month", name=op.f("uq_case_reports_engagement_id")),
    )


def downgrade() -> None:
    op.drop_table("case_reports")
    op.execute("DELETE FROM payout_ledger WHERE kind = 'cases'")
    op.drop_constraint(
        op.f("uq_payout_ledger_engagement_director_id"), "payout_ledger", type_="unique"
    )
    op.create_unique_constraint(
        op.f("uq_payout_ledger_engagement_director_id"),
        "payout_ledger",
        ["engagement_director_id", "month"],
    )
    op.drop_constraint(op.f("ck_payout_ledger_kind"), "payout_ledger", type_="check")
    op.drop_column("payout_ledger", "kind")
