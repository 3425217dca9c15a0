from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, create_model, field_validator

from app.catalog import dataset
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
    rationale: str = Field(
        description="Why the service has its risk tier, injectable, prescription and on-site "
        "flags (not legal advice)"
    )


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


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class AlternativeRead(ResponseModel):
    value: Any
    citation: str
    url: str | None
    reason: str


class FactRead(ResponseModel):
    """One rule with its source. `value: null` means unknown, never "allowed" or "no limit";
    `"none"` is a known absence (no cap, no filing...), cited like any value."""

    value: Any
    citation: str | None
    url: str | None
    confidence: ConfidenceField | None
    checked_on: date
    note: str | None
    alternatives: list[AlternativeRead]
    second_check: dataset.SecondCheckValue | None = Field(
        description="A second researcher confirmed or corrected this fact"
    )
    edited_by_operations: bool = Field(
        description="Set by operations: a newer data file does not overwrite it"
    )


# The enumerations the flat fields already name, documented once.
_VALUE_TYPES: dict[str, Any] = {"np_practice_authority": NpAuthorityField, "cpom": CpomField}
# One component per field (`PaSupervisionRatioFact`...), its value typed as the data file's.
_FACT_MODELS: dict[str, type[FactRead]] = {
    name: create_model(
        f"{_camel(name)}Fact",
        __base__=FactRead,
        __doc__=f"{dataset.FIELD_DOCS[name]}. null = unknown.",
        value=(_VALUE_TYPES.get(name, tp) | None, ...),
    )
    for name, tp in dataset.FIELD_TYPES.items()
}
CitedRules = create_model(  # type: ignore[call-overload]
    "CitedRules",
    __base__=ResponseModel,
    __doc__="Every rule of the jurisdiction as a cited fact.",
    **{name: (model, ...) for name, model in _FACT_MODELS.items()},
)


class FactUpdate(BaseModel):
    """A rule's new value with its source; checked as the data file's facts are (the value's
    type depends on the field) and dated today."""

    model_config = ConfigDict(extra="forbid")

    value: Any = Field(description="null = unknown; the shape depends on the field")
    citation: Annotated[str, FREE_TEXT] | None = Field(default=None, max_length=500)
    url: Annotated[str, FREE_TEXT] | None = Field(default=None, max_length=1000)
    confidence: ConfidenceField | None = None
    note: Annotated[str, FREE_TEXT] | None = Field(default=None, max_length=4000)
    alternatives: list[dict[str, Any]] = Field(default_factory=list, max_length=20)


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
    rules: CitedRules = Field(
        description="Every rule with its citation, URL, confidence and checked date"
    )
    defaults_applied: list[str] = Field(
        description="Flat fields holding the product's conservative default because the "
        "state's rule is unknown (see `rules`): not the state's law"
    )
    data_version: str | None = Field(description="The research-data version last applied")
    disclaimer: str = Field(description="Not legal advice")
    oversight_tier: int = Field(ge=1, le=3, description="Derived: 1 light - 3 strict")
    # Extensions (derived, read-only): the caps matching enforces, defaults applied.
    effective_pa_cap: int | None = None
    effective_np_cap: int | None = None
    effective_combined_cap: int | None = Field(
        default=None,
        description="NPs and PAs together; like the other two, the state's cap where known, "
        "none where the law sets none, else the product's default",
    )


class StateRuleList(ResponseModel):
    items: list[StateRuleRead]
    next_cursor: None = None
