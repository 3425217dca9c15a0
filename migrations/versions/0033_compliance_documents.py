"""Compliance documents: generated documents with their signers and audit trail, the filings
they oblige, and counsel's reviews of the templates (app/documents/models.py)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-03 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document_template_reviews",
        sa.Column("template_key", sa.String(length=60), nullable=False),
        sa.Column("template_version", sa.String(length=20), nullable=False),
        sa.Column("reviewed_on", sa.Date(), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_document_template_reviews_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_template_reviews")),
    )
    op.create_index(
        "uq_document_template_reviews",
        "document_template_reviews",
        ["template_key", "template_version"],
        unique=True,
    )
    op.create_table(
        "compliance_documents",
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("slot", sa.String(length=200), nullable=False),
        sa.Column("template_key", sa.String(length=60), nullable=False),
        sa.Column("template_version", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("physician_id", sa.Uuid(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("merge_data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("counsel_reviewed_on", sa.Date(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sealed_sha256", sa.String(length=64), nullable=True),
        sa.Column("sealed_object_key", sa.String(length=200), nullable=True),
        sa.Column("sealed_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("seal_certificate_pem", sa.Text(), nullable=True),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sign_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_by_id", sa.Uuid(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("termination_of_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(status = 'executed') <= (sealed_object_key IS NOT NULL)",
            name=op.f("ck_compliance_documents_executed_is_sealed"),
        ),
        sa.CheckConstraint(
            "reason IN ('confirmed', 'roster_changed', 'scope_changed', 'directors_changed', 'termination', 'regenerated')",
            name=op.f("ck_compliance_documents_reason"),
        ),
        sa.CheckConstraint(
            "status IN ('awaiting_signatures', 'executed', 'superseded', 'ended')",
            name=op.f("ck_compliance_documents_status"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_compliance_documents_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_compliance_documents_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_compliance_documents_physician_id_physicians"),
        ),
        sa.ForeignKeyConstraint(
            ["superseded_by_id"],
            ["compliance_documents.id"],
            name=op.f("fk_compliance_documents_superseded_by_id_compliance_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["termination_of_id"],
            ["compliance_documents.id"],
            name=op.f("fk_compliance_documents_termination_of_id_compliance_documents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_documents")),
        sa.UniqueConstraint("object_key", name=op.f("uq_compliance_documents_object_key")),
        sa.UniqueConstraint(
            "sealed_object_key", name=op.f("uq_compliance_documents_sealed_object_key")
        ),
    )
    op.create_index(
        "ix_compliance_documents_clinic_id", "compliance_documents", ["clinic_id"], unique=False
    )
    op.create_index(
        "ix_compliance_documents_engagement_id",
        "compliance_documents",
        ["engagement_id", "generated_at"],
        unique=False,
    )
    op.create_index(
        "ix_compliance_documents_physician_id",
        "compliance_documents",
        ["physician_id"],
        unique=False,
    )
    op.create_index(
        "uq_compliance_documents_current_slot",
        "compliance_documents",
        ["engagement_id", "slot"],
        unique=True,
        postgresql_where=sa.text("status IN ('awaiting_signatures', 'executed')"),
    )
    op.create_table(
        "document_events",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=400), nullable=False),
        sa.Column("actor_user_id", sa.Uuid(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"],
            ["users.id"],
            name=op.f("fk_document_events_actor_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["compliance_documents.id"],
            name=op.f("fk_document_events_document_id_compliance_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_events")),
        sa.UniqueConstraint("seq", name=op.f("uq_document_events_seq")),
    )
    op.create_index(
        "ix_document_events_document_id", "document_events", ["document_id", "at"], unique=False
    )
    op.create_table(
        "document_filings",
        sa.Column("engagement_id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("filed_with", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("triggered_on", sa.Date(), nullable=False),
        sa.Column("within_days", sa.Integer(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("responsible", sa.String(length=16), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("source", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("dedupe_key", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.Uuid(), nullable=True),
        sa.Column("filed_on", sa.Date(), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column(
            "reminders_sent",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(status = 'done') = (completed_at IS NOT NULL)",
            name=op.f("ck_document_filings_done_when"),
        ),
        sa.CheckConstraint(
            "responsible IN ('director', 'clinic')", name=op.f("ck_document_filings_responsible")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'canceled')", name=op.f("ck_document_filings_status")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_document_filings_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["completed_by"],
            ["users.id"],
            name=op.f("fk_document_filings_completed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["compliance_documents.id"],
            name=op.f("fk_document_filings_document_id_compliance_documents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["engagement_id"],
            ["engagements.id"],
            name=op.f("fk_document_filings_engagement_id_engagements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_document_filings_physician_id_physicians"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_filings")),
    )
    op.create_index(
        "ix_document_filings_clinic_id", "document_filings", ["clinic_id"], unique=False
    )
    op.create_index(
        "ix_document_filings_due", "document_filings", ["status", "due_on"], unique=False
    )
    op.create_index(
        "ix_document_filings_engagement_id", "document_filings", ["engagement_id"], unique=False
    )
    op.create_index(
        "ix_document_filings_physician_id", "document_filings", ["physician_id"], unique=False
    )
    op.create_index("uq_document_filings_key", "document_filings", ["dedupe_key"], unique=True)
    op.create_table(
        "document_signers",
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=True),
        sa.Column("provider_id", sa.Uuid(), nullable=True),
        sa.Column("invited_email", sa.String(length=320), nullable=True),
        sa.Column("invite_token_hash", sa.String(length=64), nullable=True),
        sa.Column("invite_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("signed_by_user_id", sa.Uuid(), nullable=True),
        sa.Column("signer_name", sa.String(length=200), nullable=True),
        sa.Column("signer_email", sa.String(length=320), nullable=True),
        sa.Column("auth_method", sa.String(length=120), nullable=True),
        sa.Column("consent_text", sa.Text(), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("intent_text", sa.Text(), nullable=True),
        sa.Column("document_sha256", sa.String(length=64), nullable=True),
        sa.Column("ip_address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "role IN ('clinic', 'director', 'provider')", name=op.f("ck_document_signers_role")
        ),
        sa.CheckConstraint(
            "(signed_at IS NULL) = (document_sha256 IS NULL)",
            name=op.f("ck_document_signers_signed_with_hash"),
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["compliance_documents.id"],
            name=op.f("fk_document_signers_document_id_compliance_documents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_document_signers_physician_id_physicians"),
        ),
        sa.ForeignKeyConstraint(
            ["signed_by_user_id"],
            ["users.id"],
            name=op.f("fk_document_signers_signed_by_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document_signers")),
        sa.UniqueConstraint(
            "invite_token_hash", name=op.f("uq_document_signers_invite_token_hash")
        ),
    )
    op.create_index(
        "ix_document_signers_physician_id", "document_signers", ["physician_id"], unique=False
    )
    op.create_index(
        "uq_document_signers_position", "document_signers", ["document_id", "position"], unique=True
    )


def downgrade() -> None:
    # Indexes and constraints go with their tables.
    for table in (
        "document_signers",
        "document_filings",
        "document_events",
        "compliance_documents",
        "document_template_reviews",
    ):
        op.drop_table(table)
