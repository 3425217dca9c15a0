"""Two intakes of one clinic submitted at once with a once-per-clinic promotion: one wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.clinics.helpers import create_clinic, create_intake
from tests.factories import user_headers
from tests.live import scratch_app
from tests.matching.helpers import make_physician

pytestmark = pytest.mark.live_sessions
PROBLEMS = "https://mdmatch.dev/problems/"


@pytest.fixture(scope="module")
async def live_app(pg_server_url) -> AsyncIterator[FastAPI]:
    async with scratch_app(pg_server_url) as app:
        yield app


@pytest.mark.parametrize("round_", range(3))
async def test_two_submits_with_one_promotion_have_one_winner(live_app, round_):
    await live_app.state.rate_limiter.reset()
    async with live_app.state.sessionmaker() as session:
        await make_physician(session, last_name=f"Promo{round_}")
        await session.commit()
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as live:
        admin = await user_headers(live, "clinic_admin")
        clinic = await create_clinic(live, admin, ("TX",), ownership_model="mso")
        intakes = [
            await create_intake(live, admin, clinic["id"], promo_code="FIRST200") for _ in range(2)
        ]
        answers = await asyncio.gather(
            *(live.post(f"/v1/intakes/{i['id']}/submit", headers=admin) for i in intakes)
        )
    assert sorted(a.status_code for a in answers) == [200, 409]
    [lost] = [a for a in answers if a.status_code == 409]
    assert lost.json()["type"] == PROBLEMS + "promotion-used"
