"""State rules: the research data (data/state_rules.json) and the values derived from it.

Pure functions of a rule record, so they are tested without a database and recomputed whenever
operations edit a state.

`oversight_tier` (1 light - 3 strict) adds points for each rule that makes supervision heavier:

| rule | points |
|---|---|
| np_practice_authority | full 0, reduced 1, restricted 2 |
| cpom | permissive 0, moderate 1, strict 2 |
| remote_supervision_allowed | true 0, unknown 1, false 2 |
| rn_may_inject_neurotoxins_under_delegation | true 0, unknown 1, false 2 |
| esthetician_may_use_lasers | true or unknown 0, false 1 |
| gfe_required_by | physician only 1, else 0 |
| chart_review_min_percent | set 1, null 0 |

0-2 points is tier 1, 3-4 tier 2, 5 or more tier 3.

`onsite_required_services`: the delegated procedures a physician must supervise on site.
- remote supervision `false`: every delegated procedure;
- `unknown`: every delegated procedure above risk tier 1 (remote only for low-risk work);
- `true`: the procedures boards commonly expect on site (`commonly_onsite` in the catalog).
Prescribing programmes (GLP-1, hormones, prescription skincare) are never in the list.

Supervisee caps (`supervisee_caps`, from the cited rules): PA, NP and combined caps apply as the
state's law sets them (heads or full-time equivalents, with the citation); a known absence sets
none; NPs with full practice authority need no collaborating physician; a cap the data does not
know takes `DEFAULT_SUPERVISEE_CAP` (configurable), which messages call the product's default,
never the state's law. A PA cap never depends on NPs' practice authority.

`physician_onsite_when_delegates_treat` (e.g. Maryland) puts every delegated procedure on site.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from app.catalog.dataset import MED_SPA_FIELDS, Dataset, StateRecord
from app.catalog.services import ServiceDef

UNKNOWN = "unknown"
DEFAULT_SUPERVISEE_CAP = 4

_NP_POINTS = {"full": 0, "reduced": 1, "restricted": 2}
_CPOM_POINTS = {"permissive": 0, "moderate": 1, "strict": 2}


def tri_state(value: Any) -> bool | None:
    """The data's true/false/"unknown" as the API's bool|null (null = unknown)."""
    if value is True or value is False:
        return bool(value)
    if value is None or value == UNKNOWN:
        return None
    raise ValueError(f"expected true, false or 'unknown', got {value!r}")


def _unknown_true_false(value: bool | None, *, unknown: int, false: int) -> int:
    if value is None:
        return unknown
    return 0 if value else false


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """The rule fields the derivations read (API field names and types)."""

    np_practice_authority: str
    cpom: str
    remote_supervision_allowed: bool | None
    rn_may_inject_neurotoxins_under_delegation: bool | None
    esthetician_may_use_lasers: bool | None
    gfe_required_by: tuple[str, ...]
    chart_review_min_percent: float | None
    pa_supervision_ratio: int | None
    np_collaboration_ratio: int | None
    # A physician on site whenever a delegate treats (e.g. Maryland); None = unknown.
    physician_onsite_always: bool | None = None


def oversight_points(r: RuleFacts) -> int:
    return (
        _NP_POINTS[r.np_practice_authority]
        + _CPOM_POINTS[r.cpom]
        + _unknown_true_false(r.remote_supervision_allowed, unknown=1, false=2)
        + _unknown_true_false(r.rn_may_inject_neurotoxins_under_delegation, unknown=1, false=2)
        + _unknown_true_false(r.esthetician_may_use_lasers, unknown=0, false=1)
        + (1 if set(r.gfe_required_by) == {"physician"} else 0)
        + (1 if r.chart_review_min_percent is not None else 0)
    )


def oversight_tier(r: RuleFacts) -> int:
    points = oversight_points(r)
    if points <= 2:
        return 1
    if points <= 4:
        return 2
    return 3


def onsite_required_services(r: RuleFacts, catalog: dict[str, ServiceDef]) -> list[str]:
    def required(s: ServiceDef) -> bool:
        if not s.delegated_procedure:
            return False
        if r.remote_supervision_allowed is False or r.physician_onsite_always:
            return True
        if r.remote_supervision_allowed is None:
            return s.risk_tier > 1
        return s.commonly_onsite

    return sorted(code for code, s in catalog.items() if required(s))


SuperviseeKind = Literal["pa", "np", "combined"]
CapBasis = Literal["law", "no_cap_in_law", "full_practice", "default"]
_CAP_FIELDS: dict[str, str] = {
    "pa": "pa_supervision_ratio",
    "np": "np_collaboration_ratio",
    "combined": "combined_supervisee_cap",
}
CAP_LABELS: dict[str, str] = {"pa": "PAs", "np": "NPs", "combined": "NPs and PAs together"}


@dataclass(frozen=True, slots=True)
class Cap:
    """How many supervisees of one kind one physician may have in a state, and on what basis:
    the state's law (with its citation), a known absence of any cap, NPs' full practice
    authority, or (the state's rule unknown) the product's conservative default."""

    kind: str
    limit: int | None
    counts: str
    basis: CapBasis
    citation: str | None = None
    exceptions: str | None = None

    def describe(self, state_name: str) -> str:
        """The cap in words, saying whose rule it is."""
        label = CAP_LABELS[self.kind]
        if self.basis == "default":
            return (
                f"mdmatch's default limit of {self.limit} {label} per physician (the product's "
                f"conservative default: {state_name}'s own limit is unknown)"
            )
        unit = " (counted as full-time equivalents)" if self.counts == "fte" else ""
        cited = f" ({self.citation})" if self.citation else ""
        return f"{state_name}'s limit of {self.limit} {label} per physician{unit}{cited}"


def supervisee_caps(
    cited: Mapping[str, Mapping[str, Any]], default_cap: int = DEFAULT_SUPERVISEE_CAP
) -> dict[str, Cap]:
    """The PA, NP and combined caps a state's cited rules set. A PA cap never depends on NPs'
    practice authority; NPs with full practice authority need no collaborating physician; a cap
    the data does not know takes `default_cap`, marked as the product's default."""
    out: dict[str, Cap] = {}
    for kind, field in _CAP_FIELDS.items():
        fact = cited.get(field) or {}
        value = fact.get("value")
        authority = cited.get("np_practice_authority") or {}
        if kind == "np" and authority.get("value") == "full":
            out[kind] = Cap(kind, None, "heads", "full_practice", authority.get("citation"))
        elif isinstance(value, dict):
            out[kind] = Cap(
                kind,
                int(value["max"]),
                str(value["counts"]),
                "law",
                fact.get("citation"),
                value.get("exceptions"),
            )
        elif value == "none":
            out[kind] = Cap(kind, None, "heads", "no_cap_in_law", fact.get("citation"))
        else:
            out[kind] = Cap(kind, default_cap, "heads", "default")
    return out


@cache
def dataset() -> Dataset:
    """The versioned research data (data/state_rules.json), validated."""
    raw = resources.files("app.catalog").joinpath("data/state_rules.json").read_text()
    return Dataset.model_validate(json.loads(raw))


@cache
def seed_rules() -> tuple[str, tuple[dict[str, Any], ...]]:
    """(data version, the 51 records in API shape: the legacy flat fields plus `rules`)."""
    data = dataset()
    return data.version, tuple(to_api_record(s) for s in data.states)


def to_api_record(s: StateRecord) -> dict[str, Any]:
    cited = {name: fact.model_dump(mode="json") for name, fact in s.rules.items()}
    return {
        "code": s.code,
        "name": s.name,
        **project(cited),
        "notable_rules": s.notable_rules,
        "caveats": s.caveats,
        "rules": cited,
    }


# --- the legacy flat fields, projected from the cited facts -------------------------------------

# When a state's rule is unknown, the flat field the engine reads takes the product's
# conservative default (listed in `defaults_applied`), never "allowed".
CONSERVATIVE_DEFAULTS: dict[str, Any] = {
    "np_practice_authority": "restricted",
    "cpom": "strict",
    "gfe_required_by": ["physician"],
}
_CONFIDENCE_RANK = {"high": 2, "medium": 1, "low": 0}


def _ratio_max(value: Any) -> int | None:
    return int(value["max"]) if isinstance(value, dict) else None


def _bool_from(value: Any, mapping: dict[str, bool]) -> bool | None:
    return None if value is None else mapping[value]


def project(cited: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The flat fields of the original API, computed from the cited facts.

    Ratios give their maximum (null when there is no numeric cap *or* it is unknown: the
    `rules` entry tells which); `remote_supervision_allowed` is the injectables rule;
    `chart_review_min_percent` the highest percentage any chart-review rule sets.
    """

    def v(name: str) -> Any:
        return cited[name]["value"]

    percents = [
        float(r["percent"])
        for r in (v("chart_review") if isinstance(v("chart_review"), list) else [])
        if r.get("percent") is not None
    ]
    gfe = v("gfe_performers")
    flat: dict[str, Any] = {
        "np_practice_authority": v("np_practice_authority"),
        "cpom": v("cpom"),
        "pa_supervision_ratio": _ratio_max(v("pa_supervision_ratio")),
        "np_collaboration_ratio": _ratio_max(v("np_collaboration_ratio")),
        "remote_supervision_allowed": _bool_from(
            v("supervision_injectables"), {"remote": True, "onsite": False}
        ),
        "gfe_required_by": (
            [r for r in ("physician", "np", "pa") if r in gfe] if gfe is not None else None
        ),
        "rn_may_inject_neurotoxins_under_delegation": v("rn_injects_neurotoxins_fillers"),
        "esthetician_may_use_lasers": _bool_from(
            v("esthetician_lasers"),
            {"prohibited": False, "limited": True, "under_delegation": True},
        ),
        "chart_review_min_percent": max(percents) if percents else None,
    }
    defaults = sorted(k for k, d in CONSERVATIVE_DEFAULTS.items() if not flat[k])
    for k in defaults:
        flat[k] = CONSERVATIVE_DEFAULTS[k]
    urls = [f["url"] for f in cited.values() if f.get("url") and f["value"] is not None]
    flat["sources"] = list(dict.fromkeys(urls))
    flat["confidence"] = min(
        (
            (cited[k].get("confidence") or "low") if cited[k]["value"] is not None else "low"
            for k in MED_SPA_FIELDS
        ),
        key=_CONFIDENCE_RANK.__getitem__,
    )
    flat["defaults_applied"] = defaults
    return flat


def facts(record: Any) -> RuleFacts:
    """RuleFacts from anything with the API's attribute or key names."""
    get: Callable[[str], Any] = (
        record.get if isinstance(record, dict) else (lambda k: getattr(record, k))
    )
    return RuleFacts(
        np_practice_authority=get("np_practice_authority"),
        cpom=get("cpom"),
        remote_supervision_allowed=get("remote_supervision_allowed"),
        rn_may_inject_neurotoxins_under_delegation=get(
            "rn_may_inject_neurotoxins_under_delegation"
        ),
        esthetician_may_use_lasers=get("esthetician_may_use_lasers"),
        gfe_required_by=tuple(get("gfe_required_by")),
        chart_review_min_percent=get("chart_review_min_percent"),
        pa_supervision_ratio=get("pa_supervision_ratio"),
        np_collaboration_ratio=get("np_collaboration_ratio"),
        physician_onsite_always=_cited_value(record, "physician_onsite_when_delegates_treat"),
    )


def _cited_value(record: Any, field: str) -> Any:
    cited = record.get("rules") if isinstance(record, dict) else getattr(record, "rules", None)
    if not isinstance(cited, Mapping):
        return None
    return (cited.get(field) or {}).get("value")


# --- operations' edits through the flat fields ---------------------------------------------------


def _ratio_from(flat: int | None, current: Any) -> Any:
    if flat is None:
        return None
    kept = current if isinstance(current, dict) else {"counts": "heads"}
    return {**kept, "max": flat}


def _lasers_from(flat: bool | None, current: Any) -> Any:
    if flat is None:
        return None
    if not flat:
        return "prohibited"
    return current if current in ("limited", "under_delegation") else "limited"


def _gfe_from(flat: list[str], current: Any) -> list[str]:
    extra = [r for r in (current or []) if r not in ("physician", "np", "pa")]
    return [*flat, *extra]


def _chart_review_from(flat: float | None, current: Any) -> Any:
    if flat is None:
        return None
    if flat == 0:
        return "none"  # a minimum of nothing: the state sets no chart-review minimum
    return [
        {
            "applies_to": ["np", "pa"],
            "percent": flat,
            "summary": f"At least {flat:g}% of charts (set by operations)",
        }
    ]


# flat field → (cited field, its new value from the flat value and the cited one)
FLAT_TO_CITED: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "np_practice_authority": ("np_practice_authority", lambda f, _c: f),
    "cpom": ("cpom", lambda f, _c: f),
    "pa_supervision_ratio": ("pa_supervision_ratio", _ratio_from),
    "np_collaboration_ratio": ("np_collaboration_ratio", _ratio_from),
    "remote_supervision_allowed": (
        "supervision_injectables",
        lambda f, _c: None if f is None else ("remote" if f else "onsite"),
    ),
    "gfe_required_by": ("gfe_performers", _gfe_from),
    "rn_may_inject_neurotoxins_under_delegation": (
        "rn_injects_neurotoxins_fillers",
        lambda f, _c: f,
    ),
    "esthetician_may_use_lasers": ("esthetician_lasers", _lasers_from),
    "chart_review_min_percent": ("chart_review", _chart_review_from),
}


def cited_from_flat(
    flat: dict[str, Any], cited: dict[str, dict[str, Any]], *, provenance: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The cited facts that flat values change: a flat value equal to what the cited facts
    already project changes nothing; any other becomes a fact with `provenance` (citation,
    url, confidence, checked_on, note)."""
    current = project(cited)
    changed: dict[str, dict[str, Any]] = {}
    for name, (field, translate) in FLAT_TO_CITED.items():
        if name not in flat or flat[name] == current[name]:
            continue
        value = translate(flat[name], cited[field]["value"])
        if value is None:
            changed[field] = {
                "value": None,
                "checked_on": provenance["checked_on"],
                "note": provenance["note"] + " (set to unknown)",
            }
        else:
            changed[field] = {"value": value, **provenance}
    return changed
