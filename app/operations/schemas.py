from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.catalog.types import UsState
from app.kit.openapi import ResponseModel
from app.kit.validation import FREE_TEXT

Reason = Field(min_length=3, max_length=2000, description="Why (kept in the audit trail)")


class OverrideReason(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, FREE_TEXT] = Reason


class DirectOffer(BaseModel):
    """Offer an intake to a named physician (operations)."""

    model_config = ConfigDict(extra="forbid")

    physician_id: uuid.UUID
    reason: Annotated[str, FREE_TEXT] = Reason
    states: list[UsState] | None = Field(
        default=None,
        min_length=1,
        description="The state group to offer (needed only when several groups are open)",
    )
    force: bool = Field(
        default=False,
        description="Offer even though hard constraints fail (the failures are audited)",
    )


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, FREE_TEXT] = Reason
    amount_cents: int | None = Field(
        default=None, gt=0, le=100_000_000, description="Default: all that is left to refund"
    )


class RefundRead(ResponseModel):
    invoice_id: uuid.UUID
    stripe_refund_id: str
    amount_cents: int
    amount_refunded_cents: int = Field(description="Refunded on this invoice so far, this included")
