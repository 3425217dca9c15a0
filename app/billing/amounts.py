"""Billing arithmetic without I/O: what a billing period costs, the prorated difference of a
scope change, the re-pricing of a scope change and the re-split of the directors' payout.

Nothing here touches a session, the Stripe gateway or the clock; every amount is integer cents.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from app.engagements.models import DirectorRole
from app.pricing.models import Quote


def period_amount(quote: Quote) -> tuple[int, str]:
    """What one billing period costs: a month, or twelve months for annual prepay."""
    if quote.billing_interval == "year":
        return quote.monthly_total_cents * 12, "year"
    return quote.monthly_total_cents, "month"


_MICROSECOND = timedelta(microseconds=1)


def prorated_difference(
    old_amount: int,
    new_amount: int,
    *,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> int:
    """(new - old) for the part of the period [start, end) still to run at `now`, in cents,
    rounded half away from zero. Exact integer arithmetic on elapsed microseconds: a float
    product misrounds exact half cents, and instants are compared in UTC so a period written
    in a local zone is as long as it really is across a DST change."""
    if start is None or end is None:
        return 0
    start, end, now = (t.astimezone(UTC) for t in (start, end, now))
    if end <= start:
        return 0
    total = (end - start) // _MICROSECOND
    remaining = max(0, (end - max(now, start)) // _MICROSECOND)
    difference = new_amount - old_amount
    cents, rest = divmod(abs(difference) * remaining, total)
    if 2 * rest >= total:
        cents += 1
    return cents if difference >= 0 else -cents


# --- scope change: re-pricing ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ScopeRepricing:
    """What a scope change does to the subscription's price.

    `interval` is the current quote's: the subscription keeps its billing interval, and the new
    Plan is for `new_amount_cents` a period. `proration_cents` is the difference for the rest of
    the current period, billed on the next invoice."""

    old_amount_cents: int
    new_amount_cents: int
    interval: str
    proration_cents: int

    @property
    def changed(self) -> bool:
        """False when the period's price is the same (no new Plan, nothing billed)."""
        return self.new_amount_cents != self.old_amount_cents


def reprice_scope(
    old_quote: Quote,
    new_quote: Quote,
    *,
    period_start: datetime | None,
    period_end: datetime | None,
    now: datetime,
) -> ScopeRepricing:
    """The re-pricing of a scope change from `old_quote` to `new_quote`, for a subscription
    whose current period is [period_start, period_end)."""
    old_amount, interval = period_amount(old_quote)
    new_amount, _ = period_amount(new_quote)
    proration = prorated_difference(
        old_amount, new_amount, start=period_start, end=period_end, now=now
    )
    return ScopeRepricing(
        old_amount_cents=old_amount,
        new_amount_cents=new_amount,
        interval=interval,
        proration_cents=proration,
    )


def proration_description(proration: int) -> str:
    """The text of the invoice item billing a scope change's prorated difference."""
    return (
        f"Scope change: {'+' if proration > 0 else '-'}"
        f"${abs(proration) / 100:,.2f} for the rest of the current period"
    )


# --- scope change: payout re-split -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PayoutSeat:
    """A live (not ended) director of the engagement: role and current monthly payout."""

    role: str
    monthly_payout_cents: int


def resplit_payouts(seats: Sequence[PayoutSeat], total: int, backup_share: int) -> list[int]:
    """The new monthly payout of each live director, in the order given.

    The overseeing (primary) directors share `total` in proportion to their current shares,
    rounded down; the last primary takes the rounding remainder, so their shares add up to
    `total` exactly. When their current shares are all zero they share it equally (the last
    again taking the remainder). A standing backup gets `backup_share`; when that is 0 (the
    backup line was dropped) it keeps its rate until its standby ends today, so the days it
    served are still paid."""
    new = [
        backup_share
        if seat.role == DirectorRole.backup.value and backup_share
        else seat.monthly_payout_cents
        for seat in seats
    ]
    primaries = [i for i, seat in enumerate(seats) if seat.role == DirectorRole.primary.value]
    old_total = sum(seats[i].monthly_payout_cents for i in primaries)
    given = 0
    for n, i in enumerate(primaries):
        if n == len(primaries) - 1:
            new[i] = total - given
        elif old_total:
            new[i] = seats[i].monthly_payout_cents * total // old_total
        else:
            new[i] = total // len(primaries)
        given += new[i]
    return new
