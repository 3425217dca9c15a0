"""Continuity raced on real, committed data (a scratch database, the app's own pool, requests
running concurrently): two physicians accepting the same backup search, a backup accepting while
the clinic cancels, and while the director resigns. No request fails with a 5xx or deadlocks,
and the engagement ends in one consistent state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from app.engagements.models import (
    BackupSearch,
    DirectorDeparture,
    Engagement,
    EngagementDirector,
)
from app.jobs.runtime import JobRuntime, configure_runtime
from app.kit.clock import today
from app.kit.mailer import MemoryEmailSender
from app.matching.models import Offer
from app.physicians.models import Physician
from tests.billing.helpers import Emulator, Engaged, confirmed_engagement
from tests.conftest import emulator_settings
from tests.live import scratch_app
from tests.matching.helpers import make_physician, physician_headers

pytestmark = pytest.mark.live_sessions
PROBLEMS = "https://mdmatch.dev/problems/"

# Standing by pays a small share of the payout: a physician whose stated minimum monthly
# rate is above it is not offered the standby (the `min_rate` constraint).
STANDBY_MINIMUM = 10_000


@pytest.fixture(scope="module")
async def live_app(pg_server_url, stripe_url) -> AsyncIterator[FastAPI]:
    async with scratch_app(pg_server_url, **emulator_settings(stripe_url)) as app:
        yield app


@pytest.fixture
async def live(live_app) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the live app; physicians of earlier rounds stop accepting new clinics."""
    await live_app.state.rate_limiter.reset()
    configure_runtime(
        JobRuntime(
            settings=live_app.state.settings,
            sessionmaker=live_app.state.sessionmaker,
            email_sender=MemoryEmailSender(),
            stripe=live_app.state.stripe,
        )
    )
    async with live_app.state.sessionmaker() as session:
        await session.execute(update(Physician).values(accepting_new=False))
        await session.commit()
    transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def _paid_with_candidates(
    live_app: FastAPI, live: httpx.AsyncClient, stripe_url: str, candidates: int
) -> tuple[Engaged, list[tuple[dict[str, str], dict[str, Any]]]]:
    """A paid engagement that bought a standing backup, and each candidate's backup offer."""
    settings = live_app.state.settings
    async with live_app.state.sessionmaker() as session:
        backups = [
            await make_physician(
                session,
                last_name=f"Standby{i}",
                min_monthly_rate_cents=STANDBY_MINIMUM,
                home_zip="78701",
            )
            for i in range(candidates)
        ]
        await session.commit()
        heads = [await physician_headers(live, session, settings, b) for b in backups]
        engaged = await confirmed_engagement(live, session, settings, standing_backup=True)
    setup = await live.post(f"/v1/engagements/{engaged.id}/payment-method", headers=engaged.admin)
    await Emulator(stripe_url).confirm_card(setup.json()["setup_intent_id"])
    paid = await live.post(f"/v1/engagements/{engaged.id}/subscribe", headers=engaged.admin)
    assert paid.json()["status"] == "active", paid.text
    offers = []
    for h in heads:
        page = await live.get("/v1/physicians/me/offers", params={"status": "pending"}, headers=h)
        offers += [(h, o) for o in page.json()["items"]]
    assert len(offers) == candidates
    return engaged, offers


async def _rows(live_app: FastAPI, engagement_id: str) -> dict[str, Any]:
    async with live_app.state.sessionmaker() as session:
        directors = list(
            await session.scalars(
                select(EngagementDirector).where(EngagementDirector.engagement_id == engagement_id)
            )
        )
        searches = list(
            await session.scalars(
                select(BackupSearch.status).where(BackupSearch.engagement_id == engagement_id)
            )
        )
        departures = list(
            await session.scalars(
                select(DirectorDeparture).where(DirectorDeparture.engagement_id == engagement_id)
            )
        )
        intake_id = await session.scalar(
            select(Engagement.intake_id).where(Engagement.id == engagement_id)
        )
        pending = list(
            await session.scalars(
                select(Offer.id).where(Offer.intake_id == intake_id, Offer.status == "pending")
            )
        )
    return {
        "directors": directors,
        "searches": searches,
        "departures": departures,
        "pending": pending,
    }


@pytest.mark.parametrize("round_", range(2))
async def test_two_physicians_accepting_one_backup_search_make_one_backup(
    live_app, live, stripe_url, round_
):
    engaged, offers = await _paid_with_candidates(live_app, live, stripe_url, 2)
    results = await asyncio.gather(
        *[live.post(f"/v1/offers/{o['id']}/accept", headers=h) for h, o in offers]
    )
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    [lost] = [r for r in results if r.status_code == 409]
    assert lost.json()["type"] == PROBLEMS + "offer-not-open"
    rows = await _rows(live_app, engaged.id)
    backups = [d for d in rows["directors"] if d.role == "backup"]
    assert len(backups) == 1
    assert rows["searches"] == ["filled"]
    assert rows["pending"] == []


@pytest.mark.parametrize("round_", range(3))
async def test_a_backup_accepting_while_the_clinic_cancels(live_app, live, stripe_url, round_):
    engaged, [(head, offer)] = await _paid_with_candidates(live_app, live, stripe_url, 1)
    accept, cancel = await asyncio.gather(
        live.post(f"/v1/offers/{offer['id']}/accept", headers=head),
        live.post(
            f"/v1/engagements/{engaged.id}/cancel",
            json={"at_period_end": False, "reason": "closing"},
            headers=engaged.admin,
        ),
    )
    assert cancel.status_code == 200, cancel.text
    assert accept.status_code in (200, 409), accept.text
    view = await live.get(f"/v1/engagements/{engaged.id}", headers=engaged.admin)
    assert view.json()["status"] == "canceled"
    rows = await _rows(live_app, engaged.id)
    # Whoever won, nothing is left running: no director, no open search, no pending offer.
    assert all(d.ended_at is not None for d in rows["directors"])
    assert set(rows["searches"]) <= {"filled", "canceled"}
    assert rows["pending"] == []


@pytest.mark.parametrize("round_", range(3))
async def test_a_backup_accepting_while_the_director_resigns(live_app, live, stripe_url, round_):
    engaged, [(head, offer)] = await _paid_with_candidates(live_app, live, stripe_url, 1)
    async with live_app.state.sessionmaker() as session:
        offer_physician = await session.scalar(
            select(Offer.physician_id).where(Offer.id == offer["id"])
        )
    leaving_on = today() + timedelta(days=30)
    accept, resign = await asyncio.gather(
        live.post(f"/v1/offers/{offer['id']}/accept", headers=head),
        live.post(
            f"/v1/engagements/{engaged.id}/resign",
            json={"reason": "moving", "effective_on": str(leaving_on)},
            headers=engaged.doctor,
        ),
    )
    assert resign.status_code == 200, resign.text
    assert accept.status_code in (200, 409), accept.text
    rows = await _rows(live_app, engaged.id)
    [departure] = rows["departures"]
    if accept.status_code == 200:
        # The backup was on standby first: they take over on the date, no search.
        assert departure.status == "replaced"
        [incoming] = [d for d in rows["directors"] if d.id == departure.replacement_director_id]
        assert (incoming.physician_id, incoming.starts_on) == (offer_physician, leaving_on)
    else:
        # The resignation came first: its replacement search superseded the backup search.
        assert accept.json()["type"] == PROBLEMS + "offer-not-open"
        assert departure.status in ("searching", "uncovered")
        assert "searching" not in rows["searches"]
        assert [d for d in rows["directors"] if d.role == "backup"] == []
