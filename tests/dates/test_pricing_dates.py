"""A quote's validity over the calendar: `valid_until` is the quote's UTC day plus the price
book's `quote_valid_days`, and re-pricing a stored quote keeps it. (Promotions carry no dates:
a code is valid for as long as the price book in force lists it.)"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import example, given

from app.catalog.services import service_catalog
from app.pricing.price_book import default_price_book
from app.pricing.quotes import compute_quote
from app.pricing.service import latest_quote, reprice
from tests.dates.helpers import submit
from tests.dates.strategies import (
    YEAR_END,
    at,
    calendar_examples,
    days,
    db_examples,
    db_instants,
    rolled_back,
)
from tests.pricing.test_quotes import TIERS, tx_retainer

BOOK = default_price_book()


@calendar_examples
@given(days())
@example(date(2027, 1, 31))  # + 30 days: 2 March
@example(date(2028, 1, 31))  # 1 March (the leap day counts)
@example(date(2100, 2, 28))  # 30 March
@example(date(2026, 12, 31))  # 30 January
def test_a_quote_is_valid_for_the_books_days_from_its_day(day):
    data = tx_retainer(promo_code=next(iter(BOOK.promotions), None))
    result = compute_quote(data, tiers=TIERS, catalog=service_catalog(), book=BOOK, today=day)
    assert result.valid_until == day + timedelta(days=BOOK.quote_valid_days)
    assert (result.valid_until - day).days == BOOK.quote_valid_days


@db_examples
@given(db_instants())
@example(YEAR_END)  # a quote of 31 December (UTC), though 1 January east of UTC
@example(datetime(2027, 1, 1, 0, 30, tzinfo=UTC))  # 1 January, though 31 December in the US
@example(datetime(2028, 1, 30, 12, 0, tzinfo=UTC))  # valid until the leap day
async def test_a_stored_quote_is_valid_from_its_utc_day_and_repricing_keeps_it(
    session, settings, draft, now
):
    async with rolled_back(session):
        with at(now):
            await submit(session, settings, draft)
        stored = await latest_quote(session, draft.intake_id)
        assert stored.valid_until == now.date() + timedelta(days=BOOK.quote_valid_days)
        assert (await reprice(session, stored)).valid_until == stored.valid_until
