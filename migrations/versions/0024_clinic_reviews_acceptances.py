"""intakes.review_choices and matches.hold_slot: a clinic may review up to three acceptances

A state group of an intake's round may now hold up to `review_choices` accepted matches (one
slot each, unique), of which one is confirmed. Until now at most one match per group could be
accepted or confirmed.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 12:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELD = sa.text("status IN ('accepted', 'confirmed')")


def upgrade() -> None:
    op.add_column(
        "intakes",
        sa.Column("review_choices", sa.SmallInteger(), server_default="1", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_intakes_review_choices"), "intakes", "review_choices BETWEEN 1 AND 3"
    )
    op.add_column("matches", sa.Column("hold_slot", sa.SmallInteger(), nullable=True))
    op.execute("UPDATE matches SET hold_slot = 1 WHERE status IN ('accepted', 'confirmed')")
    op.drop_index("uq_matches_one_accepted_per_group", table_name="matches", postgresql_where=HELD)
    op.create_check_constraint(
        op.f("ck_matches_hold_slot"),
        "matches",
        "hold_slot IS NOT NULL OR status NOT IN ('accepted', 'confirmed')",
    )
    op.create_index(
        "uq_matches_hold_slot_per_group",
        "matches",
        ["intake_id", "round", "group_key", "hold_slot"],
        unique=True,
        postgresql_where=HELD,
    )
    op.create_index(
        "uq_matches_one_confirmed_per_group",
        "matches",
        ["intake_id", "round", "group_key"],
        unique=True,
        postgresql_where=sa.text("status = 'confirmed'"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_matches_one_confirmed_per_group",
        table_name="matches",
        postgresql_where=sa.text("status = 'confirmed'"),
    )
    op.drop_index("uq_matches_hold_slot_per_group", table_name="matches", postgresql_where=HELD)
    op.drop_constraint(op.f("ck_matches_hold_slot"), "matches", type_="check")
    # One acceptance per group again: the clinic's other choices are let go.
    op.execute(
        "UPDATE matches SET status = 'withdrawn' WHERE status = 'accepted' AND hold_slot > 1"
    )
    op.drop_column("matches", "hold_slot")
    op.create_index(
        "uq_matches_one_accepted_per_group",
        "matches",
        ["intake_id", "round", "group_key"],
        unique=True,
        postgresql_where=HELD,
    )
    op.drop_column("intakes", "review_choices")
