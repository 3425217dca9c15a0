"""Races on the roster, on real committed data (a scratch database and the app's own pool)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.clinics import roster
from app.clinics.models import ClinicProvider
from tests.clinics.helpers import create_clinic
from tests.clinics.test_roster import PROBLEMS, add, person
from tests.factories import user_headers
from tests.live import scratch_app

pytestmark = pytest.mark.live_sessions


@pytest.fixture(scope="module")
async def live_app(pg_server_url) -> AsyncIterator[FastAPI]:
    async with scratch_app(pg_server_url) as app:
        yield app


@pytest.fixture
async def live(live_app) -> AsyncIterator[httpx.AsyncClient]:
    await live_app.state.rate_limiter.reset()
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def test_the_last_roster_place_goes_to_one_of_two_racing_adds(live_app, live, monkeypatch):
    monkeypatch.setattr(roster, "MAX_ROSTER", 2)
    admin = await user_headers(live, "clinic_admin")
    clinic = await create_clinic(live, admin, ("TX",))
    await add(live, admin, clinic, license_number="FIRST")
    path = f"/v1/clinics/{clinic['id']}/providers"
    body = person([clinic["locations"][0]["id"]])
    answers = await asyncio.gather(
        live.post(path, json=body | {"license_number": "R1"}, headers=admin),
        live.post(path, json=body | {"license_number": "R2"}, headers=admin),
    )
    assert sorted(a.status_code for a in answers) == [201, 409]
    [full] = [a for a in answers if a.status_code == 409]
    assert full.json()["type"] == PROBLEMS + "roster-full"
    async with live_app.state.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).where(ClinicProvider.clinic_id == uuid.UUID(clinic["id"]))
        )
    assert count == 2
