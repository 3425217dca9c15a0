"""review_items.kind gains license_check: a license the issuing board shows with disciplinary
actions, for operations to decide

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-03 17:00:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("document", "exclusion_match")
AFTER = (*BEFORE, "license_check")


def _kinds(values: tuple[str, ...]) -> str:
    return "kind IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_review_items_kind"), "review_items", type_="check")
    op.create_check_constraint(op.f("ck_review_items_kind"), "review_items", _kinds(AFTER))


def downgrade() -> None:
    op.execute("DELETE FROM review_items WHERE kind = 'license_check'")
    op.drop_constraint(op.f("ck_review_items_kind"), "review_items", type_="check")
    op.create_check_constraint(op.f("ck_review_items_kind"), "review_items", _kinds(BEFORE))
