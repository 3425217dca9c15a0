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
        pa_cap=rules.effective_pa_cap(f),
        np_cap=rules.effective_np_cap(f),
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


def test_unknown_remote_rule_warns_for_risky_services_only():
    assert ("remote_supervision_unknown", "AK") in codes(check(["AK"]), "warning")
    low_risk = check(["AK"], services=("laser_hair_removal", "microneedling"))
    assert ("remote_supervision_unknown", "AK") not in codes(low_risk)
    assert not codes(check(["AK"], providers={"rn": 1}), "blocking")


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
    flag = next(f for f in flags if f.code == "supervisee_cap_exceeded")
    assert flag.severity == "warning"
    assert "9 PAs exceed Texas's limit of 7" in flag.message
    assert "2 directors" in flag.message
    # Full practice authority: no NP cap at all.
    assert not any(f.code == "supervisee_cap_exceeded" for f in check(["AK"], providers={"np": 30}))


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
