from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.credentials.checking import Route
from app.credentials.models import (
    CheckMethod,
    CheckResult,
    CheckSource,
    CredentialKind,
    ReviewKind,
    ReviewStatus,
)
from app.kit.openapi import ResponseModel


class CredentialCheckRead(ResponseModel):
    """What was checked about one credential: the source and method, what was compared, the
    result, when, and when it is due again. `self_attested` means nothing was checked."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    credential_kind: CredentialKind
    credential_id: uuid.UUID | None
    source: CheckSource
    source_detail: str | None
    method: CheckMethod
    compared: dict[str, Any]
    result: CheckResult
    detail: str | None
    checked_at: datetime
    recheck_due: date | None


class CredentialStandingRead(ResponseModel):
    """A credential as it stands: `verified` only once its source backed it (`latest_check`);
    `route` says what verifies it (a look-up at the state board, or a document operations
    review) and `route_detail` why."""

    model_config = ConfigDict(from_attributes=True)

    credential_kind: CredentialKind
    credential_id: uuid.UUID
    label: str
    status: str
    expires_on: date
    route: Route
    route_detail: str
    latest_check: CredentialCheckRead | None
    document_status: str | None = Field(description="The newest document's review status")


class CredentialChecks(ResponseModel):
    # Each credential as it stands; the newest check of each credential (and of the NPI and
    # exclusion screening); then every check, newest first.
    credentials: list[CredentialStandingRead]
    latest: list[CredentialCheckRead]
    history: list[CredentialCheckRead]


class ReviewItemRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: ReviewKind
    physician_id: uuid.UUID
    evidence: dict[str, Any]
    status: ReviewStatus
    reason: str | None
    created_at: datetime
    decided_at: datetime | None
    decided_by: uuid.UUID | None


Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2000)]


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "reject"]
    reason: Reason = Field(description="Why; kept in the audit trail and told to the physician")


class ExclusionImportRead(ResponseModel):
    """One imported exclusion file (the newest is the list screenings use)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source: str
    file_name: str
    sha256: str
    row_count: int
    matches_found: int
    imported_at: datetime
