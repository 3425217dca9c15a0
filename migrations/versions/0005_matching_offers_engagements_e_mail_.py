"""matching, offers, engagements, e-mail outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 06:41:26.707882+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "matches",
        sa.Column("intake_id", sa.Uuid(), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("group_key", sa.String(length=160), nullable=False),
        sa.Column("covers_states", postgresql.ARRAY(sa.String(length=2)), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("explanation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("monthly_payout_cents", sa.Integer(), nullable=False),
        sa.Column("supervisees", sa.Integer(), nullable=False),
        sa.Column("pa_count", sa.Integer(), nullable=False),
        sa.Column("np_count", sa.Integer(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirm_by", sa.DateTime(timezone=True), nullable=True),
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
            "status IN ('candidate', 'offered', 'accepted', 'declined', 'expired', 'withdrawn', 'confirmed')",
            name=op.f("ck_matches_status"),
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"],
            ["intakes.id"],
            name=op.f("fk_matches_intake_id_intakes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"], ["physicians.id"], name=op.f("fk_matches_physician_id_physicians")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_matches")),
    )
    op.create_index(
        "ix_matches_accepted_physician",
        "matches",
        ["physician_id"],
        unique=False,
        postgresql_where=sa.text("status = 'accepted'"),
    )
    op.create_index(
        "uq_matches_intake_physician", "matches", ["intake_id", "physician_id"], unique=True
    )
    op.create_index(
        "uq_matches_one_accepted_per_group",
        "matches",
        ["intake_id", "group_key"],
        unique=True,
        postgresql_where=sa.text("status IN ('accepted', 'confirmed')"),
    )
    op.create_table(
        "engagements",
        sa.Column("intake_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("quote_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payment_status", sa.String(length=20), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payment_due_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=64), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=64), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
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
            "status IN ('pending_payment', 'active', 'past_due', 'ending', 'canceled')",
            name=op.f("ck_engagements_status"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_engagements_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"], ["intakes.id"], name=op.f("fk_engagements_intake_id_intakes")
        ),
        sa.ForeignKeyConstraint(
            ["quote_id"], ["quotes.id"], name=op.f("fk_engagements_quote_id_quotes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagements")),
        sa.UniqueConstraint(
            "stripe_subscription_id", name=op.f("uq_engagements_stripe_subscription_id")
        ),
    )
    op.create_index("ix_engagements_clinic_id", "engagements", ["clinic_id"], unique=False)
    op.create_index(
        "uq_engagements_live_intake",
        "engagements",
        ["intake_id"],
        unique=True,
        postgresql_where=sa.text("status <> 'canceled'"),
    )
    op.create_table(
        "offers",
        sa.Column("match_id", sa.Uuid(), nullable=False),
        sa.Column("intake_id", sa.Uuid(), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("group_key", sa.String(length=160), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("monthly_payout_cents", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'expired', 'withdrawn')",
            name=op.f("ck_offers_status"),
        ),
        sa.ForeignKeyConstraint(
            ["intake_id"],
            ["intakes.id"],
            name=op.f("fk_offers_intake_id_intakes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["matches.id"],
            name=op.f("fk_offers_match_id_matches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"], ["physicians.id"], name=op.f("fk_offers_physician_id_physicians")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("match_id", name=op.f("uq_offers_match_id")),
    )
    op.create_index("ix_offers_intake_id", "offers", ["intake_id"], unique=False)
    op.create_index(
        "ix_offers_pending_respond_by",
        "offers",
        ["respond_by"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_offers_physician_created_at", "offers", ["physician_id", "created_at"], unique=False
    )
    op.create_index(
        "uq_offers_open_physician_intake",
        "offers",
        ["physician_id", "intake_id"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "engagement_directors",
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("match_id", sa.Uuid(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("states", postgresql.ARRAY(sa.String(length=2)), nullable=False),
        sa.Column("monthly_payout_cents", sa.Integer(), nullable=False),
        sa.Column("supervisees", sa.Integer(), nullable=False),
        sa.Column("pa_count", sa.Integer(), nullable=False),
        sa.Column("np_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "monthly_payout_cents >= 0", name=op.f("ck_engagement_directors_payout")
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_engagement_directors_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["match_id"], ["matches.id"], name=op.f("fk_engagement_directors_match_id_matches")
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_engagement_directors_physician_id_physicians"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_engagement_directors")),
    )
    op.create_index(
        op.f("ix_engagement_directors_engagement_id"),
        "engagement_directors",
        ["engagement_id"],
        unique=False,
    )
    op.create_index(
        "ix_engagement_directors_physician_id",
        "engagement_directors",
        ["physician_id"],
        unique=False,
    )
    op.add_column(
        "intakes",
        sa.Column("matching_outcome", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("intakes", sa.Column("first_offer_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("intakes", sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "notifications",
        sa.Column("email_status", sa.String(length=8), server_default="none", nullable=False),
    )
    op.add_column(
        "notifications", sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "ix_notifications_email_pending",
        "notifications",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("email_status = 'pending'"),
    )
    op.add_column(
        "physicians", sa.Column("offers_received", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "physicians", sa.Column("offers_accepted", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "physicians", sa.Column("offers_declined", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column(
        "physicians", sa.Column("offers_expired", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_index(
        "ix_physicians_services", "physicians", ["services"], unique=False, postgresql_using="gin"
    )


def downgrade() -> None:
    op.drop_index("ix_physicians_services", table_name="physicians", postgresql_using="gin")
    op.drop_column("physicians", "offers_expired")
    op.drop_column("physicians", "offers_declined")
    op.drop_column("physicians", "offers_accepted")
    op.drop_column("physicians", "offers_received")
    op.drop_index(
        "ix_notifications_email_pending",
        table_name="notifications",
        postgresql_where=sa.text("email_status = 'pending'"),
    )
    op.drop_column("notifications", "emailed_at")
    op.drop_column("notifications", "email_status")
    op.drop_column("intakes", "matched_at")
    op.drop_column("intakes", "first_offer_at")
    op.drop_column("intakes", "matching_outcome")
    op.drop_index("ix_engagement_directors_physician_id", table_name="engagement_directors")
    op.drop_index(op.f("ix_engagement_directors_engagement_id"), table_name="engagement_directors")
    op.drop_table("engagement_directors")
    op.drop_index(
        "uq_offers_open_physician_intake",
        table_name="offers",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_offers_physician_created_at", table_name="offers")
    op.drop_index(
        "ix_offers_pending_respond_by",
        table_name="offers",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index("ix_offers_intake_id", table_name="offers")
    op.drop_table("offers")
    op.drop_index(
        "uq_engagements_live_intake",
        table_name="engagements",
        postgresql_where=sa.text("status <> 'canceled'"),
    )
    op.drop_index("ix_engagements_clinic_id", table_name="engagements")
    op.drop_table("engagements")
    op.drop_index(
        "uq_matches_one_accepted_per_group",
        table_name="matches",
        postgresql_where=sa.text("status IN ('accepted', 'confirmed')"),
    )
    op.drop_index("uq_matches_intake_physician", table_name="matches")
    op.drop_index(
        "ix_matches_accepted_physician",
        table_name="matches",
        postgresql_where=sa.text("status = 'accepted'"),
    )
    op.drop_table("matches")
