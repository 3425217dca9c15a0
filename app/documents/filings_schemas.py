"""Filings owed under state rules, as the API shows them, and the body that marks one filed."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.documents.filings import FilingStanding, standing_of
from app.documents.models import Filing, FilingParty, FilingStatus
from app.kit.openapi import ResponseModel


class FilingEvent(StrEnum):
    """What obliged the filing (the state rule's trigger): the agreement's signing, the start
    of the practice it governs, a change, its termination, or a renewal."""

    signing = "signing"
    start = "start"
    change = "change"
    termination = "termination"
    renewal = "renewal"


class FilingSource(ResponseModel):
    """The state rule the obligation comes from, as researched when the task was opened."""

    citation: str | None
    url: str | None
    confidence: str | None = Field(description="The research's confidence: high, medium or low")
    note: str | None


class FilingRead(ResponseModel):
    """A filing a state's rules oblige: what, with whom, by when (`due_on` null: the source
    states no deadline) and who owes it (`director`, or the `clinic` for its roster NP or PA).
    `standing` is computed on the day of the request."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    engagement_id: uuid.UUID
    clinic_id: uuid.UUID
    clinic_legal_name: str
    document_id: uuid.UUID | None
    state: str
    what: str
    filed_with: str
    trigger: FilingEvent
    triggered_on: date
    within_days: int | None
    due_on: date | None
    days_until_due: int | None = Field(
        description="Days left until the deadline (negative: days overdue); null when the "
        "filing is no longer open or has no deadline"
    )
    status: FilingStatus
    standing: FilingStanding
    responsible: FilingParty
    physician_id: uuid.UUID | None
    provider_id: uuid.UUID | None
    source: FilingSource
    created_at: datetime
    completed_at: datetime | None
    filed_on: date | None
    reference: str | None

    @classmethod
    def of(cls, filing: Filing, clinic_legal_name: str, *, on: date) -> FilingRead:
        source: dict[str, Any] = filing.source or {}
        is_open = filing.status == FilingStatus.open.value
        return cls(
            id=filing.id,
            engagement_id=filing.engagement_id,
            clinic_id=filing.clinic_id,
            clinic_legal_name=clinic_legal_name,
            document_id=filing.document_id,
            state=filing.state,
            what=filing.what,
            filed_with=filing.filed_with,
            trigger=FilingEvent(filing.trigger),
            triggered_on=filing.triggered_on,
            within_days=filing.within_days,
            due_on=filing.due_on,
            days_until_due=(
                (filing.due_on - on).days if is_open and filing.due_on is not None else None
            ),
            status=FilingStatus(filing.status),
            standing=standing_of(filing.status, filing.due_on, on),
            responsible=FilingParty(filing.responsible),
            physician_id=filing.physician_id,
            provider_id=filing.provider_id,
            source=FilingSource(
                citation=source.get("citation"),
                url=source.get("url"),
                confidence=source.get("confidence"),
                note=source.get("note"),
            ),
            created_at=filing.created_at,
            completed_at=filing.completed_at,
            filed_on=filing.filed_on,
            reference=filing.reference,
        )


Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class FilingComplete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filed_on: date = Field(description="The day it was filed: not in the future")
    reference: Reference | None = Field(
        default=None, description="The board's confirmation or registration number, if any"
    )
