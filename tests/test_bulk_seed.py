"""`mdmatch seed --physicians N --clinics M`: bulk synthetic data that the product can use."""

from __future__ import annotations

import psycopg

from app.config import libpq_url
from tests.conftest import scratch_database
from tests.test_cli import run_cli


def test_bulk_seed_loads_consistent_data_and_appends(pg_server_url):
    with scratch_database(pg_server_url) as url:
        result = run_cli(["seed", "--physicians", "400", "--clinics", "60"], url)
        assert result.returncode == 0, result.stderr
        assert "Added 400 physicians and 60 clinics" in result.stderr
        again = run_cli(["seed", "--physicians", "100", "--clinics", "0", "--seed", "8"], url)
        assert again.returncode == 0, again.stderr
        with psycopg.connect(libpq_url(url)) as conn:
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM physicians), (SELECT count(*) FROM clinics),"
                " (SELECT count(*) FROM intakes WHERE status = 'draft'),"
                " (SELECT count(*) FROM clinic_members),"
                " (SELECT count(DISTINCT npi) FROM physicians)"
            ).fetchone()
            assert counts == (500, 60, 60, 60, 500)
            # What the credential triggers would have computed, the bulk load wrote directly.
            drift = conn.execute(
                """
                SELECT count(*) FROM physicians p WHERE
                  p.licensed_states <> coalesce((SELECT array_agg(DISTINCT l.state ORDER BY
                    l.state) FROM licenses l WHERE l.physician_id = p.id AND
                    l.status = 'verified'), '{}')
                  OR p.malpractice_expires_on IS DISTINCT FROM (SELECT max(expires_on) FROM
                    malpractice_policies m WHERE m.physician_id = p.id)
                  OR p.license_expiry <> (SELECT jsonb_object_agg(state, e) FROM (SELECT
                    state, max(expires_on) e FROM licenses l WHERE l.physician_id = p.id
                    GROUP BY state) x)
                """
            ).fetchone()
            assert drift == (0,)
            # The triggers are back on for the product's own writes.
            enabled = conn.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname IN "
                "('licenses_refresh_licensed_states', 'malpractice_refresh_expiry') "
                "AND tgenabled = 'O'"
            ).fetchone()
            assert enabled == (2,)
        bad = run_cli(["seed", "--physicians", "1", "--roster", "everywhere"], url)
        assert bad.returncode == 2
