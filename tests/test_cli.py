"""The `mdmatch` command against real databases: ops accounts, and a live server end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import psycopg
import pytest

from app.config import libpq_url
from app.devtools.stripe_emulator import free_port
from tests.conftest import ROOT, scratch_database
from tests.live import serve_process

PASSWORD = "Violet-Orchid-Ledger-42"


def run_cli(args, database_url, stdin="", extra_env=None):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STRIPE_", "DATABASE_URL", "ENVIRONMENT"))
    }
    env.update(DATABASE_URL=database_url, ENVIRONMENT="test", **(extra_env or {}))
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "app.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_create_ops_user_reads_the_password_from_stdin(pg_server_url):
    with scratch_database(pg_server_url) as url:
        result = run_cli(["create-ops-user", "Ops@Example.com"], url, stdin=PASSWORD + "\n")
        assert result.returncode == 0, result.stderr
        with psycopg.connect(libpq_url(url)) as conn:
            row = conn.execute("SELECT email, role FROM users").fetchone()
        assert row == ("ops@example.com", "ops_admin")

        weak = run_cli(["create-ops-user", "second@example.com"], url, stdin="password\n")
        assert weak.returncode == 1
        assert "too common" in weak.stderr or "at least" in weak.stderr
        duplicate = run_cli(["create-ops-user", "ops@example.com"], url, stdin=PASSWORD + "\n")
        assert duplicate.returncode == 1
        assert "already exists" in duplicate.stderr


@pytest.fixture
def live_server(pg_server_url):
    """`mdmatch serve` in a child process on a scratch database, with the Stripe emulator."""
    with (
        scratch_database(pg_server_url, migrate=False) as url,
        serve_process(url, free_port()) as server,
    ):
        yield server


def test_serve_migrates_and_serves_the_api_end_to_end(live_server):
    base, proc = live_server
    with httpx.Client(base_url=base, timeout=10) as http:
        assert http.get("/docs").status_code == 200
        assert "mdmatch" in http.get("/openapi.json").json()["info"]["title"]
        registered = http.post(
            "/v1/auth/register",
            json={"email": "admin@glowclinic.com", "password": PASSWORD, "role": "clinic_admin"},
        )
        assert registered.status_code == 201
        token = http.post(
            "/v1/auth/token", data={"username": "admin@glowclinic.com", "password": PASSWORD}
        ).json()["access_token"]
        me = http.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["email"] == "admin@glowclinic.com"
        # The in-process worker picks up the reset job: the e-mail shows up in the log.
        assert (
            http.post("/v1/auth/password-reset", json={"email": "admin@glowclinic.com"}).status_code
            == 202
        )
    proc.terminate()
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "Reset your mdmatch password" in output
    assert "Started the Stripe emulator" in output
    assert PASSWORD not in output


def test_pricing_publish_from_a_file(pg_server_url, tmp_path):
    import json

    from app.pricing.price_book import default_price_book

    book = default_price_book().model_dump(mode="json")
    with scratch_database(pg_server_url) as url:
        run_cli(["seed"], url)
        path = tmp_path / "book.json"
        path.write_text(json.dumps(dict(book, version="2027.02.1", notes="Spring prices")))
        published = run_cli(["pricing", "publish", str(path)], url)
        assert published.returncode == 0, published.stderr
        assert "Published price book 2027.02.1" in published.stderr
        again = run_cli(["pricing", "publish", str(path)], url)
        assert again.returncode == 1
        assert "already published" in again.stderr
        path.write_text(json.dumps(dict(book, version="2027.03.1", annual_discount_bp=-1)))
        invalid = run_cli(["pricing", "publish", str(path)], url)
        assert invalid.returncode == 1
        assert "annual_discount_bp" in invalid.stderr
        with psycopg.connect(libpq_url(url)) as conn:
            versions = [
                r[0]
                for r in conn.execute(
                    "SELECT version FROM price_books ORDER BY published_at"
                ).fetchall()
            ]
        assert versions == [book["version"], "2027.02.1"]


def test_billing_reconcile_command(pg_server_url, stripe_url):
    from tests.conftest import emulator_settings

    stripe_env = {k.upper(): str(v) for k, v in emulator_settings(stripe_url).items()}
    with scratch_database(pg_server_url) as url:
        result = run_cli(["billing", "reconcile"], url, extra_env=stripe_env)
        assert result.returncode == 0, result.stderr
        assert (
            "Checked 0 engagements: 0 repaired, 0 not reachable at Stripe, 0 failed."
            in result.stderr
        )
        unset = run_cli(["billing", "reconcile"], url)
        assert unset.returncode == 2
        assert "STRIPE_SECRET_KEY is not set" in unset.stderr


def test_rules_report_diff_and_load(pg_server_url, tmp_path):
    import json

    from app.catalog import coverage, rules

    data = rules.dataset()
    report = run_cli(["rules", "report"], "")
    assert report.returncode == 0, report.stderr
    cov = coverage.coverage(data)
    assert f"every med-spa field high or medium: {len(cov.medium_or_better)}" in report.stdout
    assert f"every med-spa field high: {len(cov.all_high)}" in report.stdout

    raw = json.loads(data.model_dump_json())
    raw["version"] = "2099-01-01"
    tx = next(s for s in raw["states"] if s["code"] == "TX")
    tx["rules"]["malpractice_minimum"] = {
        "value": {"summary": "Test minimum", "per_claim_cents": 25_000_000},
        "citation": "Test Code §1",
        "url": "https://example.org/1",
        "confidence": "high",
        "checked_on": "2099-01-01",
    }
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(raw))
    with scratch_database(pg_server_url) as url:
        run_cli(["seed"], url)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute(
                "UPDATE state_rules SET rules = jsonb_set(rules, '{cpom}', "
                '\'{"value": "strict", "citation": "Ops", "confidence": "low", '
                '"checked_on": "2026-12-02"}\'), operations_fields = \'{cpom}\' '
                "WHERE code = 'TX'"
            )
        tx["rules"]["cpom"] = {**tx["rules"]["cpom"], "value": "permissive", "note": "file"}
        path.write_text(json.dumps(raw))

        diff = run_cli(["rules", "diff", str(path)], url)
        assert diff.returncode == 0, diff.stderr
        assert "TX malpractice_minimum: " in diff.stdout
        assert "Test Code §1" in diff.stdout
        assert "TX cpom: KEPT operations' strict; the file says permissive" in diff.stdout
        with psycopg.connect(libpq_url(url)) as conn:
            before = conn.execute(
                "SELECT rules->'malpractice_minimum'->>'citation' FROM state_rules "
                "WHERE code = 'TX'"
            ).fetchone()
        assert before != ("Test Code §1",)  # diff wrote nothing

        loaded = run_cli(["rules", "load", str(path)], url)
        assert loaded.returncode == 0, loaded.stderr
        with psycopg.connect(libpq_url(url)) as conn:
            row = conn.execute(
                "SELECT rules->'malpractice_minimum'->>'citation', rules->'cpom'->>'value', "
                "data_version FROM state_rules WHERE code = 'TX'"
            ).fetchone()
        assert row == ("Test Code §1", "strict", "2099-01-01")

        path.write_text('{"version": "2099-01-02", "states": []}')
        invalid = run_cli(["rules", "diff", str(path)], url)
        assert invalid.returncode == 1
        assert "not a valid state-rules file" in " ".join(invalid.stderr.split())
