"""What a document may say: plain, frozen facts read from the engagement, its clinic and roster,
its directors and the state rules (gathered by `app.documents.gather`). Templates and the plan
of which documents an engagement needs read only these, so both are pure and testable without a
database.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class RuleFact:
    """One researched state rule as the catalog holds it (app/catalog/data/state_rules.json):
    `value` None means unknown, never "no rule"."""

    name: str
    value: Any
    citation: str | None = None
    url: str | None = None
    confidence: str | None = None
    note: str | None = None

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass(frozen=True)
class StateFacts:
    code: str
    name: str
    rules: Mapping[str, RuleFact] = field(default_factory=dict)

    def rule(self, name: str) -> RuleFact:
        """The rule, or an unknown one (value None) when the catalog has no entry."""
        return self.rules.get(name) or RuleFact(name=name, value=None)


@dataclass(frozen=True)
class LocationFacts:
    id: uuid.UUID
    address: str
    city: str
    state: str
    zip: str

    @property
    def one_line(self) -> str:
        return f"{self.address}, {self.city}, {self.state} {self.zip}"


@dataclass(frozen=True)
class ClinicFacts:
    id: uuid.UUID
    legal_name: str
    # physician_owned | mso | non_physician_owned (app.catalog.vocabulary.OwnershipModel)
    ownership_model: str
    contact_name: str
    contact_email: str
    locations: tuple[LocationFacts, ...]


@dataclass(frozen=True)
class ServiceFacts:
    """A service the engagement covers (app/catalog/data/services.json)."""

    code: str
    name: str
    category: str
    risk_tier: int
    prescription: bool
    injectable: bool
    energy_device: bool
    controlled_substance: bool
    delegated_procedure: bool


@dataclass(frozen=True)
class ProviderFacts:
    """A person on the clinic's roster (no account of their own)."""

    id: uuid.UUID
    # rn | lpn | np | pa | esthetician | laser_technician | medical_assistant
    type: str
    first_name: str
    last_name: str
    license_type: str
    license_state: str
    license_number: str
    fte: float
    services: tuple[str, ...]
    # The states of the locations they work at.
    states: tuple[str, ...]
    locations: tuple[LocationFacts, ...]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class DirectorFacts:
    physician_id: uuid.UUID
    user_id: uuid.UUID
    first_name: str
    last_name: str
    degree: str  # MD | DO
    npi: str
    role: str  # primary | backup
    states: tuple[str, ...]
    # The physician's license number in each state they hold one (any status).
    license_numbers: Mapping[str, str]
    starts_on: date | None
    ends_on: date | None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}, {self.degree}"


@dataclass(frozen=True)
class EngagementFacts:
    engagement_id: uuid.UUID
    clinic: ClinicFacts
    # Current directors (primary first, then any standing backup), in position order.
    directors: tuple[DirectorFacts, ...]
    # The clinic's roster, as it is now.
    providers: tuple[ProviderFacts, ...]
    services: tuple[ServiceFacts, ...]
    # The engagement's states (those of the clinic's locations it covers), with their rules.
    states: Mapping[str, StateFacts]
    engagement_model: str  # full_time | fractional | retainer | per_case
    oversight_mode: str  # remote | onsite | hybrid
    confirmed_on: date
    # The day the documents take effect (the engagement's start).
    effective_on: date

    def directors_for(self, state: str) -> tuple[DirectorFacts, ...]:
        """The primary directors overseeing `state`."""
        return tuple(d for d in self.directors if d.role == "primary" and state in d.states)

    @property
    def backup(self) -> DirectorFacts | None:
        return next((d for d in self.directors if d.role == "backup"), None)
