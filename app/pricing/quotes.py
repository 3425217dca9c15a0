"""The quote engine: a pure, deterministic function of an intake-shaped input, the states' rules
and a price book. No database, no clock (the caller passes `today`).

Order of computation (every amount an integer number of cents):

1. Base by engagement model; per-case adds the estimated cases (ceil(patients x rate / 100)) at
   the per-case fee.
2. Oversight-tier adjustment: base subtotal x (multiplier of the strictest state's tier - 1).
3. Each additional state; each additional location.
4. Service adders by risk tier, one line per priced service; one controlled-substance adder.
5. Supervised providers beyond the first, by type; the most expensive one is the included one.
6. On-site presence per location (hybrid, onsite).
7. Chart-review load by monthly patient volume.
   = the monthly subtotal, never below the model's base.
8. Annual prepay: minus the annual discount on the subtotal (a recurring line, so the recurring
   lines always add up to `monthly_total_cents`).
9. One-time lines (rush placement) and discount lines (promotions: first invoice only).

Rounding: percentages are basis points applied as round-half-up on the exact integer product,
once per line (`apply_bp`). Payout = apply_bp(monthly total, payout share); platform fee = the
rest, so the two always add up exactly. First invoice = one period of recurring (12 months when
billed yearly) + one-time + discounts, floored at zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from app.catalog.services import ServiceDef
from app.pricing.price_book import BP, PriceBook

# "estimate": shown, never billed (a per-case engagement's expected cases; the cases the clinic
# reports are billed month by month).
LineKind = Literal["recurring", "one_time", "discount", "estimate"]
PROVIDER_LABELS = {
    "np": "nurse practitioner",
    "pa": "physician assistant",
    "rn": "registered nurse",
    "lpn": "licensed practical nurse",
    "laser_technician": "laser technician",
    "esthetician": "esthetician",
    "medical_assistant": "medical assistant",
}


def apply_bp(amount_cents: int, bp: int) -> int:
    """amount x bp / 10000, rounded half up (amounts are never negative here)."""
    return (amount_cents * bp + BP // 2) // BP


@dataclass(frozen=True)
class QuoteLocation:
    state: str
    zip: str | None = None


@dataclass(frozen=True)
class QuoteInput:
    services: tuple[str, ...]
    providers: Mapping[str, int]
    engagement_model: str
    oversight_mode: str
    billing_interval: str
    monthly_patient_volume: int
    rush: bool
    promo_code: str | None
    locations: tuple[QuoteLocation, ...]
    standing_backup: bool = False
    # The physician's stated on-site hours a month, all locations together.
    onsite_hours_per_month: int = 0


@dataclass(frozen=True)
class LineItem:
    code: str
    kind: LineKind
    description: str
    amount_cents: int


@dataclass(frozen=True)
class QuoteResult:
    pricing_version: str
    currency: str
    billing_interval: str
    line_items: tuple[LineItem, ...]
    monthly_total_cents: int
    first_invoice_cents: int
    physician_payout_cents: int
    platform_fee_cents: int
    valid_until: date
    strictest_tier: int
    monthly_subtotal_cents: int = field(compare=True)


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


class UnknownPromotion(ValueError):
    pass


class PromotionNotValid(ValueError):
    """The promotion exists but not on the quote's day."""


class OptionNotOffered(ValueError):
    """The price book in force does not sell this option."""


def estimated_cases(volume: int, book: PriceBook) -> int:
    return math.ceil(volume * book.per_case_cases_per_100_patients / 100)


def chart_review_cents(volume: int, book: PriceBook) -> tuple[int, str]:
    lower = 0
    for tier in book.chart_review_tiers:
        if tier.up_to_patients is None or volume <= tier.up_to_patients:
            upper = f"{tier.up_to_patients:,}" if tier.up_to_patients is not None else "more"
            return tier.cents, f"{lower:,}-{upper} patients"
        lower = tier.up_to_patients + 1
    raise AssertionError("price book validation guarantees an open-ended last tier")


def compute_quote(
    data: QuoteInput,
    *,
    tiers: Mapping[str, int],
    catalog: Mapping[str, ServiceDef],
    book: PriceBook,
    today: date,
) -> QuoteResult:
    """Price `data`. `tiers` maps each location's state to its oversight tier."""
    lines: list[LineItem] = []

    def add(code: str, kind: LineKind, description: str, amount: int) -> None:
        lines.append(LineItem(code, kind, description, amount))

    model = data.engagement_model
    base = book.base_cents[model]  # type: ignore[index]
    label = model.replace("_", " ")
    if model == "per_case":
        add(
            "base:per_case",
            "recurring",
            f"Per-case oversight, monthly minimum {_money(base)}",
            base,
        )
        cases = estimated_cases(data.monthly_patient_volume, book)
        if cases:
            add(
                "per_case:estimated_cases",
                "estimate",
                f"Estimate, not billed in advance: {cases} cases a month at "
                f"{_money(book.per_case_fee_cents)} ({book.per_case_cases_per_100_patients} per "
                "100 patients); the cases reported each month are billed on the next invoice",
                cases * book.per_case_fee_cents,
            )
    else:
        add(f"base:{model}", "recurring", f"Medical director, {label} engagement", base)

    states = sorted({loc.state for loc in data.locations})
    tier = max(tiers[s] for s in states)
    multiplier = book.tier_multiplier_bp[str(tier)]
    if multiplier > BP:
        strictest = sorted(s for s in states if tiers[s] == tier)
        add(
            f"oversight_tier:{tier}",
            "recurring",
            f"Oversight tier {tier} ({', '.join(strictest)}): x{multiplier / BP:.2f} on "
            f"{_money(base)}",
            apply_bp(base, multiplier - BP),
        )
    if len(states) > 1:
        extra = len(states) - 1
        add(
            "additional_states",
            "recurring",
            f"{extra} additional state{'s' * (extra > 1)} at {_money(book.additional_state_cents)}",
            extra * book.additional_state_cents,
        )
    if len(data.locations) > 1:
        extra = len(data.locations) - 1
        add(
            "additional_locations",
            "recurring",
            f"{extra} additional location{'s' * (extra > 1)} at "
            f"{_money(book.additional_location_cents)}",
            extra * book.additional_location_cents,
        )

    for code in sorted(data.services):
        service = catalog[code]
        amount = book.service_risk_cents[str(service.risk_tier)]
        if amount:
            add(
                f"service:{code}",
                "recurring",
                f"{service.name} (risk tier {service.risk_tier})",
                amount,
            )
    controlled = sorted(c for c in data.services if catalog[c].controlled_substance)
    if controlled:
        add(
            "controlled_substances",
            "recurring",
            f"Controlled-substance prescribing oversight ({', '.join(controlled)})",
            book.controlled_substance_cents,
        )

    staff = [(t, n) for t, n in sorted(data.providers.items()) if n > 0]
    if staff:
        prices = {t: book.provider_cents[t] for t, _ in staff}  # type: ignore[index]
        included = max(staff, key=lambda tn: (prices[tn[0]], tn[0]))[0]
        for ptype, count in staff:
            billable = count - 1 if ptype == included else count
            if billable and prices[ptype]:
                noun = PROVIDER_LABELS[ptype]
                note = " beyond the included first provider" if ptype == included else ""
                add(
                    f"providers:{ptype}",
                    "recurring",
                    f"{billable} {noun}{'s' * (billable > 1)}{note} at {_money(prices[ptype])}",
                    billable * prices[ptype],
                )

    presence = book.oversight_mode_cents_per_location[data.oversight_mode]  # type: ignore[index]
    if presence:
        n = len(data.locations)
        add(
            f"oversight_mode:{data.oversight_mode}",
            "recurring",
            f"{data.oversight_mode.capitalize()} presence at {n} location{'s' * (n > 1)} at "
            f"{_money(presence)}",
            n * presence,
        )
    if data.onsite_hours_per_month and book.onsite_hour_cents:
        hours = data.onsite_hours_per_month
        add(
            "onsite_hours",
            "recurring",
            f"Physician on site {hours} hour{'s' * (hours > 1)} a month at "
            f"{_money(book.onsite_hour_cents)} an hour",
            hours * book.onsite_hour_cents,
        )
    chart, band = chart_review_cents(data.monthly_patient_volume, book)
    if chart:
        add("chart_review", "recurring", f"Chart-review load, {band} a month", chart)

    if data.standing_backup:
        if book.standing_backup_cents is None:
            raise OptionNotOffered("standing_backup")
        add(
            "standing_backup",
            "recurring",
            "Standing backup director: a second physician on standby who takes over at once",
            book.standing_backup_cents,
        )

    subtotal = sum(li.amount_cents for li in lines)
    if data.billing_interval == "year" and book.annual_discount_bp:
        add(
            "annual_prepay_discount",
            "recurring",
            f"Annual prepay, {book.annual_discount_bp / 100:g}% off",
            -apply_bp(subtotal, book.annual_discount_bp),
        )
    monthly_total = sum(li.amount_cents for li in lines if li.kind == "recurring")

    if data.rush:
        add("rush_placement", "one_time", "Rush placement (one-time)", book.rush_fee_cents)
    if data.promo_code:
        promo = book.promotions.get(data.promo_code.upper())
        if promo is None:
            raise UnknownPromotion(data.promo_code)
        if not promo.valid_on(today):
            window = (
                f"from {promo.valid_from.isoformat() if promo.valid_from else 'the start'} "
                f"to {promo.valid_until.isoformat() if promo.valid_until else 'further notice'}"
            )
            raise PromotionNotValid(f"{data.promo_code.upper()} applies {window}")
        add(
            f"promo:{data.promo_code.upper()}",
            "discount",
            promo.description,
            -promo.first_invoice_discount_cents,
        )

    months = 12 if data.billing_interval == "year" else 1
    one_time = sum(li.amount_cents for li in lines if li.kind == "one_time")
    discounts = sum(li.amount_cents for li in lines if li.kind == "discount")
    payout = apply_bp(monthly_total, book.physician_payout_bp)
    return QuoteResult(
        pricing_version=book.version,
        currency=book.currency,
        billing_interval=data.billing_interval,
        line_items=tuple(lines),
        monthly_total_cents=monthly_total,
        first_invoice_cents=max(0, monthly_total * months + one_time + discounts),
        physician_payout_cents=payout,
        platform_fee_cents=monthly_total - payout,
        valid_until=today + timedelta(days=book.quote_valid_days),
        strictest_tier=tier,
        monthly_subtotal_cents=subtotal,
    )


def states_of(locations: Sequence[QuoteLocation]) -> list[str]:
    return sorted({loc.state for loc in locations})
