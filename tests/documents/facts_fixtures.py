"""EngagementFacts for the document tests, built from the real catalog data
(app/catalog/data/state_rules.json and services.json), no database. Deterministic ids (uuid5 of
a name), so fingerprints are stable across runs."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from app.documents.facts import (
    ClinicFacts,
    DirectorFacts,
    EngagementFacts,
    LocationFacts,
    ProviderFacts,
    RuleFact,
    ServiceFacts,
    StateFacts,
)

DATA = Path(__file__).resolve().parents[2] / "app" / "catalog" / "data"
_NS = uuid.UUID("6f1c1d1e-8d8c-4f6e-9a55-2d0f3f1a7b10")

EFFECTIVE_ON = date(2026, 6, 1)


def uid(name: str) -> uuid.UUID:
    return uuid.uuid5(_NS, name)


@cache
def _rules_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "state_rules.json").read_text())
    return {s["code"]: s for s in data["states"]}


@cache
def _services_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "services.json").read_text())
    return {s["code"]: s for s in data["services"]}


def state_facts(code: str) -> StateFacts:
    raw = _rules_json()[code]
    rules = {
        name: RuleFact(
            name=name,
            value=r.get("value"),
            citation=r.get("citation"),
            url=r.get("url"),
            confidence=r.get("confidence"),
            note=r.get("note"),
        )
        for name, r in raw["rules"].items()
    }
    return StateFacts(code=code, name=raw["name"], rules=rules)


def service_facts(*codes: str) -> tuple[ServiceFacts, ...]:
    out = []
    for code in codes:
        s = _services_json()[code]
        out.append(
            ServiceFacts(
                code=code,
                name=s["name"],
                category=s["category"],
                risk_tier=s["risk_tier"],
                prescription=s["prescription"],
                injectable=s["injectable"],
                energy_device=s["energy_device"],
                controlled_substance=s["controlled_substance"],
                delegated_procedure=s["delegated_procedure"],
            )
        )
    return tuple(out)


_CITIES = {
    "TX": ("Austin", "78701"),
    "FL": ("Miami", "33131"),
    "NY": ("New York", "10001"),
    "CA": ("Los Angeles", "90012"),
    "AZ": ("Phoenix", "85004"),
}


def location(state: str, n: int = 1) -> LocationFacts:
    city, zip_code = _CITIES.get(state, ("Capital City", "00000"))
    return LocationFacts(
        id=uid(f"location:{state}:{n}"),
        address=f"{100 * n} Main Street, Suite {n}",
        city=city,
        state=state,
        zip=zip_code,
    )


def provider(
    first: str,
    last: str,
    kind: str,
    services: tuple[str, ...],
    locations: tuple[LocationFacts, ...],
    *,
    number: str | None = None,
    fte: float = 1.0,
) -> ProviderFacts:
    states = tuple(sorted({loc.state for loc in locations}))
    license_type = {"np": "APRN", "pa": "PA", "rn": "RN"}.get(kind, kind.upper())
    return ProviderFacts(
        id=uid(f"provider:{first}:{last}"),
        type=kind,
        first_name=first,
        last_name=last,
        license_type=license_type,
        license_state=states[0],
        license_number=number or f"{kind.upper()}-{abs(hash((first, last))) % 100000:05d}",
        fte=fte,
        services=services,
        states=states,
        locations=locations,
    )


def director(
    first: str,
    last: str,
    states: tuple[str, ...],
    *,
    role: str = "primary",
    degree: str = "MD",
) -> DirectorFacts:
    return DirectorFacts(
        physician_id=uid(f"physician:{first}:{last}"),
        user_id=uid(f"user:{first}:{last}"),
        first_name=first,
        last_name=last,
        degree=degree,
        npi=f"1{abs(hash((first, last, 'npi'))) % 10**9:09d}",
        role=role,
        states=states,
        license_numbers={s: f"{s}-{last.upper()}-{i + 1}" for i, s in enumerate(states)},
        starts_on=EFFECTIVE_ON,
        ends_on=None,
    )


def engagement(
    name: str,
    *,
    ownership: str,
    locations: tuple[LocationFacts, ...],
    directors: tuple[DirectorFacts, ...],
    providers: tuple[ProviderFacts, ...],
    services: tuple[ServiceFacts, ...],
    oversight_mode: str = "remote",
) -> EngagementFacts:
    states = sorted({loc.state for loc in locations})
    return EngagementFacts(
        engagement_id=uid(f"engagement:{name}"),
        clinic=ClinicFacts(
            id=uid(f"clinic:{name}"),
            legal_name=name,
            ownership_model=ownership,
            contact_name="Casey Admin",
            contact_email="admin@example.com",
            locations=locations,
        ),
        directors=directors,
        providers=providers,
        services=services,
        states={s: state_facts(s) for s in states},
        engagement_model="retainer",
        oversight_mode=oversight_mode,
        confirmed_on=date(2026, 5, 20),
        effective_on=EFFECTIVE_ON,
    )


TX_SERVICES = ("neurotoxins", "dermal_fillers", "laser_hair_removal", "hormone_therapy", "prp")


def texas_two_nps(*, ownership: str = "physician_owned") -> EngagementFacts:
    """A Texas clinic: one primary director, two NPs (only Jane Doe prescribes hormones, a
    controlled substance), one RN."""
    tx = (location("TX"),)
    return engagement(
        "Lone Star Aesthetics PLLC",
        ownership=ownership,
        locations=tx,
        directors=(director("Maria", "Lopez", ("TX",)),),
        providers=(
            provider(
                "Jane",
                "Doe",
                "np",
                ("neurotoxins", "dermal_fillers", "hormone_therapy"),
                tx,
                number="AP123456",
            ),
            provider("John", "Roe", "np", ("neurotoxins", "prp"), tx, number="AP654321"),
            provider("Rita", "Nurse", "rn", ("neurotoxins", "laser_hair_removal"), tx),
        ),
        services=service_facts(*TX_SERVICES),
    )


def add_provider(facts: EngagementFacts, new: ProviderFacts) -> EngagementFacts:
    return replace(facts, providers=(*facts.providers, new))


def mso_clinic() -> EngagementFacts:
    """The Texas clinic as a management services organisation."""
    return replace(texas_two_nps(ownership="mso"), engagement_id=uid("engagement:mso"))


def florida_new_york() -> EngagementFacts:
    """Florida and New York: a director per state plus a standing backup; an NP in each state,
    a PA and an RN in New York."""
    fl, ny = location("FL"), location("NY", 2)
    return engagement(
        "Coastal Glow Medical PLLC",
        ownership="physician_owned",
        locations=(fl, ny),
        directors=(
            director("Alan", "Grant", ("FL",)),
            director("Ellie", "Sattler", ("NY",)),
            director("Ian", "Malcolm", ("FL", "NY"), role="backup", degree="DO"),
        ),
        providers=(
            provider("Fiona", "Flores", "np", ("neurotoxins", "dermal_fillers"), (fl,)),
            provider("Nina", "York", "np", ("neurotoxins",), (ny,)),
            provider("Paul", "Adams", "pa", ("neurotoxins", "dermal_fillers"), (ny,)),
            provider("Rosa", "Bell", "rn", ("neurotoxins",), (ny,)),
        ),
        services=service_facts("neurotoxins", "dermal_fillers", "iv_therapy"),
    )


def lay_owned_strict_cpom() -> EngagementFacts:
    """A clinic not owned by physicians in California (cpom: strict)."""
    ca = (location("CA"),)
    return engagement(
        "Sunset Beauty Bar LLC",
        ownership="non_physician_owned",
        locations=ca,
        directors=(director("Greg", "House", ("CA",)),),
        providers=(
            provider("Carla", "West", "np", ("neurotoxins",), ca),
            provider("Ray", "Kim", "pa", ("neurotoxins", "ipl"), ca),
            provider("Esme", "Skin", "esthetician", ("ipl",), ca),
        ),
        services=service_facts("neurotoxins", "ipl"),
    )
