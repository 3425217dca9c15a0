"""Read an engagement's facts (app/documents/facts.py) from the database: the clinic and its
locations, the roster as it is now, the current directors with their license numbers, the
services bought, and each state's researched rules as operations keep them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import StateRule
from app.catalog.services import service_catalog
from app.clinics.models import Clinic, ClinicProvider, Intake, Location
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
from app.engagements.models import Engagement, EngagementStatus
from app.physicians.models import License, Physician


def _rule(name: str, data: Mapping[str, Any]) -> RuleFact:
    return RuleFact(
        name=name,
        value=data.get("value"),
        citation=data.get("citation"),
        url=data.get("url"),
        confidence=data.get("confidence"),
        note=data.get("note"),
    )


def state_facts(rule: StateRule) -> StateFacts:
    rules = {name: _rule(name, data) for name, data in (rule.rules or {}).items()}
    return StateFacts(code=rule.code, name=rule.name, rules=rules)


def _location(location: Location) -> LocationFacts:
    return LocationFacts(
        id=location.id,
        address=location.address,
        city=location.city,
        state=location.state,
        zip=location.zip,
    )


async def gather(session: AsyncSession, engagement: Engagement) -> EngagementFacts:
    """The facts as they are now. A canceled engagement has no directors and no providers in
    its facts: everything it needed ends."""
    clinic = await session.get(Clinic, engagement.clinic_id)
    intake = await session.get(Intake, engagement.intake_id)
    if clinic is None or intake is None:
        raise LookupError(f"engagement {engagement.id} lost its clinic or intake")
    locations = {loc.id: _location(loc) for loc in clinic.locations}
    live = engagement.status != EngagementStatus.canceled.value
    directors = [d for d in engagement.directors if d.ended_at is None] if live else []
    physicians: dict[uuid.UUID, Physician] = {}
    licenses: dict[uuid.UUID, dict[str, str]] = {}
    if directors:
        ids = [d.physician_id for d in directors]
        for physician in await session.scalars(select(Physician).where(Physician.id.in_(ids))):
            physicians[physician.id] = physician
        for lic in await session.scalars(
            select(License).where(License.physician_id.in_(ids)).order_by(License.id)
        ):
            licenses.setdefault(lic.physician_id, {})[lic.state] = lic.number
    director_facts = tuple(
        DirectorFacts(
            physician_id=d.physician_id,
            user_id=physicians[d.physician_id].user_id,
            first_name=physicians[d.physician_id].first_name,
            last_name=physicians[d.physician_id].last_name,
            degree=physicians[d.physician_id].degree,
            npi=physicians[d.physician_id].npi,
            role=d.role,
            states=tuple(d.states),
            license_numbers=licenses.get(d.physician_id, {}),
            starts_on=d.starts_on,
            ends_on=d.ends_on,
        )
        for d in sorted(directors, key=lambda d: (d.role != "primary", d.position))
    )
    states = sorted({loc.state for loc in locations.values()})
    rules = {
        r.code: state_facts(r)
        for r in await session.scalars(select(StateRule).where(StateRule.code.in_(states)))
    }
    providers: tuple[ProviderFacts, ...] = ()
    if live:
        rows = await session.scalars(
            select(ClinicProvider)
            .where(ClinicProvider.clinic_id == clinic.id)
            .order_by(ClinicProvider.created_at, ClinicProvider.id)
        )
        providers = tuple(_provider(p, locations) for p in rows)
    catalog = service_catalog()
    services = tuple(
        ServiceFacts(
            code=s.code,
            name=s.name,
            category=s.category,
            risk_tier=s.risk_tier,
            prescription=s.prescription,
            injectable=s.injectable,
            energy_device=s.energy_device,
            controlled_substance=s.controlled_substance,
            delegated_procedure=s.delegated_procedure,
        )
        for code in sorted(intake.services)
        if (s := catalog.get(code)) is not None
    )
    return EngagementFacts(
        engagement_id=engagement.id,
        clinic=ClinicFacts(
            id=clinic.id,
            legal_name=clinic.legal_name,
            ownership_model=clinic.ownership_model,
            contact_name=clinic.contact_name,
            contact_email=clinic.contact_email,
            locations=tuple(sorted(locations.values(), key=lambda loc: (loc.state, loc.zip))),
        ),
        directors=director_facts,
        providers=providers,
        services=services,
        states=rules,
        engagement_model=intake.engagement_model,
        oversight_mode=intake.oversight_mode,
        confirmed_on=engagement.confirmed_at.date(),
        effective_on=max(intake.desired_start, engagement.confirmed_at.date()),
    )


def _provider(p: ClinicProvider, locations: Mapping[uuid.UUID, LocationFacts]) -> ProviderFacts:
    where = tuple(locations[i] for i in p.location_ids if i in locations)
    return ProviderFacts(
        id=p.id,
        type=p.type,
        first_name=p.first_name,
        last_name=p.last_name,
        license_type=p.license_type,
        license_state=p.license_state,
        license_number=p.license_number,
        fte=float(p.fte),
        services=tuple(p.services),
        states=tuple(sorted({loc.state for loc in where})),
        locations=where,
    )
