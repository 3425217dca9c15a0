"""Rendering a planned document to PDF with typst.

The context is plain JSON built here from the facts; templates only lay it out. Merge fields
never touch typst source: the context travels as one JSON string in `sys.inputs.data`, which a
template reads with `json(bytes(sys.inputs.data))`, so a clinic called `#panic("x")` prints as
those characters. Every state rule a document prints goes through `_Rules`, which refuses rules
the template did not declare (the plan fingerprints exactly those) and lists each one used, with
citation, URL and confidence, under "Legal sources". Unknown rules print as unknown, followed by
mdmatch's default labelled as ours.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typst

from app.documents.catalog import (
    DEFAULT_CHART_REVIEW_DAYS,
    DEFAULT_CHART_REVIEW_PERCENT,
    DEFAULT_GFE_RENEWAL_MONTHS,
    DEFAULT_MEETING_DAYS,
    RN_PATIENT_SPECIFIC_ORDERS_ONLY,
    AgreementForm,
    CounselReview,
    Element,
    Source,
    Template,
    agreement_form,
    review_notice,
    template,
)
from app.documents.facts import (
    DirectorFacts,
    EngagementFacts,
    ProviderFacts,
    RuleFact,
    ServiceFacts,
)
from app.documents.plan import (
    DocumentSpec,
    alternates,
    provider_label,
    provider_services,
    provider_types_by_state,
    state_name,
)

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"

OURS = "mdmatch's default, not a state requirement"
PARTIES_SET = "a provision the parties set in this template"

TYPE_LABELS = {
    "physician": "Physician (MD/DO)",
    "np": "Nurse practitioner (NP)",
    "pa": "Physician assistant (PA)",
    "rn": "Registered nurse (RN)",
    "lpn": "Licensed practical/vocational nurse",
    "esthetician": "Esthetician",
    "laser_technician": "Laser technician",
    "medical_assistant": "Medical assistant",
}
_TYPE_ORDER = tuple(TYPE_LABELS)

_MODALITY = {
    "in_person": "in person only",
    "synchronous_video": "in person, or by real-time (synchronous) audio-video telehealth",
    "asynchronous_allowed": "in person, or by telehealth including asynchronous "
    "(store-and-forward) exchange where the state's telehealth rules are met",
}
_SUPERVISION = {
    "remote": "remote: the physician need not be on site",
    "onsite": "on site: the supervising physician is physically present",
}
_CPOM_LAY_OWNED = "lay_owned_with_medical_director"


def long_date(d: date) -> str:
    return f"{d.strftime('%B')} {d.day}, {d.year}"


def _human(value: str) -> str:
    return value.replace("_", " ")


def describe(value: Any, *, short: bool = False) -> str:
    """A rule value in words. None is unknown, never "no rule". `short` leaves out a cap's
    exceptions."""
    if value is None:
        return "unknown (not established)"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, str):
        return _human(value)
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        if "max" in value:
            unit = "full-time equivalents" if value.get("counts") == "fte" else "individuals"
            text = f"at most {value['max']} ({unit})"
            if short or not value.get("exceptions"):
                return text
            return f"{text}. Exceptions: {str(value['exceptions']).rstrip('.')}"
        if "summary" in value:
            return str(value["summary"])
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return ", ".join(_human(v) for v in value)
        return "; ".join(_describe_entry(v) for v in value)
    return str(value)


def _describe_entry(entry: Any) -> str:
    if not isinstance(entry, dict):
        return describe(entry)
    if "what" in entry:
        days = entry.get("within_days")
        when = f", within {days} days" if days else ""
        who = ", ".join(entry.get("applies_to") or [])
        return (
            f"{entry['what']} (filed with {entry.get('filed_with', 'the board')}; "
            f"on {_human(str(entry.get('trigger', '')))}{when}; by {who or 'the parties'})"
        )
    if "summary" in entry:
        return str(entry["summary"])
    return json.dumps(entry, sort_keys=True)


@dataclass
class _Rules:
    """The state rules a document reads, recorded in the order first used."""

    facts: EngagementFacts
    template: Template
    used: dict[tuple[str, str], RuleFact] = field(default_factory=dict)

    def get(self, state: str, name: str) -> RuleFact:
        if name not in self.template.rules:
            raise LookupError(f"{self.template.key} does not declare the rule {name!r}")
        found = self.facts.states.get(state)
        rule = found.rule(name) if found else RuleFact(name=name, value=None)
        self.used.setdefault((state, name), rule)
        return rule

    def cite(self, state: str, name: str, *, short: bool = False) -> str:
        """`value (citation; confidence)` or unknown."""
        rule = self.get(state, name)
        if not rule.known:
            return "unknown: not established in mdmatch's state rules"
        value = describe(rule.value, short=short)
        return f"{value} ({self.basis(state, name)})"

    def basis(self, state: str, name: str) -> str:
        """`citation; confidence` alone."""
        rule = self.get(state, name)
        parts = [rule.citation or "no citation", f"{rule.confidence or 'unknown'} confidence"]
        return "; ".join(parts)

    def sources(self) -> list[dict[str, Any]]:
        rows = []
        for (state, name), rule in sorted(self.used.items()):
            rows.append(
                {
                    "state": state_name(self.facts, state),
                    "rule": _human(name),
                    "value": describe(rule.value).rstrip("."),
                    "citation": rule.citation or "none: unknown rule",
                    "url": rule.url or "",
                    "confidence": rule.confidence or "n/a",
                }
            )
        return rows


def _p(text: str) -> dict[str, Any]:
    return {"kind": "p", "text": text}


def _list(items: Iterable[str]) -> dict[str, Any]:
    return {"kind": "list", "items": list(items)}


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> dict[str, Any]:
    return {"kind": "table", "columns": list(columns), "rows": [list(r) for r in rows]}


def _section(heading: str, *blocks: dict[str, Any], basis: str | None = None) -> dict[str, Any]:
    return {"heading": heading, "basis": basis, "blocks": list(blocks)}


def _source_label(source: Source) -> str:
    return f"{source.text} ({source.confidence} confidence)"


def _license_line(d: DirectorFacts) -> str:
    licenses = "; ".join(f"{s} {n}" for s, n in sorted(d.license_numbers.items()))
    return f"Licenses: {licenses or 'none recorded'}; NPI {d.npi}"


def _director_party(d: DirectorFacts, label: str = "Physician") -> dict[str, Any]:
    return {
        "label": label,
        "name": d.full_name,
        "lines": [
            _license_line(d),
            "Practice address: ______________________________ (to be completed)",
        ],
    }


def _clinic_party(facts: EngagementFacts, label: str = "Clinic") -> dict[str, Any]:
    c = facts.clinic
    return {
        "label": label,
        "name": c.legal_name,
        "lines": [
            *(f"Location: {loc.one_line}" for loc in c.locations),
            f"Contact: {c.contact_name} ({c.contact_email})",
        ],
    }


def _provider_party(p: ProviderFacts, state: str) -> dict[str, Any]:
    locations = [loc.one_line for loc in p.locations if loc.state == state]
    return {
        "label": TYPE_LABELS.get(p.type, p.type),
        "name": provider_label(p),
        "lines": [
            f"License: {p.license_type} {p.license_state} {p.license_number}",
            "Other professional license numbers: ______________________ (to be completed)",
            *(f"Practice address: {line}" for line in locations),
        ],
    }


# --- who may perform a service, supervision, exam -------------------------------------------


def _supervision_rule(service: ServiceFacts) -> str | None:
    if service.code == "iv_therapy":
        return "supervision_iv_therapy"
    if service.energy_device:
        return "supervision_energy_devices"
    if service.injectable:
        return "supervision_injectables"
    return None


_NOT_ESTABLISHED = (
    "No: not established; mdmatch's conservative default: only NP/PA/physician perform it"
)


def _may_perform(rules: _Rules, state: str, service: ServiceFacts, ptype: str) -> tuple[str, str]:
    """(verdict, basis) for one provider type in one state."""
    if ptype == "physician":
        return "Yes", "the directing physician's own practice"
    if ptype in ("np", "pa"):
        return (
            "Yes, within the licensed scope and the collaboration agreement",
            OURS,
        )
    if ptype == "rn" and service.code in ("neurotoxins", "dermal_fillers"):
        rule = rules.get(state, "rn_injects_neurotoxins_fillers")
        basis = "rn injects neurotoxins fillers: " + rules.cite(
            state, "rn_injects_neurotoxins_fillers"
        )
        if rule.value is True:
            if state in RN_PATIENT_SPECIFIC_ORDERS_ONLY:
                return "Yes, only on a patient-specific order after a prescriber's exam", basis
            return "Yes, under this protocol", basis
        if rule.value is False:
            return "No", basis
        return _NOT_ESTABLISHED, basis
    if ptype == "rn" and service.code == "iv_therapy":
        rule = rules.get(state, "iv_therapy")
        basis = "iv therapy: " + rules.cite(state, "iv_therapy")
        if rule.known:
            return "Only as the cited state rule allows", basis
        return _NOT_ESTABLISHED, basis
    if ptype == "esthetician" and service.energy_device:
        rule = rules.get(state, "esthetician_lasers")
        basis = "esthetician lasers: " + rules.cite(state, "esthetician_lasers")
        if rule.value == "under_delegation":
            return "Yes, under delegation and this protocol", basis
        if rule.value == "limited":
            return (
                "Only within the limits of the cited rule; where they are unclear, no "
                "(mdmatch's default)",
                basis,
            )
        if rule.value == "prohibited":
            return "No", basis
        return _NOT_ESTABLISHED, basis
    return _NOT_ESTABLISHED, "no state rule in mdmatch's catalog"


def _types_for(facts: EngagementFacts, state: str) -> list[str]:
    present = set(provider_types_by_state(facts).get(state, [])) | {"physician", "np", "pa"}
    return [t for t in _TYPE_ORDER if t in present] + sorted(present - set(_TYPE_ORDER))


def _performers_table(rules: _Rules, service: ServiceFacts) -> dict[str, Any]:
    rows = []
    for state in sorted(rules.facts.states):
        for ptype in _types_for(rules.facts, state):
            verdict, basis = _may_perform(rules, state, service, ptype)
            rows.append([state, TYPE_LABELS.get(ptype, ptype), verdict, basis])
    return _table(["State", "Provider type", "May perform", "Basis"], rows)


def _supervision_blocks(rules: _Rules, service: ServiceFacts) -> list[dict[str, Any]]:
    name = _supervision_rule(service)
    rows = []
    for state in sorted(rules.facts.states):
        if name is None:
            level = (
                "no state rule for this kind of service in mdmatch's catalog; mdmatch's "
                "conservative default: a physician, NP or PA on site while anyone else performs it"
            )
        else:
            rule = rules.get(state, name)
            level = (
                f"{_SUPERVISION.get(str(rule.value), describe(rule.value))}. Basis: "
                f"{rules.cite(state, name)}"
                if rule.known
                else "not established; mdmatch's conservative default: a physician, NP or PA "
                "on site while anyone else performs it"
            )
        onsite = rules.get(state, "physician_onsite_when_delegates_treat")
        rows.append(
            [
                state,
                level,
                rules.cite(state, "physician_onsite_when_delegates_treat")
                if onsite.known
                else "unknown; mdmatch's default: yes",
            ]
        )
    blocks = [
        _table(["State", "Supervision level", "Physician on site when delegates treat"], rows)
    ]
    if service.risk_tier >= 3:
        blocks.append(
            _p(
                f"Risk tier {service.risk_tier}: the directing physician is reachable at once "
                "by telephone whenever this procedure is performed, and a physician, NP or PA "
                f"is on site when anyone else performs it ({OURS})."
            )
        )
    return blocks


def _gfe_rows(rules: _Rules) -> list[list[str]]:
    rows = []
    for state in sorted(rules.facts.states):
        performers = rules.get(state, "gfe_performers")
        modality = rules.get(state, "gfe_modality")
        who = (
            f"{describe([TYPE_LABELS.get(p, p) for p in performers.value])} "
            f"({rules.basis(state, 'gfe_performers')})"
            if performers.known and isinstance(performers.value, list)
            else "unknown; mdmatch's conservative default: a physician, NP or PA"
        )
        how = (
            f"{_MODALITY.get(str(modality.value), describe(modality.value))} "
            f"({rules.basis(state, 'gfe_modality')})"
            if modality.known
            else "unknown; mdmatch's conservative default: in person"
        )
        rows.append([state, who, how])
    return rows


def _gfe_prerequisite(rules: _Rules) -> list[dict[str, Any]]:
    return [
        _p(
            "Before a patient's first treatment, and again whenever the Good-Faith Examination "
            "Policy requires, the patient is examined by a person and in a manner the state "
            "allows:"
        ),
        _table(["State", "Who may examine", "How"], _gfe_rows(rules)),
    ]


# --- clinical headings (template provisions the directing physician completes) --------------

_CONTRAINDICATIONS_COMMON = (
    "Pregnancy or breastfeeding (elective treatment deferred)",
    "Active infection, inflammation or open wound at the treatment site",
    "Known hypersensitivity to the product or any of its components",
    "Inability to give informed consent",
)
_CONTRAINDICATIONS = {
    "neurotoxins": ("Neuromuscular junction disorders (e.g. myasthenia gravis)",),
    "dermal_fillers": (
        "History of severe allergy or anaphylaxis",
        "Bleeding disorder or anticoagulant therapy (the physician assesses)",
    ),
    "injectables": ("Bleeding disorder or anticoagulant therapy (the physician assesses)",),
    "lasers_energy": (
        "Photosensitising medication or isotretinoin within the period the physician sets",
        "Recent sun exposure or tanning at the treatment site",
        "Implanted electronic device (radiofrequency devices)",
        "History of keloid or hypertrophic scarring",
    ),
    "body_contouring": ("Cold-related disorders (e.g. cryoglobulinaemia, cold urticaria)",),
    "skin": (
        "Isotretinoin within the period the physician sets",
        "Active herpes simplex at the treatment site",
        "History of keloid or hypertrophic scarring",
    ),
    "wellness": (
        "Conditions affected by the medication or fluid load (e.g. heart failure, kidney "
        "disease); the prescriber reviews the history, medications and any labs",
    ),
    "regenerative": ("Platelet or clotting disorders; active cancer or systemic infection",),
    "minimally_invasive": ("Bleeding disorder or anticoagulant therapy",),
}


def _contraindications(service: ServiceFacts) -> list[str]:
    extra = _CONTRAINDICATIONS.get(service.code) or _CONTRAINDICATIONS.get(service.category, ())
    return [*_CONTRAINDICATIONS_COMMON, *extra, "Others in the product labelling"]


def _complications(service: ServiceFacts) -> list[str]:
    items = [
        "Anaphylaxis or severe allergic reaction: stop, call 911, give epinephrine from the "
        "emergency kit as the emergency protocol directs, notify the directing physician at once.",
    ]
    if service.code == "neurotoxins":
        items.append(
            "Ptosis, asymmetry or spread of effect: document, notify the directing physician, "
            "arrange follow-up; difficulty swallowing, speaking or breathing: emergency care at "
            "once."
        )
    if service.injectable and service.category == "injectables" and service.risk_tier >= 3:
        if service.code == "dermal_fillers":
            items.append(
                "Vascular occlusion (blanching, livedo, disproportionate pain, visual change): "
                "stop injecting at once; for hyaluronic-acid fillers, hyaluronidase under the "
                "directing physician's reversal protocol. Hyaluronidase is on site whenever "
                "fillers are injected. Any visual symptom: emergency ophthalmology care / 911 "
                "at once."
            )
        else:
            items.append(
                "Intravascular injection, extravasation, skin necrosis or thrombosis: stop, "
                "notify the directing physician at once; signs of embolism: 911."
            )
    if service.energy_device:
        items.append(
            "Burns, blistering or pigment change: stop, cool the area, record the device and "
            "settings, notify the directing physician the same day. Eye protection for the "
            "patient and operator as the device requires."
        )
    if service.code == "iv_therapy":
        items.append(
            "Infiltration, phlebitis, fluid overload or vasovagal reaction: stop the infusion, "
            "check vital signs, notify the directing physician at once."
        )
    items.append(
        "Any other unexpected outcome: notify the directing physician the same day and record "
        "it in the adverse-event log (Chart Review and Quality Plan)."
    )
    return items


def _documentation(service: ServiceFacts) -> list[str]:
    items = [
        "Informed consent, signed before treatment",
        "The good-faith examination relied on and its date",
        "Who performed the treatment and who supervised it",
    ]
    if service.prescription or service.injectable:
        items.append("Product name, lot number and expiry; dose, units or volume; sites")
    if service.energy_device:
        items.append("Device, settings and treatment area")
    items += [
        "Before and after photographs where relevant",
        "Aftercare instructions given; adverse events and how they were managed",
    ]
    return items


def _emergency_kit(service: ServiceFacts) -> list[str]:
    items = [
        "Epinephrine (auto-injector or ampoules) and an antihistamine",
        "Blood-pressure cuff, pulse oximeter and access to an AED",
        "Emergency numbers and the directing physician's contact posted",
    ]
    if service.code == "dermal_fillers":
        items.append("Hyaluronidase, within its expiry, with the reversal protocol")
    if service.code == "iv_therapy":
        items.append("Supplies to stop an infusion and manage infiltration")
    return items


# --- per-kind contexts ----------------------------------------------------------------------


def _service_list(services: Iterable[ServiceFacts]) -> list[str]:
    return [s.name for s in services]


def _cpom_blocks(rules: _Rules, facts: EngagementFacts) -> tuple[list[dict[str, Any]], list[str]]:
    """The CPOM section and, for a lay-owned clinic in a state that may not allow it, the
    warnings printed at the top."""
    rows = []
    warnings = []
    for state in sorted(facts.states):
        cpom = rules.get(state, "cpom")
        structures = rules.get(state, "cpom_structures")
        rows.append([state, rules.cite(state, "cpom"), rules.cite(state, "cpom_structures")])
        if facts.clinic.ownership_model != "non_physician_owned":
            continue
        lay_ok = isinstance(structures.value, list) and _CPOM_LAY_OWNED in structures.value
        if cpom.value == "strict" or (structures.known and not lay_ok):
            warnings.append(
                f"{state_name(facts, state)}'s corporate practice of medicine rule "
                f"({cpom.citation or 'citation unknown'}) may not allow a clinic that is not "
                "owned by physicians to employ physicians or contract for medical services "
                "this way. Counsel licensed in the state must review this arrangement before "
                "it is signed."
            )
        elif not cpom.known or not structures.known:
            warnings.append(
                f"{state_name(facts, state)}'s corporate practice of medicine rule is not "
                "established in mdmatch's catalog; counsel must confirm that a clinic not owned "
                "by physicians may contract for medical services this way."
            )
    blocks = [
        _table(["State", "Corporate practice of medicine", "Structures allowed"], rows),
        *(_p(w) for w in warnings),
    ]
    return blocks, warnings


def _caps_table(rules: _Rules, states: Iterable[str]) -> dict[str, Any]:
    rows = [
        [
            state,
            rules.cite(state, "np_collaboration_ratio", short=True),
            rules.cite(state, "pa_supervision_ratio", short=True),
            rules.cite(state, "combined_supervisee_cap", short=True),
        ]
        for state in sorted(states)
    ]
    return {
        **_table(["State", "NPs per physician", "PAs per physician", "Combined"], rows),
        "note": "Exceptions to each cap are listed under Legal sources.",
    }


def _mda(spec: DocumentSpec, facts: EngagementFacts, rules: _Rules) -> dict[str, Any]:
    clinic = facts.clinic
    directors = facts.directors
    model = clinic.ownership_model
    if model == "physician_owned":
        parties = [_clinic_party(facts, "The Practice (physician-owned)")]
        structure = (
            f"{clinic.legal_name} is a physician-owned practice. It engages the physicians "
            "below as its medical directors."
        )
    elif model == "mso":
        parties = [
            {
                "label": "The Professional Entity",
                "name": "The professional entity owned by "
                + " and ".join(d.full_name for d in directors if d.role == "primary"),
                "lines": ["Legal name: ______________________________ (to be completed)"],
            },
            _clinic_party(facts, "The Management Company (MSO)"),
        ]
        structure = (
            f"{clinic.legal_name} is a management services organisation. The medical services "
            "are provided by the physician-owned professional entity, which engages the "
            "physicians below as medical directors; the management company provides only "
            "non-clinical services under the Management Services Agreement."
        )
    else:
        parties = [_clinic_party(facts, "The Clinic")]
        structure = (
            f"{clinic.legal_name} is not owned by physicians. It contracts with the physicians "
            "below for medical direction."
        )
    parties += [
        _director_party(d, "Medical Director" if d.role == "primary" else "Backup Director")
        for d in directors
    ]
    cpom_blocks, warnings = _cpom_blocks(rules, facts)
    oversight = [
        [
            d.full_name,
            "primary" if d.role == "primary" else "standing backup",
            ", ".join(state_name(facts, s) for s in sorted(d.states)),
            long_date(d.starts_on) if d.starts_on else long_date(facts.effective_on),
        ]
        for d in directors
    ]
    onsite_rows = [
        [state, rules.cite(state, "physician_onsite_when_delegates_treat")]
        for state in sorted(facts.states)
    ]
    malpractice = [
        [state, rules.cite(state, "malpractice_minimum")] for state in sorted(facts.states)
    ]
    sections = [
        _section("Structure and parties", _p(structure), basis=PARTIES_SET),
        _section("Corporate practice of medicine", *cpom_blocks),
        _section(
            "Appointment and scope",
            _p(
                f"The directing physicians oversee the services below at the clinic's locations "
                f"in {', '.join(state_name(facts, s) for s in sorted(facts.states))}, from "
                f"{long_date(facts.effective_on)}. Engagement model: "
                f"{_human(facts.engagement_model)}; oversight: {_human(facts.oversight_mode)}."
            ),
            _list(_service_list(facts.services)),
            _table(["Physician", "Role", "States", "From"], oversight),
            basis=PARTIES_SET,
        ),
        _section(
            "Duties of the medical directors",
            _list(
                [
                    "Issue and keep current the delegation protocols, standing orders, "
                    "Good-Faith Examination Policy and Chart Review and Quality Plan.",
                    "Enter into the collaboration or supervision agreement each NP and PA needs.",
                    "Verify that each provider is licensed, trained and competent for each "
                    "delegated service before delegating it.",
                    "Be reachable for consultation and patient emergencies whenever delegated "
                    "services are performed, and arrange coverage by the backup director.",
                    "Review charts and meet with the providers as the Quality Plan sets.",
                ]
            ),
            basis=PARTIES_SET,
        ),
        _section(
            "Duties of the contracting entity",
            _list(
                [
                    "Employ or engage only providers licensed for their tasks, and tell the "
                    "medical directors at once of any change in the roster or services.",
                    "Keep medical records, consent forms, product logs and the emergency kit.",
                    "Report adverse events to the medical directors as the Quality Plan sets.",
                    "Keep the agreements and protocols at each location.",
                ]
            ),
            basis=PARTIES_SET,
        ),
        _section(
            "Independent medical judgment",
            _p(
                "No party other than the physicians directs or controls clinical judgment, "
                "diagnosis, treatment, delegation or prescribing."
            ),
            basis=PARTIES_SET,
        ),
        _section(
            "Supervision limits",
            _caps_table(rules, facts.states),
            _table(["State", "Physician on site when delegates treat"], onsite_rows),
        ),
        _section(
            "Professional liability insurance",
            _table(["State", "Malpractice minimum"], malpractice),
            _p(
                "Each medical director keeps professional liability insurance covering the "
                "services overseen, at the limits the parties set, and never below a state "
                "minimum."
            ),
            basis=PARTIES_SET,
        ),
        _section(
            "Compensation",
            _p(
                "As agreed in the parties' mdmatch engagement, consistent with fair market value "
                "for the services actually provided and not dependent on referrals."
            ),
            basis=PARTIES_SET,
        ),
        _section(
            "Term and termination",
            _p(
                "This agreement runs from the effective date until ended by either party on "
                "written notice through mdmatch. On termination the directing physicians give "
                "the notices the states require for each collaboration agreement that ends."
            ),
            basis=PARTIES_SET,
        ),
    ]
    return {"parties": parties, "sections": sections, "warnings": warnings}


def _msa(spec: DocumentSpec, facts: EngagementFacts, rules: _Rules) -> dict[str, Any]:
    primaries = [d for d in facts.directors if d.role == "primary"]
    cpom_blocks, _ = _cpom_blocks(rules, facts)
    sections = [
        _section(
            "Non-clinical services only",
            _p(
                f"{facts.clinic.legal_name} (the Manager) provides the Practice with "
                "non-clinical management services only:"
            ),
            _list(
                [
                    "Premises, equipment, supplies and their maintenance",
                    "Scheduling, reception, billing and collections in the Practice's name",
                    "Marketing that the Practice approves for clinical accuracy",
                    "Human resources administration, payroll and bookkeeping",
                    "Information technology and record systems that the Practice controls",
                ]
            ),
            basis=PARTIES_SET,
        ),
        _section(
            "Matters reserved to the Practice",
            _list(
                [
                    "Diagnosis, treatment, delegation, prescribing and all clinical judgment",
                    "The hiring, supervision, training and discipline of clinical staff in "
                    "their clinical duties",
                    "Clinical protocols, standing orders and the content of medical records",
                    "Which services are offered and which patients are treated",
                ]
            ),
            _p("The Manager does not control or interfere with any of these."),
            basis=PARTIES_SET,
        ),
        _section(
            "Fee",
            _p(
                "The Practice pays the Manager a fee set in advance at fair market value for "
                "the services actually provided, documented by the parties, and not based on "
                "referrals. Fee structures tied to professional revenue need counsel's review in "
                "each state."
            ),
            basis=PARTIES_SET,
        ),
        _section("Corporate practice of medicine", *cpom_blocks),
        _section(
            "Term",
            _p(
                f"From {long_date(facts.effective_on)}, for as long as the Medical Director "
                "Agreement is in force."
            ),
            basis=PARTIES_SET,
        ),
    ]
    parties = [
        {
            "label": "The Practice (physician-owned professional entity)",
            "name": "The professional entity owned by "
            + " and ".join(d.full_name for d in primaries),
            "lines": ["Legal name: ______________________________ (to be completed)"],
        },
        _clinic_party(facts, "The Manager (MSO)"),
    ]
    return {"parties": parties, "sections": sections, "warnings": []}


def _applies(entries: Any, ptype: str) -> list[dict[str, Any]]:
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and ptype in (e.get("applies_to") or [])]


def _chart_review_text(rules: _Rules, state: str, ptype: str | None) -> list[dict[str, Any]]:
    rule = rules.get(state, "chart_review")
    default = (
        f"mdmatch's default, adopted by the parties: the physician reviews at least "
        f"{DEFAULT_CHART_REVIEW_PERCENT}% of the charts of patients treated under delegation "
        f"every {DEFAULT_CHART_REVIEW_DAYS} days (our default, not the state's)."
    )
    if rule.value == "none":
        return [
            _p(
                f"The state sets no fixed chart-review minimum "
                f"({rules.cite(state, 'chart_review')}); the number is for the parties to set."
            ),
            _p(default),
        ]
    if not rule.known:
        return [_p("State chart-review minimum: unknown (not established)."), _p(default)]
    entries = (
        _applies(rule.value, ptype) if ptype else rule.value if isinstance(rule.value, list) else []
    )
    if not entries:
        return [
            _p(
                f"The state's chart-review rule does not apply to this provider type "
                f"({rules.cite(state, 'chart_review')})."
            ),
            _p(default),
        ]
    return [
        _p(f"State minimum ({rules.basis(state, 'chart_review')}):"),
        _list(_describe_entry(e) for e in entries),
    ]


def _meetings_text(rules: _Rules, state: str, ptype: str | None) -> list[dict[str, Any]]:
    rule = rules.get(state, "site_visits")
    default = (
        f"mdmatch's default: a documented quality meeting at least every {DEFAULT_MEETING_DAYS} "
        "days, in person or by video (our default, not the state's)."
    )
    if not rule.known:
        return [_p("State meeting or site-visit rule: unknown (not established)."), _p(default)]
    entries = (
        _applies(rule.value, ptype) if ptype else rule.value if isinstance(rule.value, list) else []
    )
    if not entries:
        return [_p(f"State rule: {rules.cite(state, 'site_visits')}."), _p(default)]
    return [
        _p(f"State rule ({rules.basis(state, 'site_visits')}):"),
        _list(_describe_entry(e) for e in entries),
    ]


def _filings_text(
    rules: _Rules, state: str, triggers: tuple[str, ...], who: Iterable[str]
) -> list[dict[str, Any]]:
    rule = rules.get(state, "filings")
    wanted = set(who)
    if not rule.known:
        return [
            _p(
                "State filing or notice duties: unknown (not established). mdmatch's default: "
                "the physician confirms with the state board before the effective date whether "
                "a filing or notice is needed."
            )
        ]
    if rule.value == "none":
        return [_p(f"The state requires no filing ({rules.cite(state, 'filings')}).")]
    entries = [
        e
        for e in (rule.value if isinstance(rule.value, list) else [])
        if isinstance(e, dict)
        and e.get("trigger") in triggers
        and wanted.intersection(e.get("applies_to") or [])
    ]
    if not entries:
        return [
            _p(
                "mdmatch's state rules record no such filing for this state "
                f"({rule.citation or 'no citation'}); confirm with the board."
            )
        ]
    return [
        _p(f"State filings ({rule.citation}; {rule.confidence} confidence):"),
        _list(_describe_entry(e) for e in entries),
    ]


def _prescribing_blocks(services: Sequence[ServiceFacts]) -> list[dict[str, Any]]:
    rx = [s for s in services if s.prescription and not s.controlled_substance]
    controlled = [s for s in services if s.controlled_substance]
    blocks: list[dict[str, Any]] = []
    if rx:
        blocks.append(
            _p("Drugs and devices that may be prescribed or ordered for the services below:")
        )
        blocks.append(
            _list(
                f"{s.name} (prescription {'device' if s.energy_device else 'drug or device'}"
                f"{', injectable' if s.injectable else ''})"
                for s in rx
            )
        )
    if controlled:
        blocks.append(
            _p(
                "Controlled substances, only under the delegate's own DEA registration and state "
                "controlled-substance authority, and only for:"
            )
        )
        blocks.append(_list(s.name for s in controlled))
    else:
        blocks.append(_p("Controlled substances may not be prescribed under this agreement."))
    if not rx and not controlled:
        blocks.append(_p("No prescription drugs or devices are delegated under this agreement."))
    blocks.append(
        _p("Any drug or device not listed here may not be prescribed under this agreement.")
    )
    return blocks


def _element_blocks(
    element: Element,
    *,
    rules: _Rules,
    facts: EngagementFacts,
    state: str,
    provider: ProviderFacts,
    director: DirectorFacts,
    services: Sequence[ServiceFacts],
) -> list[dict[str, Any]]:
    locations = [loc.one_line for loc in provider.locations if loc.state == state] or [
        loc.one_line for loc in facts.clinic.locations if loc.state == state
    ]
    topic = element.topic
    if topic == "parties":
        return [
            _p(
                f"Physician: {director.full_name}; {_license_line(director)}; practice address: "
                "______________________ (to be completed)."
            ),
            _p(
                f"{TYPE_LABELS.get(provider.type, provider.type)}: {provider_label(provider)}; "
                f"license {provider.license_type} {provider.license_state} "
                f"{provider.license_number}; other professional license numbers: "
                "______________________; practice address: " + "; ".join(locations) + "."
            ),
        ]
    if topic == "practice":
        return [
            _p(
                f"Aesthetic medical services (medical spa) of {facts.clinic.legal_name}, under "
                "its Medical Director Agreement, at:"
            ),
            _list(locations),
        ]
    if topic == "services":
        return [
            _p("The delegate performs only these services, under the delegation protocols:"),
            _list(_service_list(services) or ["none"]),
        ]
    if topic == "prescribing":
        return _prescribing_blocks(services)
    if topic == "supervision":
        names = sorted({n for s in services if (n := _supervision_rule(s))})
        rows = [[_human(n), rules.cite(state, n)] for n in names]
        rows.append(
            [
                "physician on site when delegates treat",
                rules.cite(state, "physician_onsite_when_delegates_treat"),
            ]
        )
        return [
            _p(
                f"Oversight is {_human(facts.oversight_mode)}. The physician is reachable by "
                "telephone or secure message whenever the delegate treats patients, and reviews "
                "any case the delegate refers."
            ),
            _table(["State rule", "Value"], rows),
        ]
    if topic == "consultation":
        return [
            _p(
                "The delegate consults the physician before treating a patient outside the "
                "protocols, with a contraindication or an unexpected finding, or after a "
                "complication; and refers to the physician, or to a specialist the physician "
                "names, any patient whose needs exceed the delegated services."
            )
        ]
    if topic == "emergencies":
        return [
            _p(
                "In an emergency the delegate calls 911, gives first-line care from the "
                "emergency kit under the standing orders, and notifies the physician at once; the "
                "physician (or an alternate) is reachable for emergency consultation and, if "
                "needed, an emergency appointment. Each emergency is recorded and reviewed at the "
                "next quality meeting."
            )
        ]
    if topic == "communication":
        return [
            _p(
                "The parties communicate by telephone, secure messaging and the clinic's "
                "electronic health record; the delegate documents each treatment in the record "
                "the physician can read; urgent matters by telephone the same day."
            )
        ]
    if topic == "alternates":
        alts = alternates(facts, state)
        if not alts:
            return [_p("Alternate physician(s): to be designated before use.")]
        return [
            _p(
                "Alternate physicians, who may supervise temporarily and take part in the "
                "quality meetings:"
            ),
            _list(f"{d.full_name}; {_license_line(d)}" for d in alts),
        ]
    if topic == "quality":
        return [
            *_chart_review_text(rules, state, provider.type),
            *_meetings_text(rules, state, provider.type),
            _p(
                "The meetings cover patient treatment and care, needed changes in care plans, "
                "patient care improvement and referral issues. Implementation is documented by "
                "a chart-review log (patient identifier, reviewer, date, findings) and signed "
                "meeting minutes kept with this agreement."
            ),
        ]
    if topic == "disclosure":
        return [
            _p(
                "Each party confirms having disclosed to the other any prior disciplinary action "
                "by a licensing board, and will tell the other at once of any investigation."
            )
        ]
    if topic == "execution":
        anniversary = facts.effective_on.replace(year=facts.effective_on.year + 1)
        return [
            _p(
                f"Effective {long_date(facts.effective_on)}. Signed and dated by both parties; "
                f"reviewed, signed and dated again at least annually (first review by "
                f"{long_date(anniversary)}); it ends on written notice by either party."
            )
        ]
    if topic == "registration":
        return _filings_text(rules, state, ("signing", "start"), ("physician", provider.type))
    if topic == "records":
        return [
            _p(
                "This agreement is kept at each practice location named above and produced to "
                "the licensing boards on request."
            )
        ]
    if topic == "competency":
        return [
            _p(
                "The physician confirms the delegate's training and competence for each "
                "delegated service before delegating it (observed procedures), and re-evaluates "
                "it at the annual review and after any complication."
            )
        ]
    if topic == "disagreements":
        return [
            _p(
                "The parties discuss a disagreement about a patient's care promptly; until it is "
                "resolved, the delegate does not perform the disputed treatment and refers the "
                "patient to the physician. Each disagreement and its resolution is documented."
            )
        ]
    if topic == "record_review":
        return [
            _p(
                "The physician reviews the delegate's patient records at least every three "
                f"months; sample: at least {DEFAULT_CHART_REVIEW_PERCENT}% of charts "
                "(sample size: mdmatch's default)."
            )
        ]
    if topic == "additional":
        return [_p("None, unless attached to this agreement and signed by both parties.")]
    raise LookupError(f"no provisions for element topic {topic!r}")


def _element_basis(element: Element, state: str, facts: EngagementFacts) -> str:
    if element.basis is None:
        return f"{OURS} (an element mdmatch includes for {state_name(facts, state)})"
    return f"{state_name(facts, state)} requirement: {element.requirement} Source: " + (
        _source_label(element.basis)
    )


def _collaboration(spec: DocumentSpec, facts: EngagementFacts, rules: _Rules) -> dict[str, Any]:
    state = spec.state or ""
    provider = next(p for p in facts.providers if p.id == spec.provider_id)
    director = next(d for d in facts.directors if d.physician_id == spec.physician_id)
    services = provider_services(facts, provider)
    authority = rules.get(state, "np_practice_authority")
    form: AgreementForm = agreement_form(state, provider.type, authority.value)
    intro = [
        f"This {form.title} is made between {director.full_name} (the Physician) and "
        f"{provider_label(provider)} (the Delegate) for the Delegate's practice at "
        f"{facts.clinic.legal_name} in {state_name(facts, state)}, effective "
        f"{long_date(facts.effective_on)}."
    ]
    if provider.type == "np" and (form.delegation_only or authority.value == "full"):
        intro.append(
            f"{state_name(facts, state)} does not require a collaboration agreement for a nurse "
            "practitioner's own practice (np practice authority: "
            f"{rules.cite(state, 'np_practice_authority')}). The aesthetic procedures the "
            "Delegate performs under the medical director's protocols and standing orders are "
            "delegated by the Physician, and this agreement documents that delegation."
        )
    elif provider.type == "np":
        intro.append(f"NP practice authority: {rules.cite(state, 'np_practice_authority')}.")
    intro.append(
        "Each element below says whether it is the state's requirement (with its source) or "
        "mdmatch's conservative default."
    )
    sections = [
        _section(
            e.heading,
            *_element_blocks(
                e,
                rules=rules,
                facts=facts,
                state=state,
                provider=provider,
                director=director,
                services=services,
            ),
            basis=_element_basis(e, state, facts),
        )
        for e in form.elements
    ]
    sections.append(
        _section(
            "Supervision limits",
            _caps_table(rules, [state]),
            _p(
                "The Physician confirms that this agreement keeps them within these limits "
                "across all their agreements."
            ),
        )
    )
    for text, source in form.notes:
        sections.append(_section("Note", _p(text), basis=_source_label(source)))
    return {
        "intro": intro,
        "provider": {"id": str(provider.id), "type": provider.type, "name": provider.full_name},
        "parties": [_director_party(director), _provider_party(provider, state)],
        "sections": sections,
        "warnings": [],
    }


def _service_of(spec: DocumentSpec, facts: EngagementFacts) -> ServiceFacts:
    return next(s for s in facts.services if s.code == spec.service_code)


def _protocol(spec: DocumentSpec, facts: EngagementFacts, rules: _Rules) -> dict[str, Any]:
    service = _service_of(spec, facts)
    sections = [
        _section(
            "Service",
            _p(
                f"{service.name}. Category: {_human(service.category)}; risk tier "
                f"{service.risk_tier}; "
                + ("prescription; " if service.prescription else "no prescription; ")
                + ("delegated procedure." if service.delegated_procedure else "not delegated.")
            ),
        ),
        _section("Who may perform it", _performers_table(rules, service)),
        _section("Supervision", *_supervision_blocks(rules, service)),
        _section("Good-faith examination", *_gfe_prerequisite(rules)),
        _section(
            "Contraindications",
            _list(_contraindications(service)),
            basis=f"clinical headings for the directing physician to review and complete "
            f"({PARTIES_SET})",
        ),
        _section(
            "Complication management",
            _list(_complications(service)),
            basis=f"clinical headings for the directing physician to review and complete "
            f"({PARTIES_SET})",
        ),
        _section("Documentation", _list(_documentation(service)), basis=PARTIES_SET),
        _section(
            "Training and review",
            _p(
                "Each performer completes training the directing physician approves, including "
                "hands-on training, before performing this service. This protocol is reviewed at "
                "least annually and whenever the service, products or state rules change."
            ),
            basis=PARTIES_SET,
        ),
    ]
    return {"parties": _engagement_parties(facts, spec), "sections": sections, "warnings": []}


def _standing_orders(spec: DocumentSpec, facts: EngagementFacts, rules: _Rules) -> dict[str, Any]:
    service = _service_of(spec, facts)
    sections = [
        _section(
            "Order",
            _p(
                f"The directing physicians order that {service.name} may be given to patients "
                "who meet the criteria of the delegation protocol for this service, after a "
                "good-faith examination, at the doses, dilutions and maximum amounts in the "
                "dosing table the directing physician attaches and the product labelling."
            ),
            basis=PARTIES_SET,
        ),
        _section("Who may administer", _performers_table(rules, service)),
        _section("Examination before treatment", *_gfe_prerequisite(rules)),
    ]
    patient_specific = [s for s in sorted(facts.states) if s in RN_PATIENT_SPECIFIC_ORDERS_ONLY]
    for state in patient_specific:
        sections.append(
            _section(
                f"{state_name(facts, state)}: patient-specific orders",
                _p(
                    f"In {state_name(facts, state)}, registered nurses act only on a "
                    "patient-specific order from a physician, NP or PA who has examined the "
                    f"patient; this standing order does not authorise an RN to give {service.name} "
                    f"in {state_name(facts, state)} without one "
                    f"({rules.basis(state, 'rn_injects_neurotoxins_fillers')})."
                ),
            )
        )
    if service.controlled_substance:
        sections.append(
            _section(
                "Controlled substance",
                _p(
                    "This standing order does not authorise prescribing or giving a controlled "
                    "substance: each prescription is a patient-specific order of a prescriber "
                    "with a DEA registration and state authority."
                ),
                basis=OURS,
            )
        )
    sections += [
        _section("Emergency kit", _list(_emergency_kit(service)), basis=OURS),
        _section(
            "Review",
            _p(
                "These standing orders are reviewed and re-signed at least annually and "
                "whenever the product, the protocol or the state rules change."
            ),
            basis=OURS,
        ),
    ]
    return {"parties": _engagement_parties(facts, spec), "sections": sections, "warnings": []}


def _gfe_policy(spec: DocumentSpec, facts: EngagementFacts, rules: _Rules) -> dict[str, Any]:
    renewal = [
        _p(
            f"The examination is renewed at least every {DEFAULT_GFE_RENEWAL_MONTHS} months, "
            "and before further treatment whenever the patient's health, medications or "
            f"treatment plan change ({OURS})."
        )
    ]
    if "TX" in facts.states:
        renewal.append(
            _p(
                "Texas: a practice article reports that the order lets delegated staff treat for "
                "one year before it is renewed (low confidence)."
            )
        )
    sections = [
        _section(
            "Purpose",
            _p(
                "No patient receives a delegated aesthetic or prescription service before a "
                "good-faith examination establishes that the treatment is appropriate."
            ),
            basis=PARTIES_SET,
        ),
        _section("Who may examine, and how", _table(["State", "Who", "How"], _gfe_rows(rules))),
        _section(
            "Content of the examination",
            _list(
                [
                    "Medical history, medications, allergies and prior treatments",
                    "Examination of the treatment area",
                    "Contraindications under the delegation protocol",
                    "The treatment plan and the services it authorises",
                    "Informed consent discussed",
                ]
            ),
            _p("Questionnaire-only evaluations are not accepted."),
            basis=OURS,
        ),
        _section("Renewal", *renewal),
        _section(
            "Documentation",
            _list(
                [
                    "Examiner's name, credentials and signature; date and modality (in person or "
                    "telehealth, with the platform used)",
                    "Findings, contraindications checked and the services authorised",
                    "The date by which the examination must be renewed",
                ]
            ),
            basis=OURS,
        ),
    ]
    return {"parties": _engagement_parties(facts, spec), "sections": sections, "warnings": []}


def _quality_plan(spec: DocumentSpec, facts: EngagementFacts, rules: _Rules) -> dict[str, Any]:
    types = provider_types_by_state(facts)
    sections: list[dict[str, Any]] = []
    for state in sorted(facts.states):
        present: list[str | None] = [t for t in types.get(state, []) if t in ("np", "pa")]
        kinds = present or [None]
        blocks: list[dict[str, Any]] = []
        for ptype in kinds:
            if ptype is not None:
                blocks.append(_p(f"{TYPE_LABELS[ptype]}s:"))
            blocks += _chart_review_text(rules, state, ptype)
        sections.append(_section(f"Chart review — {state_name(facts, state)}", *blocks))
        meeting_blocks: list[dict[str, Any]] = []
        for ptype in kinds:
            if ptype is not None:
                meeting_blocks.append(_p(f"{TYPE_LABELS[ptype]}s:"))
            meeting_blocks += _meetings_text(rules, state, ptype)
        sections.append(
            _section(f"Meetings and site visits — {state_name(facts, state)}", *meeting_blocks)
        )
    if "TX" in facts.states:
        sections.append(
            _section(
                "Texas prescriptive authority agreements",
                _p(
                    "For Texas NPs and PAs, each prescriptive authority agreement sets its own "
                    "chart-review number and meetings; this plan's figures are the minimum the "
                    "parties adopt."
                ),
                basis=_source_label(template("quality_plan").sources[0]),
            )
        )
    sections += [
        _section(
            "Adverse events",
            _list(
                [
                    "Serious events (emergency transfer, vascular occlusion, anaphylaxis, burns "
                    "beyond first degree, vision change): reported to the directing physician at "
                    "once by telephone, and in writing within 24 hours.",
                    "Other adverse events: recorded in the adverse-event log the same day and "
                    "reviewed at the next quality meeting.",
                    "Each event's review records the cause, the corrective action and any "
                    "change to protocols or training.",
                    "Reports to boards, manufacturers (e.g. FDA MedWatch) or insurers as the law "
                    "and the policies require, decided by the directing physician.",
                ]
            ),
            basis=OURS,
        ),
        _section(
            "Records",
            _p(
                "Chart-review logs, meeting minutes and the adverse-event log are kept for the "
                "life of the engagement and at least as long as the medical records."
            ),
            basis=OURS,
        ),
    ]
    return {"parties": _engagement_parties(facts, spec), "sections": sections, "warnings": []}


def _termination(spec: DocumentSpec, facts: EngagementFacts, rules: _Rules) -> dict[str, Any]:
    ended = spec.terminates
    if ended is None or spec.terminates_on is None:
        raise ValueError("a termination notice needs the agreement it ends and a date")
    states = [ended.state] if ended.state else sorted(facts.states)
    directors = [s for s in ended.signers if s.role == "director"]
    sections = [
        _section(
            "Agreement ended",
            _p(
                f"{ended.title} (mdmatch document slot {ended.slot}) ends effective "
                f"{long_date(spec.terminates_on)}."
            ),
            _list(f"{s.role.capitalize()}: {s.name}" for s in ended.signers),
        )
    ]
    who = ["physician", "np", "pa"]
    for state in states:
        sections.append(
            _section(
                f"Notice obligations — {state_name(facts, state)}",
                *_filings_text(rules, state, ("termination",), who),
            )
        )
    sections.append(
        _section(
            "After termination",
            _p(
                "From the effective date, the delegate performs no service under the ended "
                "agreement. Records, chart-review logs and minutes are kept as the Quality Plan "
                "sets. A copy of this notice goes to each party of the ended agreement."
            ),
            basis=PARTIES_SET,
        )
    )
    parties = [{"label": s.role.capitalize(), "name": s.name, "lines": []} for s in ended.signers]
    if not directors:
        parties.append(_clinic_party(facts))
    return {"parties": parties, "sections": sections, "warnings": []}


def _engagement_parties(facts: EngagementFacts, spec: DocumentSpec) -> list[dict[str, Any]]:
    by_id = {d.physician_id: d for d in facts.directors}
    parties = [
        _director_party(by_id[s.physician_id], "Directing Physician")
        for s in spec.signers
        if s.role == "director" and s.physician_id in by_id
    ]
    return [*parties, _clinic_party(facts)]


_BUILDERS = {
    "medical_director_agreement": _mda,
    "management_services_agreement": _msa,
    "collaboration_agreement": _collaboration,
    "delegation_protocol": _protocol,
    "standing_orders": _standing_orders,
    "good_faith_exam_policy": _gfe_policy,
    "quality_plan": _quality_plan,
    "termination_notice": _termination,
}


def _states_of(spec: DocumentSpec, facts: EngagementFacts) -> tuple[str, ...]:
    if spec.state:
        return (spec.state,)
    if spec.terminates is not None and spec.terminates.state:
        return (spec.terminates.state,)
    return tuple(sorted(facts.states))


def context_for(
    spec: DocumentSpec,
    facts: EngagementFacts,
    *,
    document_id: uuid.UUID,
    generated_on: date,
    counsel_review: CounselReview | None,
) -> dict[str, Any]:
    """The JSON the template lays out."""
    tpl = template(spec.template_key)
    rules = _Rules(facts, tpl)
    body = _BUILDERS[spec.template_key](spec, facts, rules)
    states = _states_of(spec, facts)
    return {
        "title": spec.title,
        "template": {"key": tpl.key, "version": tpl.version, "title": tpl.title},
        "generated_on": long_date(generated_on),
        "effective_on": long_date(facts.effective_on),
        "engagement_id": str(facts.engagement_id),
        "document_id": str(document_id),
        "notice": review_notice(counsel_review),
        **({"provider": body["provider"]} if "provider" in body else {}),
        "warnings": body["warnings"],
        "intro": body.get("intro", []),
        "parties": body["parties"],
        "sections": body["sections"],
        "sources": [
            {"text": s.text, "url": s.url or "", "confidence": s.confidence}
            for s in tpl.sources_for(states)
        ],
        "rules": rules.sources(),
        "signers": [
            {"role": s.role, "name": s.name, "capacity": _capacity(s.role, facts)}
            for s in spec.signers
        ],
    }


def _capacity(role: str, facts: EngagementFacts) -> str:
    if role == "clinic":
        return f"for {facts.clinic.legal_name}, by an authorised signatory"
    if role == "director":
        return "directing physician"
    return "delegate"


def _timestamp(generated_on: date) -> datetime:
    return datetime(generated_on.year, generated_on.month, generated_on.day, tzinfo=UTC)


def render(
    spec: DocumentSpec,
    facts: EngagementFacts,
    *,
    document_id: uuid.UUID,
    generated_on: date,
    counsel_review: CounselReview | None,
) -> bytes:
    """The document as PDF. The same inputs give the same bytes (creation date fixed to
    `generated_on`, no system fonts)."""
    tpl = template(spec.template_key)
    context = context_for(
        spec,
        facts,
        document_id=document_id,
        generated_on=generated_on,
        counsel_review=counsel_review,
    )
    pdf = typst.compile(
        str(TEMPLATE_DIR / tpl.file),
        root=str(TEMPLATE_DIR),
        format="pdf",
        ignore_system_fonts=True,
        sys_inputs={"data": json.dumps(context, ensure_ascii=False)},
        timestamp=_timestamp(generated_on),
    )
    if not isinstance(pdf, bytes):
        raise TypeError("typst returned no PDF")
    return pdf
