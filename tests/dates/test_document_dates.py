"""Compliance documents over the calendar: a filing's deadline is its trigger's UTC day plus the
state's days (calendar days, never an invented deadline when the source gives none); the
signing grace period is elapsed time from the version's generation, so a DST change makes it no
longer or shorter; an engagement is overdue from the instant its first missing document's
`sign_by` passes, not a microsecond before."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

from app.documents.days import local_day
from app.documents.filings import due_date
from app.documents.models import ComplianceDocument
from app.documents.service import readiness
from tests.dates.strategies import (
    YEAR_END,
    calendar_examples,
    days,
    instants,
)


@calendar_examples
@given(days(), st.integers(min_value=1, max_value=400))
@example(date(2027, 1, 31), 30)  # 2 March
@example(date(2028, 1, 31), 30)  # 1 March: the leap day counts
@example(date(2100, 1, 31), 30)  # 2 March: 2100 is not a leap year
@example(date(2026, 12, 31), 30)  # 30 January, over the year end
@example(date(2026, 3, 8), 14)  # a DST day changes nothing: calendar days
def test_a_filing_is_due_its_days_after_the_trigger_day(day, within):
    due = due_date(day, within)
    assert due is not None
    assert (due - day).days == within
    assert due_date(day, None) is None  # no deadline in the source: none invented


def _document(generated_at: datetime, grace_days: int, **overrides: object) -> ComplianceDocument:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "required": True,
        "status": "awaiting_signatures",
        "generated_at": generated_at,
        "sign_by": generated_at + timedelta(days=grace_days),
        "signers": [],
        "title": "Prescriptive Authority Agreement",
    }
    values.update(overrides)
    return ComplianceDocument(**values)


@calendar_examples
@given(instants(), st.integers(min_value=0, max_value=90))
@example(YEAR_END, 14)
@example(datetime(2026, 3, 8, 6, 30, tzinfo=UTC), 14)  # 01:30 New York, before the change
@example(datetime(2027, 11, 7, 5, 59, tzinfo=UTC), 1)  # the hour before the November change
@example(datetime(2028, 2, 29, 23, 59, tzinfo=UTC), 1)
def test_the_grace_period_is_elapsed_time_and_ends_at_its_instant(generated_at, grace):
    document = _document(generated_at, grace)
    deadline = generated_at + timedelta(days=grace)
    assert (deadline - generated_at).total_seconds() == grace * 86_400
    before = readiness([document], now=deadline - timedelta(microseconds=1))
    assert before.standing == "awaiting_signatures"
    assert before.under_oversight is True
    at = readiness([document], now=deadline)
    assert at.standing == "overdue"
    assert at.under_oversight is False
    assert at.sign_by == deadline


def test_executed_and_optional_documents_never_make_an_engagement_overdue():
    start = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    executed = _document(start, 0, status="executed")
    notice = _document(start, 0, required=False)
    later = start + timedelta(days=365)
    assert readiness([executed, notice], now=later).standing == "in_force"
    assert readiness([notice], now=later).standing == "not_generated"
    # The earliest missing deadline decides.
    first = _document(start, 3)
    second = _document(start, 10)
    ready = readiness([second, first, executed], now=start + timedelta(days=5))
    assert ready.standing == "overdue"
    assert ready.sign_by == start + timedelta(days=3)
    assert ready.required == 3
    assert ready.executed == 1


@calendar_examples
@given(instants())
@example(datetime(2027, 2, 1, 1, 30, tzinfo=UTC))  # 31 January, 19:30 in Austin
@example(YEAR_END)
@example(datetime(2026, 3, 8, 7, 30, tzinfo=UTC))  # the spring change in Texas
@example(datetime(2028, 3, 1, 5, 59, tzinfo=UTC))  # still the leap day in Austin
def test_a_filing_counts_from_the_clinics_local_day_and_the_earliest_one(at):
    austin = ZoneInfo("America/Chicago")
    el_paso = ZoneInfo("America/Denver")
    assert local_day(at, {"America/Chicago"}) == at.astimezone(austin).date()
    both = local_day(at, {"America/Chicago", "America/Denver"})
    assert both == min(at.astimezone(austin).date(), at.astimezone(el_paso).date())
    assert local_day(at, set()) == at.astimezone(UTC).date()
    assert both <= at.astimezone(UTC).date()  # never a later deadline than the UTC day's
    # 31 January 19:30 in Austin: due 2 March, not 3 March.
    if at == datetime(2027, 2, 1, 1, 30, tzinfo=UTC):
        assert due_date(both, 30) == date(2027, 3, 2)
