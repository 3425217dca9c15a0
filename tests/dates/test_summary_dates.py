"""The daily report's window over the calendar: a day's activity is what happened in its UTC
day, [00:00, 24:00) UTC, whatever the database session's or the process's time zone; the
default day is yesterday in UTC; the backlog figures count from today."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import example, given
from sqlalchemy import text, update

from app.clinics.models import Intake
from app.kit.clock import today
from app.operations.summary import daily_summary, day_window
from app.physicians.models import License
from tests.clinics.helpers import create_clinic, create_intake
from tests.dates.strategies import (
    DST_DAYS,
    KIRITIMATI,
    YEAR_END,
    at,
    calendar_examples,
    days,
    db_examples,
    db_instants,
    rolled_back,
)
from tests.factories import bearer, login, make_ops_user, user_headers

MICROSECOND = timedelta(microseconds=1)


@calendar_examples
@given(days())
@example(date(2026, 3, 8))  # 23 hours long in New York: still 24 in UTC
@example(date(2026, 11, 1))
@example(date(2028, 2, 29))
@example(date(2026, 12, 31))
def test_a_report_day_is_the_utc_day_and_the_days_tile(day):
    start, end = day_window(day)
    assert start == datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert end - start == timedelta(hours=24)
    assert day_window(day + timedelta(days=1))[0] == end
    assert (start.utcoffset(), end.utcoffset()) == (timedelta(0), timedelta(0))


@pytest.fixture
async def four_intakes(client) -> list[uuid.UUID]:
    admin = await user_headers(client, "clinic_admin")
    clinic = await create_clinic(client, admin, ("TX",), ownership_model="mso")
    return [uuid.UUID((await create_intake(client, admin, clinic["id"]))["id"]) for _ in range(4)]


@db_examples
@given(days())
@example(date(2026, 12, 31))
@example(date(2027, 1, 1))
@example(date(2028, 2, 29))
@example(DST_DAYS[0])
@example(DST_DAYS[1])
async def test_a_days_activity_is_its_utc_day_whatever_the_session_time_zone(
    session, settings, four_intakes, day
):
    start, end = day_window(day)
    submitted = [start - MICROSECOND, start, end - MICROSECOND, end]
    async with rolled_back(session):
        for intake_id, at_ in zip(four_intakes, submitted, strict=True):
            await session.execute(
                update(Intake)
                .where(Intake.id == intake_id)
                .values(submitted_at=at_, first_offer_at=at_ + timedelta(minutes=10))
            )
        for zone in ("UTC", "Pacific/Kiritimati", "America/New_York", "America/Los_Angeles"):
            await session.execute(text(f"SET LOCAL TIME ZONE '{zone}'"))
            summary = await daily_summary(session, day=day, settings=settings)
            assert summary.day == day
            assert summary.intakes_submitted == 2, zone
            assert summary.median_minutes_to_first_offer == 10.0


@db_examples
@given(db_instants())
@example(YEAR_END)
@example(datetime(2028, 2, 29, 7, 0, tzinfo=UTC))  # the daily job's hour, on the leap day
@example(datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
async def test_the_backlog_counts_credentials_expiring_within_the_window_from_today(
    session, settings, draft, now
):
    """The credential sweep flags what expires by today + the window: so does the report,
    whichever day's activity it is for (yesterday's, by default, or an old one)."""
    warn = settings.credential_expiry_warning_days
    async with rolled_back(session):
        with at(now):
            last = today() + timedelta(days=warn)
            for expires_on, counted in ((last, 1), (last + timedelta(days=1), 0)):
                await session.execute(
                    update(License)
                    .where(License.physician_id == draft.physician_id)
                    .values(expires_on=expires_on)
                )
                for day in (today() - timedelta(days=1), date(2024, 1, 1)):
                    summary = await daily_summary(session, day=day, settings=settings)
                    assert summary.credentials_expiring == counted, (expires_on, day)


@pytest.mark.parametrize(
    "now",
    [
        YEAR_END,  # yesterday is 30 December, though 1 January has begun in Kiritimati
        datetime(2027, 1, 1, 7, 0, tzinfo=UTC),  # the job's hour: 31 December
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),  # just after spring-forward in New York
    ],
)
@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/New_York"])
async def test_the_default_report_is_yesterdays_utc_day_in_any_local_zone(
    client, session, settings, monkeypatch, now, zone
):
    ops = await make_ops_user(session, settings)
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        local_day = datetime.fromtimestamp(now.timestamp()).date()  # the process's zone now
        with at(now):
            headers = bearer((await login(client, ops.email))["access_token"])
            report = await client.get("/v1/reports/daily", headers=headers)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert report.status_code == 200, report.text
    assert report.json()["day"] == str(now.date() - timedelta(days=1))
    if zone == "Pacific/Kiritimati":
        assert local_day == now.astimezone(KIRITIMATI).date()
