"""clinics, intakes, price books and quotes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:29:33.566146+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clinics",
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("ownership_model", sa.String(length=32), nullable=False),
        sa.Column("contact_name", sa.String(length=120), nullable=False),
        sa.Column("contact_email", sa.String(length=320), nullable=False),
        sa.Column("contact_phone", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "ownership_model IN ('physician_owned', 'mso', 'non_physician_owned')",
            name=op.f("ck_clinics_ownership"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_clinics_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinics")),
    )
    op.create_table(
        "price_books",
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["published_by"],
            ["users.id"],
            name=op.f("fk_price_books_published_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_price_books")),
    )
    op.create_index(
        op.f("ix_price_books_published_at"), "price_books", ["published_at"], unique=False
    )
    op.create_table(
        "clinic_members",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'admin')", name=op.f("ck_clinic_members_role")),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_clinic_members_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_clinic_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("clinic_id", "user_id", name=op.f("pk_clinic_members")),
    )
    op.create_index(op.f("ix_clinic_members_user_id"), "clinic_members", ["user_id"], unique=False)
    op.create_table(
        "intakes",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("providers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("physician_performs_services", sa.Boolean(), nullable=False),
        sa.Column("engagement_model", sa.String(length=16), nullable=False),
        sa.Column("oversight_mode", sa.String(length=16), nullable=False),
        sa.Column("billing_interval", sa.String(length=8), nullable=False),
        sa.Column("monthly_patient_volume", sa.Integer(), nullable=False),
        sa.Column("desired_start", sa.Date(), nullable=False),
        sa.Column("rush", sa.Boolean(), nullable=False),
        sa.Column("promo_code", sa.String(length=40), nullable=True),
        sa.Column("compliance_flags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "billing_interval IN ('month', 'year')", name=op.f("ck_intakes_billing_interval")
        ),
        sa.CheckConstraint(
            "engagement_model IN ('full_time', 'fractional', 'retainer', 'per_case')",
            name=op.f("ck_intakes_engagement_model"),
        ),
        sa.CheckConstraint(
            "oversight_mode IN ('remote', 'onsite', 'hybrid')",
            name=op.f("ck_intakes_oversight_mode"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'matching', 'matched', 'confirmed', 'unmatched', 'withdrawn')",
            name=op.f("ck_intakes_status"),
        ),
        sa.CheckConstraint("monthly_patient_volume >= 0", name=op.f("ck_intakes_volume")),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_intakes_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_intakes_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intakes")),
    )
    op.create_index(
        "ix_intakes_clinic_id_created_at", "intakes", ["clinic_id", "created_at"], unique=False
    )
    op.create_index("ix_intakes_status", "intakes", ["status"], unique=False)
    op.create_table(
        "locations",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("zip", sa.String(length=5), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lon", sa.Double(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_locations_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["state"], ["state_rules.code"], name=op.f("fk_locations_state_state_rules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_locations")),
    )
    op.create_index(op.f("ix_locations_clinic_id"), "locations", ["clinic_id"], unique=False)
    op.create_table(
        "quotes",
        sa.Column("intake_id", sa.Uuid(), nullable=False),
        sa.Column("pricing_version", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("billing_interval", sa.String(length=8), nullable=False),
        sa.Column("line_items", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("monthly_total_cents", sa.Integer(), nullable=False),
        sa.Column("first_invoice_cents", sa.Integer(), nullable=False),
        sa.Column("physician_payout_cents", sa.Integer(), nullable=False),
        sa.Column("platform_fee_cents", sa.Integer(), nullable=False),
        sa.Column("oversight_tier", sa.Integer(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("compliance_flags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("inputs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state_rules_used", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("services_used", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["intake_id"],
            ["intakes.id"],
            name=op.f("fk_quotes_intake_id_intakes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pricing_version"],
            ["price_books.version"],
            name=op.f("fk_quotes_pricing_version_price_books"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
    )
    op.create_index(
        "ix_quotes_intake_id_created_at", "quotes", ["intake_id", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_quotes_intake_id_created_at", table_name="quotes")
    op.drop_table("quotes")
    op.drop_index(op.f("ix_locations_clinic_id"), table_name="locations")
    op.drop_table("locations")
    op.drop_index("ix_intakes_status", table_name="intakes")
    op.drop_index("ix_intakes_clinic_id_created_at", table_name="intakes")
    op.drop_table("intakes")
    op.drop_index(op.f("ix_clinic_members_user_id"), table_name="clinic_members")
    op.drop_table("clinic_members")
    op.drop_index(op.f("ix_price_books_published_at"), table_name="price_books")
    op.drop_table("price_books")
    op.drop_table("clinics")
