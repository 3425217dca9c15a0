"""Billing's date rules as properties over the calendar: a director's share of a month, the
months a paid invoice covers, and the prorated difference of a scope change."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select

from app.billing.models import PayoutEntry, PayoutStatus
from app.billing.payouts import transfer_due
from app.billing.service import prorated_difference
from app.billing.shapes import months_covered, period_end, period_months, period_start
from app.billing.sync import mirror_invoice, month_share, reaccrue_director
from app.clinics.staffing import Charge
from app.engagements.models import Engagement, EngagementDirector
from app.physicians.models import Physician
from tests.dates.strategies import (
    NEW_YORK,
    YEAR_END,
    add_months,
    at,
    calendar_examples,
    days,
    db_examples,
    first_of_next_month,
    instants,
    months,
    rolled_back,
)

amounts = st.integers(0, 5_000_000)
maybe_days = st.none() | days()


@st.composite
def month_and_dates(draw: st.DrawFn) -> tuple[date, date | None, date | None]:
    """A month, and oversight dates around it (inside, on its edges, or up to 40 days out)."""
    month = draw(months())
    near = st.none() | st.integers(-40, 40).map(lambda d: month + timedelta(days=d))
    return month, draw(near), draw(near)


def director(amount: int, starts_on: date | None, ends_on: date | None) -> EngagementDirector:
    return EngagementDirector(monthly_payout_cents=amount, starts_on=starts_on, ends_on=ends_on)


def overseen_days(starts_on: date | None, ends_on: date | None, month: date) -> int:
    """The month's days a director oversees, one by one with coverage's rule (from `starts_on`
    up to the day before `ends_on`)."""
    day, n = month, 0
    while day < first_of_next_month(month):
        n += (starts_on is None or starts_on <= day) and (ends_on is None or day < ends_on)
        day += timedelta(days=1)
    return n


def days_in(month: date) -> int:
    return (first_of_next_month(month) - month).days


# --- month_share ------------------------------------------------------------------------------


@calendar_examples
@given(amounts, st.one_of(month_and_dates(), st.tuples(months(), maybe_days, maybe_days)))
@example(90_000, (date(2028, 2, 1), date(2028, 2, 29), None))  # the leap day alone
@example(90_000, (date(2100, 2, 1), None, date(2100, 2, 28)))  # 2100: 27 of 28 days
@example(90_000, (date(2026, 12, 1), date(2026, 12, 31), date(2027, 1, 1)))  # the last day
@example(90_000, (date(2027, 3, 1), date(2027, 3, 14), None))  # from a DST change day
def test_a_share_pays_the_days_overseen_and_never_more_than_the_month(amount, dated):
    month, starts_on, ends_on = dated
    share = month_share(director(amount, starts_on, ends_on), month)
    served = overseen_days(starts_on, ends_on, month)
    assert 0 <= share <= amount
    assert share == amount * served // days_in(month)
    if served == 0:
        assert share == 0
    if served == days_in(month):
        assert share == amount


@calendar_examples
@given(amounts, months(), st.lists(st.integers(-3, 33), max_size=4))
@example(90_000, date(2028, 2, 1), [28])  # 29 February
@example(90_000, date(2027, 2, 1), [27, 28])  # 28 February, 1 March
@example(100_001, date(2026, 12, 1), [10, 30])  # 11 and 31 December
@example(90_000, date(2027, 11, 1), [6])  # 7 November, a DST change day
def test_consecutive_directors_share_the_month_less_rounding_below_their_number(
    amount, month, offsets
):
    """Directors handing over on days around the month (a replacement starts the day its
    predecessor stops) are paid the month's amount between them, less under one cent each."""
    cuts = [month + timedelta(days=d) for d in offsets]
    bounds = [None, *sorted(cuts), None]
    shares = [
        month_share(director(amount, start, end), month)
        for start, end in itertools.pairwise(bounds)
    ]
    assert amount - len(shares) < sum(shares) <= amount


@calendar_examples
@given(amounts, month_and_dates(), st.integers(0, 40), st.integers(0, 40))
@example(90_000, (date(2028, 2, 1), date(2028, 2, 29), date(2028, 2, 29)), 0, 1)
def test_a_share_grows_with_the_days_served(amount, dated, earlier, later):
    """Starting earlier or stopping later never pays less."""
    month, starts_on, ends_on = dated
    shorter = director(amount, starts_on, ends_on)
    longer = director(
        amount,
        starts_on - timedelta(days=earlier) if starts_on else None,
        ends_on + timedelta(days=later) if ends_on else None,
    )
    assert month_share(longer, month) >= month_share(shorter, month)


@calendar_examples
@given(amounts, days(), maybe_days)
def test_a_director_is_paid_nothing_for_months_outside_their_dates(amount, starts_on, ends_on):
    d = director(amount, starts_on, ends_on)
    before = starts_on.replace(day=1) - timedelta(days=1)
    assert month_share(d, before.replace(day=1)) == 0
    if ends_on is not None:
        assert month_share(d, first_of_next_month(max(ends_on, starts_on))) == 0


# --- months an invoice covers -----------------------------------------------------------------


def _first(day: date) -> date:
    return day.replace(day=1)


def _same_time(instant: datetime, day: date) -> datetime:
    return instant.replace(year=day.year, month=day.month, day=day.day)


@calendar_examples
@given(instants())
@example(YEAR_END)
@example(datetime(2027, 1, 31, 23, 30, tzinfo=UTC))  # ends 28 February
@example(datetime(2028, 1, 31, 0, 0, tzinfo=UTC))  # ends on the leap day
@example(datetime(2100, 1, 31, 12, 0, tzinfo=UTC))
@example(datetime(2026, 3, 8, 7, 0, tzinfo=UTC))  # the spring-forward instant in New York
def test_a_monthly_period_covers_the_month_it_starts_in(start):
    end = _same_time(start, add_months(start.date(), 1))
    assert period_months(start, end) == [_first(start.date())]


@calendar_examples
@given(instants())
@example(datetime(2028, 2, 29, 23, 30, tzinfo=UTC))  # ends 28 February 2029
@example(YEAR_END)
@example(datetime(2099, 3, 1, 0, 0, tzinfo=UTC))  # spans 2100's 28-day February
def test_a_yearly_period_covers_twelve_months_from_the_start(start):
    end = _same_time(start, add_months(start.date(), 12))
    assert period_months(start, end) == [add_months(_first(start.date()), i) for i in range(12)]


@calendar_examples
@given(instants(), st.integers(1, 30), st.booleans())
@example(datetime(2027, 1, 31, 23, 30, tzinfo=UTC), 14, True)
@example(datetime(2027, 1, 31, 23, 30, tzinfo=UTC), 14, False)
@example(datetime(2027, 8, 31, 10, 0, tzinfo=UTC), 8, True)
def test_consecutive_monthly_invoices_pay_each_month_once(anchor, count, chained):
    """Stripe keeps a subscription on its anchor day (31 January, 28 February, 31 March); the
    emulator moves on from each period's end (31 January, 28 February, 28 March). Either way a
    run of monthly invoices pays consecutive months, none twice, none skipped."""
    starts = [anchor.date()]
    for i in range(1, count + 1):
        starts.append(add_months(starts[-1], 1) if chained else add_months(anchor.date(), i))
    covered: list[date] = []
    for a, b in itertools.pairwise(starts):
        covered += period_months(_same_time(anchor, a), _same_time(anchor, b))
    assert covered == [add_months(_first(anchor.date()), i) for i in range(count)]


@calendar_examples
@given(instants(), st.sampled_from([1, 12]))
@example(YEAR_END, 1)
@example(datetime(2027, 1, 1, 2, 0, tzinfo=UTC), 1)  # still 31 December in New York
@example(datetime(2026, 11, 1, 6, 0, tzinfo=UTC), 12)
def test_the_months_are_the_utc_ones_whatever_zone_the_period_is_written_in(start, interval):
    end = _same_time(start, add_months(start.date(), interval))
    utc = period_months(start, end)
    assert period_months(start.astimezone(NEW_YORK), end.astimezone(NEW_YORK)) == utc


@calendar_examples
@given(instants(), st.booleans())
@example(YEAR_END, True)
@example(datetime(2028, 2, 29, 23, 30, tzinfo=UTC), False)
def test_a_subscriptions_period_is_read_in_utc_from_either_shape(end, real_shape):
    """Stripe's epoch seconds become UTC instants: an engagement canceled at a period end of
    23:30 UTC on 31 December ends on 31 December (`ends_on`), not on the next day."""
    stamp = int(end.timestamp())
    start = stamp - 86_400
    sub: dict[str, Any] = (
        {"items": {"data": [{"current_period_start": start, "current_period_end": stamp}]}}
        if real_shape
        else {"current_period_start": start, "current_period_end": stamp}
    )
    read = period_end(sub)
    assert read is not None
    assert read == end.replace(microsecond=0)
    assert read.utcoffset() == timedelta(0)
    assert read.date() == end.date()
    assert period_start(sub) == read - timedelta(days=1)


def _line(start: datetime, end: datetime, *, proration: bool, real_shape: bool) -> dict[str, Any]:
    period = {"start": int(start.timestamp()), "end": int(end.timestamp())}
    if real_shape:
        return {
            "period": period,
            "parent": {
                "type": "subscription_item_details",
                "subscription_item_details": {"proration": proration},
            },
        }
    return {"type": "subscription", "proration": proration, "period": period}


@calendar_examples
@given(instants(), st.booleans())
@example(YEAR_END, True)
@example(datetime(2028, 2, 29, 12, 0, tzinfo=UTC), False)
def test_an_invoice_covers_its_regular_line_and_not_its_prorations(start, real_shape):
    """A scope change's invoice carries proration lines for part of the old and new periods:
    they are paid once already (or credited), so they cover no month."""
    end = _same_time(start, add_months(start.date(), 1))
    half = start + (end - start) / 2
    invoice = {
        "lines": {
            "data": [
                _line(half, end, proration=True, real_shape=real_shape),
                _line(start, end, proration=False, real_shape=real_shape),
                {"type": "invoiceitem", "period": {"start": 0, "end": 1}},
            ]
        }
    }
    assert months_covered(invoice) == [_first(start.date())]
    invoice["lines"]["data"].pop(1)
    assert months_covered(invoice) == []


# --- the prorated difference of a scope change ------------------------------------------------


def exact_proration(old: int, new: int, start: datetime, end: datetime, now: datetime) -> int:
    us = timedelta(microseconds=1)
    remaining = max(timedelta(0), end - max(now, start))
    exact = Fraction(new - old) * Fraction(remaining // us, (end - start) // us)
    whole = abs(exact).numerator // abs(exact).denominator
    cents = whole + (abs(exact) - whole >= Fraction(1, 2))
    return cents if exact >= 0 else -cents


DAY_US = 86_400_000_000
FEBRUARY_2027 = datetime(2027, 1, 31, 23, 30, tzinfo=UTC)  # to 28 February 23:30
# 15 days 12:34:33.6 into it, $35.00 more a month comes to exactly 1559.5 cents.
HALF_CENT_US = (15 * 86_400 + 12 * 3600 + 34 * 60 + 33) * 1_000_000 + 600_000


def _proration(old, new, start, interval, offset_us):
    end = _same_time(start, add_months(start.date(), interval))
    now = start + timedelta(microseconds=offset_us)
    return end, now, prorated_difference(old, new, start=start, end=end, now=now)


amounts_or_zero = st.integers(0, 2_000_000)
intervals = st.sampled_from([1, 12])
offsets = st.integers(-40 * DAY_US, 400 * DAY_US)


@calendar_examples
@given(amounts_or_zero, amounts_or_zero, instants(), intervals, offsets)
@example(0, 3500, FEBRUARY_2027, 1, HALF_CENT_US)
@example(3500, 0, FEBRUARY_2027, 1, HALF_CENT_US)
@example(0, 1, datetime(2028, 2, 1, tzinfo=UTC), 1, 29 * DAY_US // 2)  # half of a leap February
def test_the_prorated_difference_is_exact_and_rounds_half_away_from_zero(
    old, new, start, interval, offset_us
):
    end, now, got = _proration(old, new, start, interval, offset_us)
    assert got == exact_proration(old, new, start, end, now)


@calendar_examples
@given(amounts_or_zero, amounts_or_zero, instants(), intervals, offsets, offsets)
@example(1000, 5000, datetime(2026, 3, 1, tzinfo=UTC), 1, 7 * DAY_US, 8 * DAY_US)
def test_the_prorated_difference_shrinks_to_zero_as_the_period_runs(
    old, new, start, interval, a, b
):
    end, early, first = _proration(old, new, start, interval, min(a, b))
    _, late, second = _proration(old, new, start, interval, max(a, b))
    diff = new - old
    assert abs(second) <= abs(first) <= abs(diff)
    assert first * diff >= 0  # never the opposite sign
    assert second * diff >= 0
    if early <= start:
        assert first == diff
    if late >= end:
        assert second == 0
    assert prorated_difference(new, old, start=start, end=end, now=early) == -first


@calendar_examples
@given(amounts_or_zero, amounts_or_zero, instants(), intervals, offsets)
@example(0, 100_000, datetime(2026, 3, 1, 5, 0, tzinfo=UTC), 1, 7 * DAY_US + 3_600_000_000)
@example(0, 100_000, datetime(2026, 10, 15, 12, 0, tzinfo=UTC), 1, 17 * DAY_US)
@example(0, 100_000, datetime(2027, 3, 14, 6, 30, tzinfo=UTC), 12, 1)
def test_the_prorated_difference_counts_elapsed_time_whatever_the_zone(
    old, new, start, interval, offset_us
):
    """The same instants written in New York time (where a DST change makes one day 23 or 25
    hours long) give the same amount: durations are elapsed time, not wall-clock time."""
    end, now, utc = _proration(old, new, start, interval, offset_us)
    local = prorated_difference(
        old,
        new,
        start=start.astimezone(NEW_YORK),
        end=end.astimezone(NEW_YORK),
        now=now.astimezone(NEW_YORK),
    )
    assert local == utc


def test_a_period_without_dates_or_length_prorates_nothing():
    assert prorated_difference(0, 500, start=None, end=YEAR_END, now=YEAR_END) == 0
    assert prorated_difference(0, 500, start=YEAR_END, end=None, now=YEAR_END) == 0
    assert prorated_difference(0, 500, start=YEAR_END, end=YEAR_END, now=YEAR_END) == 0


# --- the payout ledger, in the database -------------------------------------------------------


@st.composite
def hand_overs(draw: st.DrawFn) -> tuple[datetime, date]:
    """A yearly invoice's start, and a day in (or just around) its year a director hands over."""
    start = draw(instants())
    cut = start.date() + timedelta(days=draw(st.integers(-5, 370)))
    return start, cut


def _yearly_invoice(start: datetime) -> dict[str, Any]:
    end = _same_time(start, add_months(start.date(), 12))
    return {
        "id": f"in_{uuid.uuid4().hex[:24]}",
        "object": "invoice",
        "status": "paid",
        "currency": "usd",
        "created": int(start.timestamp()),
        "status_transitions": {"paid_at": int(start.timestamp())},
        "lines": {"data": [_line(start, end, proration=False, real_shape=True)]},
    }


async def _ledger(session, engagement_id: uuid.UUID) -> dict[tuple[uuid.UUID, date], int]:
    rows = await session.execute(
        select(
            PayoutEntry.engagement_director_id, PayoutEntry.month, PayoutEntry.amount_cents
        ).where(PayoutEntry.engagement_id == engagement_id)
    )
    return {(r.engagement_director_id, r.month): r.amount_cents for r in rows}


@db_examples
@given(hand_overs())
@example((YEAR_END, date(2027, 2, 28)))
@example((datetime(2028, 1, 31, 23, 30, tzinfo=UTC), date(2028, 2, 29)))
@example((datetime(2099, 3, 1, tzinfo=UTC), date(2100, 3, 1)))
@example((datetime(2026, 3, 8, 7, 0, tzinfo=UTC), date(2026, 11, 1)))
async def test_a_hand_over_splits_a_paid_year_between_the_two_directors(
    session, engaged, hand_over
):
    """A paid yearly invoice accrues twelve full months; a hand-over on any day then re-accrues
    both directors (accrue_payouts, reaccrue_director): each month pays month_share to each, the
    month of the hand-over split between them less under a cent each, the others whole."""
    start, cut = hand_over
    invoice = _yearly_invoice(start)
    covered = months_covered(invoice)
    successor_id = engaged.physician_id  # any physician: the ledger only keys by director
    async with rolled_back(session):
        engagement = await session.get(Engagement, engaged.engagement_id)
        assert engagement is not None
        [leaving] = engagement.directors
        amount = leaving.monthly_payout_cents
        await mirror_invoice(session, engagement, engagement.clinic_id, invoice)
        assert await _ledger(session, engagement.id) == {(leaving.id, m): amount for m in covered}

        leaving.ends_on = cut
        successor = _successor(leaving, successor_id, cut)
        session.add(successor)
        await session.flush()
        await reaccrue_director(session, leaving)
        await reaccrue_director(session, successor)
        await session.flush()

        ledger = await _ledger(session, engagement.id)
        for month in covered:
            shares = [month_share(d, month) for d in (leaving, successor)]
            assert [ledger.get((d.id, month), 0) for d in (leaving, successor)] == shares
            assert amount - 2 < sum(shares) <= amount
            if first_of_next_month(month) <= cut:
                assert shares == [amount, 0]
            if month >= cut:
                assert shares == [0, amount]
        assert 0 not in ledger.values()
        assert 12 * amount - 2 < sum(ledger.values()) <= 12 * amount


def _successor(leaving: EngagementDirector, physician_id: uuid.UUID, starts_on: date):
    return EngagementDirector(
        id=uuid.uuid4(),
        engagement_id=leaving.engagement_id,
        physician_id=physician_id,
        position=1,
        states=list(leaving.states),
        monthly_payout_cents=leaving.monthly_payout_cents,
        **Charge().columns(),
        created_at=datetime.now(UTC),
        starts_on=starts_on,
    )


@st.composite
def gaps(draw: st.DrawFn) -> tuple[datetime, date, date]:
    """A monthly invoice's start; a day up to 40 days before its month a director stops; the
    day in that month a replacement starts."""
    start = draw(instants())
    month = _first(start.date())
    leave = month - timedelta(days=draw(st.integers(0, 40)))
    join = month + timedelta(days=draw(st.integers(0, days_in(month) - 1)))
    return start, leave, join


@db_examples
@given(gaps())
@example((YEAR_END, date(2026, 12, 1), date(2026, 12, 31)))
@example((datetime(2028, 2, 1, tzinfo=UTC), date(2028, 1, 20), date(2028, 2, 29)))
@example((datetime(2100, 2, 1, tzinfo=UTC), date(2100, 1, 31), date(2100, 2, 28)))
@example((datetime(2026, 11, 1, 6, 0, tzinfo=UTC), date(2026, 10, 30), date(2026, 11, 1)))
async def test_a_replacement_is_paid_for_a_month_invoiced_while_nobody_directed(
    session, engaged, gap
):
    """The month was paid while no director oversaw it (no ledger row names it); the
    replacement who starts in it is paid its days all the same."""
    start, leave, join = gap
    end = _same_time(start, add_months(start.date(), 1))
    invoice = {
        **_yearly_invoice(start),
        "lines": {"data": [_line(start, end, proration=False, real_shape=False)]},
    }
    physician_id = engaged.physician_id
    async with rolled_back(session):
        engagement = await session.get(Engagement, engaged.engagement_id)
        assert engagement is not None
        [leaving] = engagement.directors
        leaving.ends_on = leave
        await session.flush()
        await reaccrue_director(session, leaving)
        await mirror_invoice(session, engagement, engagement.clinic_id, invoice)
        assert await _ledger(session, engagement.id) == {}
        successor = _successor(leaving, physician_id, join)
        session.add(successor)
        await session.flush()
        await reaccrue_director(session, successor)
        month = _first(start.date())
        share = month_share(successor, month)
        assert share > 0
        assert await _ledger(session, engagement.id) == {(successor.id, month): share}


class RecordingPayouts:
    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []

    async def transfer(self, **kwargs: object) -> str:
        self.sent.append(kwargs)
        return f"tr_{len(self.sent)}"


@st.composite
def paydays(draw: st.DrawFn) -> tuple[datetime, datetime]:
    """A yearly invoice's start, and a minute within an hour of one of its months' start."""
    start = draw(instants())
    month = add_months(_first(start.date()), draw(st.integers(0, 12)))
    midnight = datetime(month.year, month.month, 1, tzinfo=UTC)
    return start, midnight + timedelta(minutes=draw(st.integers(-60, 60)))


@db_examples
@given(paydays())
@example((YEAR_END, YEAR_END))  # January has not started in UTC (it has in Kiritimati)
@example((YEAR_END, datetime(2027, 1, 1, tzinfo=UTC)))
@example((datetime(2028, 1, 15, tzinfo=UTC), datetime(2028, 2, 29, 23, 59, tzinfo=UTC)))
@example((datetime(2028, 1, 15, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC)))
async def test_a_months_payout_is_transferred_from_its_first_utc_day(
    session, sessionmaker, engaged, payday
):
    start, when = payday
    invoice = _yearly_invoice(start)
    physician_id = engaged.physician_id
    async with rolled_back(session):
        engagement = await session.get(Engagement, engaged.engagement_id)
        assert engagement is not None
        await mirror_invoice(session, engagement, engagement.clinic_id, invoice)
        physician = await session.get(Physician, physician_id)
        assert physician is not None
        physician.stripe_connect_account_id = "acct_1DatesDirector"
        await session.flush()
        fake = RecordingPayouts()
        with at(when):
            sent = await transfer_due(sessionmaker, fake)
        transferred = set(
            await session.scalars(
                select(PayoutEntry.month)
                .where(PayoutEntry.engagement_id == engagement.id)
                .where(PayoutEntry.status == PayoutStatus.transferred.value)
                .execution_options(populate_existing=True)
            )
        )
        assert transferred == {m for m in months_covered(invoice) if m <= when.date()}
        assert sent == len(transferred)
