"""catalog, state rules, physicians and credentials

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 06:18:57.904670+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("injectable", sa.Boolean(), nullable=False),
        sa.Column("energy_device", sa.Boolean(), nullable=False),
        sa.Column("prescription", sa.Boolean(), nullable=False),
        sa.Column("controlled_substance", sa.Boolean(), nullable=False),
        sa.Column("risk_tier", sa.Integer(), nullable=False),
        sa.Column("delegated_procedure", sa.Boolean(), nullable=False),
        sa.Column("commonly_onsite", sa.Boolean(), nullable=False),
        sa.Column("fit_specialties", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("catalog_version", sa.String(length=20), nullable=False),
        sa.CheckConstraint("risk_tier BETWEEN 1 AND 3", name=op.f("ck_services_risk_tier")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_services")),
    )
    op.create_table(
        "state_rules",
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("np_practice_authority", sa.String(length=16), nullable=False),
        sa.Column("cpom", sa.String(length=16), nullable=False),
        sa.Column("pa_supervision_ratio", sa.Integer(), nullable=True),
        sa.Column("np_collaboration_ratio", sa.Integer(), nullable=True),
        sa.Column("remote_supervision_allowed", sa.Boolean(), nullable=True),
        sa.Column("gfe_required_by", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("rn_may_inject_neurotoxins_under_delegation", sa.Boolean(), nullable=True),
        sa.Column("esthetician_may_use_lasers", sa.Boolean(), nullable=True),
        sa.Column("chart_review_min_percent", sa.Float(), nullable=True),
        sa.Column("notable_rules", sa.Text(), nullable=False),
        sa.Column("sources", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("confidence", sa.String(length=8), nullable=False),
        sa.Column("caveats", sa.Text(), nullable=False),
        sa.Column("oversight_tier", sa.Integer(), nullable=False),
        sa.Column(
            "onsite_required_services", postgresql.ARRAY(sa.String(length=40)), nullable=False
        ),
        sa.Column("onsite_services_pinned", sa.Boolean(), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("data_version", sa.String(length=20), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "confidence IN ('high', 'medium', 'low')", name=op.f("ck_state_rules_confidence")
        ),
        sa.CheckConstraint(
            "cpom IN ('strict', 'moderate', 'permissive')", name=op.f("ck_state_rules_cpom")
        ),
        sa.CheckConstraint(
            "np_practice_authority IN ('full', 'reduced', 'restricted')",
            name=op.f("ck_state_rules_np_practice_authority"),
        ),
        sa.CheckConstraint(
            "np_collaboration_ratio IS NULL OR np_collaboration_ratio >= 1",
            name=op.f("ck_state_rules_np"),
        ),
        sa.CheckConstraint(
            "oversight_tier BETWEEN 1 AND 3", name=op.f("ck_state_rules_oversight_tier")
        ),
        sa.CheckConstraint(
            "pa_supervision_ratio IS NULL OR pa_supervision_ratio >= 1",
            name=op.f("ck_state_rules_pa"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_state_rules")),
    )
    op.create_table(
        "physicians",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("npi", sa.String(length=10), nullable=False),
        sa.Column("first_name", sa.String(length=80), nullable=False),
        sa.Column("last_name", sa.String(length=80), nullable=False),
        sa.Column("degree", sa.String(length=2), nullable=False),
        sa.Column("specialties", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("years_experience", sa.Integer(), nullable=False),
        sa.Column("aesthetic_years", sa.Integer(), nullable=False),
        sa.Column("services", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("engagement_models", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("oversight_modes", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("home_zip", sa.String(length=5), nullable=False),
        sa.Column("home_lat", sa.Double(), nullable=False),
        sa.Column("home_lon", sa.Double(), nullable=False),
        sa.Column("travel_radius_miles", sa.Integer(), nullable=False),
        sa.Column("max_clinics", sa.Integer(), nullable=False),
        sa.Column("max_supervisees", sa.Integer(), nullable=False),
        sa.Column("min_monthly_rate_cents", sa.Integer(), nullable=False),
        sa.Column("accepting_new", sa.Boolean(), nullable=False),
        sa.Column("verification_status", sa.String(length=16), nullable=False),
        sa.Column(
            "verification_reasons",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registry_taxonomy", sa.String(length=200), nullable=True),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("suspension_reason", sa.Text(), nullable=True),
        sa.Column("status_before_suspension", sa.String(length=16), nullable=True),
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
        sa.CheckConstraint("degree IN ('MD', 'DO')", name=op.f("ck_physicians_degree")),
        sa.CheckConstraint(
            "verification_status IN ('pending', 'verified', 'rejected', 'suspended')",
            name=op.f("ck_physicians_status"),
        ),
        sa.CheckConstraint(
            "aesthetic_years BETWEEN 0 AND years_experience",
            name=op.f("ck_physicians_aesthetic_years"),
        ),
        sa.CheckConstraint("max_clinics >= 1", name=op.f("ck_physicians_max_clinics")),
        sa.CheckConstraint("max_supervisees >= 1", name=op.f("ck_physicians_max_supervisees")),
        sa.CheckConstraint("min_monthly_rate_cents >= 0", name=op.f("ck_physicians_min_rate")),
        sa.CheckConstraint(
            "travel_radius_miles BETWEEN 0 AND 500", name=op.f("ck_physicians_radius")
        ),
        sa.CheckConstraint("years_experience BETWEEN 0 AND 70", name=op.f("ck_physicians_years")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_physicians_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_physicians")),
        sa.UniqueConstraint("npi", name=op.f("uq_physicians_npi")),
        sa.UniqueConstraint("user_id", name=op.f("uq_physicians_user_id")),
    )
    op.create_index(
        "ix_physicians_status_accepting",
        "physicians",
        ["verification_status", "accepting_new"],
        unique=False,
    )
    op.create_table(
        "dea_registrations",
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expiry_warned_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'rejected', 'expired')",
            name=op.f("ck_dea_registrations_status"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_dea_registrations_physician_id_physicians"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["state"], ["state_rules.code"], name=op.f("fk_dea_registrations_state_state_rules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dea_registrations")),
        sa.UniqueConstraint(
            "physician_id", "state", "number", name="uq_dea_physician_state_number"
        ),
    )
    op.create_index(
        op.f("ix_dea_registrations_physician_id"),
        "dea_registrations",
        ["physician_id"],
        unique=False,
    )
    op.create_table(
        "licenses",
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expiry_warned_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'rejected', 'expired')",
            name=op.f("ck_licenses_status"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_licenses_physician_id_physicians"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["state"], ["state_rules.code"], name=op.f("fk_licenses_state_state_rules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses")),
        sa.UniqueConstraint(
            "physician_id", "state", "number", name="uq_licenses_physician_state_number"
        ),
    )
    op.create_index(op.f("ix_licenses_physician_id"), "licenses", ["physician_id"], unique=False)
    op.create_index(
        "ix_licenses_state_status_expires_on",
        "licenses",
        ["state", "status", "expires_on"],
        unique=False,
    )
    op.create_table(
        "malpractice_policies",
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("carrier", sa.String(length=120), nullable=False),
        sa.Column("policy_number", sa.String(length=60), nullable=False),
        sa.Column("per_claim_cents", sa.Integer(), nullable=False),
        sa.Column("aggregate_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="usd", nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expiry_warned_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'rejected', 'expired')",
            name=op.f("ck_malpractice_policies_status"),
        ),
        sa.CheckConstraint(
            "aggregate_cents >= per_claim_cents", name=op.f("ck_malpractice_policies_aggregate")
        ),
        sa.CheckConstraint("per_claim_cents > 0", name=op.f("ck_malpractice_policies_per_claim")),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_malpractice_policies_physician_id_physicians"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_malpractice_policies")),
        sa.UniqueConstraint(
            "physician_id", "carrier", "policy_number", name="uq_malpractice_physician_policy"
        ),
    )
    op.create_index(
        op.f("ix_malpractice_policies_physician_id"),
        "malpractice_policies",
        ["physician_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_malpractice_policies_physician_id"), table_name="malpractice_policies")
    op.drop_table("malpractice_policies")
    op.drop_index("ix_licenses_state_status_expires_on", table_name="licenses")
    op.drop_index(op.f("ix_licenses_physician_id"), table_name="licenses")
    op.drop_table("licenses")
    op.drop_index(op.f("ix_dea_registrations_physician_id"), table_name="dea_registrations")
    op.drop_table("dea_registrations")
    op.drop_index("ix_physicians_status_accepting", table_name="physicians")
    op.drop_table("physicians")
    op.drop_table("state_rules")
    op.drop_table("services")
