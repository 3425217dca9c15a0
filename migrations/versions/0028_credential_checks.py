"""credential_checks and review_items: what was checked about each credential, and the
operations review queue

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-03 15:10:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "credential_checks",
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("credential_kind", sa.String(length=24), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_detail", sa.String(length=200), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column(
            "compared",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_by", sa.Uuid(), nullable=True),
        sa.Column("recheck_due", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            _in(
                "credential_kind",
                ("npi", "license", "dea", "malpractice", "board_certification", "exclusion"),
            ),
            name=op.f("ck_credential_checks_credential_kind"),
        ),
        sa.CheckConstraint(
            _in("source", ("nppes", "state_board", "oig_leie", "document", "physician")),
            name=op.f("ck_credential_checks_source"),
        ),
        sa.CheckConstraint(
            _in("method", ("primary_source", "document_review", "self_attested")),
            name=op.f("ck_credential_checks_method"),
        ),
        sa.CheckConstraint(
            _in("result", ("passed", "failed", "needs_review", "unavailable")),
            name=op.f("ck_credential_checks_result"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_credential_checks_physician_id_physicians"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["checked_by"],
            ["users.id"],
            name=op.f("fk_credential_checks_checked_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_checks")),
    )
    op.create_index(
        "ix_credential_checks_physician_id_checked_at",
        "credential_checks",
        ["physician_id", "checked_at"],
    )
    op.create_index("ix_credential_checks_credential_id", "credential_checks", ["credential_id"])
    op.create_index(
        "ix_credential_checks_recheck_due",
        "credential_checks",
        ["recheck_due"],
        postgresql_where=sa.text("recheck_due IS NOT NULL"),
    )
    op.create_table(
        "review_items",
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("subject_key", sa.String(length=120), nullable=False),
        sa.Column(
            "evidence",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), server_default="open", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            _in("kind", ("document", "exclusion_match")), name=op.f("ck_review_items_kind")
        ),
        sa.CheckConstraint(
            _in("status", ("open", "approved", "rejected")), name=op.f("ck_review_items_status")
        ),
        sa.CheckConstraint(
            "(status = 'open') = (decided_at IS NULL)",
            name=op.f("ck_review_items_decided_when_closed"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_review_items_physician_id_physicians"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_review_items_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
    )
    op.create_index(
        "ix_review_items_open",
        "review_items",
        ["created_at"],
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_review_items_physician_id", "review_items", ["physician_id"])
    op.create_index(
        "uq_review_items_open_subject",
        "review_items",
        ["kind", "subject_key"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )


def downgrade() -> None:
    op.drop_table("review_items")
    op.drop_table("credential_checks")
