"""Matching's deadlines over the calendar: an offer's `respond_by` and an acceptance's
`confirm_by` are spans of elapsed time from an instant, closed from the deadline instant on
(accepting, confirming and the sweeper agree to the second), whatever the day; credentials are
checked from the day matching runs, never from a desired start already past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select, update

from app.auth.models import User
from app.clinics.models import Intake
from app.kit.clock import today
from app.matching import flows
from app.matching.models import Match, Offer
from app.matching.offers import accept_offer, confirm_deadline
from app.matching.service import OfferNotOpen, lock_intake, offer_deadline
from app.matching.sweeper import expire_overdue
from app.notifications.models import Notification
from app.physicians.models import License
from tests.conftest import make_settings
from tests.dates.helpers import accept, submit
from tests.dates.strategies import (
    NEW_YORK,
    YEAR_END,
    at,
    calendar_examples,
    db_examples,
    db_instants,
    instants,
    rolled_back,
)

SECOND = timedelta(seconds=1)


@calendar_examples
@given(instants(), st.booleans(), st.sampled_from([0.5, 2, 12, 23, 72]))
@example(YEAR_END, False, 12)
@example(datetime(2026, 3, 8, 6, 30, tzinfo=UTC), False, 12)  # 01:30 EST, due 14:30 EDT
@example(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), True, 2)  # 01:30 EDT, due 02:30 EST
def test_deadlines_are_elapsed_time_in_utc(sent_at, rush, hours):
    settings = make_settings(
        "postgresql+asyncpg://dates@127.0.0.1/dates",
        offer_ttl_hours=hours,
        rush_offer_ttl_hours=hours / 2,
        confirm_window_hours=hours,
    )
    offer = offer_deadline(sent_at, rush=rush, settings=settings)
    assert offer - sent_at == timedelta(hours=hours / 2 if rush else hours)
    assert confirm_deadline(sent_at, settings) - sent_at == timedelta(hours=hours)
    assert offer.utcoffset() == timedelta(0)
    # Sent from a New York clock, the deadline is the same instant (elapsed, not wall, time).
    local = offer_deadline(sent_at.astimezone(NEW_YORK), rush=rush, settings=settings)
    assert local.timestamp() == offer.timestamp()


@db_examples
@given(db_instants(), st.booleans())
@example(YEAR_END, False)  # due 2027-01-01 11:30 UTC
@example(datetime(2026, 3, 8, 6, 30, tzinfo=UTC), False)  # across the spring-forward change
@example(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), True)  # across the fall-back change
@example(datetime(2028, 2, 28, 23, 30, tzinfo=UTC), False)  # due on the leap day
async def test_an_offer_is_open_until_its_respond_by_and_expires_at_it(
    session, sessionmaker, settings, draft, sent_at, rush
):
    async with rolled_back(session):
        with at(sent_at):
            offer = await submit(session, settings, draft, rush=rush)
        assert abs(offer.created_at - sent_at) < timedelta(minutes=1)
        assert offer.respond_by == offer_deadline(offer.created_at, rush=rush, settings=settings)
        body = await session.scalar(
            select(Notification.body).where(
                Notification.user_id == draft.doctor_id, Notification.kind == "offer.new"
            )
        )
        assert body is not None
        assert f"{offer.respond_by.astimezone(UTC):%Y-%m-%d %H:%M} UTC" in body

        doctor = await session.get(User, draft.doctor_id)
        with at(offer.respond_by - SECOND):
            assert await expire_overdue(sessionmaker, settings) == {
                "offers_expired": 0,
                "acceptances_lapsed": 0,
            }
        with at(offer.respond_by):
            with pytest.raises(OfferNotOpen) as refused:
                await accept_offer(session, doctor, offer.id, settings)
            assert refused.value.extensions["offer_status"] == "expired"
            assert (await expire_overdue(sessionmaker, settings))["offers_expired"] == 1
        await session.refresh(offer)
        assert offer.status == "expired"


@db_examples
@given(db_instants())
@example(YEAR_END)  # confirm by 2027-01-03 23:30 UTC
@example(datetime(2027, 3, 12, 7, 0, tzinfo=UTC))  # the window spans 14 March 2027
@example(datetime(2028, 2, 27, 0, 0, tzinfo=UTC))  # ... and the leap day
@example(datetime(2100, 2, 26, 12, 0, tzinfo=UTC))  # ... and 2100's 28 February
async def test_an_acceptance_can_be_confirmed_until_its_confirm_by_and_lapses_at_it(
    session, sessionmaker, settings, draft, accepted_at
):
    async with rolled_back(session):
        with at(accepted_at - timedelta(hours=1)):
            offer = await submit(session, settings, draft)
        with at(accepted_at):
            await accept(session, settings, draft, offer)
        match = await session.get(Match, offer.match_id)
        assert match is not None
        assert match.accepted_at is not None
        assert match.confirm_by is not None
        assert match.confirm_by == confirm_deadline(match.accepted_at, settings)

        intake, clinic = await lock_intake(session, draft.intake_id)
        admin = await session.get(User, draft.admin_id)
        assert admin is not None
        with at(match.confirm_by), pytest.raises(flows.NoAcceptedMatch):
            await flows.confirm(
                session, intake, clinic, match_ids=[], actor=admin, settings=settings
            )
        with at(match.confirm_by - SECOND):
            assert (await expire_overdue(sessionmaker, settings))["acceptances_lapsed"] == 0
        with at(match.confirm_by):
            assert (await expire_overdue(sessionmaker, settings))["acceptances_lapsed"] == 1
        await session.refresh(match)
        assert match.status == "expired"


async def test_a_license_expiring_today_does_not_qualify_for_an_intake_whose_start_passed(
    session, settings, draft
):
    """An intake submitted after its desired start (or resubmitted, or searched again for a
    replacement) is matched for today: a license that expires today (not yet swept to
    `expired`: the sweep runs at 06:05 UTC) no longer qualifies, though it would have on the
    desired start."""
    async with rolled_back(session):
        await session.execute(
            update(License)
            .where(License.physician_id == draft.physician_id)
            .values(expires_on=today())
        )
        await session.execute(
            update(Intake)
            .where(Intake.id == draft.intake_id)
            .values(desired_start=today() - timedelta(days=10))
        )
        intake, clinic = await lock_intake(session, draft.intake_id)
        actor = await session.get(User, draft.admin_id)
        assert actor is not None
        await flows.submit(session, intake, clinic, actor=actor, settings=settings)
        offers = list(await session.scalars(select(Offer).where(Offer.intake_id == intake.id)))
        assert offers == []
        assert intake.status == "unmatched"
