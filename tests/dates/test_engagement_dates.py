"""Engagements' date rules over the calendar: the 23-hour payment window after a clinic confirms,
and a resignation's notice period (`effective_on`), through to the day oversight ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.auth.models import User
from app.billing.service import expire_unpaid, overdue_engagements
from app.engagements.continuity import earliest_effective_on, end_due_oversight, resign
from app.engagements.models import Engagement
from app.engagements.service import DEFAULT_PAYMENT_WINDOW, payment_deadline
from app.errors import ValidationFailed
from app.kit.clock import today
from tests.dates.helpers import accept, confirm, submit
from tests.dates.strategies import (
    LOS_ANGELES,
    NEW_YORK,
    YEAR_END,
    at,
    calendar_examples,
    days,
    db_examples,
    db_instants,
    instants,
    rolled_back,
)

SECOND = timedelta(seconds=1)


# --- the payment window -----------------------------------------------------------------------


@calendar_examples
@given(instants())
@example(datetime(2026, 3, 7, 8, 0, tzinfo=UTC))  # 03:00 EST; due 03:00 EDT the next day
@example(datetime(2026, 10, 31, 7, 0, tzinfo=UTC))  # 03:00 EDT; due 01:00 EST the next day
@example(YEAR_END)
def test_the_payment_window_is_23_hours_of_elapsed_time(confirmed_at):
    due = payment_deadline(confirmed_at, DEFAULT_PAYMENT_WINDOW)
    assert due - confirmed_at == timedelta(hours=23)
    for zone in (NEW_YORK, LOS_ANGELES):
        local = payment_deadline(confirmed_at.astimezone(zone), DEFAULT_PAYMENT_WINDOW)
        assert local.timestamp() == due.timestamp()


@db_examples
@given(db_instants())
@example(datetime(2026, 12, 31, 0, 30, tzinfo=UTC))  # due 23:30 UTC, 1 January in Kiritimati
@example(YEAR_END)  # due 2027-01-01 22:30 UTC
@example(datetime(2026, 3, 7, 8, 0, tzinfo=UTC))  # due across the spring-forward change
@example(datetime(2027, 11, 6, 7, 0, tzinfo=UTC))  # due across the fall-back change
@example(datetime(2028, 2, 28, 12, 0, tzinfo=UTC))  # due on the leap day
async def test_an_unpaid_engagement_is_canceled_at_its_payment_deadline_not_before(
    session, settings, draft, confirmed_at
):
    async with rolled_back(session):
        with at(confirmed_at - timedelta(hours=2)):
            offer = await submit(session, settings, draft)
            await accept(session, settings, draft, offer)
        with at(confirmed_at):
            engagement_id = await confirm(session, settings, draft)
        engagement = await session.get(Engagement, engagement_id)
        assert engagement is not None
        due = engagement.payment_due_by
        assert due is not None
        assert due == payment_deadline(engagement.confirmed_at, DEFAULT_PAYMENT_WINDOW)
        assert abs(engagement.confirmed_at - confirmed_at) < timedelta(minutes=1)

        with at(due - SECOND):
            assert engagement_id not in await overdue_engagements(session)
            assert not await expire_unpaid(session, None, engagement_id)
        with at(due):
            assert engagement_id in await overdue_engagements(session)
            assert await expire_unpaid(session, None, engagement_id)
        assert engagement.status == "canceled"
        # The UTC day it ended, whatever day it already is east of UTC.
        assert engagement.ends_on == due.astimezone(UTC).date()


# --- the notice period ------------------------------------------------------------------------


@calendar_examples
@given(days(), st.integers(0, 365))
@example(date(2027, 1, 31), 30)  # 2 March: February has 28 days
@example(date(2028, 1, 31), 30)  # 1 March: the leap day counts
@example(date(2100, 1, 31), 30)  # 2 March: 2100 is not a leap year
@example(date(2026, 12, 31), 30)  # into the next year
@example(date(2027, 2, 12), 30)  # a notice spanning 14 March 2027, a 23-hour day in the US
def test_the_notice_period_is_whole_calendar_days(on, notice):
    earliest = earliest_effective_on(on, notice)
    assert (earliest - on).days == notice
    assert earliest.toordinal() - on.toordinal() == notice


@db_examples
@given(db_instants())
@example(YEAR_END)  # notice given 31 December (UTC) runs from then, though 1 January east
@example(datetime(2027, 1, 31, 23, 30, tzinfo=UTC))  # ends 2 March 2027
@example(datetime(2028, 1, 31, 23, 30, tzinfo=UTC))  # ends 1 March 2028
@example(datetime(2026, 3, 8, 7, 30, tzinfo=UTC))  # given during the spring-forward hour
async def test_a_resignation_needs_the_full_notice_and_ends_oversight_on_its_day(
    session, settings, engaged, given_at
):
    notice = settings.resignation_notice_days
    async with rolled_back(session):
        doctor = await session.get(User, engaged.doctor_id)
        assert doctor is not None
        with at(given_at):
            on = today()
            earliest = earliest_effective_on(on, notice)
            with pytest.raises(ValidationFailed) as refused:
                await resign(
                    session,
                    doctor,
                    engaged.engagement_id,
                    reason="relocating",
                    effective_on=earliest - timedelta(days=1),
                    settings=settings,
                )
            [error] = refused.value.extensions["errors"]
            assert error["loc"] == ["body", "effective_on"]
            assert earliest.isoformat() in error["msg"]
            engagement = await resign(
                session,
                doctor,
                engaged.engagement_id,
                reason="relocating",
                effective_on=earliest,
                settings=settings,
            )
        assert on == given_at.date()
        [director] = engagement.directors
        assert director.ends_on == earliest
        assert (
            await end_due_oversight(session, on=earliest - timedelta(days=1))
        ).directors_ended == 0
        assert (await end_due_oversight(session, on=earliest)).directors_ended == 1
