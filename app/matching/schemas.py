from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.catalog.types import ServiceCode, UsState
from app.catalog.vocabulary import (
    Degree,
    EngagementModel,
    OversightMode,
    OwnershipModel,
    ProviderType,
    Specialty,
)
from app.clinics.schemas import ComplianceFlagRead, ProviderCount, StaffingSource
from app.kit.openapi import ResponseModel
from app.kit.validation import FREE_TEXT
from app.matching.models import MatchStatus, OfferStatus


class MatchPhysician(ResponseModel):
    id: uuid.UUID = Field(
        description="The physician's id once confirmed (and for operations); before, an opaque "
        "id of this card that changes from one match to the next"
    )
    display_name: str = Field(
        description='Anonymized ("Physician, Dermatology") until confirmation'
    )
    degree: Degree | None = Field(
        description="MD or DO; null on an anonymized card where showing it would narrow the "
        "pool below five physicians"
    )
    specialties: list[Specialty]
    years_experience: int | None = Field(description="Null on an anonymized card")
    aesthetic_years: int | None = Field(description="Null on an anonymized card")
    experience_band: str | None = Field(
        default=None, description='An anonymized card\'s years of practice, e.g. "10-19 years"'
    )
    aesthetic_band: str | None = Field(
        default=None, description='An anonymized card\'s years in aesthetics, e.g. "2-4 years"'
    )
    states_licensed: list[UsState] = Field(
        description="Where the physician holds a current license; on an anonymized card only "
        "the states the card covers"
    )
    anonymized: bool = Field(
        default=False,
        description="True before confirmation: at least five verified physicians licensed in "
        "these states fit every value shown",
    )
    email: str | None = Field(
        default=None, description="The physician's login e-mail; shown to operations only"
    )


class MatchRead(ResponseModel):
    match_id: uuid.UUID
    offer_id: uuid.UUID | None
    rank: int
    score: float
    status: MatchStatus
    covers_states: list[UsState]
    physician: MatchPhysician
    explanation: dict[str, Any]
    hold_until: datetime | None = Field(
        default=None,
        description="An accepted match: the physician's acceptance holds until then (confirm "
        "before it lapses)",
    )


class MatchList(ResponseModel):
    items: list[MatchRead]
    next_cursor: None = None


class ClinicContact(ResponseModel):
    legal_name: str
    contact_name: str
    contact_email: str
    contact_phone: str


class OfferPhysician(ResponseModel):
    """Who an offer went to, shown to operations only."""

    id: uuid.UUID
    name: str
    email: str


class OfferLocation(ResponseModel):
    city: str
    state: UsState


class OfferOnsiteHours(ResponseModel):
    city: str
    state: UsState
    hours_per_month: int


class RosterLine(ResponseModel):
    type: ProviderType
    count: int
    fte: float = Field(description="Their full-time equivalents together")


class OfferPractice(ResponseModel):
    """What the physician would take liability for, shown before they accept (the clinic's
    legal name and contacts only after the clinic confirms)."""

    locations: list[OfferLocation] = Field(description="The clinic's locations in your states")
    ownership_model: OwnershipModel
    staffing_source: StaffingSource = Field(
        description="roster: the clinic's named staff; counts: numbers the clinic gave"
    )
    supervisees: list[RosterLine] = Field(
        description="The people you would supervise: those working in your states"
    )
    compliance_flags: list[ComplianceFlagRead] = Field(
        description="The pre-check's findings for your states (and clinic-wide ones)"
    )
    expected_monthly_cases: int = Field(description="The clinic's estimate of patients a month")
    oversight_mode: OversightMode
    onsite_hours: list[OfferOnsiteHours] = Field(
        description="Your on-site hours a month at each location in your states (empty when "
        "the clinic has stated none)"
    )


class OfferRead(ResponseModel):
    id: uuid.UUID
    status: OfferStatus
    respond_by: datetime
    services: list[ServiceCode]
    states: list[UsState]
    providers: list[ProviderCount]
    oversight_mode: OversightMode
    engagement_model: EngagementModel
    monthly_payout_cents: int
    currency: str = "usd"
    desired_start: date
    purpose: Literal["placement", "replacement", "standing_backup"] = Field(
        default="placement",
        description="placement: direct a clinic's new engagement; replacement: take over from "
        "a director who is leaving, from `starts_on`; standing_backup: be on standby to take "
        "over at once if the clinic's director leaves",
    )
    starts_on: date | None = Field(
        default=None, description="For a replacement: the first day of your oversight"
    )
    clinic_reviews: int = Field(
        default=1,
        description="1: the first physician to accept is the director; 2-3: the clinic reviews "
        "up to that many physicians who accepted and confirms one (the others are released)",
    )
    hold_until: datetime | None = Field(
        default=None,
        description="Once you accepted: your acceptance (and the capacity it takes) holds "
        "until then, unless the clinic confirms or releases you sooner",
    )
    created_at: datetime
    practice: OfferPractice | None = Field(
        default=None, description="The practice you would oversee (before you accept, too)"
    )
    clinic: ClinicContact | None = Field(
        default=None, description="Only once the clinic has confirmed the engagement"
    )
    physician: OfferPhysician | None = Field(
        default=None, description="The physician the offer went to; in operations' views only"
    )


class DeclineBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, FREE_TEXT] = Field(min_length=2, max_length=1000)


class ConfirmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match_id: uuid.UUID | None = Field(
        default=None,
        description="The accepted match to confirm, where more than one physician accepted "
        "(an intake with `review_choices` above 1)",
    )
    match_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=51,
        description="The same for an intake with several state groups: one accepted match per "
        "group that has more than one",
    )
