from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, Field

from app.engagements.models import EngagementStatus
from app.pricing.schemas import QuoteRead


class DirectorRead(BaseModel):
    physician_id: uuid.UUID
    display_name: str
    states: list[str]
    monthly_payout_cents: int


class EngagementRead(BaseModel):
    id: uuid.UUID
    intake_id: uuid.UUID
    clinic_id: uuid.UUID
    status: EngagementStatus
    directors: list[DirectorRead]
    quote: QuoteRead
    payment_status: str | None = Field(
        description="The latest invoice's payment: paid, requires_action, failed (or null)"
    )
    cancel_at_period_end: bool
    failure_reason: str | None
    current_period_end: datetime | None
    payment_due_by: datetime | None
    stripe_subscription_id: str | None
    confirmed_at: datetime
    ends_on: date | None
    created_at: datetime
