"""clinic team: billing and viewer roles; clinic_invitations

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 08:20:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(op.f("ck_clinic_members_role"), "clinic_members", type_="check")
    op.create_check_constraint(
        op.f("ck_clinic_members_role"),
        "clinic_members",
        "role IN ('owner', 'admin', 'billing', 'viewer')",
    )
    op.create_table(
        "clinic_invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("invited_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('admin', 'billing', 'viewer')", name=op.f("ck_clinic_invitations_role")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinics.id"],
            name=op.f("fk_clinic_invitations_clinic_id_clinics"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["users.id"],
            name=op.f("fk_clinic_invitations_invited_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name=op.f("fk_clinic_invitations_accepted_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_clinic_invitations_token_hash")),
    )
    op.create_index(
        "ix_clinic_invitations_clinic_id", "clinic_invitations", ["clinic_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("clinic_invitations")
    op.execute("DELETE FROM clinic_members WHERE role IN ('billing', 'viewer')")
    op.drop_constraint(op.f("ck_clinic_members_role"), "clinic_members", type_="check")
    op.create_check_constraint(
        op.f("ck_clinic_members_role"), "clinic_members", "role IN ('owner', 'admin')"
    )
