"""The local-mode smoke test: a real `mdmatch serve` (its own database, emulator and NPPES
stand-in, the demo data it seeds) and `mdmatch demo` walking the whole journey against it."""

from __future__ import annotations

import re
import tempfile

from app.devtools.stripe_emulator import free_port
from tests.conftest import scratch_database
from tests.live import mdmatch, serve_process


def test_the_tour_walks_the_whole_journey_against_a_live_local_server(pg_server_url):
    emulator_port = free_port()
    with (
        tempfile.TemporaryFile("w+") as log,
        scratch_database(pg_server_url, migrate=False) as url,
        serve_process(url, emulator_port, output=log, demo_data=True) as (base, _),
    ):
        tour = mdmatch(
            "demo",
            "--base-url",
            base,
            env={"ENVIRONMENT": "local", "STRIPE_EMULATOR_PORT": str(emulator_port)},
            timeout=90,
        )
        log.seek(0)
        server_log = log.read()
    output = tour.stdout
    assert tour.returncode == 0, output + tour.stderr

    assert "Demo accounts (200 demo physicians added, ops account created)" in server_log
    assert "Started a local NPPES stand-in" in server_log
    assert "nppes_standin_started" in server_log
    # The tour's verification went through the stand-in, which said what it is.
    assert "nppes_standin_lookup" in server_log
    assert "NOT the real NPI registry" in server_log

    def call(method: str, path: str) -> str:
        """The tour's last line for this call: METHOD /path STATUS key=value..."""
        pattern = re.compile(rf"^{method} +{path} \d{{3}}( |$)")
        found = [entry for entry in output.splitlines() if pattern.match(entry)]
        assert found, f"no {method} {path} in:\n{output}"
        return found[-1]

    uuid = "[0-9a-f-]{36}"
    assert "verification_status=verified" in call("POST", f"/v1/physicians/{uuid}/verify")
    # Its credentials were verified from documents operations approved (no boards here).
    assert "State board look-ups are off in local mode" in server_log
    assert "status=approved" in call("POST", f"/v1/review-items/{uuid}/decision")
    standing = call("GET", "/v1/physicians/me/credential-checks")
    assert standing.count("verified by document_review") == 2, standing
    assert "status=matching" in call("POST", f"/v1/intakes/{uuid}/submit")
    assert "offered" in call("GET", f"/v1/intakes/{uuid}/matches")
    assert "as=demo-physician-" in output
    assert "status=accepted" in call("POST", f"/v1/offers/{uuid}/accept")
    assert "status=pending_payment" in call("POST", f"/v1/intakes/{uuid}/confirm")
    assert "Stripe.js (mdmatch pay --card success): card 4242 4242 4242 4242" in output
    assert "status=active  payment_status=paid" in call("GET", f"/v1/engagements/{uuid}")
    # The worker made the compliance documents; both parties signed; the seal checks out.
    assert "readiness=awaiting_signatures" in call("GET", f"/v1/engagements/{uuid}/documents")
    assert "status=executed" in call("POST", f"/v1/documents/{uuid}/sign")
    assert "ok=True" in call("POST", f"/v1/documents/{uuid}/verify")
    assert "paid $" in call("GET", f"/v1/clinics/{uuid}/invoices")
    assert "proration=$" in call("POST", f"/v1/engagements/{uuid}/change-scope")
    assert "status=ending" in call("POST", f"/v1/engagements/{uuid}/cancel")
    assert output.rstrip().splitlines()[-1].startswith("Tour complete: engagement ")
