"""The arithmetic of a scope change, without a database or Stripe: the re-pricing (period price,
prorated difference, the invoice item's text) and the re-split of the directors' payout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.billing.amounts import (
    PayoutSeat,
    period_amount,
    proration_description,
    reprice_scope,
    resplit_payouts,
)
from app.pricing.models import Quote

P, B = "primary", "backup"

pure = settings(deadline=None, max_examples=300)


def quote(monthly_total_cents: int, interval: str = "month") -> Quote:
    return Quote(monthly_total_cents=monthly_total_cents, billing_interval=interval)


def seats(*pairs: tuple[str, int]) -> list[PayoutSeat]:
    return [PayoutSeat(role, cents) for role, cents in pairs]


def half_away_from_zero(value: Fraction) -> int:
    whole, rest = divmod(abs(value), 1)
    cents = int(whole) + (1 if rest >= Fraction(1, 2) else 0)
    return cents if value >= 0 else -cents


FEB_2027 = (datetime(2027, 2, 1, tzinfo=UTC), datetime(2027, 3, 1, tzinfo=UTC))


# --- re-pricing ---------------------------------------------------------------------------------


def test_a_month_costs_the_monthly_total_and_a_prepaid_year_twelve_of_them():
    assert period_amount(quote(99_500)) == (99_500, "month")
    assert period_amount(quote(99_500, "year")) == (1_194_000, "year")


def test_halfway_through_the_month_the_clinic_pays_half_the_increase():
    start, end = FEB_2027
    price = reprice_scope(
        quote(99_500),
        quote(120_000),
        period_start=start,
        period_end=end,
        now=start + timedelta(days=14),
    )
    assert price.old_amount_cents == 99_500
    assert price.new_amount_cents == 120_000
    assert price.interval == "month"
    assert price.changed
    assert price.proration_cents == 10_250  # 20_500 x 14 / 28 days


def test_a_smaller_scope_is_credited_for_the_rest_of_the_period():
    start, end = FEB_2027
    price = reprice_scope(
        quote(120_000),
        quote(99_500),
        period_start=start,
        period_end=end,
        now=start + timedelta(days=21),
    )
    assert price.proration_cents == -5_125  # -20_500 x 7 / 28 days


def test_an_annual_engagement_is_repriced_by_the_year():
    start = datetime(2027, 1, 1, tzinfo=UTC)
    end = datetime(2028, 1, 1, tzinfo=UTC)
    price = reprice_scope(
        quote(10_000, "year"), quote(11_000, "year"), period_start=start, period_end=end, now=start
    )
    assert (price.old_amount_cents, price.new_amount_cents) == (120_000, 132_000)
    assert price.interval == "year"
    assert price.proration_cents == 12_000  # the whole year still to run


def test_the_plan_keeps_the_current_quotes_interval():
    start, end = FEB_2027
    price = reprice_scope(
        quote(10_000, "year"), quote(10_000), period_start=start, period_end=end, now=start
    )
    assert price.interval == "year"


def test_the_same_price_changes_nothing():
    start, end = FEB_2027
    price = reprice_scope(
        quote(99_500), quote(99_500), period_start=start, period_end=end, now=start
    )
    assert not price.changed
    assert price.proration_cents == 0


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (FEB_2027[0] - timedelta(days=3), 28_000),  # before the period: the full difference
        (FEB_2027[1], 0),  # at its end: nothing left to run
        (FEB_2027[1] + timedelta(days=3), 0),
    ],
)
def test_the_proration_is_bounded_by_the_period(now, expected):
    price = reprice_scope(
        quote(2_000), quote(30_000), period_start=FEB_2027[0], period_end=FEB_2027[1], now=now
    )
    assert price.proration_cents == expected


def test_a_subscription_without_a_period_bills_no_proration():
    price = reprice_scope(
        quote(2_000), quote(30_000), period_start=None, period_end=None, now=FEB_2027[0]
    )
    assert price.changed
    assert price.proration_cents == 0


def test_an_exact_half_cent_rounds_away_from_zero():
    start = datetime(2027, 2, 1, tzinfo=UTC)
    end = start + timedelta(days=2)
    middle = start + timedelta(days=1)
    up = reprice_scope(quote(100), quote(101), period_start=start, period_end=end, now=middle)
    down = reprice_scope(quote(101), quote(100), period_start=start, period_end=end, now=middle)
    assert (up.proration_cents, down.proration_cents) == (1, -1)


@pure
@given(
    old=st.integers(0, 5_000_000),
    new=st.integers(0, 5_000_000),
    interval=st.sampled_from(["month", "year"]),
    length=st.integers(1, 366 * 24 * 3600 * 10**6),
    elapsed=st.integers(-(10**12), 400 * 24 * 3600 * 10**6),
)
@example(old=100, new=101, interval="month", length=2, elapsed=1)
@example(old=101, new=100, interval="month", length=2, elapsed=1)
def test_the_proration_is_the_exact_difference_for_the_time_left(
    old, new, interval, length, elapsed
):
    start = datetime(2027, 2, 1, tzinfo=UTC)
    end = start + timedelta(microseconds=length)
    now = start + timedelta(microseconds=elapsed)
    price = reprice_scope(
        quote(old, interval), quote(new, interval), period_start=start, period_end=end, now=now
    )
    months = 12 if interval == "year" else 1
    assert (price.old_amount_cents, price.new_amount_cents) == (old * months, new * months)
    assert price.changed == (old != new)
    left = min(length, max(0, length - elapsed))
    difference = (new - old) * months
    assert price.proration_cents == half_away_from_zero(Fraction(difference * left, length))
    assert abs(price.proration_cents) <= abs(difference)


def test_the_proration_item_says_what_it_bills():
    assert proration_description(10_250) == (
        "Scope change: +$102.50 for the rest of the current period"
    )
    assert proration_description(-123_456_789) == (
        "Scope change: -$1,234,567.89 for the rest of the current period"
    )
    assert proration_description(1) == "Scope change: +$0.01 for the rest of the current period"


@given(st.integers(-(10**12), 10**12).filter(bool))
@example(1)
@example(-1)
@example(-100)
def test_the_proration_item_shows_the_exact_cents(cents):
    dollars, rest = divmod(abs(cents), 100)
    sign = "+" if cents > 0 else "-"
    assert proration_description(cents) == (
        f"Scope change: {sign}${dollars:,}.{rest:02d} for the rest of the current period"
    )


# --- payout re-split ----------------------------------------------------------------------------


def test_equal_shares_split_evenly_and_the_last_director_takes_the_remainder():
    assert resplit_payouts(seats((P, 100), (P, 100), (P, 100)), 1_000, 0) == [333, 333, 334]


def test_shares_follow_the_current_proportions():
    assert resplit_payouts(seats((P, 1_000), (P, 3_000)), 10_001, 0) == [2_500, 7_501]
    # 100 x 1001 // 300 = 333 (rounded down); the last primary takes 1001 - 333.
    assert resplit_payouts(seats((P, 100), (P, 200)), 1_001, 0) == [333, 668]


def test_the_remainder_goes_to_the_last_primary_not_to_a_backup_listed_after_it():
    assert resplit_payouts(seats((P, 100), (P, 200), (B, 50)), 1_001, 77) == [333, 668, 77]
    assert resplit_payouts(seats((P, 100), (B, 50), (P, 200)), 1_001, 77) == [333, 77, 668]
    assert resplit_payouts(seats((B, 50), (P, 100), (P, 200)), 1_001, 77) == [77, 333, 668]


def test_the_standing_backup_gets_the_backup_lines_share():
    assert resplit_payouts(seats((P, 80_000), (B, 20_000)), 90_000, 25_000) == [90_000, 25_000]


def test_a_backup_whose_line_was_dropped_keeps_its_rate():
    assert resplit_payouts(seats((P, 80_000), (B, 20_000)), 90_000, 0) == [90_000, 20_000]


def test_directors_with_no_current_share_split_evenly():
    assert resplit_payouts(seats((P, 0), (P, 0), (P, 0)), 100, 0) == [33, 33, 34]
    assert resplit_payouts(seats((P, 0), (P, 0)), 0, 0) == [0, 0]


def test_a_director_with_a_zero_share_among_paid_ones_gets_nothing_unless_last():
    assert resplit_payouts(seats((P, 0), (P, 500)), 1_000, 0) == [0, 1_000]
    assert resplit_payouts(seats((P, 500), (P, 0)), 1_000, 0) == [1_000, 0]
    assert resplit_payouts(seats((P, 0), (P, 500), (P, 0)), 999, 0) == [0, 999, 0]


def test_a_single_primary_takes_the_whole_payout():
    assert resplit_payouts(seats((P, 12_345)), 99_999, 0) == [99_999]
    assert resplit_payouts(seats((P, 12_345), (B, 1)), 0, 0) == [0, 1]


def test_no_primary_leaves_only_the_backup():
    assert resplit_payouts(seats((B, 300)), 5_000, 200) == [200]
    assert resplit_payouts([], 5_000, 200) == []


seat_lists = st.lists(
    st.builds(
        PayoutSeat,
        st.sampled_from([P, P, B]),
        st.one_of(st.just(0), st.integers(0, 2_000_000)),
    ),
    max_size=6,
)


@pure
@given(seat_lists, st.integers(0, 10_000_000), st.integers(0, 1_000_000))
@example(seats((P, 0), (P, 0), (P, 0)), 100, 0)
@example(seats((P, 1), (P, 1), (P, 1), (B, 7)), 2, 5)
@example(seats((P, 0), (P, 7), (B, 3)), 10, 0)
def test_the_resplit_adds_up_exactly_and_follows_the_rules(current, total, backup_share):
    new = resplit_payouts(current, total, backup_share)
    assert len(new) == len(current)
    primaries = [i for i, s in enumerate(current) if s.role == P]

    for i, seat in enumerate(current):
        if seat.role == B:
            assert new[i] == (backup_share or seat.monthly_payout_cents)

    if not primaries:
        return
    assert sum(new[i] for i in primaries) == total
    assert all(new[i] >= 0 for i in primaries)

    weights = [current[i].monthly_payout_cents for i in primaries]
    weight = sum(weights)
    *first, last = primaries
    for i, w in zip(first, weights, strict=False):
        fair = Fraction(w * total, weight) if weight else Fraction(total, len(primaries))
        assert new[i] == int(fair)  # rounded down
    fair_last = Fraction(weights[-1] * total, weight) if weight else Fraction(total, len(primaries))
    # The last primary takes what rounding left: never less than its share, and less than one
    # cent more for each other primary.
    assert fair_last <= new[last] < fair_last + max(1, len(first))
