"""Dates and instants for the date-rule properties: hypothesis strategies biased towards the
days date code gets wrong, the same days as explicit examples, and a way to put the app's
clock on a chosen instant.

The edges: every month end (28, 29, 30 and 31 days), 28 February and 29 February in leap and
common years (2100 is not a leap year), the year end at 23:30 UTC (still 31 December in UTC but
already 1 January east of it, and 18:30 in New York), and the US DST change days (the second
Sunday of March, the first Sunday of November) at the hours around the change (02:00 local:
07:00/06:00 UTC in New York, 10:00/09:00 UTC in Los Angeles)."""

from __future__ import annotations

import calendar
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.clock import travel, utcnow

NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
KIRITIMATI = ZoneInfo("Pacific/Kiritimati")  # UTC+14: the first zone into a new day

FIRST_DAY = date(2024, 1, 1)
LAST_DAY = date(2101, 12, 31)


def us_dst_days(year: int) -> tuple[date, date]:
    """The US DST change days: the second Sunday of March and the first Sunday of November."""
    march = [d for d in _days_of(year, 3) if d.weekday() == calendar.SUNDAY]
    november = [d for d in _days_of(year, 11) if d.weekday() == calendar.SUNDAY]
    return march[1], november[0]


def _days_of(year: int, month: int) -> list[date]:
    return [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)]


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def first_of_next_month(day: date) -> date:
    return month_end(day.year, day.month) + timedelta(days=1)


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, on the same day of the month or the month's last day when it
    has fewer (Stripe's anchoring: 31 January + 1 month = 28 February)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


DST_DAYS = [day for year in (2026, 2027) for day in us_dst_days(year)]
assert [date(2026, 3, 8), date(2026, 11, 1), date(2027, 3, 14), date(2027, 11, 7)] == DST_DAYS

EDGE_DAYS = [
    date(2026, 12, 31),  # year end
    date(2027, 1, 1),
    date(2027, 1, 31),  # 31-day month end
    date(2027, 2, 28),  # common-year February end
    date(2027, 3, 1),
    date(2028, 2, 28),
    date(2028, 2, 29),  # leap day
    date(2028, 3, 1),
    date(2100, 2, 28),  # 2100 is not a leap year: 1 March follows
    date(2100, 3, 1),
    date(2026, 4, 30),  # 30-day month end
    *DST_DAYS,
]
assert not calendar.isleap(2100)


def _utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


YEAR_END = _utc(date(2026, 12, 31), 23, 30)
assert YEAR_END.astimezone(NEW_YORK).date() == date(2026, 12, 31)
assert YEAR_END.astimezone(KIRITIMATI).date() == date(2027, 1, 1)
EDGE_INSTANTS = [
    YEAR_END,
    _utc(date(2027, 1, 31), 23, 30),
    _utc(date(2027, 2, 28), 23, 30),
    _utc(date(2028, 2, 28), 23, 30),
    _utc(date(2028, 2, 29), 23, 30),
    _utc(date(2100, 2, 28), 23, 30),
    # Around 02:00 local on the change days, in New York (UTC-5/-4) and Los Angeles (-8/-7).
    *(
        _utc(day, hour, minute)
        for day in DST_DAYS
        for hour in (5, 6, 7, 9, 10)
        for minute in (0, 30)
    ),
]


def days() -> st.SearchStrategy[date]:
    """Any day from 2024 to 2101, the edge days drawn often."""
    return st.one_of(
        st.sampled_from(EDGE_DAYS),
        st.builds(month_end, st.integers(2024, 2101), st.integers(1, 12)),
        st.dates(min_value=FIRST_DAY, max_value=LAST_DAY),
    )


def months() -> st.SearchStrategy[date]:
    """The first day of any month from 2024 to 2101 (how payout months are keyed)."""
    return st.builds(lambda y, m: date(y, m, 1), st.integers(2024, 2101), st.integers(1, 12))


def instants() -> st.SearchStrategy[datetime]:
    """Any UTC instant from 2024 to 2101 (microseconds included), the edge instants and the last
    minutes of month ends drawn often."""
    late = st.builds(
        lambda day, minutes: _utc(day, 23) + timedelta(minutes=minutes),
        days(),
        st.integers(0, 59),
    )
    return st.one_of(
        st.sampled_from(EDGE_INSTANTS),
        late,
        st.datetimes(
            min_value=datetime(2024, 1, 1),
            max_value=datetime(2101, 12, 31, 23, 59, 59),
            timezones=st.just(UTC),
        ),
    )


def db_instants() -> st.SearchStrategy[datetime]:
    """`instants()` to the minute, for the app's clock (which runs on from where it is put):
    a database example takes well under a minute, so its UTC day cannot change under it."""
    return instants().map(lambda t: t.replace(second=0, microsecond=0))


@contextmanager
def at(instant: datetime) -> Iterator[None]:
    """The app's clock on `instant` (it keeps running from there)."""
    with travel(instant - utcnow()):
        yield


# Pure properties: no per-example deadline (two busy cores can stretch any example).
calendar_examples = settings(deadline=None)

# Database-driven properties: few examples (each one runs real SQL), explicit edge examples
# first, and fixtures built once per test and shared by its examples (each example undoes its
# own writes, see `rolled_back`).
db_examples = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@asynccontextmanager
async def rolled_back(session: AsyncSession) -> AsyncIterator[None]:
    """Run one example's writes in a savepoint and undo them (the test's own data stays)."""
    nested = await session.begin_nested()
    try:
        yield
    finally:
        await nested.rollback()
        session.expire_all()
