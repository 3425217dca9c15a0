"""The compliance pre-check as a pure function of the request and the state rules."""

from __future__ import annotations

from typing import Any

from app.catalog import rules
from app.catalog.services import service_catalog
from app.clinics.compliance import StateContext, compliance_flags

CATALOG = service_catalog()
SEED = {r["code"]: r for r in rules.seed_rules()[1]}


def ctx(code: str, **overrides: Any) -> StateContext:
    record = {**SEED[code], **overrides}
    f = rules.facts(record)
    return StateContext(
        code=code,
        name=record["name"],
        facts=f,
        onsite_required_services=tuple(rules.onsite_required_services(f, CATALOG)),
        onsite_pinned=False,
        caps=rules.supervisee_caps(record["rules"]),
        cited=record["rules"],
    )


def check(
    states,
    *,
    services=("neurotoxins",),
    providers=None,
    mode="remote",
    ownership="physician_owned",
    performs=False,
):
    return compliance_flags(
        services=list(services),
        providers=providers if providers is not None else {"np": 1},
        oversight_mode=mode,
        ownership_model=ownership,
        physician_performs_services=performs,
        states=[ctx(s) if isinstance(s, str) else s for s in states],
        catalog=CATALOG,
    )


def codes(flags, severity=None):
    return {(f.code, f.state) for f in flags if severity in (None, f.severity)}


def test_non_physician_owner_in_strict_cpom_state_is_blocked():
    flags = check(["CA"], ownership="non_physician_owned")
    assert ("cpom_requires_mso", "CA") in codes(flags, "blocking")
    blocking = next(f for f in flags if f.code == "cpom_requires_mso")
    assert "MSO" in blocking.message
    assert "ownership_model" in blocking.message
    assert ("cpom_requires_mso", "CA") not in codes(check(["CA"], ownership="mso"))


def test_moderate_cpom_is_only_a_warning():
    moderate = next(c for c, r in SEED.items() if r["cpom"] == "moderate")
    flags = check([moderate], ownership="non_physician_owned")
    assert ("cpom_requires_mso", moderate) in codes(flags, "warning")
    assert not codes(flags, "blocking")


def test_unknown_ownership_in_a_strict_cpom_state_says_ownership_decides():
    flags = check(["CA"], ownership=None)
    [flag] = [f for f in flags if f.code == "cpom_ownership_unknown"]
    assert (flag.state, flag.severity) == ("CA", "warning")
    assert "ownership structure decides" in flag.message
    assert "ownership_model" in flag.message
    # Not blocking: the clinic may well be physician-owned; it just has not said.
    assert not codes(flags, "blocking")
    moderate = next(c for c, r in SEED.items() if r["cpom"] == "moderate")
    assert ("cpom_ownership_unknown", moderate) in codes(check([moderate], ownership=None), "info")
    permissive = next(c for c, r in SEED.items() if r["cpom"] == "permissive")
    assert "cpom_ownership_unknown" not in {f.code for f in check([permissive], ownership=None)}
    for known in ("physician_owned", "mso", "non_physician_owned"):
        assert "cpom_ownership_unknown" not in {f.code for f in check(["CA"], ownership=known)}


def test_only_rns_means_the_director_does_good_faith_exams():
    flags = check(["TX"], providers={"rn": 3})
    assert ("gfe_by_director", "TX") in codes(flags, "warning")
    assert not codes(flags, "blocking")
    assert ("gfe_by_director", "TX") not in codes(check(["TX"], providers={"rn": 3, "np": 1}))
    assert ("gfe_by_director", "TX") not in codes(check(["TX"], providers={"rn": 3}, performs=True))


def test_physician_only_gfe_state_always_warns():
    md = next(c for c, r in SEED.items() if r["gfe_required_by"] == ["physician"])
    assert ("gfe_by_director", md) in codes(check([md], providers={"np": 2}), "warning")


def test_remote_where_remote_supervision_is_forbidden_is_blocked():
    flags = check(["FL"], providers={"rn": 2, "np": 1}, services=("neurotoxins", "microneedling"))
    blocking = codes(flags, "blocking")
    assert ("remote_supervision_not_permitted", "FL") in blocking
    assert ("rn_injection_requires_onsite", "FL") in blocking
    hybrid = check(["FL"], providers={"rn": 2, "np": 1}, mode="hybrid")
    assert not codes(hybrid, "blocking")


def _unknown_remote_state() -> str:
    return next(c for c, r in sorted(SEED.items()) if r["remote_supervision_allowed"] is None)


def test_unknown_remote_rule_is_never_silent():
    state = _unknown_remote_state()
    # Risky services: matched on site (the product's conservative reading), with a warning.
    assert ("remote_supervision_unknown", state) in codes(check([state]), "warning")
    # Low-risk services only: matched remotely by the product's default, and it says so.
    low_risk = check([state], services=("laser_hair_removal", "microneedling"))
    [flag] = [f for f in low_risk if f.code == "remote_supervision_unknown"]
    assert flag.severity == "warning"
    assert "default, not because the state's law allows it" in flag.message
    assert flag.citation is None  # nothing to cite: the rule is unknown
    assert not codes(check([state], providers={"rn": 1}), "blocking")
    # Hybrid oversight does not depend on the unknown rule.
    assert ("remote_supervision_unknown", state) not in codes(check([state], mode="hybrid"))


def test_a_physician_on_site_rule_blocks_remote_oversight_with_its_citation():
    md = ctx("MD")
    assert md.facts.physician_onsite_always is True
    flags = check([md], services=("laser_hair_removal",), providers={"np": 1})
    [flag] = [f for f in flags if f.code == "remote_supervision_not_permitted"]
    assert flag.severity == "blocking"
    assert flag.citation == SEED["MD"]["rules"]["physician_onsite_when_delegates_treat"]["citation"]
    assert "10.32.09" in flag.citation


def test_an_unknown_physician_on_site_rule_is_a_warning():
    state = next(
        c
        for c, r in sorted(SEED.items())
        if r["rules"]["physician_onsite_when_delegates_treat"]["value"] is None
        and r["remote_supervision_allowed"] is not False
    )
    flags = check([state], providers={"rn": 1, "np": 1})
    assert ("physician_onsite_rule_unknown", state) in codes(flags, "warning")
    assert ("physician_onsite_rule_unknown", state) not in codes(
        check([state], providers={"rn": 1, "np": 1}, mode="onsite")
    )


def test_chart_review_and_site_visit_duties_are_named_with_their_citation():
    flags = check(["TN"], providers={"np": 2})
    [review] = [f for f in flags if f.code == "chart_review_required"]
    assert review.severity == "info"
    assert "20%" in review.message
    assert "0880-06-.02" in (review.citation or "")
    # The duties apply to the NPs they name: a clinic with only RNs has none of them.
    assert "chart_review_required" not in {f.code for f in check(["TN"], providers={"rn": 2})}


def test_ops_pinned_onsite_list_is_a_known_requirement():
    pinned = ctx("TX")
    pinned = StateContext(
        **{**pinned.__dict__, "onsite_required_services": ("neurotoxins",), "onsite_pinned": True}
    )
    flags = check([pinned], providers={"rn": 1, "np": 1})
    assert ("remote_supervision_not_permitted", "TX") in codes(flags, "blocking")


def test_estheticians_with_lasers():
    flags = check(["CA"], services=("laser_hair_removal",), providers={"esthetician": 2, "np": 1})
    assert ("esthetician_laser_not_permitted", "CA") in codes(flags, "warning")
    unknown = next(c for c, r in SEED.items() if r["esthetician_may_use_lasers"] is None)
    flags = check([unknown], services=("ipl",), providers={"esthetician": 1, "np": 1})
    assert ("esthetician_laser_not_permitted", unknown) in codes(flags, "info")
    assert not any(
        f.code == "esthetician_laser_not_permitted"
        for f in check(["TX"], services=("ipl",), providers={"esthetician": 1, "np": 1})
    )


def test_supervisee_caps():
    flags = check(["TX"], providers={"pa": 9, "np": 1})
    cap_flags = [f for f in flags if f.code == "supervisee_cap_exceeded"]
    messages = " | ".join(f.message for f in cap_flags)
    assert all(f.severity == "warning" for f in cap_flags)
    assert "9 PAs exceed Texas's limit of 7 PAs per physician" in messages
    assert "2 directors" in messages
    # Texas combines NPs and PAs: 9 + 1 against seven, counted as full-time equivalents.
    assert "10 NPs and PAs together exceed Texas's limit of 7" in messages
    assert "full-time equivalents" in messages
    assert all("157.0512" in (f.citation or "") for f in cap_flags)
    # Full practice authority: no NP cap at all.
    assert not any(f.code == "supervisee_cap_exceeded" for f in check(["AK"], providers={"np": 30}))


def test_the_texas_probe_five_nps_and_five_pas_is_flagged():
    flags = check(["TX"], providers={"pa": 5, "np": 5})
    [flag] = [f for f in flags if f.code == "supervisee_cap_exceeded"]
    assert flag.message.startswith("10 NPs and PAs together exceed Texas's limit of 7")
    assert "underserved" in flag.message  # the rule's exceptions are named


def test_a_default_cap_is_never_called_the_states_law():
    state, record = next(
        (c, r)
        for c, r in sorted(SEED.items())
        if r["rules"]["pa_supervision_ratio"]["value"] is None
    )
    flags = check([state], providers={"pa": rules.DEFAULT_SUPERVISEE_CAP + 1})
    [flag] = [
        f for f in flags if f.code == "supervisee_cap_exceeded" and f.message.split()[1] == "PAs"
    ]
    assert f"mdmatch's default limit of {rules.DEFAULT_SUPERVISEE_CAP} PAs" in flag.message
    assert f"{record['name']}'s own limit is unknown" in flag.message
    assert f"{record['name']}'s limit of" not in flag.message
    assert flag.citation is None


def test_a_pa_cap_does_not_depend_on_np_authority():
    state = next(
        c
        for c, r in sorted(SEED.items())
        if r["np_practice_authority"] == "full"
        and r["rules"]["pa_supervision_ratio"]["value"] is None
    )
    flags = check([state], providers={"pa": rules.DEFAULT_SUPERVISEE_CAP + 2})
    assert ("supervisee_cap_exceeded", state) in codes(flags, "warning")


def test_controlled_substances_need_dea_info():
    flags = check(["TX", "NY"], services=("hormone_therapy",))
    assert {("controlled_substance_dea", "TX"), ("controlled_substance_dea", "NY")} <= codes(
        flags, "info"
    )


def test_flags_are_sorted_blocking_first_and_unique():
    flags = check(["FL", "FL", "CA"], ownership="non_physician_owned", providers={"rn": 1})
    order = [f.severity for f in flags]
    assert order == sorted(order, key=["blocking", "warning", "info"].index)
    assert len(flags) == len({(f.code, f.state, f.severity) for f in flags})
