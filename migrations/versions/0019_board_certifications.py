"""board_certifications: a specialty board's certification or eligibility, as a credential

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "board_certifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("physician_id", sa.Uuid(), nullable=False),
        sa.Column("board", sa.String(length=120), nullable=False),
        sa.Column("specialty", sa.String(length=40), nullable=False),
        sa.Column("certification", sa.String(length=16), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expiry_warned_on", sa.Date(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'verified', 'rejected', 'expired')",
            name=op.f("ck_board_certifications_status"),
        ),
        sa.CheckConstraint(
            "certification IN ('certified', 'eligible')",
            name=op.f("ck_board_certifications_certification"),
        ),
        sa.ForeignKeyConstraint(
            ["physician_id"],
            ["physicians.id"],
            name=op.f("fk_board_certifications_physician_id_physicians"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_board_certifications")),
        sa.UniqueConstraint(
            "physician_id", "board", "specialty", name="uq_board_certifications_physician_board"
        ),
    )
    op.create_index(
        op.f("ix_board_certifications_physician_id"),
        "board_certifications",
        ["physician_id"],
    )
    op.create_index(
        "ix_board_certifications_specialty_status",
        "board_certifications",
        ["specialty", "status", "expires_on"],
    )


def downgrade() -> None:
    op.drop_table("board_certifications")
