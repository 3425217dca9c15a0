"""The pure derivations on state rules (no database)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.catalog import rules
from app.catalog.dataset import FIELDS
from app.catalog.services import service_catalog

API_SERVICE_CODES = {
    "neurotoxins",
    "dermal_fillers",
    "laser_hair_removal",
    "laser_resurfacing",
    "ipl",
    "rf_microneedling",
    "microneedling",
    "chemical_peels",
    "chemical_peels_medium",
    "chemical_peels_deep",
    "prp",
    "iv_therapy",
    "glp1_weight_loss",
    "hormone_therapy",
    "sclerotherapy",
    "kybella",
    "thread_lifts",
    "ultrasound_tightening",
    "cryolipolysis",
    "tattoo_removal",
    "prescription_skincare",
}


def seed_by_code() -> dict[str, dict[str, Any]]:
    return {r["code"]: r for r in rules.seed_rules()[1]}


LIGHT = rules.RuleFacts(
    np_practice_authority="full",
    cpom="permissive",
    remote_supervision_allowed=True,
    rn_may_inject_neurotoxins_under_delegation=True,
    esthetician_may_use_lasers=True,
    gfe_required_by=("physician", "np", "pa"),
    chart_review_min_percent=None,
    pa_supervision_ratio=None,
    np_collaboration_ratio=None,
)


def test_seed_has_51_jurisdictions_in_api_shape():
    by_code = seed_by_code()
    assert len(by_code) == 51
    assert "DC" in by_code
    for record in by_code.values():
        assert set(record["rules"]) == set(FIELDS)
        assert record["np_practice_authority"] in ("full", "reduced", "restricted")
        cap = record["rules"]["pa_supervision_ratio"]["value"]
        assert record["pa_supervision_ratio"] == (cap["max"] if isinstance(cap, dict) else None)


def test_catalog_covers_the_contract_codes():
    catalog = service_catalog()
    assert set(catalog) >= API_SERVICE_CODES
    assert catalog["hormone_therapy"].controlled_substance
    assert all(1 <= s.risk_tier <= 3 for s in catalog.values())


@pytest.mark.parametrize(
    ("changes", "tier"),
    [
        ({}, 1),  # 0 points
        ({"np_practice_authority": "reduced", "cpom": "moderate"}, 1),  # 2
        ({"np_practice_authority": "restricted", "remote_supervision_allowed": None}, 2),  # 3
        (
            {"cpom": "strict", "gfe_required_by": ("physician",), "chart_review_min_percent": 10.0},
            2,
        ),
        (
            {
                "np_practice_authority": "restricted",
                "cpom": "strict",
                "remote_supervision_allowed": False,
            },
            3,
        ),  # 6
    ],
)
def test_oversight_tier_from_points(changes, tier):
    assert rules.oversight_tier(dataclasses.replace(LIGHT, **changes)) == tier


def test_onsite_services_follow_remote_supervision_rule():
    catalog = service_catalog()
    procedures = {c for c, s in catalog.items() if s.delegated_procedure}
    forbidden = dataclasses.replace(LIGHT, remote_supervision_allowed=False)
    unknown = dataclasses.replace(LIGHT, remote_supervision_allowed=None)
    # Remote supervision known not allowed: every delegated procedure on site.
    assert set(rules.onsite_required_services(forbidden, catalog)) == procedures
    # Unknown: remote only for low-risk work.
    listed = set(rules.onsite_required_services(unknown, catalog))
    assert "neurotoxins" in listed
    assert "laser_hair_removal" not in listed
    # Allowed: only what boards commonly expect on site.
    allowed = set(rules.onsite_required_services(LIGHT, catalog))
    assert allowed == {c for c, s in catalog.items() if s.commonly_onsite}
    # Prescribing programmes are never on the list.
    for f in (forbidden, unknown, LIGHT):
        assert "glp1_weight_loss" not in rules.onsite_required_services(f, catalog)


def _fact(value: Any, citation: str = "Test Code §1") -> dict[str, Any]:
    return {"value": value, "citation": citation if value is not None else None}


@pytest.mark.parametrize(
    ("authority", "pa", "np", "combined", "expected"),
    [
        # Texas: seven, or the FTE equivalent, for PAs, NPs and both together.
        (
            "restricted",
            {"max": 7, "counts": "fte"},
            {"max": 7, "counts": "fte"},
            {"max": 7, "counts": "fte"},
            {"pa": (7, "law"), "np": (7, "law"), "combined": (7, "law")},
        ),
        # Full practice authority: no NP cap; an unknown PA cap still takes the default.
        (
            "full",
            None,
            "none",
            "none",
            {
                "pa": (3, "default"),
                "np": (None, "full_practice"),
                "combined": (None, "no_cap_in_law"),
            },
        ),
        # A known absence is no cap; an unknown cap is the default, whatever NPs may do.
        (
            "reduced",
            "none",
            None,
            None,
            {"pa": (None, "no_cap_in_law"), "np": (3, "default"), "combined": (3, "default")},
        ),
    ],
)
def test_supervisee_caps(authority, pa, np, combined, expected):
    cited = {
        "np_practice_authority": _fact(authority),
        "pa_supervision_ratio": _fact(pa),
        "np_collaboration_ratio": _fact(np),
        "combined_supervisee_cap": _fact(combined),
    }
    caps = rules.supervisee_caps(cited, default_cap=3)
    assert {k: (c.limit, c.basis) for k, c in caps.items()} == expected
    for cap in caps.values():
        if cap.basis == "law":
            assert cap.citation == "Test Code §1"
            assert "Test Code §1" in cap.describe("Texas")
        if cap.basis == "default":
            assert cap.citation is None
            assert "mdmatch's default" in cap.describe("Texas")
            assert "Texas's own limit is unknown" in cap.describe("Texas")


def test_fte_caps_say_so():
    cap = rules.Cap("combined", 7, "fte", "law", "22 Tex. Admin. Code §193.7(d)")
    assert cap.describe("Texas") == (
        "Texas's limit of 7 NPs and PAs together per physician (counted as full-time "
        "equivalents) (22 Tex. Admin. Code §193.7(d))"
    )


def test_a_physician_on_site_rule_puts_every_delegated_procedure_on_site():
    catalog = service_catalog()
    procedures = {c for c, s in catalog.items() if s.delegated_procedure}
    onsite = dataclasses.replace(LIGHT, physician_onsite_always=True)
    assert set(rules.onsite_required_services(onsite, catalog)) == procedures


STRICTER: dict[str, list[Any]] = {
    "np_practice_authority": ["full", "reduced", "restricted"],
    "cpom": ["permissive", "moderate", "strict"],
    "remote_supervision_allowed": [True, None, False],
    "rn_may_inject_neurotoxins_under_delegation": [True, None, False],
    "esthetician_may_use_lasers": [True, None, False],
}

facts_strategy = st.builds(
    rules.RuleFacts,
    np_practice_authority=st.sampled_from(STRICTER["np_practice_authority"]),
    cpom=st.sampled_from(STRICTER["cpom"]),
    remote_supervision_allowed=st.sampled_from(STRICTER["remote_supervision_allowed"]),
    rn_may_inject_neurotoxins_under_delegation=st.sampled_from([True, None, False]),
    esthetician_may_use_lasers=st.sampled_from([True, None, False]),
    gfe_required_by=st.sampled_from([("physician",), ("physician", "np", "pa")]),
    chart_review_min_percent=st.sampled_from([None, 10.0]),
    pa_supervision_ratio=st.sampled_from([None, 4, 8]),
    np_collaboration_ratio=st.sampled_from([None, 4]),
)


@given(facts_strategy, st.sampled_from(sorted(STRICTER)))
def test_a_stricter_rule_never_lowers_the_tier(facts, field):
    ladder = STRICTER[field]
    current = ladder.index(getattr(facts, field))
    for stricter in ladder[current:]:
        tightened = dataclasses.replace(facts, **{field: stricter})
        assert rules.oversight_tier(tightened) >= rules.oversight_tier(facts)
        assert set(rules.onsite_required_services(tightened, service_catalog())) >= (
            set(rules.onsite_required_services(facts, service_catalog()))
            if field == "remote_supervision_allowed"
            else set()
        )


def test_tri_state_rejects_garbage():
    with pytest.raises(ValueError, match="unknown"):
        rules.tri_state("maybe")


def test_catalog_review_tiers_and_rationales():
    catalog = service_catalog()
    assert all(len(s.rationale) > 40 for s in catalog.values())
    glp1 = catalog["glp1_weight_loss"]
    assert (glp1.injectable, glp1.prescription, glp1.delegated_procedure) == (True, True, False)
    peels = {
        c: catalog[c] for c in ("chemical_peels", "chemical_peels_medium", "chemical_peels_deep")
    }
    assert [p.risk_tier for p in peels.values()] == [1, 2, 3]
    assert [p.commonly_onsite for p in peels.values()] == [False, False, True]
