"""Personal data never reaches the logs: a full flow (a physician's credentials, verification,
a clinic's intake, matching, confirmation, billing) runs with every logger at DEBUG, and the
captured output is searched for the NPI, license and DEA numbers and every e-mail address."""

from __future__ import annotations

import io
import logging

import pytest
import structlog

from app.kit.observability import configure_logging
from tests.billing.helpers import Emulator
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import register
from tests.physicians.helpers import in_days


@pytest.fixture
def captured_logs():
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("DEBUG", json=True)
    root.handlers[0].setStream(buffer)  # type: ignore[attr-defined]
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.reset_defaults()


async def test_a_full_flow_logs_no_personal_data(
    client, session, settings, app, stripe_url, captured_logs, credentialing
):
    # Credentialed the production way: identity at NPPES, the license at the (faked) Texas
    # board, the certificate of insurance and the DEA certificate reviewed by operations.
    doctor, _, _ = await credentialing.physician(licenses=("TX",))
    profile = (await client.get("/v1/physicians/me", headers=doctor)).json()
    dea = await client.post(
        "/v1/physicians/me/dea",
        json={"state": "TX", "number": "BA7654321", "expires_on": in_days(500)},
        headers=doctor,
    )
    assert dea.status_code == 201, dea.text
    assert await credentialing.documents_for_pending(doctor) == 1

    admin_email = (await register(client, "clinic_admin"))["email"]
    token = (
        await client.post(
            "/v1/auth/token",
            data={"username": admin_email, "password": "Violet-Orchid-Ledger-42"},
        )
    ).json()["access_token"]
    admin = {"Authorization": f"Bearer {token}"}
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    intake = await create_intake(client, admin, clinic["id"])
    assert (await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)).json()[
        "status"
    ] == "matching"
    [offer] = (await client.get("/v1/physicians/me/offers", headers=doctor)).json()["items"]
    assert (
        await client.post(f"/v1/offers/{offer['id']}/accept", headers=doctor)
    ).status_code == 200
    engagement = (await client.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)).json()
    setup = await client.post(f"/v1/engagements/{engagement['id']}/payment-method", headers=admin)
    await Emulator(stripe_url).confirm_card(setup.json()["setup_intent_id"])
    paid = await client.post(f"/v1/engagements/{engagement['id']}/subscribe", headers=admin)
    assert paid.json()["status"] == "active"
    # A failed login and a reset request (both handle an e-mail address).
    await client.post("/v1/auth/token", data={"username": admin_email, "password": "nope-nope-1"})
    await client.post("/v1/auth/password-reset", json={"email": admin_email})

    logs = captured_logs.getvalue()
    assert '"event": "request"' in logs  # the capture works: requests were logged
    me = (await client.get("/v1/physicians/me", headers=doctor)).json()
    secrets_ = {
        "NPI": profile["npi"],
        "license number": profile["licenses"][0]["number"],
        "DEA number": "BA7654321",
        "malpractice policy": "TDC-88213",
        "clinic admin e-mail": admin_email,
        "clinic contact e-mail": clinic["contact"]["email"],
    }
    assert me["npi"] == profile["npi"]
    for label, value in secrets_.items():
        assert value not in logs, f"{label} found in the logs"
