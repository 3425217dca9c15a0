from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from app.catalog.types import UsState
from app.catalog.vocabulary import BillingInterval, OwnershipModel
from app.clinics.schemas import ComplianceFlagRead, IntakeFields, _not_past, check_onsite_hours
from app.errors import Problem, optional_member
from app.kit.geo import zip_in_state
from app.kit.openapi import ResponseModel
from app.pricing.price_book import PriceBook, Promotion


class QuoteLocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: UsState
    zip: Annotated[str, StringConstraints(pattern=r"^\d{5}$")] | None = None

    @model_validator(mode="after")
    def _zip_in_state(self) -> QuoteLocationIn:
        if self.zip is not None:
            zip_in_state(self.zip, self.state)
        return self


class QuoteRequest(IntakeFields):
    """An instant quote: the intake body plus one entry per location."""

    locations: list[QuoteLocationIn] = Field(min_length=1, max_length=50)
    ownership_model: OwnershipModel | None = None

    @model_validator(mode="after")
    def _hours_at_listed_locations(self) -> Self:
        check_onsite_hours(self.oversight_mode.value, self.onsite_hours, len(self.locations))
        return self

    desired_start: Annotated[date, AfterValidator(_not_past)] | None = None  # type: ignore[assignment]


class LineItemRead(ResponseModel):
    code: str
    kind: Literal["recurring", "one_time", "discount", "estimate"] = Field(
        description="recurring: billed every period (they add up to `monthly_total_cents`); "
        "one_time / discount: the first invoice only; estimate: shown, never billed (a "
        "per-case engagement's expected cases: reported cases are billed monthly)"
    )
    description: str
    amount_cents: int


class QuoteRead(ResponseModel):
    id: uuid.UUID | None = None
    intake_id: uuid.UUID | None = None
    pricing_version: str
    currency: str
    billing_interval: BillingInterval
    line_items: list[LineItemRead]
    monthly_total_cents: int
    estimated_monthly_cents: int = Field(
        description="The monthly total plus the estimate lines (per-case engagements: the "
        "expected cases); equal to `monthly_total_cents` otherwise"
    )
    first_invoice_cents: int
    physician_payout_cents: int
    platform_fee_cents: int
    oversight_tier: int = Field(description="The strictest location's tier, which priced it")
    valid_until: date
    compliance_flags: list[ComplianceFlagRead]
    created_at: datetime | None = None


class ComplianceProblem(Problem):
    """409 on submitting an intake or changing scope: `blocking-compliance-flags` carries the
    flags to resolve; the operation's other conflicts have no `flags`."""

    flags: list[ComplianceFlagRead] = Field(
        default_factory=list,
        description="The blocking flags (`blocking-compliance-flags` only)",
        json_schema_extra=optional_member,
    )


class PublishedPromotion(Promotion):
    """A promotion as served: every field present (null for an open end of its window)."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class PublishedPriceBook(PriceBook):
    """A price book as served: the fields of the upload (`PriceBook`), every one present."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    promotions: dict[str, PublishedPromotion] = Field(default_factory=dict)  # type: ignore[assignment]


class PriceBookRead(ResponseModel):
    version: str
    published_at: datetime
    notes: str
    data: dict[str, object]


class PriceBookList(ResponseModel):
    items: list[PriceBookRead]
    next_cursor: None = None


VersionStr = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z._-]{1,40}$")]
