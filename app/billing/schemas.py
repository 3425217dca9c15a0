from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.billing.models import InvoiceStatus
from app.catalog.types import UNIQUE_ITEMS, ServiceCode
from app.catalog.vocabulary import EngagementModel, OversightMode
from app.clinics.schemas import ProviderCount, unique_provider_types
from app.engagements.schemas import EngagementRead
from app.kit.openapi import ResponseModel, omit_or_value
from app.kit.validation import FREE_TEXT, reject_null


class ScopeChange(BaseModel):
    """The intake fields a running engagement may change (any subset). The billing interval,
    start date and one-time options belong to the original purchase and stay as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_or_value(minProperties=1))

    services: Annotated[list[ServiceCode], UNIQUE_ITEMS] | None = Field(
        default=None, min_length=1, max_length=40
    )
    providers: Annotated[list[ProviderCount], AfterValidator(unique_provider_types)] | None = Field(
        default=None, max_length=7
    )
    physician_performs_services: bool | None = None
    engagement_model: EngagementModel | None = None
    oversight_mode: OversightMode | None = None
    monthly_patient_volume: int | None = Field(default=None, ge=0, le=100_000)
    standing_backup: bool | None = Field(
        default=None,
        description="Add (true) or drop (false) the standing backup director: adding starts the "
        "search for one; dropping ends the backup's standby today",
    )

    _no_nulls = field_validator(
        "standing_backup",
        "services",
        "providers",
        "physician_performs_services",
        "engagement_model",
        "oversight_mode",
        "monthly_patient_volume",
    )(reject_null)

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("change at least one field")
        return self

    def values(self) -> dict[str, Any]:
        out = self.model_dump(exclude_unset=True, mode="json")
        if "providers" in out:
            out["providers"] = [{"type": p["type"], "count": p["count"]} for p in out["providers"]]
        return out


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_period_end: bool = Field(
        default=True,
        description="true: run to the end of the paid period (the default); false: end now",
    )
    reason: Annotated[str, FREE_TEXT] | None = Field(
        default=None,
        min_length=3,
        max_length=2000,
        description="Required when operations cancel on the clinic's behalf (audited)",
    )


class SetupIntentStatus(StrEnum):
    """Stripe's SetupIntent statuses."""

    requires_payment_method = "requires_payment_method"
    requires_confirmation = "requires_confirmation"
    requires_action = "requires_action"
    processing = "processing"
    canceled = "canceled"
    succeeded = "succeeded"


class SetupIntentRead(ResponseModel):
    setup_intent_id: str
    setup_intent_client_secret: str
    status: SetupIntentStatus


class EngagementBillingRead(EngagementRead):
    client_secret: str | None = Field(
        default=None, description="Present when the card needs 3-D Secure (Stripe.js confirms it)"
    )
    proration_cents: int | None = Field(
        default=None,
        description="Scope change: the prorated difference for the rest of the current period, "
        "billed on the next invoice (negative: a credit)",
    )


class InvoiceLineRead(ResponseModel):
    description: str | None
    amount_cents: int


class InvoiceRead(ResponseModel):
    id: uuid.UUID
    stripe_invoice_id: str
    engagement_id: uuid.UUID | None
    number: str | None
    status: InvoiceStatus
    currency: str
    total_cents: int
    amount_due_cents: int
    amount_paid_cents: int
    amount_refunded_cents: int = 0
    billing_reason: str | None
    hosted_invoice_url: str | None
    period_start: datetime | None
    period_end: datetime | None
    lines: list[InvoiceLineRead]
    created_at: datetime
    paid_at: datetime | None

    model_config = ConfigDict(from_attributes=True)


class WebhookAck(ResponseModel):
    received: bool
    duplicate: bool


class CaseReportCreate(BaseModel):
    """One month's cases of a per-case engagement."""

    model_config = ConfigDict(extra="forbid")

    month: Annotated[str, Field(pattern=r"^20\d{2}-(0[1-9]|1[0-2])$")] = Field(
        description="The month the cases were treated in (YYYY-MM): from the month the "
        "engagement was confirmed to the current one"
    )
    cases: int = Field(ge=0, le=10_000, description="Cases treated under the director's oversight")
    note: Annotated[str, FREE_TEXT] | None = Field(default=None, max_length=1000)


class CaseReportRead(ResponseModel):
    id: uuid.UUID
    engagement_id: uuid.UUID
    month: str = Field(description="YYYY-MM")
    cases: int
    fee_cents: int = Field(description="One case's fee under the engagement's price book")
    amount_cents: int
    currency: str
    note: str | None
    reported_at: datetime
    billing: Literal["not_billed", "next_invoice", "paid"] = Field(
        description="not_billed: no cases (nothing to bill); next_invoice: an invoice item on "
        "the engagement's next invoice; paid: that invoice is paid (`stripe_invoice_id`)"
    )
    stripe_invoice_id: str | None
    paid_at: datetime | None


class CaseReportList(ResponseModel):
    items: list[CaseReportRead]
    next_cursor: None = None
