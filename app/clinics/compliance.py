"""The compliance pre-check: a pure function of what the clinic asks for and the state rules of
each of its locations. It never decides the law; it tells the clinic what our data says and what
to change.

Severities (API.md): `blocking` only for known prohibitions; `warning` where the data is unknown
or the clinic should act; `info` otherwise. Blocking flags stop `submit` (409).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from app.catalog.rules import CAP_LABELS, Cap, RuleFacts
from app.catalog.services import ServiceDef
from app.clinics.staffing import Staffing

Severity = Literal["blocking", "warning", "info"]
SEVERITY_ORDER = {"blocking": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class StateContext:
    code: str
    name: str
    facts: RuleFacts
    onsite_required_services: tuple[str, ...]
    onsite_pinned: bool
    caps: Mapping[str, Cap]
    # The state's cited facts (dataset.Fact as JSON, by field): citations for messages.
    cited: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def pa_cap(self) -> int | None:
        return self.caps["pa"].limit

    @property
    def np_cap(self) -> int | None:
        return self.caps["np"].limit

    def citation(self, rule: str) -> str | None:
        fact = self.cited.get(rule) or {}
        return fact.get("citation") if fact.get("value") is not None else None


@dataclass(frozen=True)
class ComplianceFlag:
    code: str
    severity: Severity
    state: str | None
    message: str
    # The rule the flag applies (statute or board rule), when the data cites one.
    citation: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "state": self.state,
            "message": self.message,
            "citation": self.citation,
        }


# Service categories that make an office "dermatologic or skin care" (Florida's wording).
SKIN_CARE_CATEGORIES = frozenset(
    {
        "injectables",
        "lasers_energy",
        "skin",
        "minimally_invasive",
        "body_contouring",
        "regenerative",
    }
)


@dataclass(frozen=True)
class SatelliteRule:
    """A satellite-office rule (Florida §458.348(3)) as it applies to one intake's state."""

    state: str
    specialties: tuple[str, ...]
    max_miles: int | None
    max_offices: int | None
    citation: str | None


def satellite_rule(
    st: StateContext,
    *,
    services: Sequence[str],
    providers: Mapping[str, int],
    oversight_mode: str,
    catalog: Mapping[str, ServiceDef],
) -> SatelliteRule | None:
    """The state's satellite-office rule, where it applies: NPs or PAs supervised at an office
    that is not the physician's practice (not on-site oversight), mainly offering skin care (at
    least half the requested services)."""
    value = (st.cited.get("satellite_offices") or {}).get("value")
    if not isinstance(value, dict) or oversight_mode == "onsite":
        return None
    if not (providers.get("np", 0) or providers.get("pa", 0)) or not services:
        return None
    skin = [c for c in services if catalog[c].category in SKIN_CARE_CATEGORIES]
    if 2 * len(skin) < len(services):
        return None
    return SatelliteRule(
        state=st.code,
        specialties=tuple(
            sorted({b.strip().lower().replace(" ", "_") for b in value["board_certification"]})
        ),
        max_miles=value.get("max_miles_from_primary"),
        max_offices=value.get("max_offices"),
        citation=st.citation("satellite_offices"),
    )


def _names(codes: Sequence[str], catalog: Mapping[str, ServiceDef]) -> str:
    names = [catalog[c].name.split(" (")[0].lower() for c in sorted(codes)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def compliance_flags(
    *,
    services: Sequence[str],
    providers: Mapping[str, int],
    oversight_mode: str,
    ownership_model: str | None,
    physician_performs_services: bool,
    states: Sequence[StateContext],
    catalog: Mapping[str, ServiceDef],
    staffing: Staffing | None = None,
    onsite_hours: Mapping[str, int] | None = None,
) -> list[ComplianceFlag]:
    """The pre-check. Each state's rules apply to the people who work in that state: the
    clinic's roster (`staffing`) when it has one, else `providers` counts read as full-time
    people working in every state."""
    flags: list[ComplianceFlag] = []
    requested = set(services)
    everyone = staffing or Staffing.from_counts(providers, [st.code for st in states])
    energy = sorted(c for c in requested if catalog[c].energy_device)
    injectables = sorted(c for c in requested if catalog[c].injectable)
    controlled = sorted(c for c in requested if catalog[c].controlled_substance)

    if oversight_mode in ("hybrid", "onsite") and not onsite_hours:
        flags.append(
            ComplianceFlag(
                "onsite_hours_unstated",
                "info",
                None,
                f"State the physician's on-site hours a month at each location "
                f"(`onsite_hours`) for {oversight_mode} oversight: the quote prices them and "
                "matching asks for travel only where they are; until then every location "
                "counts as on site.",
                None,
            )
        )

    for st in states:
        f = st.facts
        people = everyone.in_states([st.code])
        staff = {t: n for t, n in people.heads.items() if n > 0}

        def flag(
            code: str,
            severity: Severity,
            message: str,
            st: StateContext = st,
            citation: str | None = None,
        ) -> None:
            flags.append(ComplianceFlag(code, severity, st.code, message, citation))

        # Corporate practice of medicine.
        if ownership_model == "non_physician_owned" and f.cpom == "strict":
            flag(
                "cpom_requires_mso",
                "blocking",
                f"{st.name} enforces the corporate practice of medicine strictly: a clinic "
                "owned by non-physicians cannot own the medical practice. Restructure as an MSO "
                'with a physician-owned practice and set ownership_model to "mso".',
            )
        elif ownership_model == "non_physician_owned" and f.cpom == "moderate":
            flag(
                "cpom_requires_mso",
                "warning",
                f"{st.name} has a corporate-practice-of-medicine doctrine with uneven "
                "enforcement; have counsel confirm your ownership, or use an MSO structure.",
            )
        elif ownership_model is None and f.cpom in ("strict", "moderate"):
            flag(
                "cpom_ownership_unknown",
                "warning" if f.cpom == "strict" else "info",
                f"{st.name} has a corporate-practice-of-medicine doctrine"
                + (" that it enforces strictly" if f.cpom == "strict" else "")
                + ": the clinic's ownership structure decides whether it can operate there. "
                "A clinic owned by non-physicians needs an MSO with a physician-owned practice; "
                "set ownership_model so we can check it.",
            )

        # Where the director must be on site, remote oversight does not work.
        onsite = sorted(requested & set(st.onsite_required_services))
        delegated = sorted(c for c in requested if catalog[c].delegated_procedure)
        if oversight_mode == "remote" and onsite:
            known = (
                f.remote_supervision_allowed is False
                or bool(f.physician_onsite_always)
                or st.onsite_pinned
            )
            if known:
                rule = (
                    "physician_onsite_when_delegates_treat"
                    if f.physician_onsite_always
                    else "supervision_injectables"
                )
                flag(
                    "remote_supervision_not_permitted",
                    "blocking",
                    f"{st.name} requires the supervising physician on site for "
                    f"{_names(onsite, catalog)}. Choose hybrid or on-site oversight, or drop "
                    "those services at this location.",
                    citation=None if st.onsite_pinned else st.citation(rule),
                )
            elif f.remote_supervision_allowed is None:
                flag(
                    "remote_supervision_unknown",
                    "warning",
                    f"We could not confirm that {st.name} allows remote supervision of "
                    f"{_names(onsite, catalog)}; we only match remote oversight of low-risk "
                    "services there with confidence. Consider hybrid oversight.",
                )
            else:
                flag(
                    "remote_supervision_not_permitted",
                    "warning",
                    f"{st.name} allows remote supervision, but boards commonly expect a "
                    f"physician on site for {_names(onsite, catalog)}. Consider hybrid "
                    "oversight for those procedures.",
                    citation=st.citation("supervision_injectables"),
                )
        elif oversight_mode == "remote" and delegated and f.remote_supervision_allowed is None:
            flag(
                "remote_supervision_unknown",
                "warning",
                f"We could not confirm whether {st.name} allows remote supervision of "
                f"{_names(delegated, catalog)}. mdmatch matches remote oversight of these "
                "low-risk procedures by its own default, not because the state's law allows "
                "it: confirm with the board, or choose hybrid oversight.",
            )
        if (
            oversight_mode == "remote"
            and delegated
            and f.physician_onsite_always is None
            and f.remote_supervision_allowed is not False
            and any(staff.get(t, 0) for t in ("np", "pa", "rn", "esthetician"))
        ):
            flag(
                "physician_onsite_rule_unknown",
                "warning",
                f"We could not confirm whether {st.name} requires a physician on site "
                "whenever a non-physician performs a delegated procedure. Confirm with the "
                "board before treating without one, or choose hybrid oversight.",
            )

        # Presence the state requires, against the hours the clinic states.
        delegates_here = any(staff.get(t, 0) for t in ("np", "pa", "rn", "esthetician"))
        if f.physician_onsite_always and delegated and delegates_here and onsite_hours:
            hours_here = onsite_hours.get(st.code, 0)
            flag(
                "physician_onsite_hours",
                "warning" if hours_here else "blocking",
                f"{st.name} requires a physician on site whenever a non-physician performs a "
                "delegated procedure: "
                + (
                    f"the {hours_here} on-site hours a month you state there must cover every "
                    "such treatment (or another physician must be present)."
                    if hours_here
                    else "you state no on-site hours there. Add them, or have no delegated "
                    "procedures performed there."
                ),
                citation=st.citation("physician_onsite_when_delegates_treat"),
            )

        # Satellite offices (Florida): who may supervise NPs and PAs at a skin-care office.
        sat = satellite_rule(
            st,
            services=services,
            providers=staff,
            oversight_mode=oversight_mode,
            catalog=catalog,
        )
        if sat is not None:
            boards = " or ".join(s.replace("_", " ") for s in sat.specialties) or "the listed"
            miles = (
                f" within {sat.max_miles} miles of their primary practice" if sat.max_miles else ""
            )
            offices = (
                f"; supervise at most {sat.max_offices} such office" if sat.max_offices else ""
            )
            flag(
                "satellite_office_rule",
                "warning",
                f"{st.name}'s satellite-office rule applies to a physician supervising NPs or "
                "PAs at an office that mainly offers skin care and is not their own practice: "
                f"your director must be board-certified or board-eligible in {boards}, "
                f"practise{miles}{offices}, and post a schedule of the hours they are present. "
                "We match only physicians who meet it; mdmatch does not evaluate the "
                "contiguous-county alternative (the product's conservative reading). On-site "
                "oversight is not a satellite office.",
                citation=sat.citation,
            )

        # Supervision duties the state sets (chart review, site visits), for the staff it has.
        for rule, what in (("chart_review", "chart review"), ("site_visits", "site visits")):
            duties = (st.cited.get(rule) or {}).get("value")
            if not isinstance(duties, list):
                continue
            applying = [
                d["summary"] for d in duties if any(staff.get(t, 0) for t in d["applies_to"])
            ]
            if applying:
                flag(
                    f"{rule}_required",
                    "info",
                    f"{st.name} sets the director's {what}: " + " ".join(applying),
                    citation=st.citation(rule),
                )

        # RNs injecting under delegation while the physician is off site.
        rn_injects = staff.get("rn", 0) > 0 and injectables
        if rn_injects and oversight_mode == "remote":
            onsite_inj = sorted(set(injectables) & set(st.onsite_required_services))
            if onsite_inj and (f.remote_supervision_allowed is False or st.onsite_pinned):
                flag(
                    "rn_injection_requires_onsite",
                    "blocking",
                    f"In {st.name} RNs may inject {_names(onsite_inj, catalog)} only with the "
                    "supervising physician on site. Choose hybrid or on-site oversight, or "
                    "have an NP or PA perform the injections.",
                )
        if (
            rn_injects
            and f.rn_may_inject_neurotoxins_under_delegation is None
            and ("neurotoxins" in requested)
        ):
            flag(
                "rn_injection_requires_onsite",
                "warning",
                f"We could not confirm that {st.name} lets RNs inject neurotoxins under "
                "delegation; confirm with the board before RNs inject, or use an NP or PA.",
            )

        # Estheticians and lasers.
        if staff.get("esthetician", 0) > 0 and energy:
            if f.esthetician_may_use_lasers is False:
                flag(
                    "esthetician_laser_not_permitted",
                    "warning",
                    f"Estheticians may not operate lasers or energy devices in {st.name}: "
                    f"{_names(energy, catalog)} must be performed by licensed nurses, NPs, "
                    "PAs or the physician.",
                )
            elif f.esthetician_may_use_lasers is None:
                flag(
                    "esthetician_laser_not_permitted",
                    "info",
                    f"We could not confirm whether estheticians may operate lasers in "
                    f"{st.name}; check the board's rules before they perform "
                    f"{_names(energy, catalog)}.",
                )

        # Supervision ratios: PAs, NPs and both together, as each is known (or defaulted).
        for kind, cap in st.caps.items():
            count = people.count(kind, cap.counts)
            if cap.limit is None or count <= cap.limit:
                continue
            directors = math.ceil(count / cap.limit)
            label = CAP_LABELS[kind]
            exceptions = f" Exceptions in the rule: {cap.exceptions}" if cap.exceptions else ""
            flag(
                "supervisee_cap_exceeded",
                "warning",
                f"{count:g} {label} exceed {cap.describe(st.name)}: plan for {directors} "
                f"directors or fewer {label}.{exceptions}",
                citation=cap.citation,
            )

        # Good-faith exams.
        gfe = set(f.gfe_required_by)
        mid_levels = [t for t in ("np", "pa") if t in gfe and staff.get(t, 0) > 0]
        if not mid_levels and not physician_performs_services:
            who = "an NP or PA" if gfe & {"np", "pa"} else "a physician"
            flag(
                "gfe_by_director",
                "warning",
                f"No one on staff may perform good-faith exams in {st.name} (it takes {who}): "
                "the medical director will perform them, which adds their time. Add an NP or "
                "PA to your staff if you prefer.",
            )
        elif gfe == {"physician"}:
            flag(
                "gfe_by_director",
                "warning",
                f"In {st.name} only a physician may perform the good-faith exam: the medical "
                "director (or another physician) must see each new patient first.",
            )

        if controlled:
            flag(
                "controlled_substance_dea",
                "info",
                f"{_names(controlled, catalog).capitalize()} involves controlled substances: "
                f"your director needs a DEA registration in {st.name}, which matching requires.",
            )

    unique: dict[tuple[str, str | None, str, str], ComplianceFlag] = {}
    for fl in flags:
        unique.setdefault((fl.code, fl.state, fl.severity, fl.message), fl)
    return sorted(
        unique.values(), key=lambda x: (SEVERITY_ORDER[x.severity], x.state or "", x.code)
    )


def blocking(flags: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in flags if f["severity"] == "blocking"]
