"""credential_documents: files supporting a physician's credentials, kept in object storage and
reviewed by operations

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-03 15:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "credential_documents",
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("credential_kind", sa.String(length=24), nullable=False),
        sa.Column("credential_id", sa.Uuid(), nullable=False),
        sa.Column("document_kind", sa.String(length=24), nullable=False),
        sa.Column("filename", sa.String(length=160), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("object_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending_review", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("review_item_id", sa.Uuid(), nullable=True),
        sa.Column("uploaded_by", sa.Uuid(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            _in("credential_kind", ("license", "dea", "malpractice", "board_certification")),
            name=op.f("ck_credential_documents_credential_kind"),
        ),
        sa.CheckConstraint(
            _in(
                "document_kind",
                (
                    "license_certificate",
                    "dea_certificate",
                    "malpractice_coi",
                    "board_certificate",
                    "board_printout",
                ),
            ),
            name=op.f("ck_credential_documents_document_kind"),
        ),
        sa.CheckConstraint(
            _in("status", ("pending_review", "approved", "rejected")),
            name=op.f("ck_credential_documents_status"),
        ),
        sa.CheckConstraint(
            "content_type IN ('application/pdf', 'image/png', 'image/jpeg')",
            name=op.f("ck_credential_documents_content_type"),
        ),
        sa.CheckConstraint("size_bytes > 0", name=op.f("ck_credential_documents_size_bytes")),
        sa.CheckConstraint(
            "(status = 'pending_review') = (decided_at IS NULL)",
            name=op.f("ck_credential_documents_decided_when_reviewed"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_credential_documents_physician_id_physicians"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["review_item_id"],
            ["review_items.id"],
            name=op.f("fk_credential_documents_review_item_id_review_items"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["users.id"],
            name=op.f("fk_credential_documents_uploaded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credential_documents")),
        sa.UniqueConstraint("object_key", name=op.f("uq_credential_documents_object_key")),
    )
    op.create_index(
        "ix_credential_documents_physician_id_uploaded_at",
        "credential_documents",
        ["physician_id", "uploaded_at"],
    )
    op.create_index(
        "ix_credential_documents_credential_id", "credential_documents", ["credential_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_credential_documents_credential_id", table_name="credential_documents")
    op.drop_index(
        "ix_credential_documents_physician_id_uploaded_at", table_name="credential_documents"
    )
    op.drop_table("credential_documents")
