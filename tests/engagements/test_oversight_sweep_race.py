"""The hourly sweep that ends directors whose last day has come takes the engagement's lock
first (the house order), so it never deadlocks with a request holding that engagement (a
cancellation ending the same directors): it skips the engagement and ends them next run."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from app.engagements.continuity import end_due_oversight
from app.engagements.models import Engagement, EngagementDirector
from app.kit.clock import today, utcnow
from tests.billing.helpers import confirmed_engagement
from tests.live import scratch_app
from tests.matching.helpers import make_physician

pytestmark = pytest.mark.live_sessions


async def test_the_sweep_skips_an_engagement_a_request_holds_and_ends_it_next_run(
    pg_server_url,
):
    async with scratch_app(pg_server_url) as app:
        make = app.state.sessionmaker
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
            make() as session,
        ):
            doc = await make_physician(session)
            await session.commit()
            engaged = await confirmed_engagement(client, session, app.state.settings, physician=doc)
            engagement_id = uuid.UUID(engaged.id)
            # The director's last day has come.
            await session.execute(
                update(EngagementDirector)
                .where(EngagementDirector.engagement_id == engagement_id)
                .values(ends_on=today() - timedelta(days=1))
            )
            await session.commit()

        async with make() as request:
            # A request holds the engagement (as cancel does) and is about to end its directors.
            await request.scalar(
                select(Engagement).where(Engagement.id == engagement_id).with_for_update()
            )
            async with make() as sweep:
                result = await asyncio.wait_for(end_due_oversight(sweep, on=today()), 10)
                await sweep.commit()
            assert result.directors_ended == 0
            # The request goes on to end the director itself without waiting on the sweep.
            await asyncio.wait_for(
                request.execute(
                    update(EngagementDirector)
                    .where(EngagementDirector.engagement_id == engagement_id)
                    .values(ended_at=utcnow())
                ),
                10,
            )
            await request.rollback()  # it changed its mind: the director is still due

        async with make() as sweep:
            result = await end_due_oversight(sweep, on=today())
            await sweep.commit()
        assert result.directors_ended == 1
        async with make() as session:
            ended = await session.scalar(
                select(EngagementDirector.ended_at).where(
                    EngagementDirector.engagement_id == engagement_id
                )
            )
        assert ended is not None
