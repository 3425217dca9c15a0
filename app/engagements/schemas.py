from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.catalog.types import UsState
from app.clinics.schemas import BackupSearchState
from app.credentials.models import CheckMethod, CheckResult, CheckSource, CredentialKind
from app.engagements.models import (
    DepartureReason,
    DepartureStatus,
    EngagementStatus,
    PaymentStatus,
)
from app.kit.openapi import ResponseModel
from app.kit.validation import FREE_TEXT
from app.pricing.schemas import QuoteRead


class CredentialCheckSummary(ResponseModel):
    """The newest check of a credential: against what, how, with what result, and when."""

    source: CheckSource
    source_detail: str | None
    method: CheckMethod = Field(
        description="primary_source (looked up at the issuing or listing body), "
        "document_review (a person compared a document), self_attested (nothing checked)"
    )
    result: CheckResult
    checked_at: datetime
    recheck_due: date | None


class DirectorCredentialRead(ResponseModel):
    """One of the director's credentials that this engagement relies on, and what was checked
    about it. `check` null: nothing was checked; the record is what the physician typed in."""

    kind: CredentialKind
    credential_id: uuid.UUID | None
    state: UsState | None
    expires_on: date | None
    status: str | None = Field(description="The credential's own status (null for npi, exclusion)")
    check: CredentialCheckSummary | None


class DirectorRead(ResponseModel):
    physician_id: uuid.UUID
    display_name: str
    states: list[UsState]
    monthly_payout_cents: int
    starts_on: date | None = Field(
        description="First day of oversight (null: from the engagement's start)"
    )
    ends_on: date | None = Field(description="First day without this director's oversight")
    credentials: list[DirectorCredentialRead] = Field(
        default_factory=list,
        description="The credentials this engagement relies on (the NPI, exclusion screening, "
        "licenses and DEA registrations in the director's states, malpractice cover, board "
        "certifications), each with its newest check",
    )


class DepartureRead(ResponseModel):
    """A director leaving, and where the search for their replacement stands."""

    physician_id: uuid.UUID
    states: list[UsState]
    reason: DepartureReason
    oversight_ends_on: date
    status: DepartureStatus = Field(
        description="searching (offers out), replaced, or uncovered (nobody left to ask)"
    )
    replacement_physician_id: uuid.UUID | None


class ResignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, FREE_TEXT] = Field(min_length=1, max_length=2000)
    effective_on: date = Field(
        description="First day you no longer oversee; at least the notice period (default 30 "
        "days) from today"
    )


class EngagementRead(ResponseModel):
    id: uuid.UUID
    intake_id: uuid.UUID
    clinic_id: uuid.UUID
    status: EngagementStatus
    directors: list[DirectorRead]
    quote: QuoteRead
    payment_status: PaymentStatus | None = Field(
        description="The latest invoice's payment: paid, requires_action, failed (or null)"
    )
    cancel_at_period_end: bool
    failure_reason: str | None
    current_period_end: datetime | None
    payment_due_by: datetime | None
    stripe_subscription_id: str | None
    confirmed_at: datetime
    ends_on: date | None
    departures: list[DepartureRead] = Field(
        description="Directors leaving (or who left) and their replacement searches"
    )
    backup: DirectorRead | None = Field(
        default=None,
        description="The standing backup director on standby (takes over when a director "
        "leaves), if the clinic has one",
    )
    backup_search: BackupSearchState | None = Field(
        default=None,
        description="A standing backup is being looked for (`uncovered`: nobody left to ask; "
        "operations are on it)",
    )
    uncovered_states: list[UsState] = Field(
        description="States without a director today (a director left before a replacement "
        "accepted): services that need one must pause"
    )
    created_at: datetime
