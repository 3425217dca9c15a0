"""Credential expiry over the calendar: a credential is valid up to the day before it expires,
expired from that day on (the sweep and matching's eligibility agree), and flagged once when it
expires within the warning window."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select, update

from app.notifications.models import Notification
from app.physicians.eligibility import current_dea, current_license, current_malpractice
from app.physicians.expiry import Standing, expiry_horizon, standing, sweep_credentials
from app.physicians.models import DeaRegistration, License, MalpracticePolicy, Physician
from tests.dates.strategies import YEAR_END, calendar_examples, days, db_examples, rolled_back
from tests.matching.helpers import make_physician

warning_days = st.integers(1, 120)


@calendar_examples
@given(days(), days(), warning_days)
@example(date(2028, 2, 29), date(2028, 2, 29), 60)  # expired on its expiry day
@example(date(2028, 3, 1), date(2028, 2, 29), 60)  # one day left
@example(date(2028, 2, 29), date(2027, 12, 31), 60)  # the window's last day is the leap day
@example(date(2100, 3, 1), date(2100, 1, 1), 59)  # 2100: 1 January + 59 days is 1 March
@example(date(2100, 3, 1), date(2100, 1, 1), 58)
@example(date(2027, 1, 1), YEAR_END.date(), 1)
def test_a_credential_expires_on_its_day_and_is_flagged_within_the_window(
    expires_on, on, warn_days
):
    state = standing(expires_on, on=on, warn_days=warn_days)
    left = (expires_on - on).days
    assert (state is Standing.expired) == (left <= 0)
    assert (state is Standing.expiring) == (1 <= left <= warn_days)
    assert (state is Standing.current) == (left > warn_days)
    assert (expiry_horizon(on, warn_days) - on).days == warn_days
    # Matching's rule (valid while expires_on > the day) is the sweep's, to the day.
    assert (expires_on > on) == (state is not Standing.expired)


def test_the_window_counts_calendar_days_across_february():
    assert expiry_horizon(date(2027, 12, 31), 60) == date(2028, 2, 29)
    assert expiry_horizon(date(2026, 12, 31), 60) == date(2027, 3, 1)
    assert expiry_horizon(date(2100, 1, 1), 59) == date(2100, 3, 1)


@pytest.fixture
async def doctor(session) -> tuple[uuid.UUID, uuid.UUID]:
    """A physician with a Texas license, a Texas DEA registration and a malpractice policy
    (ids: the physician's and their account's)."""
    doc = await make_physician(session, dea_states=("TX",))
    return doc.id, doc.user_id


async def _eligible(session, physician_id, condition) -> bool:
    found = await session.scalar(
        select(Physician.id).where(Physician.id == physician_id, condition)
    )
    return found is not None


@db_examples
@given(days(), warning_days)
@example(date(2028, 2, 29), 60)
@example(date(2027, 12, 31), 60)  # the malpractice policy's last warned day is the leap day
@example(date(2100, 1, 1), 59)
@example(YEAR_END.date(), 1)
@example(date(2027, 3, 14), 30)  # a DST change day changes nothing: dates have no hours
async def test_the_sweep_expires_on_the_day_and_warns_once_within_the_window(
    session, doctor, on, warn_days
):
    """On `on`: the license expiring that day expires, the policy expiring on the window's last
    day is flagged with the days left, the DEA registration a day beyond is left alone; the next
    day the registration is flagged, the policy is not flagged again."""
    physician_id, user_id = doctor
    horizon = expiry_horizon(on, warn_days)
    async with rolled_back(session):
        for model, expires_on in (
            (License, on),
            (MalpracticePolicy, horizon),
            (DeaRegistration, horizon + timedelta(days=1)),
        ):
            await session.execute(
                update(model)
                .where(model.physician_id == physician_id)
                .values(expires_on=expires_on, expiry_warned_on=None)
            )
        # Before the sweep, matching already agrees: the license is no good on its expiry day.
        assert await _eligible(session, physician_id, current_license("TX", on - timedelta(1)))
        assert not await _eligible(session, physician_id, current_license("TX", on))
        assert await _eligible(session, physician_id, current_malpractice(horizon - timedelta(1)))
        assert not await _eligible(session, physician_id, current_malpractice(horizon))
        assert await _eligible(session, physician_id, current_dea("TX", horizon))

        first = await sweep_credentials(session, on=on, warn_days=warn_days)
        assert (first.expired, first.warned) == (1, 1)
        license_ = await session.scalar(select(License).where(License.physician_id == physician_id))
        policy = await session.scalar(
            select(MalpracticePolicy).where(MalpracticePolicy.physician_id == physician_id)
        )
        dea = await session.scalar(
            select(DeaRegistration).where(DeaRegistration.physician_id == physician_id)
        )
        assert license_ is not None
        assert policy is not None
        assert dea is not None
        assert license_.status == "expired"
        assert (policy.status, policy.expiry_warned_on) == ("verified", on)
        assert dea.expiry_warned_on is None

        second = await sweep_credentials(session, on=on + timedelta(days=1), warn_days=warn_days)
        # A one-day window: the policy flagged yesterday expires today.
        assert (second.expired, second.warned) == (int(warn_days == 1), 1)
        assert dea.expiry_warned_on == on + timedelta(days=1)
        titles = list(
            await session.scalars(
                select(Notification.title)
                .where(Notification.user_id == user_id, Notification.kind == "credential.expiring")
                .order_by(Notification.created_at)
            )
        )
        left = "1 day" if warn_days == 1 else f"{warn_days} days"
        assert titles == [
            f"Your malpractice policy (MedPro Group) expires in {left}",
            f"Your TX DEA registration expires in {left}",
        ]
