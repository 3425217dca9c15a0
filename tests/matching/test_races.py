"""Races on real, committed data: a scratch database, the app's own connection pool, and
requests running concurrently on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from app.matching.models import Match, Offer
from app.physicians.models import Physician
from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import user_headers
from tests.live import scratch_app
from tests.matching.helpers import make_physician, physician_headers

pytestmark = pytest.mark.live_sessions
PROBLEMS = "https://mdmatch.dev/problems/"


@pytest.fixture(scope="module")
async def live_app(pg_server_url) -> AsyncIterator[FastAPI]:
    async with scratch_app(pg_server_url) as app:
        yield app


@pytest.fixture
async def live(live_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the live app; physicians of earlier rounds stop accepting new clinics."""
    await live_app.state.rate_limiter.reset()
    async with live_app.state.sessionmaker() as session:
        await session.execute(update(Physician).values(accepting_new=False))
        await session.commit()
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def submitted(client, admin) -> dict[str, Any]:
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    intake = await create_intake(client, admin, clinic["id"])
    response = await client.post(f"/v1/intakes/{intake['id']}/submit", headers=admin)
    assert response.json()["status"] == "matching"
    return response.json()


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_accepts_of_one_intake_have_one_winner(live_app, live, round_):
    settings = live_app.state.settings
    async with live_app.state.sessionmaker() as session:
        doctors = [
            await make_physician(session, last_name=f"Racer{i}", home_zip="78701") for i in range(3)
        ]
        heads = [await physician_headers(live, session, settings, d) for d in doctors]
    admin = await user_headers(live, "clinic_admin")
    intake = await submitted(live, admin)
    offers = []
    for h in heads:
        mine = (
            await live.get("/v1/physicians/me/offers", params={"status": "pending"}, headers=h)
        ).json()
        offers += [(h, o) for o in mine["items"]]
    assert len(offers) == 3

    results = await asyncio.gather(
        *[live.post(f"/v1/offers/{o['id']}/accept", headers=h) for h, o in offers]
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409]
    for r in results:
        if r.status_code == 409:
            assert r.json()["type"] == PROBLEMS + "offer-not-open"
    async with live_app.state.sessionmaker() as session:
        statuses = sorted(
            await session.scalars(select(Offer.status).where(Offer.intake_id == intake["id"]))
        )
    assert statuses == ["accepted", "withdrawn", "withdrawn"]
    assert (await live.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()[
        "status"
    ] == "matched"


@pytest.mark.parametrize("round_", range(3))
async def test_last_slot_is_taken_once(live_app, live, round_):
    settings = live_app.state.settings
    async with live_app.state.sessionmaker() as session:
        doctor = await make_physician(session, max_clinics=1, last_name="Busy")
        headers = await physician_headers(live, session, settings, doctor)
    admin = await user_headers(live, "clinic_admin")
    await submitted(live, admin)
    await submitted(live, admin)
    pending = (
        await live.get("/v1/physicians/me/offers", params={"status": "pending"}, headers=headers)
    ).json()["items"]
    assert len(pending) == 2
    results = await asyncio.gather(
        *[live.post(f"/v1/offers/{o['id']}/accept", headers=headers) for o in pending]
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["type"] == PROBLEMS + "capacity-exhausted"
    async with live_app.state.sessionmaker() as session:
        accepted = await session.scalar(
            select(func.count())
            .select_from(Offer)
            .where(Offer.physician_id == doctor.id, Offer.status == "accepted")
        )
    assert accepted == 1


@pytest.mark.parametrize("round_", range(3))
async def test_withdraw_racing_accepts_leaves_no_live_offer(live_app, live, round_):
    settings = live_app.state.settings
    async with live_app.state.sessionmaker() as session:
        doctors = [await make_physician(session, last_name=f"W{i}") for i in range(3)]
        heads = [await physician_headers(live, session, settings, d) for d in doctors]
    admin = await user_headers(live, "clinic_admin")
    intake = await submitted(live, admin)
    offers = []
    for h in heads:
        mine = (
            await live.get("/v1/physicians/me/offers", params={"status": "pending"}, headers=h)
        ).json()["items"]
        offers += [(h, o) for o in mine]
    results = await asyncio.gather(
        live.post(f"/v1/intakes/{intake['id']}/withdraw", headers=admin),
        *[live.post(f"/v1/offers/{o['id']}/accept", headers=h) for h, o in offers],
    )
    assert results[0].status_code == 200
    assert {r.status_code for r in results[1:]} <= {200, 409}
    assert sum(r.status_code == 200 for r in results[1:]) <= 1
    async with live_app.state.sessionmaker() as session:
        statuses = set(
            await session.scalars(select(Offer.status).where(Offer.intake_id == intake["id"]))
        )
    assert statuses == {"withdrawn"}
    final = (await live.get(f"/v1/intakes/{intake['id']}", headers=admin)).json()
    assert final["status"] == "withdrawn"


@pytest.mark.parametrize("round_", range(3))
async def test_a_reviewing_clinic_gets_exactly_its_number_of_acceptances(live_app, live, round_):
    """Review of two: one accepted, two more race for the last place; one wins, and the
    group's two acceptances hold distinct slots."""
    settings = live_app.state.settings
    async with live_app.state.sessionmaker() as session:
        doctors = [await make_physician(session, last_name=f"Review{i}") for i in range(3)]
        heads = [await physician_headers(live, session, settings, d) for d in doctors]
    admin = await user_headers(live, "clinic_admin")
    clinic = await create_clinic(live, admin, ("TX",), ownership_model="mso")
    created = await create_intake(live, admin, clinic["id"], review_choices=2)
    intake = (await live.post(f"/v1/intakes/{created['id']}/submit", headers=admin)).json()
    offers = []
    for h in heads:
        mine = (
            await live.get("/v1/physicians/me/offers", params={"status": "pending"}, headers=h)
        ).json()["items"]
        offers += [(h, o) for o in mine]
    assert len(offers) == 3
    (h0, o0), *racers = offers
    assert (await live.post(f"/v1/offers/{o0['id']}/accept", headers=h0)).status_code == 200
    results = await asyncio.gather(
        *[live.post(f"/v1/offers/{o['id']}/accept", headers=h) for h, o in racers]
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    async with live_app.state.sessionmaker() as session:
        slots = sorted(
            await session.scalars(
                select(Match.hold_slot).where(
                    Match.intake_id == intake["id"], Match.status == "accepted"
                )
            )
        )
        statuses = sorted(
            await session.scalars(select(Offer.status).where(Offer.intake_id == intake["id"]))
        )
    assert slots == [1, 2]
    assert statuses == ["accepted", "accepted", "withdrawn"]
