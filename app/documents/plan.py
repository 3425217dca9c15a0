"""Which documents an engagement needs, who signs each, and what each depends on.

The plan is pure: it reads only `EngagementFacts`. Each document has a `slot`, a key that stays
the same for "this document of this engagement" across regenerations (the collaboration
agreement of this NP with this director in this state), and a `fingerprint` over exactly the
facts it prints (plus its template version and signers). When the roster, the scope or the
directors change, the caller plans again and regenerates only the slots whose fingerprint
changed; a slot that disappeared has ended (see `plan_terminations`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.documents.catalog import AGREEMENT_PROVIDER_TYPES, TEMPLATES, agreement_form, template
from app.documents.facts import (
    DirectorFacts,
    EngagementFacts,
    LocationFacts,
    ProviderFacts,
    RuleFact,
    ServiceFacts,
)

SIGNER_ROLES = ("clinic", "director", "provider")
_TERMINABLE = (
    "medical_director_agreement",
    "management_services_agreement",
    "collaboration_agreement",
)


@dataclass(frozen=True)
class Signer:
    """`clinic` signs for the contracting entity (a clinic admin); `director` is a physician;
    `provider` a roster NP or PA."""

    role: str
    name: str
    physician_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None


@dataclass(frozen=True)
class DocumentSpec:
    slot: str
    template_key: str
    title: str
    state: str | None
    provider_id: uuid.UUID | None
    physician_id: uuid.UUID | None
    signers: tuple[Signer, ...]
    required: bool
    fingerprint: str
    service_code: str | None = None
    # Termination notices only: the agreement that ends and the day it ends.
    terminates: DocumentSpec | None = None
    terminates_on: date | None = None


def provider_label(provider: ProviderFacts) -> str:
    return f"{provider.full_name}, {provider.type.upper()}"


def agreement_director(facts: EngagementFacts, state: str) -> DirectorFacts | None:
    """The director who signs a state's collaboration agreements: the first primary director
    of the state in position order (the others, or the standing backup, are the alternates)."""
    directors = facts.directors_for(state)
    return directors[0] if directors else None


def alternates(facts: EngagementFacts, state: str) -> tuple[DirectorFacts, ...]:
    """The standing backup if any, else the state's other primary directors."""
    if facts.backup is not None:
        return (facts.backup,)
    return facts.directors_for(state)[1:]


def provider_services(facts: EngagementFacts, provider: ProviderFacts) -> tuple[ServiceFacts, ...]:
    codes = set(provider.services)
    return tuple(s for s in facts.services if s.code in codes)


def provider_types_by_state(facts: EngagementFacts) -> dict[str, list[str]]:
    present: dict[str, set[str]] = {code: set() for code in sorted(facts.states)}
    for p in facts.providers:
        for state in p.states:
            if state in present:
                present[state].add(p.type)
    return {state: sorted(types) for state, types in present.items()}


def state_name(facts: EngagementFacts, state: str) -> str:
    found = facts.states.get(state)
    return found.name if found else state


# --- fingerprints -------------------------------------------------------------------------


def _rule(rule: RuleFact) -> dict[str, Any]:
    return {
        "value": rule.value,
        "citation": rule.citation,
        "url": rule.url,
        "confidence": rule.confidence,
        "note": rule.note,
    }


def _rules(facts: EngagementFacts, template_key: str, states: Iterable[str]) -> dict[str, Any]:
    names = template(template_key).rules
    out: dict[str, Any] = {}
    for code in sorted(set(states)):
        state = facts.states.get(code)
        if state is not None:
            out[code] = {"name": state.name, **{n: _rule(state.rule(n)) for n in names}}
    return out


def _location(loc: LocationFacts) -> dict[str, Any]:
    return {"id": str(loc.id), "line": loc.one_line}


# A fingerprint holds exactly what a document prints: a fact it does not print (a director's
# dates outside the medical director agreement, a provider's FTE, their locations in other
# states) must not make an executed document be signed again.


def _director(d: DirectorFacts, *, dates: bool = False) -> dict[str, Any]:
    printed: dict[str, Any] = {
        "id": str(d.physician_id),
        "name": d.full_name,
        "npi": d.npi,
        "role": d.role,
        "states": sorted(d.states),
        "licenses": dict(sorted(d.license_numbers.items())),
    }
    if dates:
        printed |= {"starts_on": d.starts_on, "ends_on": d.ends_on}
    return printed


def _provider(p: ProviderFacts, state: str) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "type": p.type,
        "name": p.full_name,
        "license": [p.license_type, p.license_state, p.license_number],
        "services": sorted(p.services),
        "locations": [_location(loc) for loc in p.locations if loc.state == state],
    }


def _service(s: ServiceFacts) -> dict[str, Any]:
    return {
        "code": s.code,
        "name": s.name,
        "category": s.category,
        "risk_tier": s.risk_tier,
        "flags": [
            s.prescription,
            s.injectable,
            s.energy_device,
            s.controlled_substance,
            s.delegated_procedure,
        ],
    }


def _clinic(facts: EngagementFacts, states: Iterable[str] | None = None) -> dict[str, Any]:
    wanted = set(states) if states is not None else None
    c = facts.clinic
    return {
        "id": str(c.id),
        "legal_name": c.legal_name,
        "ownership_model": c.ownership_model,
        "contact": [c.contact_name, c.contact_email],
        "locations": [
            _location(loc) for loc in c.locations if wanted is None or loc.state in wanted
        ],
    }


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _spec(
    facts: EngagementFacts,
    *,
    slot: str,
    template_key: str,
    title: str,
    signers: tuple[Signer, ...],
    depends_on: dict[str, Any],
    required: bool = True,
    state: str | None = None,
    provider_id: uuid.UUID | None = None,
    physician_id: uuid.UUID | None = None,
    service_code: str | None = None,
    terminates: DocumentSpec | None = None,
    terminates_on: date | None = None,
) -> DocumentSpec:
    payload = {
        "template": [template_key, TEMPLATES[template_key].version],
        "engagement": str(facts.engagement_id),
        "effective_on": facts.effective_on,
        "title": title,
        "signers": [[s.role, s.name, str(s.physician_id), str(s.provider_id)] for s in signers],
        **depends_on,
    }
    return DocumentSpec(
        slot=slot,
        template_key=template_key,
        title=title,
        state=state,
        provider_id=provider_id,
        physician_id=physician_id,
        signers=signers,
        required=required,
        fingerprint=fingerprint(payload),
        service_code=service_code,
        terminates=terminates,
        terminates_on=terminates_on,
    )


# --- the plan -----------------------------------------------------------------------------


def _clinic_signer(facts: EngagementFacts) -> Signer:
    return Signer("clinic", facts.clinic.legal_name)


def _director_signer(d: DirectorFacts) -> Signer:
    return Signer("director", d.full_name, physician_id=d.physician_id)


def _primaries(facts: EngagementFacts, states: Iterable[str]) -> tuple[DirectorFacts, ...]:
    wanted = set(states)
    return tuple(
        d for d in facts.directors if d.role == "primary" and wanted.intersection(d.states)
    )


def _engagement_signers(facts: EngagementFacts) -> tuple[Signer, ...]:
    """Every primary director of the engagement's states, then the clinic."""
    return (
        *(_director_signer(d) for d in _primaries(facts, facts.states)),
        _clinic_signer(facts),
    )


def _medical_director_agreement(facts: EngagementFacts) -> DocumentSpec:
    signers = (_clinic_signer(facts), *(_director_signer(d) for d in facts.directors))
    return _spec(
        facts,
        slot="medical_director_agreement",
        template_key="medical_director_agreement",
        title=f"Medical Director Agreement — {facts.clinic.legal_name}",
        signers=signers,
        depends_on={
            "clinic": _clinic(facts),
            "directors": [_director(d, dates=True) for d in facts.directors],
            "services": [_service(s) for s in facts.services],
            "rules": _rules(facts, "medical_director_agreement", facts.states),
            "model": [facts.engagement_model, facts.oversight_mode],
        },
    )


def _management_services_agreement(facts: EngagementFacts) -> DocumentSpec:
    primaries = _primaries(facts, facts.states)
    return _spec(
        facts,
        slot="management_services_agreement",
        template_key="management_services_agreement",
        title=f"Management Services Agreement — {facts.clinic.legal_name}",
        signers=(*(_director_signer(d) for d in primaries), _clinic_signer(facts)),
        depends_on={
            "clinic": _clinic(facts),
            "directors": [_director(d) for d in primaries],
            "services": [_service(s) for s in facts.services],
            "rules": _rules(facts, "management_services_agreement", facts.states),
        },
    )


def collaboration_slot(state: str, provider_id: uuid.UUID, physician_id: uuid.UUID) -> str:
    return f"collaboration_agreement:{state}:{provider_id}:{physician_id}"


def agreement_title(facts: EngagementFacts, provider: ProviderFacts, state: str) -> str:
    authority = facts.states[state].rule("np_practice_authority").value
    form = agreement_form(state, provider.type, authority)
    return f"{form.title} — {provider_label(provider)} ({state_name(facts, state)})"


def _collaboration_agreements(facts: EngagementFacts) -> list[DocumentSpec]:
    specs: list[DocumentSpec] = []
    for state in sorted(facts.states):
        director = agreement_director(facts, state)
        if director is None:
            continue
        providers = sorted(
            (
                p
                for p in facts.providers
                if p.type in AGREEMENT_PROVIDER_TYPES and state in p.states
            ),
            key=lambda p: (p.last_name, p.first_name, str(p.id)),
        )
        for p in providers:
            specs.append(
                _spec(
                    facts,
                    slot=collaboration_slot(state, p.id, director.physician_id),
                    template_key="collaboration_agreement",
                    title=agreement_title(facts, p, state),
                    signers=(
                        _director_signer(director),
                        Signer("provider", provider_label(p), provider_id=p.id),
                    ),
                    state=state,
                    provider_id=p.id,
                    physician_id=director.physician_id,
                    depends_on={
                        "provider": _provider(p, state),
                        "director": _director(director),
                        "alternates": [_director(d) for d in alternates(facts, state)],
                        "services": [_service(s) for s in provider_services(facts, p)],
                        "clinic": _clinic(facts, [state]),
                        "rules": _rules(facts, "collaboration_agreement", [state]),
                    },
                )
            )
    return specs


def _engagement_wide(
    facts: EngagementFacts, template_key: str, title: str, *, with_roster: bool
) -> DocumentSpec:
    depends: dict[str, Any] = {
        "clinic": _clinic(facts),
        "rules": _rules(facts, template_key, facts.states),
    }
    if with_roster:
        depends["provider_types"] = provider_types_by_state(facts)
    return _spec(
        facts,
        slot=template_key,
        template_key=template_key,
        title=f"{title} — {facts.clinic.legal_name}",
        signers=_engagement_signers(facts),
        depends_on=depends,
    )


def _per_service(facts: EngagementFacts, template_key: str, service: ServiceFacts) -> DocumentSpec:
    return _spec(
        facts,
        slot=f"{template_key}:{service.code}",
        template_key=template_key,
        title=f"{TEMPLATES[template_key].title} — {service.name}",
        signers=_engagement_signers(facts),
        service_code=service.code,
        depends_on={
            "service": _service(service),
            "clinic": _clinic(facts),
            "provider_types": provider_types_by_state(facts),
            "rules": _rules(facts, template_key, facts.states),
        },
    )


def plan_documents(facts: EngagementFacts) -> list[DocumentSpec]:
    """Every document the engagement needs, in a fixed order: the medical director agreement,
    the management services agreement (MSO clinics only), the collaboration agreements (by
    state, then provider name), the good-faith exam policy, the quality plan, a delegation
    protocol per service, standing orders per prescription service."""
    specs = [_medical_director_agreement(facts)]
    if facts.clinic.ownership_model == "mso":
        specs.append(_management_services_agreement(facts))
    specs.extend(_collaboration_agreements(facts))
    specs.append(
        _engagement_wide(
            facts, "good_faith_exam_policy", "Good-Faith Examination Policy", with_roster=True
        )
    )
    specs.append(
        _engagement_wide(facts, "quality_plan", "Chart Review and Quality Plan", with_roster=True)
    )
    specs.extend(_per_service(facts, "delegation_protocol", s) for s in facts.services)
    specs.extend(
        _per_service(facts, "standing_orders", s) for s in facts.services if s.prescription
    )
    return specs


def plan_terminations(
    facts: EngagementFacts, ended: Sequence[DocumentSpec], *, effective_on: date
) -> list[DocumentSpec]:
    """Termination notices for agreements that end on `effective_on`.

    `ended` are specs of an earlier plan: the slots that disappeared from the new plan (a
    provider left the roster or a state, a director's oversight of a state ended), or the whole
    last plan when the engagement ends. Agreements get a notice (collaboration agreements, the
    medical director agreement, the management services agreement); protocols, standing orders
    and plans need none, they are withdrawn with the engagement or superseded. A notice names
    the ended agreement and its parties (taken from the ended spec: the provider may no longer
    be on the roster), the effective date and each state's notice obligation (the `filings`
    with trigger "termination"). The director of the ended agreement signs it (the physician
    files in the states that ask for notice) and the clinic acknowledges it; for the medical
    director and management services agreements, every director who signed it and the clinic.
    Notices are not `required` for oversight. Slot: `termination_notice:<ended slot>`."""
    notices: list[DocumentSpec] = []
    for spec in ended:
        if spec.template_key not in _TERMINABLE:
            continue
        states = [spec.state] if spec.state else sorted(facts.states)
        directors = tuple(s for s in spec.signers if s.role == "director")
        notices.append(
            _spec(
                facts,
                slot=f"termination_notice:{spec.slot}",
                template_key="termination_notice",
                title=f"Notice of Termination — {spec.title}",
                signers=(*directors, _clinic_signer(facts)),
                required=False,
                state=spec.state,
                provider_id=spec.provider_id,
                physician_id=spec.physician_id,
                terminates=spec,
                terminates_on=effective_on,
                depends_on={
                    "ended": [spec.slot, spec.title, spec.fingerprint],
                    "parties": [[s.role, s.name] for s in spec.signers],
                    "terminates_on": effective_on,
                    "rules": _rules(facts, "termination_notice", states),
                },
            )
        )
    return notices
