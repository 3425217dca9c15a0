from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from app.catalog.services import service_codes
from app.catalog.types import ServiceCode, ServiceCodes, UsState
from app.catalog.vocabulary import Specialty
from app.kit.openapi import DocumentedAs, ResponseModel
from app.kit.validation import FREE_TEXT


class ServiceRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    code: ServiceCode
    name: str
    category: str
    injectable: bool
    energy_device: bool
    prescription: bool
    controlled_substance: bool
    risk_tier: int = Field(ge=1, le=3)
    delegated_procedure: bool
    commonly_onsite: bool
    fit_specialties: list[Specialty]


class ServiceList(ResponseModel):
    items: list[ServiceRead]
    next_cursor: None = None


class NpPracticeAuthority(StrEnum):
    full = "full"
    reduced = "reduced"
    restricted = "restricted"


class CorporatePracticeRule(StrEnum):
    strict = "strict"
    moderate = "moderate"
    permissive = "permissive"


class Confidence(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class GfeRole(StrEnum):
    physician = "physician"
    np = "np"
    pa = "pa"


# Validated as the literals they always were (same 422s); documented as the enums above, one
# component each for the state's read and its update.
NpAuthorityField = Annotated[
    Literal["full", "reduced", "restricted"], DocumentedAs(NpPracticeAuthority)
]
CpomField = Annotated[
    Literal["strict", "moderate", "permissive"], DocumentedAs(CorporatePracticeRule)
]
ConfidenceField = Annotated[Literal["high", "medium", "low"], DocumentedAs(Confidence)]
GfeRoleField = Annotated[Literal["physician", "np", "pa"], DocumentedAs(GfeRole)]


class StateRuleFields(BaseModel):
    """The editable fields of a state (PUT replaces all of them)."""

    model_config = ConfigDict(extra="forbid")

    np_practice_authority: NpAuthorityField
    cpom: CpomField
    pa_supervision_ratio: int | None = Field(ge=1, le=50, description="null = unknown")
    np_collaboration_ratio: int | None = Field(ge=1, le=50, description="null = unknown")
    remote_supervision_allowed: bool | None = Field(description="null = unknown")
    gfe_required_by: list[GfeRoleField] = Field(
        min_length=1, json_schema_extra={"uniqueItems": True}
    )
    rn_may_inject_neurotoxins_under_delegation: bool | None
    esthetician_may_use_lasers: bool | None
    chart_review_min_percent: float | None = Field(ge=0, le=100)
    notable_rules: Annotated[str, FREE_TEXT] = Field(max_length=2000)
    sources: list[HttpUrl] = Field(max_length=50)
    confidence: ConfidenceField
    caveats: Annotated[str, FREE_TEXT] = Field(max_length=4000)

    @field_validator("gfe_required_by")
    @classmethod
    def _unique_roles(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("roles must not repeat")
        return v


class StateRuleUpdate(StateRuleFields):
    onsite_required_services: list[Annotated[str, DocumentedAs(ServiceCodes)]] | None = Field(
        default=None,
        description="Pin the services that need on-site supervision; omit or null to derive "
        "them from the rules.",
    )

    @field_validator("onsite_required_services")
    @classmethod
    def _known_services(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        unknown = sorted(set(v) - service_codes())
        if unknown:
            raise ValueError(f"unknown service codes: {', '.join(unknown)}")
        return sorted(set(v))


class StateRuleRead(ResponseModel):
    model_config = ConfigDict(from_attributes=True)

    code: UsState
    name: str
    np_practice_authority: NpAuthorityField
    cpom: CpomField
    pa_supervision_ratio: int | None
    np_collaboration_ratio: int | None
    remote_supervision_allowed: bool | None
    gfe_required_by: list[GfeRoleField]
    rn_may_inject_neurotoxins_under_delegation: bool | None
    esthetician_may_use_lasers: bool | None
    chart_review_min_percent: float | None
    onsite_required_services: list[ServiceCode]
    notable_rules: str
    sources: list[str]
    confidence: ConfidenceField
    caveats: str
    reviewed_on: date
    oversight_tier: int = Field(ge=1, le=3, description="Derived: 1 light - 3 strict")
    # Extensions (derived, read-only): the caps matching enforces, defaults applied.
    effective_pa_cap: int | None = None
    effective_np_cap: int | None = None


class StateRuleList(ResponseModel):
    items: list[StateRuleRead]
    next_cursor: None = None
