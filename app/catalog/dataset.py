"""The state-rules dataset: the schema of `data/state_rules.json`, one record per jurisdiction.

Every rule is a *cited fact*: its value, the statute or rule section it comes from, the URL of the
text that was read, a confidence and the day it was checked.

- ``value: null`` means **unknown**. It is never read as "no limit" or "allowed". A null fact
  still says when it was checked and what was searched (``note``).
- ``"none"`` is a *known* absence, cited like any value: the state sets no numeric cap, no filing,
  no satellite-office rule...
- Confidence: ``high`` = read in the statute or regulation text (or the board's own page);
  ``medium`` = a reputable secondary source (a law firm, a professional association, a
  compliance publisher); ``low`` = inferred (a general rule, a dated or commercial page).
- Where sources disagree, ``alternatives`` records the other readings and why they lost.

This module is pure (pydantic only) so that the research tooling, the loader, the tests and
`mdmatch rules` all validate the same way.
"""

from __future__ import annotations

import json
import re
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from app.kit.openapi import DocumentedAs


class RuleRole(StrEnum):
    """Who may do something under a rule."""

    physician = "physician"
    np = "np"
    pa = "pa"
    rn = "rn"


class Supervisee(StrEnum):
    """The delegates whose numbers and reviews rules set."""

    np = "np"
    pa = "pa"


class SupervisionMode(StrEnum):
    """Whether the physician may supervise a delegated procedure remotely."""

    remote = "remote"
    onsite = "onsite"


class SecondCheck(StrEnum):
    """What a second researcher found when re-checking a fact's citation."""

    confirmed = "confirmed"
    corrected = "corrected"


# Validated as literals (plain strings in the data), documented as the named enums above.
Confidence = Literal["high", "medium", "low"]
Role = Annotated[Literal["physician", "np", "pa", "rn"], DocumentedAs(RuleRole)]
SuperviseeRole = Annotated[Literal["np", "pa"], DocumentedAs(Supervisee)]
Supervision = Annotated[Literal["remote", "onsite"], DocumentedAs(SupervisionMode)]
SecondCheckValue = Annotated[Literal["confirmed", "corrected"], DocumentedAs(SecondCheck)]
NONE = "none"
KnownNone = Literal["none"]

Text = Annotated[str, Field(min_length=1, max_length=2000)]
Days = Annotated[int, Field(ge=1, le=3660)]


class _Strict(BaseModel):
    # Served in responses with every member present (null when unset): the OpenAPI document
    # marks them all required.
    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_serialization_defaults_required=True
    )


class Ratio(_Strict):
    """A cap on the supervisees one physician may have."""

    max: int = Field(ge=1, le=100)
    counts: Literal["heads", "fte"] = Field(
        description="heads = people; fte = full-time equivalents (part-timers count pro rata)"
    )
    exceptions: str | None = Field(default=None, max_length=2000)


class SatelliteOffices(_Strict):
    """Limits on offices where the supervising physician is not primarily practising."""

    summary: Text
    max_offices: int | None = Field(default=None, ge=0, le=50)
    board_certification: list[str] = Field(default_factory=list)
    max_miles_from_primary: int | None = Field(default=None, ge=1, le=1000)
    contiguous_county_allowed: bool | None = None
    max_miles_between_offices: int | None = Field(default=None, ge=1, le=1000)
    schedule_posted: bool | None = None


class Proximity(_Strict):
    """How far the supervising or collaborating physician may be from the delegate."""

    summary: Text
    max_miles: int | None = Field(default=None, ge=1, le=1000)
    applies_to: list[SuperviseeRole] = Field(min_length=1)


class ChartReview(_Strict):
    applies_to: list[SuperviseeRole] = Field(min_length=1)
    percent: float | None = Field(default=None, gt=0, le=100)
    charts: int | None = Field(default=None, ge=1, le=10000)
    every_days: Days | None = None
    summary: Text

    @model_validator(mode="after")
    def _some_quantity(self) -> ChartReview:
        if self.percent is None and self.charts is None:
            raise ValueError("a chart review states a percent or a number of charts")
        return self


class Meeting(_Strict):
    applies_to: list[SuperviseeRole] = Field(min_length=1)
    kind: Literal["site_visit", "meeting"]
    every_days: Days
    summary: Text


class IvTherapy(_Strict):
    summary: Text
    assessment_before_treatment_by: list[Role] | None = None
    onsite_supervision_required: bool | None = None


class Filing(_Strict):
    what: Text
    filed_with: Text
    trigger: Literal["signing", "start", "termination", "change", "renewal", "annual"]
    within_days: Days | None = None
    applies_to: list[Role] = Field(min_length=1)


class Malpractice(_Strict):
    summary: Text
    per_claim_cents: int = Field(ge=0)
    aggregate_cents: int | None = Field(default=None, ge=0)


CpomStructure = Literal[
    "lay_owned_with_medical_director",
    "np_owned",
    "physician_owned_pc",
    "mso_plus_pc",
]

# The fields of a record and the type of each value (besides null = unknown).
FIELD_TYPES: dict[str, Any] = {
    "np_practice_authority": Literal["full", "reduced", "restricted"],
    "np_transition_hours": int | KnownNone,
    "np_collaboration_ratio": Ratio | KnownNone,
    "pa_supervision_ratio": Ratio | KnownNone,
    "combined_supervisee_cap": Ratio | KnownNone,
    "supervision_injectables": Supervision,
    "supervision_energy_devices": Supervision,
    "supervision_iv_therapy": Supervision,
    "physician_onsite_when_delegates_treat": bool,
    "collaboration_proximity": Proximity | KnownNone,
    "satellite_offices": SatelliteOffices | KnownNone,
    "chart_review": list[ChartReview] | KnownNone,
    "site_visits": list[Meeting] | KnownNone,
    "gfe_performers": list[Role],
    "gfe_modality": Literal["in_person", "synchronous_video", "asynchronous_allowed"],
    "rn_injects_neurotoxins_fillers": bool,
    "esthetician_lasers": Literal["prohibited", "limited", "under_delegation"],
    "iv_therapy": IvTherapy | KnownNone,
    "cpom": Literal["strict", "moderate", "permissive"],
    "cpom_structures": list[CpomStructure],
    "filings": list[Filing] | KnownNone,
    "malpractice_minimum": Malpractice | KnownNone,
}
FIELDS: tuple[str, ...] = tuple(FIELD_TYPES)

# The fields a med spa's legality turns on: the coverage targets count these.
MED_SPA_FIELDS: tuple[str, ...] = (
    "np_practice_authority",
    "np_collaboration_ratio",
    "pa_supervision_ratio",
    "combined_supervisee_cap",
    "supervision_injectables",
    "physician_onsite_when_delegates_treat",
    "cpom",
    "cpom_structures",
    "gfe_performers",
    "gfe_modality",
    "rn_injects_neurotoxins_fillers",
    "filings",
)

FIELD_DOCS: dict[str, str] = {
    "np_practice_authority": "NP practice authority (full / reduced / restricted)",
    "np_transition_hours": "Supervised hours before an NP may practise without a collaborator",
    "np_collaboration_ratio": "NPs one physician may collaborate with or supervise",
    "pa_supervision_ratio": "PAs one physician may supervise or collaborate with",
    "combined_supervisee_cap": "NPs and PAs together under one physician",
    "supervision_injectables": "Neurotoxin/filler delegation: remote supervision or on site",
    "supervision_energy_devices": "Laser/IPL/RF delegation: remote supervision or on site",
    "supervision_iv_therapy": "Elective IV therapy: remote supervision or on site",
    "physician_onsite_when_delegates_treat": "A physician on site whenever a non-physician "
    "performs a delegated cosmetic procedure",
    "collaboration_proximity": "Distance limit between physician and delegate",
    "satellite_offices": "Limits on offices away from the physician's primary practice",
    "chart_review": "Minimum chart review by the physician",
    "site_visits": "Required site visits or meetings",
    "gfe_performers": "Who may perform the good-faith exam",
    "gfe_modality": "How the good-faith exam may be held (in person / synchronous video / "
    "asynchronous)",
    "rn_injects_neurotoxins_fillers": "RN may inject neurotoxins/fillers under delegation",
    "esthetician_lasers": "Esthetician use of lasers",
    "iv_therapy": "Rules for elective IV therapy",
    "cpom": "Corporate practice of medicine: how strictly enforced",
    "cpom_structures": "Ownership structures that satisfy the CPOM rule",
    "filings": "Filings with the board and their deadlines",
    "malpractice_minimum": "Malpractice insurance minimum set by the state",
}


class Alternative(_Strict):
    """Another reading of the same rule, kept with the reason it was not chosen."""

    value: Any
    citation: Text
    url: str | None = None
    reason: Text


_URL = re.compile(r"^https?://\S+$")


class Fact(_Strict):
    """One rule of one jurisdiction, with its source."""

    value: Any = None
    citation: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=1000)
    confidence: Confidence | None = None
    checked_on: date
    note: str | None = Field(default=None, max_length=4000)
    alternatives: list[Alternative] = Field(default_factory=list)
    # A second researcher re-checked the citation: "confirmed" it or "corrected" the fact.
    second_check: SecondCheckValue | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not _URL.match(v):
            raise ValueError("must be an http(s) URL")
        return v

    @model_validator(mode="after")
    def _cited(self) -> Fact:
        if self.value is None:
            if not self.note:
                raise ValueError("an unknown (null) value says in `note` what was searched")
            return self
        if not self.citation:
            raise ValueError("a known value needs a citation")
        if self.confidence is None:
            raise ValueError("a known value needs a confidence")
        if self.confidence in ("high", "medium") and not self.url:
            raise ValueError("a high or medium confidence value needs the URL that was read")
        return self


_ADAPTERS = {name: TypeAdapter(tp) for name, tp in FIELD_TYPES.items()}


class StateRecord(_Strict):
    """One jurisdiction: every field of FIELDS, each a cited fact."""

    code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    name: Text
    rules: dict[str, Fact]
    notable_rules: str = Field(default="", max_length=2000)
    caveats: str = Field(default="", max_length=4000)

    @field_validator("rules")
    @classmethod
    def _every_field_typed(cls, rules: dict[str, Fact]) -> dict[str, Fact]:
        missing = [f for f in FIELDS if f not in rules]
        extra = sorted(set(rules) - set(FIELDS))
        if missing or extra:
            raise ValueError(f"fields missing: {missing}; unknown fields: {extra}")
        typed: dict[str, Fact] = {}
        for name in FIELDS:
            fact = rules[name]
            if fact.value is not None:
                try:
                    value = _ADAPTERS[name].validate_python(fact.value)
                except ValidationError as exc:
                    raise ValueError(f"{name}: {_first_error(exc)}") from None
                fact = fact.model_copy(update={"value": _plain(value)})
            typed[name] = fact
        return typed

    def value(self, field: str) -> Any:
        return self.rules[field].value


class Dataset(_Strict):
    version: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}(\.\d+)?$")]
    disclaimer: Text
    method: str = Field(default="", max_length=8000)
    states: list[StateRecord]

    @field_validator("states")
    @classmethod
    def _one_per_code(cls, states: list[StateRecord]) -> list[StateRecord]:
        codes = [s.code for s in states]
        if len(set(codes)) != len(codes):
            raise ValueError("one record per jurisdiction")
        return sorted(states, key=lambda s: s.code)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{err['msg']}" + (f" at {where}" if where else "")


def _plain(value: Any) -> Any:
    """A validated value back as plain JSON data (models → dicts, unset optionals dropped)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {
            k: v
            for k, v in value.model_dump(mode="json").items()
            if k in type(value).model_fields and type(value).model_fields[k].is_required()
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def validate_fact(field: str, data: dict[str, Any]) -> dict[str, Any]:
    """One field's fact checked as the data file's are; raises ValidationError or ValueError
    naming what is wrong. Returns it as stored (JSON data, the value normalized)."""
    fact = Fact.model_validate(data)
    if fact.value is not None:
        try:
            value = _ADAPTERS[field].validate_python(fact.value)
        except ValidationError as exc:
            raise ValueError(f"value: {_first_error(exc)}") from None
        fact = fact.model_copy(update={"value": _plain(value)})
    return fact.model_dump(mode="json")


def json_schema() -> str:
    """The data file's JSON Schema (for editors and other tools; the models above are the
    authority: the schema cannot state that a known value needs a citation)."""
    schema = Dataset.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mdmatch state rules"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def load(path: Path) -> Dataset:
    return Dataset.model_validate(json.loads(path.read_text()))


def main(argv: list[str] | None = None) -> int:
    """`python -m app.catalog.dataset FILE...`: validate a dataset or single-state records."""
    import sys

    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    status = 0
    for path in paths:
        try:
            raw = json.loads(path.read_text())
            if "states" in raw:
                Dataset.model_validate(raw)
            else:
                StateRecord.model_validate(raw)
        except (ValidationError, ValueError) as exc:
            print(f"{path}: INVALID\n{exc}")
            status = 1
        else:
            print(f"{path}: ok")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
