from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.catalog.types import UNIQUE_ITEMS, ServiceCode, UsState
from app.catalog.vocabulary import (
    CredentialStatus,
    Degree,
    EngagementModel,
    OversightMode,
    Specialty,
)
from app.kit.clock import today
from app.kit.geo import lookup_zip
from app.kit.openapi import ResponseModel, omit_or_value
from app.kit.validation import ONE_LINE, reject_null
from app.physicians.license_formats import enforced_problem
from app.physicians.models import VerificationStatus
from app.physicians.npi import is_valid_npi

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), ONE_LINE
]
Zip = Annotated[str, StringConstraints(pattern=r"^\d{5}$")]
CredentialNumber = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=2,
        max_length=40,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 .\-/]*$",
    ),
]


def _npi(v: str) -> str:
    if not is_valid_npi(v):
        raise ValueError("not a valid NPI: 10 digits with a correct check digit")
    return v


def _zip(v: str) -> str:
    if lookup_zip(v) is None:
        raise ValueError("unknown US zip code")
    return v


def _future(v: date) -> date:
    if v <= today():
        raise ValueError("must be in the future")
    return v


Npi = Annotated[str, StringConstraints(pattern=r"^\d{10}$"), AfterValidator(_npi)]
HomeZip = Annotated[Zip, AfterValidator(_zip)]
FutureDate = Annotated[date, AfterValidator(_future)]


class _ProfileFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    specialties: Annotated[list[Specialty], UNIQUE_ITEMS] = Field(min_length=1, max_length=10)
    years_experience: int = Field(ge=0, le=70)
    aesthetic_years: int = Field(ge=0, le=70)
    services: Annotated[list[ServiceCode], UNIQUE_ITEMS] = Field(min_length=1, max_length=40)
    engagement_models: Annotated[list[EngagementModel], UNIQUE_ITEMS] = Field(min_length=1)
    oversight_modes: Annotated[list[OversightMode], UNIQUE_ITEMS] = Field(min_length=1)
    home_zip: HomeZip
    travel_radius_miles: int = Field(ge=0, le=500)
    max_clinics: int = Field(ge=1, le=100)
    max_supervisees: int = Field(ge=1, le=500)
    min_monthly_rate_cents: int = Field(ge=0, le=10_000_000)
    accepting_new: bool = True


class PhysicianCreate(_ProfileFields):
    npi: Npi
    first_name: Name
    last_name: Name
    degree: Degree

    @model_validator(mode="after")
    def _aesthetic_within_career(self) -> Self:
        if self.aesthetic_years > self.years_experience:
            raise ValueError("aesthetic_years cannot exceed years_experience")
        return self


class PhysicianUpdate(BaseModel):
    """Any subset of the profile; changing `npi` or the name sends it back to verification."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_or_value())

    npi: Npi | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    degree: Degree | None = None
    specialties: Annotated[list[Specialty], UNIQUE_ITEMS] | None = Field(
        default=None, min_length=1, max_length=10
    )
    years_experience: int | None = Field(default=None, ge=0, le=70)
    aesthetic_years: int | None = Field(default=None, ge=0, le=70)
    services: Annotated[list[ServiceCode], UNIQUE_ITEMS] | None = Field(
        default=None, min_length=1, max_length=40
    )
    engagement_models: Annotated[list[EngagementModel], UNIQUE_ITEMS] | None = Field(
        default=None, min_length=1
    )
    oversight_modes: Annotated[list[OversightMode], UNIQUE_ITEMS] | None = Field(
        default=None, min_length=1
    )
    home_zip: HomeZip | None = None
    travel_radius_miles: int | None = Field(default=None, ge=0, le=500)
    max_clinics: int | None = Field(default=None, ge=1, le=100)
    max_supervisees: int | None = Field(default=None, ge=1, le=500)
    min_monthly_rate_cents: int | None = Field(default=None, ge=0, le=10_000_000)
    accepting_new: bool | None = None

    _no_nulls = field_validator("*")(reject_null)


class LicenseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: UsState
    number: CredentialNumber = Field(
        description="The board's license number; refused where the state's format is "
        "confirmed and the number does not fit it (docs/credentials.md, 'License-number formats')"
    )
    expires_on: FutureDate

    @model_validator(mode="after")
    def _number_fits_the_state(self) -> Self:
        problem = enforced_problem(self.state, self.number)
        if problem is not None:
            raise ValueError(f"number: {problem}")
        return self


class DeaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: UsState
    number: Annotated[
        str,
        BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v),
        StringConstraints(pattern=r"^[A-Z]{2}\d{7}$"),
    ] = Field(description="DEA registration number: two letters and seven digits")
    expires_on: FutureDate


class CoverageBasis(StrEnum):
    """When a malpractice policy covers an incident."""

    occurrence = "occurrence"  # incidents during the policy, whenever claimed
    claims_made = "claims_made"  # claims made while it runs (tail cover extends it)


class MalpracticeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    carrier: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120), ONE_LINE
    ]
    policy_number: CredentialNumber
    per_claim_cents: int = Field(gt=0, le=10_000_000_000)
    aggregate_cents: int = Field(gt=0, le=100_000_000_000)
    expires_on: FutureDate
    coverage_basis: CoverageBasis | None = Field(
        default=None,
        description="occurrence (incidents during the policy, whenever claimed) or claims_made "
        "(claims made while it runs)",
    )
    tail_coverage: bool | None = Field(
        default=None,
        description="A claims-made policy's tail (extended reporting) cover after it ends",
    )

    @model_validator(mode="after")
    def _aggregate_covers_claim(self) -> Self:
        if self.aggregate_cents < self.per_claim_cents:
            raise ValueError("aggregate_cents must be at least per_claim_cents")
        if self.tail_coverage is not None and self.coverage_basis != CoverageBasis.claims_made:
            raise ValueError("tail_coverage applies to a claims_made policy only")
        return self


class BoardCertificationKind(StrEnum):
    """Board-certified, or board-eligible (some rules accept either)."""

    certified = "certified"
    eligible = "eligible"


class BoardCertificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    board: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120), ONE_LINE
    ] = Field(description="The certifying board, e.g. American Board of Dermatology")
    specialty: Specialty
    certification: BoardCertificationKind
    expires_on: FutureDate = Field(
        description="The end of the certificate's validity, or of the eligibility period"
    )


class BoardCertificationRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    board: str
    specialty: Specialty
    certification: BoardCertificationKind
    expires_on: date
    status: CredentialStatus
    verified_at: datetime | None


class LicenseRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    state: UsState
    number: str
    expires_on: date
    status: CredentialStatus
    verified_at: datetime | None


class DeaRead(LicenseRead):
    pass


class MalpracticeRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    carrier: str
    policy_number: str
    per_claim_cents: int
    aggregate_cents: int
    currency: str
    expires_on: date
    coverage_basis: CoverageBasis | None
    tail_coverage: bool | None
    status: CredentialStatus
    verified_at: datetime | None


class PhysicianRead(ResponseModel):
    """The full profile: for the physician themself and operations only (never for clinics)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_id: uuid.UUID
    npi: str
    first_name: str
    last_name: str
    degree: Degree
    specialties: list[Specialty]
    years_experience: int
    aesthetic_years: int
    services: list[ServiceCode]
    engagement_models: list[EngagementModel]
    oversight_modes: list[OversightMode]
    home_zip: str
    travel_radius_miles: int
    max_clinics: int
    max_supervisees: int
    min_monthly_rate_cents: int
    currency: str = "usd"
    accepting_new: bool
    verification_status: VerificationStatus
    verification_reasons: list[str]
    verified_at: datetime | None
    suspended_at: datetime | None
    suspension_reason: str | None
    licenses: list[LicenseRead]
    dea_registrations: list[DeaRead]
    malpractice_policies: list[MalpracticeRead]
    board_certifications: list[BoardCertificationRead]
    states_licensed: list[UsState] = Field(
        default_factory=list, description="States with a verified, unexpired license"
    )
    created_at: datetime
    updated_at: datetime


class PhysicianSummary(ResponseModel):
    """A row of the operations list."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    npi: str
    first_name: str
    last_name: str
    degree: Degree
    specialties: list[Specialty]
    verification_status: VerificationStatus
    accepting_new: bool
    states_licensed: list[UsState] = Field(default_factory=list)
    created_at: datetime


class VerificationResult(ResponseModel):
    verification_status: VerificationStatus
    reasons: list[str]


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]
