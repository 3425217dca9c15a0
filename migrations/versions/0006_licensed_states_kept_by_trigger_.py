"""licensed states kept by trigger, matching GIN index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 06:52:22.864124+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.util import await_only

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TRIGGER_SQL = """
CREATE FUNCTION mdmatch_refresh_licensed_states() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE target uuid;
BEGIN
    FOR target IN
        SELECT DISTINCT t.pid FROM (
            SELECT NEW.physician_id AS pid WHERE TG_OP <> 'DELETE'
            UNION ALL
            SELECT OLD.physician_id WHERE TG_OP <> 'INSERT'
        ) AS t
    LOOP
        UPDATE physicians
           SET licensed_states = ARRAY(
               SELECT DISTINCT l.state FROM licenses l
                WHERE l.physician_id = target AND l.status = 'verified'
                ORDER BY l.state)
         WHERE id = target;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER licenses_refresh_licensed_states
AFTER INSERT OR DELETE OR UPDATE OF status, state, physician_id ON licenses
FOR EACH ROW EXECUTE FUNCTION mdmatch_refresh_licensed_states();
"""


def upgrade() -> None:
    op.add_column(
        "physicians",
        sa.Column(
            "licensed_states",
            postgresql.ARRAY(sa.String(length=2)),
            server_default="{}",
            nullable=False,
        ),
    )
    op.drop_index(op.f("ix_physicians_services"), table_name="physicians", postgresql_using="gin")
    op.create_index(
        "ix_physicians_matching",
        "physicians",
        ["licensed_states", "services", "engagement_models", "oversight_modes"],
        unique=False,
        postgresql_using="gin",
        postgresql_with={"fastupdate": "off"},
    )
    # The states of verified licenses, kept on the physician by the database itself, whatever
    # path changes a license (the API, the sweep, a bulk load).
    op.execute(
        sa.text(
            "UPDATE physicians p SET licensed_states = ARRAY(SELECT DISTINCT l.state FROM "
            "licenses l WHERE l.physician_id = p.id AND l.status = 'verified' ORDER BY l.state)"
        )
    )
    driver_connection = op.get_bind().connection.driver_connection
    await_only(driver_connection.execute(TRIGGER_SQL))  # type: ignore[union-attr]


def downgrade() -> None:
    op.execute(sa.text("DROP TRIGGER IF EXISTS licenses_refresh_licensed_states ON licenses"))
    op.execute(sa.text("DROP FUNCTION IF EXISTS mdmatch_refresh_licensed_states()"))
    op.drop_index("ix_physicians_matching", table_name="physicians", postgresql_using="gin")
    op.create_index(
        op.f("ix_physicians_services"),
        "physicians",
        ["services"],
        unique=False,
        postgresql_using="gin",
    )
    op.drop_column("physicians", "licensed_states")
