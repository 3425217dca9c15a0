"""license expiry per state and malpractice expiry on physicians, kept by triggers

Matching then reads one physician row instead of probing licenses and policies per candidate.
The triggers recompute from the credential tables on every change that can matter (status,
state, expiry, owner), so the columns are exact whatever path changes a credential.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 07:05:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.util import await_only

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LICENSES_SQL = """
CREATE OR REPLACE FUNCTION mdmatch_refresh_licensed_states() RETURNS trigger
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
        -- Lock first, recompute in a later statement: under READ COMMITTED the recompute then
        -- sees every credential change committed before the lock was granted (a concurrent
        -- renewal and expiry cannot leave a stale value).
        PERFORM 1 FROM physicians WHERE id = target FOR NO KEY UPDATE;
        UPDATE physicians p
           SET licensed_states = ARRAY(
                   SELECT DISTINCT l.state FROM licenses l
                    WHERE l.physician_id = target AND l.status = 'verified'
                    ORDER BY l.state),
               license_expiry = COALESCE((
                   SELECT jsonb_object_agg(e.state, e.expires_on)
                     FROM (SELECT l.state, max(l.expires_on) AS expires_on FROM licenses l
                            WHERE l.physician_id = target AND l.status = 'verified'
                            GROUP BY l.state) AS e), '{}'::jsonb)
         WHERE p.id = target;
    END LOOP;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS licenses_refresh_licensed_states ON licenses;
CREATE TRIGGER licenses_refresh_licensed_states
AFTER INSERT OR DELETE OR UPDATE OF status, state, physician_id, expires_on ON licenses
FOR EACH ROW EXECUTE FUNCTION mdmatch_refresh_licensed_states();

CREATE FUNCTION mdmatch_refresh_malpractice_expiry() RETURNS trigger
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
        PERFORM 1 FROM physicians WHERE id = target FOR NO KEY UPDATE;
        UPDATE physicians p
           SET malpractice_expires_on = (
               SELECT max(m.expires_on) FROM malpractice_policies m
                WHERE m.physician_id = target AND m.status = 'verified')
         WHERE p.id = target;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER malpractice_refresh_expiry
AFTER INSERT OR DELETE OR UPDATE OF status, physician_id, expires_on ON malpractice_policies
FOR EACH ROW EXECUTE FUNCTION mdmatch_refresh_malpractice_expiry();
"""

BACKFILL_SQL = """
UPDATE physicians p SET
    license_expiry = COALESCE((
        SELECT jsonb_object_agg(e.state, e.expires_on)
          FROM (SELECT l.state, max(l.expires_on) AS expires_on FROM licenses l
                 WHERE l.physician_id = p.id AND l.status = 'verified'
                 GROUP BY l.state) AS e), '{}'::jsonb),
    malpractice_expires_on = (
        SELECT max(m.expires_on) FROM malpractice_policies m
         WHERE m.physician_id = p.id AND m.status = 'verified');
"""

PREVIOUS_LICENSES_SQL = """
CREATE OR REPLACE FUNCTION mdmatch_refresh_licensed_states() RETURNS trigger
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

DROP TRIGGER IF EXISTS licenses_refresh_licensed_states ON licenses;
CREATE TRIGGER licenses_refresh_licensed_states
AFTER INSERT OR DELETE OR UPDATE OF status, state, physician_id ON licenses
FOR EACH ROW EXECUTE FUNCTION mdmatch_refresh_licensed_states();
"""


def _run_script(sql: str) -> None:
    driver_connection = op.get_bind().connection.driver_connection
    await_only(driver_connection.execute(sql))  # type: ignore[union-attr]


def upgrade() -> None:
    op.add_column(
        "physicians",
        sa.Column(
            "license_expiry",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="{}",
            nullable=False,
        ),
    )
    op.add_column("physicians", sa.Column("malpractice_expires_on", sa.Date(), nullable=True))
    _run_script(LICENSES_SQL)
    op.execute(sa.text(BACKFILL_SQL))


def downgrade() -> None:
    op.execute(sa.text("DROP TRIGGER IF EXISTS malpractice_refresh_expiry ON malpractice_policies"))
    op.execute(sa.text("DROP FUNCTION IF EXISTS mdmatch_refresh_malpractice_expiry()"))
    _run_script(PREVIOUS_LICENSES_SQL)
    op.drop_column("physicians", "malpractice_expires_on")
    op.drop_column("physicians", "license_expiry")
