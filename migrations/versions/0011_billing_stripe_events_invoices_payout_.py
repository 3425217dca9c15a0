"""billing: stripe events, invoices, payout ledger, operations

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 08:08:32.627662+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("stripe_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
    )
    op.create_index(
        "ix_stripe_events_unprocessed",
        "stripe_events",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "billing_operations",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_id", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_billing_operations_engagement_id_engagements"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_billing_operations")),
    )
    op.create_index(
        op.f("ix_billing_operations_engagement_id"),
        "billing_operations",
        ["engagement_id"],
        unique=False,
    )
    op.create_table(
        "invoices",
        sa.Column("stripe_invoice_id", sa.String(length=64), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("engagement_id", sa.Uuid(), nullable=True),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("amount_due_cents", sa.Integer(), nullable=False),
        sa.Column("amount_paid_cents", sa.Integer(), nullable=False),
        sa.Column("billing_reason", sa.String(length=40), nullable=True),
        sa.Column("hosted_invoice_url", sa.Text(), nullable=True),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lines", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_invoices_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_invoices_engagement_id_engagements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("stripe_invoice_id", name=op.f("uq_invoices_stripe_invoice_id")),
    )
    op.create_index(
        "ix_invoices_clinic_id_created_at", "invoices", ["clinic_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_invoices_engagement_id"), "invoices", ["engagement_id"], unique=False)
    op.create_table(
        "payout_ledger",
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("engagement_director_id", sa.Uuid(), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stripe_transfer_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('accrued', 'transferred')", name=op.f("ck_payout_ledger_status")
        ),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_payout_ledger_amount")),
        sa.ForeignKeyConstraint(
            ["engagement_director_id"],
            ["engagement_directors.id"],
            name=op.f("fk_payout_ledger_engagement_director_id_engagement_directors"),
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_payout_ledger_engagement_id_engagements"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_payout_ledger_physician_id_physicians"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payout_ledger")),
        sa.UniqueConstraint(
            "engagement_director_id", "month", name=op.f("uq_payout_ledger_engagement_director_id")
        ),
    )
    op.create_index(
        "ix_payout_ledger_physician_id_month",
        "payout_ledger",
        ["physician_id", "month"],
        unique=False,
    )
    op.add_column(
        "physicians",
        sa.Column("stripe_connect_account_id", sa.String(length=64), nullable=True),
    )
    op.add_column("clinics", sa.Column("stripe_customer_id", sa.String(length=64), nullable=True))
    op.create_unique_constraint(
        op.f("uq_clinics_stripe_customer_id"), "clinics", ["stripe_customer_id"]
    )
    op.add_column(
        "engagements", sa.Column("stripe_setup_intent_id", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "engagements", sa.Column("stripe_payment_method_id", sa.String(length=64), nullable=True)
    )
    op.add_column("engagements", sa.Column("stripe_plan_id", sa.String(length=80), nullable=True))
    op.add_column(
        "engagements", sa.Column("stripe_subscription_item_id", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "engagements", sa.Column("stripe_latest_invoice_id", sa.String(length=64), nullable=True)
    )
    op.add_column("engagements", sa.Column("stripe_status", sa.String(length=24), nullable=True))
    op.add_column(
        "engagements",
        sa.Column(
            "cancel_at_period_end", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.add_column(
        "engagements",
        sa.Column("payment_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "engagements", sa.Column("billing_synced_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "engagements", sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("engagements", "activated_at")
    op.drop_column("engagements", "billing_synced_at")
    op.drop_column("engagements", "payment_attempts")
    op.drop_column("engagements", "cancel_at_period_end")
    op.drop_column("engagements", "stripe_status")
    op.drop_column("engagements", "stripe_latest_invoice_id")
    op.drop_column("engagements", "stripe_subscription_item_id")
    op.drop_column("engagements", "stripe_plan_id")
    op.drop_column("engagements", "stripe_payment_method_id")
    op.drop_column("engagements", "stripe_setup_intent_id")
    op.drop_column("physicians", "stripe_connect_account_id")
    op.drop_constraint(op.f("uq_clinics_stripe_customer_id"), "clinics", type_="unique")
    op.drop_column("clinics", "stripe_customer_id")
    op.drop_index("ix_payout_ledger_physician_id_month", table_name="payout_ledger")
    op.drop_table("payout_ledger")
    op.drop_index(op.f("ix_invoices_engagement_id"), table_name="invoices")
    op.drop_index("ix_invoices_clinic_id_created_at", table_name="invoices")
    op.drop_table("invoices")
    op.drop_index(op.f("ix_billing_operations_engagement_id"), table_name="billing_operations")
    op.drop_table("billing_operations")
    op.drop_index(
        "ix_stripe_events_unprocessed",
        table_name="stripe_events",
        postgresql_where=sa.text("processed_at IS NULL"),
    )
    op.drop_table("stripe_events")
