"""The price book: versioned pricing data, validated, shipped as a file and published to a table.

Operations publish a new version (`mdmatch pricing publish FILE` or
`POST /v1/price-books`) without a deploy; quotes always name the version they used.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from importlib import resources
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.catalog.vocabulary import EngagementModel, OversightMode, ProviderType

BP = 10_000  # basis points in 1.00


class ChartReviewTier(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    up_to_patients: int | None = Field(ge=0, description="null = no upper bound")
    cents: int = Field(ge=0)


class Promotion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    first_invoice_discount_cents: int = Field(gt=0)
    description: str
    valid_from: date | None = Field(default=None, description="First day it applies (null: open)")
    valid_until: date | None = Field(default=None, description="Last day it applies (null: open)")
    once_per_clinic: bool = Field(
        default=True, description="A clinic uses it on one engagement (its first), not on each"
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("a promotion's valid_until is not before its valid_from")
        return self

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


class PriceBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(pattern=r"^[0-9A-Za-z._-]{1,40}$")
    currency: str = Field(pattern="^usd$")
    notes: str = ""
    base_cents: dict[EngagementModel, int]
    per_case_fee_cents: int = Field(ge=0)
    per_case_cases_per_100_patients: int = Field(ge=0, le=100)
    tier_multiplier_bp: dict[str, int]
    additional_state_cents: int = Field(ge=0)
    additional_location_cents: int = Field(ge=0)
    service_risk_cents: dict[str, int]
    controlled_substance_cents: int = Field(ge=0)
    provider_cents: dict[ProviderType, int]
    oversight_mode_cents_per_location: dict[OversightMode, int]
    onsite_hour_cents: int = Field(
        default=0, ge=0, description="Each hour a month the physician is on site (stated hours)"
    )
    chart_review_tiers: list[ChartReviewTier] = Field(min_length=1)
    rush_fee_cents: int = Field(ge=0)
    standing_backup_cents: int | None = Field(
        default=None,
        ge=0,
        description="Monthly price of a standing backup director (null: not offered)",
    )
    annual_discount_bp: int = Field(ge=0, le=5000)
    physician_payout_bp: int = Field(ge=0, le=BP)
    quote_valid_days: int = Field(ge=1, le=365)
    promotions: dict[str, Promotion] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _complete_and_monotone(self) -> Self:
        if set(self.base_cents) != set(EngagementModel):
            raise ValueError("base_cents needs every engagement model")
        if set(self.provider_cents) != set(ProviderType):
            raise ValueError("provider_cents needs every provider type")
        if set(self.oversight_mode_cents_per_location) != set(OversightMode):
            raise ValueError("oversight_mode_cents_per_location needs every oversight mode")
        if set(self.tier_multiplier_bp) != {"1", "2", "3"}:
            raise ValueError("tier_multiplier_bp needs tiers 1, 2 and 3")
        if set(self.service_risk_cents) != {"1", "2", "3"}:
            raise ValueError("service_risk_cents needs risk tiers 1, 2 and 3")
        tiers = [self.tier_multiplier_bp[t] for t in ("1", "2", "3")]
        if tiers[0] < BP or tiers != sorted(tiers):
            raise ValueError("tier multipliers must be at least 1.00 and grow with the tier")
        bounds = [t.up_to_patients for t in self.chart_review_tiers]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError("chart_review_tiers: only the last tier is open-ended")
        finite = [b for b in bounds if b is not None]
        cents = [t.cents for t in self.chart_review_tiers]
        if finite != sorted(set(finite)) or cents != sorted(cents):
            raise ValueError("chart_review_tiers must grow in patients and price")
        for code in self.promotions:
            if code != code.upper():
                raise ValueError("promotion codes are upper case")
        return self


@cache
def default_price_book() -> PriceBook:
    raw = resources.files("app.pricing").joinpath("data/price_book.json").read_text()
    return PriceBook.model_validate(json.loads(raw))
