"""End to end with real delivery: `mdmatch serve` starts the emulator, registers its webhook to
itself, and the emulator's signed events reach the server over HTTP, are stored, and are
processed by the in-process worker on the real (PostgreSQL) queue."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest

from app.config import libpq_url
from app.db import create_engine, create_sessionmaker
from app.devtools.stripe_emulator import EMULATOR_SECRET_KEY, free_port
from tests.billing.helpers import Emulator
from tests.clinics.helpers import create_clinic, create_intake
from tests.conftest import make_settings, scratch_database
from tests.factories import bearer, login, register
from tests.live import serve_process
from tests.matching.helpers import make_physician, physician_headers

pytestmark = pytest.mark.live_sessions


def processed_events(url: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT type, count(*) FROM stripe_events WHERE processed_at IS NOT NULL GROUP BY type"
        ).fetchall()
    return {str(t): int(n) for t, n in rows}


async def wait_for(url: str, wanted: set[str], seconds: float = 20) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while True:
        seen = processed_events(url)
        if wanted <= set(seen) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.3)


async def test_the_emulator_delivers_signed_events_to_a_live_server(pg_server_url):
    database = scratch_database(pg_server_url, migrate=False)
    url = await asyncio.to_thread(database.__enter__)
    emulator_port = free_port()
    server = serve_process(url, emulator_port)
    try:
        base, _proc = await asyncio.to_thread(server.__enter__)
        settings = make_settings(url)
        engine = create_engine(settings)
        async with httpx.AsyncClient(base_url=base, timeout=20) as http:
            async with create_sessionmaker(engine)() as session:
                doc = await make_physician(session)
                doctor = await physician_headers(http, session, settings, doc)
            email = (await register(http, "clinic_admin"))["email"]
            admin = bearer((await login(http, email))["access_token"])
            clinic = await create_clinic(http, admin, ("TX",), ownership_model="mso")
            intake = await create_intake(http, admin, clinic["id"])
            await http.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
            [offer] = (await http.get("/v1/physicians/me/offers", headers=doctor)).json()["items"]
            await http.post(f"/v1/offers/{offer['id']}/accept", headers=doctor)
            engagement = (
                await http.post(f"/v1/intakes/{intake['id']}/confirm", headers=admin)
            ).json()
            setup = (
                await http.post(f"/v1/engagements/{engagement['id']}/payment-method", headers=admin)
            ).json()
            emulator = Emulator(f"http://127.0.0.1:{emulator_port}")
            assert await emulator.confirm_card(setup["setup_intent_id"]) == "succeeded"
            paid = await http.post(f"/v1/engagements/{engagement['id']}/subscribe", headers=admin)
            assert paid.json()["status"] == "active"

            seen = await wait_for(
                url, {"customer.subscription.created", "invoice.payment_succeeded"}
            )
            assert {"customer.subscription.created", "invoice.payment_succeeded"} <= set(seen)

            # Canceled in Stripe, not through us: only the webhook can tell the server.
            sub_id = paid.json()["stripe_subscription_id"]
            async with httpx.AsyncClient(auth=(EMULATOR_SECRET_KEY, "")) as stripe_http:
                deleted = await stripe_http.delete(
                    f"http://127.0.0.1:{emulator_port}/v1/subscriptions/{sub_id}"
                )
            assert deleted.json()["status"] == "canceled"
            seen = await wait_for(url, {"customer.subscription.deleted"})
            assert "customer.subscription.deleted" in seen
            final = (await http.get(f"/v1/engagements/{engagement['id']}", headers=admin)).json()
            assert final["status"] == "canceled"
        await engine.dispose()
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)
        await asyncio.to_thread(database.__exit__, None, None, None)
