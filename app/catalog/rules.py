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

Supervisee caps: where a state publishes a PA or NP ratio it applies; where NPs practise with
full authority no NP cap applies (no collaboration is needed); where a reduced or restricted
state's cap is unknown (null), `DEFAULT_SUPERVISEE_CAP` applies until the figure is verified.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

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
        if r.remote_supervision_allowed is False:
            return True
        if r.remote_supervision_allowed is None:
            return s.risk_tier > 1
        return s.commonly_onsite

    return sorted(code for code, s in catalog.items() if required(s))


def effective_pa_cap(r: RuleFacts, default_cap: int = DEFAULT_SUPERVISEE_CAP) -> int | None:
    if r.pa_supervision_ratio is not None:
        return r.pa_supervision_ratio
    return None if r.np_practice_authority == "full" else default_cap


def effective_np_cap(r: RuleFacts, default_cap: int = DEFAULT_SUPERVISEE_CAP) -> int | None:
    if r.np_practice_authority == "full":
        return None
    return r.np_collaboration_ratio if r.np_collaboration_ratio is not None else default_cap


@cache
def seed_rules() -> tuple[str, tuple[dict[str, Any], ...]]:
    """(data version, the 51 research records in API shape)."""
    raw = json.loads(resources.files("app.catalog").joinpath("data/state_rules.json").read_text())
    return raw["version"], tuple(to_api_record(s) for s in raw["states"])


def to_api_record(s: dict[str, Any]) -> dict[str, Any]:
    """A research record with the API's names and types (`state` → `code`, "unknown" → null)."""
    return {
        "code": s["state"],
        "name": s["name"],
        "np_practice_authority": s["np_practice_authority"],
        "cpom": s["cpom"],
        "pa_supervision_ratio": s["pa_supervision_ratio"],
        "np_collaboration_ratio": s["np_collaboration_ratio"],
        "remote_supervision_allowed": tri_state(s["remote_supervision_allowed"]),
        "gfe_required_by": list(s["gfe_required_by"]),
        "rn_may_inject_neurotoxins_under_delegation": tri_state(
            s["rn_may_inject_neurotoxins_under_delegation"]
        ),
        "esthetician_may_use_lasers": tri_state(s["esthetician_may_use_lasers"]),
        "chart_review_min_percent": s["chart_review_min_percent"],
        "notable_rules": s["notable_med_spa_rules"],
        "sources": list(s["sources"]),
        "confidence": s["confidence"],
        "caveats": s.get("caveats") or "",
    }


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
    )
