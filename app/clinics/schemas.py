from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.catalog.types import UNIQUE_ITEMS, ServiceCode, UsState
from app.catalog.vocabulary import (
    BillingInterval,
    EngagementModel,
    OversightMode,
    OwnershipModel,
    ProviderType,
)
from app.clinics.models import IntakeStatus, MemberRole
from app.kit.clock import today
from app.kit.geo import zip_in_state
from app.kit.openapi import ResponseModel, omit_or_value
from app.kit.validation import ONE_LINE, Stated, reject_null

Text200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200), ONE_LINE
]
Phone = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ().\-]{6,24}$"),
]
Zip5 = Annotated[str, StringConstraints(pattern=r"^\d{5}$")]


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=120), ONE_LINE
    ]
    email: EmailStr
    phone: Phone


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: Text200
    city: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100), ONE_LINE
    ]
    state: UsState
    zip: Zip5

    @model_validator(mode="after")
    def _zip_in_state(self) -> Self:
        zip_in_state(self.zip, self.state)
        return self


class LocationRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    address: str
    city: str
    state: UsState
    zip: str


class ClinicCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_name: Text200
    ownership_model: OwnershipModel
    contact: Contact
    locations: list[LocationIn] = Field(min_length=1, max_length=50)


class ClinicUpdate(BaseModel):
    """Any subset; `locations`, when given, replaces them all (not while an intake is live)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_or_value())

    legal_name: Text200 | None = None
    ownership_model: OwnershipModel | None = None
    contact: Contact | None = None
    locations: list[LocationIn] | None = Field(default=None, min_length=1, max_length=50)

    _no_nulls = field_validator("*")(reject_null)


class ClinicRead(ResponseModel):
    id: uuid.UUID
    legal_name: str
    ownership_model: OwnershipModel
    contact: Contact
    locations: list[LocationRead]
    states: list[UsState]
    created_at: datetime
    updated_at: datetime


def _two_decimals(v: float) -> float:
    rounded = round(v, 2)
    if abs(v - rounded) > 1e-9:
        raise ValueError("an FTE has at most two decimals (0.5, 0.75)")
    return rounded


Fte = Annotated[
    float,
    Field(ge=0.1, le=1.0, description="Full-time equivalent: 1.0 is full time, 0.5 half time"),
    Stated(_two_decimals, (("multipleOf", 0.01),)),
]
PersonName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80), ONE_LINE
]
LicenseNumber = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 .\-/]{0,39}$"),
]
LicenseType = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40), ONE_LINE
]
LocationIds = Annotated[list[uuid.UUID], Field(min_length=1, max_length=50), UNIQUE_ITEMS]
RosterServices = Annotated[list[ServiceCode], Field(max_length=60), UNIQUE_ITEMS]


class ProviderIn(BaseModel):
    """A person on the clinic's roster."""

    model_config = ConfigDict(extra="forbid")

    type: ProviderType
    first_name: PersonName
    last_name: PersonName
    license_type: LicenseType = Field(
        description="As the license names it, e.g. APRN-CNP, PA-C, RN"
    )
    license_state: UsState
    license_number: LicenseNumber
    fte: Fte
    location_ids: LocationIds = Field(description="The clinic's locations they work at")
    services: RosterServices = Field(default_factory=list, description="What they perform")


class ProviderUpdate(BaseModel):
    """Any subset of a roster entry."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_or_value())

    type: ProviderType | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    license_type: LicenseType | None = None
    license_state: UsState | None = None
    license_number: LicenseNumber | None = None
    fte: Fte | None = None
    location_ids: LocationIds | None = None
    services: RosterServices | None = None

    _no_nulls = field_validator("*")(reject_null)


class ProviderRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    clinic_id: uuid.UUID
    type: ProviderType
    first_name: str
    last_name: str
    license_type: str
    license_state: UsState
    license_number: str
    fte: float
    location_ids: list[uuid.UUID]
    services: list[ServiceCode]
    created_at: datetime
    updated_at: datetime


class StaffingSource(StrEnum):
    """Where an intake's staffing comes from."""

    roster = "roster"
    counts = "counts"


class StaffingEntry(ResponseModel):
    """One person of the roster as an intake counts them: the states they work in."""

    provider_id: uuid.UUID
    type: ProviderType
    fte: float
    states: list[UsState]
    services: list[ServiceCode]


class InvitableRole(StrEnum):
    """The roles an owner gives teammates (ownership moves only by a transfer)."""

    admin = "admin"
    billing = "billing"
    viewer = "viewer"


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    role: InvitableRole


class InvitationRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    role: InvitableRole
    created_at: datetime
    expires_at: datetime


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{16,128}$")]


class MemberRead(ResponseModel):
    clinic_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    role: MemberRole
    created_at: datetime


class TeamRead(ResponseModel):
    members: list[MemberRead]
    invitations: list[InvitationRead] = Field(description="Pending invitations")


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: InvitableRole


class OwnershipTransfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID = Field(description="A teammate, who becomes the owner")


class ProviderCount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: ProviderType
    count: int = Field(ge=0, le=500)


def unique_provider_types(v: list[ProviderCount]) -> list[ProviderCount]:
    if len({p.type for p in v}) != len(v):
        raise ValueError("each provider type may appear once")
    return v


def _not_past(v: date) -> date:
    if v < today():
        raise ValueError("must not be in the past")
    return v


PromoCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9_-]{2,40}$")
]


class OnsiteHours(BaseModel):
    """The physician's on-site hours a month at one location."""

    model_config = ConfigDict(extra="forbid")

    location: int = Field(
        ge=0,
        le=49,
        description="The location's position in the clinic's `locations` (an instant quote's: "
        "its `locations`), from 0",
    )
    hours_per_month: int = Field(ge=1, le=400)


def _one_entry_per_location(v: list[OnsiteHours]) -> list[OnsiteHours]:
    if len({h.location for h in v}) != len(v):
        raise ValueError("each location may appear once")
    return v


OnsiteHoursList = Annotated[
    list[OnsiteHours], AfterValidator(_one_entry_per_location), Field(max_length=50)
]


def check_onsite_hours(mode: str, hours: Sequence[Any], locations: int | None) -> None:
    """On-site hours go with hybrid or on-site oversight, at existing locations."""
    if hours and mode == OversightMode.remote.value:
        raise ValueError(
            "remote oversight has no on-site hours: choose hybrid or on-site oversight, or "
            "remove onsite_hours"
        )
    if locations is not None:
        beyond = sorted(h.location for h in hours if h.location >= locations)
        if beyond:
            raise ValueError(f"no location at position {beyond[0]} (there are {locations})")


FractionalShare = Annotated[
    float,
    Field(
        ge=0.1,
        le=0.9,
        description="Fractional engagements: the share of the physician's capacity (clinics) "
        "it takes, e.g. 0.5; without it a fractional engagement takes one clinic place",
    ),
    Stated(_two_decimals, (("multipleOf", 0.01),)),
]


def check_share(model: str, share: float | None) -> None:
    if share is not None and model != EngagementModel.fractional.value:
        raise ValueError("fractional_share goes with a fractional engagement only")


class IntakeFields(BaseModel):
    """What a clinic asks for: the intake body (and, with locations, an instant quote's)."""

    model_config = ConfigDict(extra="forbid")

    services: Annotated[list[ServiceCode], UNIQUE_ITEMS] = Field(min_length=1, max_length=40)
    providers: Annotated[list[ProviderCount], AfterValidator(unique_provider_types)] = Field(
        default_factory=list, max_length=7
    )
    physician_performs_services: bool = Field(
        default=False,
        description="The physician performs the services themself (needed when no providers).",
    )
    engagement_model: EngagementModel
    oversight_mode: OversightMode
    billing_interval: BillingInterval = BillingInterval.month
    monthly_patient_volume: int = Field(ge=0, le=100_000)
    desired_start: Annotated[date, AfterValidator(_not_past)]
    rush: bool = False
    standing_backup: bool = Field(
        default=False,
        description="Add a standing backup director: a second physician on standby for every "
        "state who takes over automatically when a director leaves (a recurring price-book item)",
    )
    promo_code: PromoCode | None = None
    fractional_share: FractionalShare | None = None
    onsite_hours: OnsiteHoursList = Field(
        default_factory=list,
        description="Hybrid or on-site oversight: the physician's hours on site a month per "
        "location (priced per hour; matching asks for travel only to these locations, and to "
        "those with on-site services). Without it every location counts as on site",
    )

    @model_validator(mode="after")
    def _hours_fit_the_mode(self) -> Self:
        check_onsite_hours(self.oversight_mode.value, self.onsite_hours, None)
        check_share(self.engagement_model.value, self.fractional_share)
        return self

    @model_validator(mode="after")
    def _someone_performs(self) -> Self:
        if not any(p.count > 0 for p in self.providers) and not self.physician_performs_services:
            raise ValueError(
                "add at least one provider, or set physician_performs_services to true"
            )
        return self

    def provider_counts(self) -> dict[str, int]:
        return {p.type.value: p.count for p in self.providers}


ReviewChoices = Annotated[
    int,
    Field(
        ge=1,
        le=3,
        description="How many physicians who accept the clinic reviews before it confirms one: "
        "1 (the default) makes the first to accept the director; 2 or 3 hold each acceptance "
        "until its `hold_until` and keep the other offers open until that many accepted; the "
        "clinic then confirms one (`match_id`) and the others are released",
    ),
]


class IntakeCreate(IntakeFields):
    review_choices: ReviewChoices = 1


class IntakeUpdate(BaseModel):
    """Any subset of the intake's fields (while it is a draft)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=omit_or_value("promo_code"))

    services: Annotated[list[ServiceCode], UNIQUE_ITEMS] | None = Field(
        default=None, min_length=1, max_length=40
    )
    providers: Annotated[list[ProviderCount], AfterValidator(unique_provider_types)] | None = Field(
        default=None, max_length=7
    )
    physician_performs_services: bool | None = None
    engagement_model: EngagementModel | None = None
    oversight_mode: OversightMode | None = None
    billing_interval: BillingInterval | None = None
    monthly_patient_volume: int | None = Field(default=None, ge=0, le=100_000)
    desired_start: Annotated[date, AfterValidator(_not_past)] | None = None
    rush: bool | None = None
    standing_backup: bool | None = None
    promo_code: PromoCode | None = None
    onsite_hours: OnsiteHoursList | None = None
    fractional_share: FractionalShare | None = None
    review_choices: ReviewChoices | None = None

    # promo_code may be cleared with null; every other field only omitted.
    _no_nulls = field_validator(
        *(set(IntakeFields.model_fields) - {"promo_code"}), "review_choices"
    )(reject_null)


class ComplianceFlagRead(ResponseModel):
    code: str
    severity: Literal["blocking", "warning", "info"]
    state: UsState | None
    message: str
    citation: str | None = Field(
        default=None,
        description="The statute or board rule the flag applies, where the data cites one "
        "(null for the product's own defaults and for unknown rules)",
    )


# The engagement's vocabulary as an intake shows it. Clinics sit below engagements, so these are
# copies of `app.engagements.models.EngagementStatus` and `DepartureReason`: the same name and
# values make them one component in the OpenAPI document (a copy that drifted would show there
# as a second, longer-named schema).
class EngagementStatus(StrEnum):
    pending_payment = "pending_payment"
    active = "active"
    past_due = "past_due"
    ending = "ending"
    canceled = "canceled"


class DepartureReason(StrEnum):
    resigned = "resigned"
    license_lapsed = "license_lapsed"
    malpractice_lapsed = "malpractice_lapsed"
    suspended = "suspended"
    rejected = "rejected"


class DirectorGap(ResponseModel):
    """A director leaving the intake's engagement, as the clinic sees it."""

    states: list[UsState]
    oversight_ends_on: date = Field(description="First day without this director's oversight")
    reason: DepartureReason
    status: Literal["searching", "replaced", "uncovered"]


class BackupSearchState(StrEnum):
    """An open search for a standing backup director."""

    searching = "searching"
    uncovered = "uncovered"


class IntakeContinuity(ResponseModel):
    """For a confirmed intake: who oversees it from here on, and any gap."""

    engagement_id: uuid.UUID
    engagement_status: EngagementStatus
    directors_leaving: list[DirectorGap] = Field(
        description="Departures without a replacement yet (searching, or uncovered)"
    )
    uncovered_states: list[UsState] = Field(
        description="States with no director today: services that need one must pause"
    )
    backup_search: BackupSearchState | None


class IntakeRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    clinic_id: uuid.UUID
    status: IntakeStatus
    services: list[ServiceCode]
    providers: list[ProviderCount]
    staffing_source: StaffingSource = Field(
        description="roster: the clinic's provider roster (per person, FTE and states) decides "
        "the caps; counts: `providers`, read as full-time people working in every state"
    )
    staffing: list[StaffingEntry] | None = Field(
        description="The roster the intake counts (a draft follows the roster; a submitted "
        "intake keeps the roster it was submitted with); null without a roster"
    )
    physician_performs_services: bool
    engagement_model: EngagementModel
    oversight_mode: OversightMode
    billing_interval: BillingInterval
    monthly_patient_volume: int
    desired_start: date
    rush: bool
    standing_backup: bool
    promo_code: str | None
    onsite_hours: list[OnsiteHours]
    fractional_share: float | None
    review_choices: int = Field(
        description="Acceptances the clinic reviews before confirming one (1: first to accept)"
    )
    compliance_flags: list[ComplianceFlagRead]
    submitted_at: datetime | None
    withdrawn_at: datetime | None
    matching_outcome: dict[str, Any] | None = Field(
        default=None, description="Why matching ended unmatched (reason and diagnostics)"
    )
    first_offer_at: datetime | None = None
    matched_at: datetime | None = None
    continuity: IntakeContinuity | None = Field(
        default=None,
        description="Confirmed intakes, in the single-intake view: directors leaving and "
        "states without a director (the gap) until a replacement accepts",
    )
    created_at: datetime
    updated_at: datetime
