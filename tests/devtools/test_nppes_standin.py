"""The local NPPES stand-in: what it answers, that verification passes through it for the demo
roster and for a physician someone registers, that it says loudly what it is, and that nothing
but local mode may start it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from app.auth.models import User
from app.config import Settings
from app.devtools.nppes import (
    LocalRegistry,
    NppesStandIn,
    derived_name,
    nppes_standin,
    register_provider,
    serve_over_http,
)
from app.physicians.demo import demo_roster, seed_demo_supply
from app.physicians.models import Physician
from app.physicians.npi import NppesClient, make_npi
from tests.factories import ops_headers
from tests.live import mdmatch
from tests.physicians.helpers import create_physician
from tests.test_config import production

OTHER_NPI = make_npi("123456789")


def test_answers_registered_names_then_the_demo_roster_then_a_made_up_physician(tmp_path):
    registrations = tmp_path / "nppes.json"
    registry = LocalRegistry(registrations)
    demo = demo_roster(3)[2]

    record = registry.record(demo.npi)
    assert record is not None
    assert (record["basic"]["first_name"], record["basic"]["last_name"]) == (
        demo.first_name.upper(),
        demo.last_name.upper(),
    )
    assert record["taxonomies"][0]["code"].startswith("20")  # a physician's NUCC group

    made_up = registry.record(OTHER_NPI)
    assert made_up is not None
    assert made_up["number"] == OTHER_NPI
    assert made_up["enumeration_type"] == "NPI-1"
    assert made_up["basic"]["status"] == "A"
    assert made_up["basic"]["last_name"] == derived_name(OTHER_NPI)[1].upper()
    assert derived_name(OTHER_NPI) == derived_name(OTHER_NPI)  # the same answer every time

    register_provider(registrations, OTHER_NPI, "Ana", "Whitfield-Soto")
    registered = registry.record(OTHER_NPI)
    assert registered is not None
    assert registered["basic"]["last_name"] == "WHITFIELD-SOTO"
    # A demo NPI can be registered over too: the registration wins.
    register_provider(registrations, demo.npi, "Someone", "Else")
    assert registry.record(demo.npi)["basic"]["last_name"] == "ELSE"  # type: ignore[index]

    assert registry.record(OTHER_NPI[:9] + str((int(OTHER_NPI[9]) + 1) % 10)) is None


def test_every_lookup_warns_that_it_is_not_the_real_registry_without_logging_the_npi(tmp_path):
    registry = LocalRegistry(tmp_path / "nppes.json")
    with capture_logs() as logs:
        registry.record(OTHER_NPI)
        registry.record(demo_roster(1)[0].npi)
    assert [entry["log_level"] for entry in logs] == ["warning", "warning"]
    assert all("NOT the real NPI registry" in entry["note"] for entry in logs)
    assert "mdmatch nppes add" in logs[0]["answered_with"]
    assert "demo roster" in logs[1]["answered_with"]
    assert OTHER_NPI not in json.dumps(logs)


def test_registering_refuses_an_invalid_npi_or_a_missing_name(tmp_path):
    registrations = tmp_path / "nppes.json"
    with pytest.raises(ValueError, match="not a valid NPI"):
        register_provider(registrations, OTHER_NPI[:9] + "0", "Ana", "Soto")
    with pytest.raises(ValueError, match="both names"):
        register_provider(registrations, OTHER_NPI, "Ana", "  ")
    assert not registrations.exists()


async def test_verification_passes_for_demo_physicians_and_registered_ones(
    app, client, session, settings, tmp_path
):
    registrations = tmp_path / "nppes.json"
    stand_in = NppesStandIn(fallback=LocalRegistry(registrations).record)
    original, app.state.nppes = app.state.nppes, stand_in.client()
    try:
        ops = await ops_headers(client, session, settings)
        await seed_demo_supply(session, settings, count=2)
        await session.commit()
        demo_id = await session.scalar(
            select(Physician.id)
            .join(User, User.id == Physician.user_id)
            .where(User.email == "demo-physician-002@mdmatch.dev")
        )
        again = await client.post(f"/v1/physicians/{demo_id}/verify", headers=ops)
        assert again.json() == {"verification_status": "verified", "reasons": []}

        # Someone's own physician: the stand-in cannot know the name until it is registered.
        _, doc = await create_physician(client, first_name="Ana", last_name="Whitfield")
        made_up = derived_name(doc["npi"])[1]
        rejected = await client.post(f"/v1/physicians/{doc['id']}/verify", headers=ops)
        assert rejected.json()["verification_status"] == "rejected"
        assert rejected.json()["reasons"] == [
            f"The registry's last name for NPI {doc['npi']} ({made_up}) does not match the "
            "profile (Whitfield)."
        ]

        register_provider(registrations, doc["npi"], "Ana", "Whitfield")
        verified = await client.post(f"/v1/physicians/{doc['id']}/verify", headers=ops)
        assert verified.json() == {"verification_status": "verified", "reasons": []}
    finally:
        await app.state.nppes.aclose()
        app.state.nppes = original


async def test_the_served_stand_in_answers_the_app_client_over_http(tmp_path):
    demo = demo_roster(1)[0]
    with serve_over_http(NppesStandIn(fallback=LocalRegistry(tmp_path / "r.json").record)) as url:
        client = NppesClient(url, timeout=2, attempts=1)
        try:
            record = await client.lookup(demo.npi)
        finally:
            await client.aclose()
    assert record is not None
    assert (record.last_name, record.enumeration_type) == (demo.last_name.upper(), "NPI-1")
    assert record.has_physician_taxonomy


@pytest.mark.parametrize("environment", ["test", "production"])
def test_nothing_but_local_mode_may_start_the_stand_in(environment, tmp_path):
    settings = (
        production()
        if environment == "production"
        else Settings(_env_file=None, environment="test")
    )
    with (
        pytest.raises(RuntimeError, match="local mode only"),
        nppes_standin(settings, tmp_path / "r.json"),
    ):
        pass


def test_nppes_add_registers_a_name_in_local_mode_only(tmp_path):
    local = {"ENVIRONMENT": "local", "LOCAL_STATE_DIR": str(tmp_path)}
    added = mdmatch(
        "nppes", "add", OTHER_NPI, "--first-name", "Ana", "--last-name", "Soto", env=local
    )
    assert added.returncode == 0, added.stderr
    assert f"answers NPI {OTHER_NPI} with Dr. Ana Soto" in " ".join(added.stderr.split())
    assert json.loads((tmp_path / "nppes-standin.json").read_text()) == {
        OTHER_NPI: {"first_name": "Ana", "last_name": "Soto"}
    }

    args = ("nppes", "add", OTHER_NPI, "--first-name", "A", "--last-name", "B")
    refused = mdmatch(*args, env={**local, "ENVIRONMENT": "test"})
    assert refused.returncode == 2
    assert "local mode only" in refused.stderr
    elsewhere = mdmatch(*args, env={**local, "NPPES_BASE_URL": "https://npiregistry.cms.hhs.gov"})
    assert elsewhere.returncode == 2
    assert "NPPES_BASE_URL is set" in " ".join(elsewhere.stderr.split())
    invalid = mdmatch(
        "nppes", "add", "1234567890", "--first-name", "A", "--last-name", "B", env=local
    )
    assert invalid.returncode == 1
    assert "not a valid NPI" in invalid.stderr
    assert json.loads((tmp_path / "nppes-standin.json").read_text())[OTHER_NPI]["last_name"] == (
        "Soto"
    )
