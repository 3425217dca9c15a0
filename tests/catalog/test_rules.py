"""The pure derivations on state rules (no database)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.catalog import rules
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


def test_seed_has_51_jurisdictions_in_api_shape():
    by_code = seed_by_code()
    assert len(by_code) == 51
    assert "DC" in by_code
    tx = by_code["TX"]
    assert tx["pa_supervision_ratio"] == 7
    assert tx["notable_rules"].startswith("Texas Medical Board")
    # "unknown" in the research becomes null, never false.
    assert by_code["AK"]["remote_supervision_allowed"] is None
    assert by_code["FL"]["remote_supervision_allowed"] is False
    assert by_code["NJ"]["rn_may_inject_neurotoxins_under_delegation"] is None


def test_catalog_covers_the_contract_codes():
    catalog = service_catalog()
    assert set(catalog) >= API_SERVICE_CODES
    assert catalog["hormone_therapy"].controlled_substance
    assert all(1 <= s.risk_tier <= 3 for s in catalog.values())


@pytest.mark.parametrize(("code", "tier"), [("CA", 3), ("FL", 3), ("TX", 2), ("AK", 1), ("AZ", 1)])
def test_oversight_tier_of_known_states(code, tier):
    assert rules.oversight_tier(rules.facts(seed_by_code()[code])) == tier


def test_onsite_services_follow_remote_supervision_rule():
    catalog = service_catalog()
    by_code = seed_by_code()
    procedures = {c for c, s in catalog.items() if s.delegated_procedure}
    # FL: remote supervision known not allowed → every delegated procedure on site.
    assert set(rules.onsite_required_services(rules.facts(by_code["FL"]), catalog)) == procedures
    # Unknown (AK): remote only for low-risk work.
    ak = set(rules.onsite_required_services(rules.facts(by_code["AK"]), catalog))
    assert "neurotoxins" in ak
    assert "laser_hair_removal" not in ak
    # Allowed (TX): only what boards commonly expect on site.
    tx = set(rules.onsite_required_services(rules.facts(by_code["TX"]), catalog))
    assert tx == {c for c, s in catalog.items() if s.commonly_onsite}
    # Prescribing programmes are never on the list.
    for code in ("FL", "AK", "TX"):
        listed = rules.onsite_required_services(rules.facts(by_code[code]), catalog)
        assert "glp1_weight_loss" not in listed


def test_supervisee_caps():
    by_code = seed_by_code()
    tx, ak, oh = (rules.facts(by_code[c]) for c in ("TX", "AK", "OH"))
    assert (rules.effective_pa_cap(tx), rules.effective_np_cap(tx)) == (7, 7)
    # Full practice authority: NPs need no collaborating physician, so no NP cap.
    assert rules.effective_np_cap(ak) is None
    # Reduced state with an unknown PA cap: the configurable default applies.
    assert oh.pa_supervision_ratio is None
    assert rules.effective_pa_cap(oh, default_cap=3) == 3
    assert rules.effective_np_cap(oh) == 5


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
