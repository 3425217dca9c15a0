"""No date is taken from the process's local time zone: the app's clock is UTC whatever TZ
says, and so are the dates the bulk seeder writes."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import psycopg
import pytest
from hypothesis import example, given
from pydantic import TypeAdapter, ValidationError

from app import bulk_seed
from app.clinics.schemas import IntakeCreate
from app.config import libpq_url
from app.kit.clock import today, travel
from app.physicians.schemas import FutureDate
from tests.dates.strategies import YEAR_END, at, calendar_examples, db_instants

ZONES = ["Pacific/Kiritimati", "Pacific/Pago_Pago", "America/New_York", "Asia/Kolkata"]


@pytest.fixture(params=ZONES)
def local_zone(request, monkeypatch):
    """The process's local time zone set to each of ZONES (UTC+14 to UTC-11)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "now",
    [YEAR_END, datetime(2027, 1, 1, 0, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, 0, tzinfo=UTC)],
)
def test_the_apps_day_is_the_utc_day_in_any_local_zone(local_zone, now):
    with at(now):
        assert today() == now.date()


def test_the_bulk_seeder_dates_credentials_from_the_apps_utc_day(database_url, local_zone):
    """Ten years on by the app's clock, the seeded licenses and policies expire within their
    ranges of that day (-30 to +900 and -10 to +700 days), not of the machine's local date."""
    years = timedelta(days=3650)
    with psycopg.connect(libpq_url(database_url)) as conn:
        try:
            with travel(years):
                bulk_seed.seed_physicians(conn, 40, rng=random.Random(3))
                day = today()
            licenses = conn.execute(
                "SELECT min(expires_on), max(expires_on) FROM licenses l"
                " JOIN physicians p ON p.id = l.physician_id WHERE p.last_name LIKE 'Bulk%%'"
            ).fetchone()
            policies = conn.execute(
                "SELECT min(expires_on), max(expires_on) FROM malpractice_policies m"
                " JOIN physicians p ON p.id = m.physician_id WHERE p.last_name LIKE 'Bulk%%'"
            ).fetchone()
        finally:
            conn.rollback()
    assert licenses is not None
    assert policies is not None
    assert day - timedelta(days=30) <= licenses[0] <= licenses[1] <= day + timedelta(days=900)
    assert day - timedelta(days=10) <= policies[0] <= policies[1] <= day + timedelta(days=700)


NotPast = TypeAdapter(Annotated[date, *IntakeCreate.model_fields["desired_start"].metadata])
Future = TypeAdapter(FutureDate)


@calendar_examples
@given(db_instants())
@example(YEAR_END)  # 31 December may still start; it is 1 January in Kiritimati already
@example(datetime(2027, 1, 1, 0, 30, tzinfo=UTC))  # 31 December is past, though not in New York
@example(datetime(2028, 2, 29, 23, 30, tzinfo=UTC))
def test_inputs_are_checked_against_the_utc_day(now):
    """A desired start may be today (UTC) but not yesterday; a credential's expiry must be
    after today (a credential is not valid on its expiry day)."""
    day = now.date()
    with at(now):
        assert NotPast.validate_python(day) == day
        with pytest.raises(ValidationError):
            NotPast.validate_python(day - timedelta(days=1))
        assert Future.validate_python(day + timedelta(days=1)) == day + timedelta(days=1)
        with pytest.raises(ValidationError):
            Future.validate_python(day)
