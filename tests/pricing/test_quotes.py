"""The pure quote engine, with properties checked by hypothesis."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.catalog.services import service_catalog
from app.pricing.price_book import Promotion, default_price_book
from app.pricing.quotes import (
    PromotionNotValid,
    QuoteInput,
    QuoteLocation,
    apply_bp,
    compute_quote,
)

BOOK = default_price_book()
CATALOG = service_catalog()
TODAY = date(2026, 11, 23)
STATES = ["TX", "CA", "NY", "FL", "AK", "AZ", "MD", "OH"]
TIERS = {"TX": 2, "CA": 3, "NY": 1, "FL": 3, "AK": 1, "AZ": 1, "MD": 3, "OH": 1}
PROVIDER_TYPES = ["np", "pa", "rn", "lpn", "laser_technician", "esthetician", "medical_assistant"]


def quote(data: QuoteInput):
    return compute_quote(data, tiers=TIERS, catalog=CATALOG, book=BOOK, today=TODAY)


def tx_retainer(**overrides: Any) -> QuoteInput:
    values: dict[str, Any] = {
        "services": ("neurotoxins",),
        "providers": {"rn": 1},
        "engagement_model": "retainer",
        "oversight_mode": "remote",
        "billing_interval": "month",
        "monthly_patient_volume": 150,
        "rush": False,
        "promo_code": None,
        "locations": (QuoteLocation("TX", "78701"),),
    }
    values.update(overrides)
    return QuoteInput(**values)


def test_acceptance_retainer_remote_tx_neurotoxins_one_rn():
    q = quote(tx_retainer())
    items = {li.code: li.amount_cents for li in q.line_items}
    assert items == {
        "base:retainer": 79900,
        "oversight_tier:2": 11985,  # 799.00 x 0.15, half up
        "service:neurotoxins": 7500,
    }
    assert all(li.kind == "recurring" for li in q.line_items)
    assert q.monthly_total_cents == 99385
    assert q.first_invoice_cents == 99385
    assert q.physician_payout_cents == 69570  # 70% of 993.85 = 695.695 → 695.70
    assert q.platform_fee_cents == 99385 - 69570
    assert q.valid_until == date(2026, 12, 23)
    assert q.pricing_version == BOOK.version
    assert quote(tx_retainer()) == q


def test_every_rule_of_the_book_shows_as_a_line():
    data = tx_retainer(
        services=("neurotoxins", "dermal_fillers", "hormone_therapy", "laser_hair_removal"),
        providers={"np": 1, "rn": 2, "esthetician": 1},
        engagement_model="fractional",
        oversight_mode="hybrid",
        billing_interval="year",
        monthly_patient_volume=600,
        rush=True,
        promo_code="first200",
        locations=(QuoteLocation("TX"), QuoteLocation("TX"), QuoteLocation("CA")),
    )
    q = quote(data)
    items = {li.code: li for li in q.line_items}
    assert items["base:fractional"].amount_cents == 149900
    assert items["oversight_tier:3"].amount_cents == apply_bp(149900, 3000)
    assert "CA" in items["oversight_tier:3"].description
    assert items["additional_states"].amount_cents == 15000
    assert items["additional_locations"].amount_cents == 2 * 20000
    assert items["service:dermal_fillers"].amount_cents == 15000
    assert "service:laser_hair_removal" not in items  # risk tier 1 costs nothing
    assert items["controlled_substances"].amount_cents == 10000
    # The NP is the included first provider; 2 RNs and an esthetician are billed.
    assert items["providers:rn"].amount_cents == 2 * 15000
    assert items["providers:esthetician"].amount_cents == 7500
    assert "providers:np" not in items
    assert items["oversight_mode:hybrid"].amount_cents == 3 * 30000
    assert items["chart_review"].amount_cents == 30000
    subtotal = sum(
        li.amount_cents for li in q.line_items if li.kind == "recurring" and li.amount_cents > 0
    )
    assert items["annual_prepay_discount"].amount_cents == -apply_bp(subtotal, 1000)
    assert items["rush_placement"].kind == "one_time"
    assert items["promo:FIRST200"].kind == "discount"
    assert q.first_invoice_cents == q.monthly_total_cents * 12 + 35000 - 20000


def test_per_case_minimum_plus_estimated_cases():
    q = quote(
        tx_retainer(
            engagement_model="per_case",
            monthly_patient_volume=130,
            locations=(QuoteLocation("NY"),),
        )
    )
    items = {li.code: li for li in q.line_items}
    assert items["base:per_case"].amount_cents == 29900
    estimate = items["per_case:estimated_cases"]
    assert estimate.amount_cents == 7 * 9500  # ceil(130 x 5 / 100)
    # An estimate, not billed: the monthly total (the subscription) is the minimum and what
    # scales it; reported cases are billed month by month (tests/billing/test_case_reports.py).
    assert estimate.kind == "estimate"
    assert q.monthly_total_cents == sum(
        li.amount_cents for li in q.line_items if li.kind == "recurring"
    )
    assert estimate.amount_cents not in (q.monthly_total_cents, 0)
    flat = quote(
        tx_retainer(
            engagement_model="per_case", monthly_patient_volume=0, locations=(QuoteLocation("NY"),)
        )
    )
    assert flat.monthly_total_cents == q.monthly_total_cents  # volume changes only the estimate


services_st = st.lists(st.sampled_from(sorted(CATALOG)), min_size=1, max_size=6, unique=True)
providers_st = st.dictionaries(st.sampled_from(PROVIDER_TYPES), st.integers(0, 40), max_size=7)
locations_st = st.lists(st.builds(QuoteLocation, st.sampled_from(STATES)), min_size=1, max_size=6)
inputs_st = st.builds(
    QuoteInput,
    services=services_st.map(tuple),
    providers=providers_st,
    engagement_model=st.sampled_from(["retainer", "fractional", "full_time", "per_case"]),
    oversight_mode=st.sampled_from(["remote", "hybrid", "onsite"]),
    billing_interval=st.sampled_from(["month", "year"]),
    monthly_patient_volume=st.integers(0, 5000),
    rush=st.booleans(),
    promo_code=st.sampled_from([None, "FIRST200"]),
    locations=locations_st.map(tuple),
)


@settings(max_examples=300)
@given(inputs_st)
def test_invariants(data):
    q = quote(data)
    recurring = [li.amount_cents for li in q.line_items if li.kind == "recurring"]
    one_time = sum(li.amount_cents for li in q.line_items if li.kind == "one_time")
    discount = sum(li.amount_cents for li in q.line_items if li.kind == "discount")
    base = BOOK.base_cents[data.engagement_model]
    assert q.monthly_total_cents == sum(recurring)
    assert q.monthly_subtotal_cents >= base  # never below the model's base, before the discount
    assert q.physician_payout_cents + q.platform_fee_cents == q.monthly_total_cents
    assert q.physician_payout_cents == apply_bp(q.monthly_total_cents, 7000)
    months = 12 if data.billing_interval == "year" else 1
    assert q.first_invoice_cents == max(0, q.monthly_total_cents * months + one_time + discount)
    assert q.first_invoice_cents >= 0
    assert all(isinstance(li.amount_cents, int) for li in q.line_items)
    assert quote(data) == q  # deterministic


@settings(max_examples=300)
@given(
    inputs_st,
    st.sampled_from(sorted(CATALOG)),
    st.sampled_from(PROVIDER_TYPES),
    st.sampled_from(STATES),
)
def test_adding_anything_never_lowers_the_price(data, service, ptype, state):
    before = quote(data).monthly_total_cents
    more_services = replace(data, services=tuple(dict.fromkeys((*data.services, service))))
    more_staff = replace(
        data, providers={**data.providers, ptype: data.providers.get(ptype, 0) + 1}
    )
    more_locations = replace(data, locations=(*data.locations, QuoteLocation(state)))
    new_state = next((s for s in STATES if s not in {loc.state for loc in data.locations}), None)
    variants = [more_services, more_staff, more_locations]
    if new_state:
        variants.append(replace(data, locations=(*data.locations, QuoteLocation(new_state))))
    for variant in variants:
        assert quote(variant).monthly_total_cents >= before


def test_promo_never_makes_the_first_invoice_negative():
    book = BOOK.model_copy(
        update={
            "promotions": {
                "HUGE": BOOK.promotions["FIRST200"].model_copy(
                    update={"first_invoice_discount_cents": 10**9}
                )
            }
        }
    )
    q = compute_quote(
        tx_retainer(promo_code="HUGE"), tiers=TIERS, catalog=CATALOG, book=book, today=TODAY
    )
    assert q.first_invoice_cents == 0
    assert q.monthly_total_cents > 0


def test_apply_bp_rounds_half_up():
    assert apply_bp(79900, 1500) == 11985
    assert apply_bp(5, 5000) == 3  # 2.5 → 3
    assert apply_bp(3, 5000) == 2  # 1.5 → 2
    assert apply_bp(0, 7000) == 0


def _windowed(valid_from: date | None, valid_until: date | None):
    promo = BOOK.promotions["FIRST200"].model_copy(
        update={"valid_from": valid_from, "valid_until": valid_until}
    )
    return BOOK.model_copy(update={"promotions": {"WINDOW": promo}})


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "day", "applies"),
    [
        (date(2027, 1, 1), None, date(2026, 12, 31), False),  # the year before it starts
        (date(2027, 1, 1), None, date(2027, 1, 1), True),
        (None, date(2028, 2, 29), date(2028, 2, 29), True),  # a leap day, inclusive
        (None, date(2028, 2, 29), date(2028, 3, 1), False),
        (date(2027, 3, 1), date(2027, 3, 31), date(2027, 2, 28), False),  # month ends
        (date(2027, 3, 1), date(2027, 3, 31), date(2027, 3, 31), True),
        (date(2027, 3, 1), date(2027, 3, 31), date(2027, 4, 1), False),
        (None, None, date(2099, 12, 31), True),
    ],
)
def test_a_promotion_applies_only_within_its_window(valid_from, valid_until, day, applies):
    book = _windowed(valid_from, valid_until)
    data = tx_retainer(promo_code="WINDOW")
    if applies:
        q = compute_quote(data, tiers=TIERS, catalog=CATALOG, book=book, today=day)
        assert any(li.code == "promo:WINDOW" for li in q.line_items)
    else:
        with pytest.raises(PromotionNotValid, match="WINDOW applies from"):
            compute_quote(data, tiers=TIERS, catalog=CATALOG, book=book, today=day)


def test_a_promotion_window_cannot_end_before_it_starts():
    with pytest.raises(ValueError, match="valid_until"):
        Promotion(
            first_invoice_discount_cents=100,
            description="Spring",
            valid_from=date(2027, 3, 1),
            valid_until=date(2027, 2, 28),
        )
