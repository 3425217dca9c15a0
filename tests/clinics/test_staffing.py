"""Who works where, counted per state (pure)."""

from __future__ import annotations

import uuid

from app.catalog import rules
from app.clinics.staffing import Charge, Staffing
from app.kit.clock import today
from app.matching import constraints as mc

ROSTER = [
    {"type": "np", "fte": 0.5, "states": ["TX"]},
    {"type": "np", "fte": 0.5, "states": ["TX"]},
    {"type": "pa", "fte": 1.0, "states": ["TX", "FL"]},
    {"type": "pa", "fte": 0.3, "states": ["FL"]},
    {"type": "rn", "fte": 0.75, "states": ["FL"]},
]


def test_people_count_in_each_state_they_work_in_and_once_across_states():
    staffing = Staffing.from_json(ROSTER)
    tx, fl, both = (staffing.in_states(s) for s in (["TX"], ["FL"], ["TX", "FL"]))
    assert (tx.count("np", "heads"), tx.count("np", "fte")) == (2, 1.0)
    assert (tx.count("combined", "heads"), tx.count("combined", "fte")) == (3, 2.0)
    assert (fl.count("pa", "heads"), fl.count("pa", "fte")) == (2, 1.3)
    assert fl.count("combined", "heads") == 2
    # The PA working in both states is one person to a director covering both.
    assert (both.count("pa", "heads"), both.count("pa", "fte")) == (2, 1.3)
    assert both.total_heads == 5
    assert both.total_fte == 3.05
    assert staffing.counts() == {"np": 2, "pa": 2, "rn": 1}


def test_counts_are_full_time_people_in_every_state():
    staffing = Staffing.from_counts({"np": 2, "pa": 1, "rn": 0}, ["TX", "FL"])
    assert staffing.source == "counts"
    for state in ("TX", "FL"):
        load = staffing.in_states([state])
        assert load.count("combined", "fte") == 3.0
        assert load.count("combined", "heads") == 3
    assert staffing.counts() == {"np": 2, "pa": 1}


def test_a_charge_is_what_a_director_takes_on_and_a_recheck_asks_only_for_the_increase():
    staffing = Staffing.from_json(ROSTER)
    fl = Charge.of(staffing.in_states(["FL"]))
    assert fl == Charge(
        supervisees=3,
        pa_count=2,
        np_count=0,
        supervisees_fte=2.05,
        pa_fte=1.3,
        np_fte=0.0,
    )
    more = Charge.of(staffing.in_states(["TX", "FL"])).minus(fl)
    assert (more.supervisees, more.np_count, more.np_fte, more.supervisees_fte) == (2, 2, 1.0, 1.0)
    assert fl.count("combined", "fte") == 1.3
    assert fl.count("pa", "heads") == 2


def test_a_director_of_some_states_is_charged_and_capped_only_with_their_people():
    record = {r["code"]: r for r in rules.seed_rules()[1]}
    ctx = mc.MatchContext(
        intake_id=uuid.uuid4(),
        clinic_id=uuid.uuid4(),
        services=("neurotoxins",),
        dea_required=False,
        engagement_model="retainer",
        oversight_mode="remote",
        start=today(),
        locations=(
            mc.LocationNeed("TX", 30.27, -97.74, False),
            mc.LocationNeed("FL", 25.77, -80.19, False),
        ),
        staffing=Staffing.from_json(ROSTER),
        caps={s: rules.supervisee_caps(record[s]["rules"]) for s in ("TX", "FL")},
        state_names={"TX": "Texas", "FL": "Florida"},
    )
    assert ctx.charge(["FL"]).np_count == 0
    assert ctx.charge(["TX"]).supervisees_fte == 2.0
    florida = {c["name"]: c["description"] for c in mc.describe(ctx, ["FL"])}
    texas = {c["name"]: c["description"] for c in mc.describe(ctx, ["TX"])}
    # Florida caps PAs by head; Texas caps NPs, PAs and both together by FTE.
    assert "Florida's limit of 10 PAs" in florida["pa_ratio"]
    assert "np_ratio" not in florida
    assert "combined_ratio" not in florida
    assert "Texas's limit of 7 NPs and PAs together" in texas["combined_ratio"]
    assert "full-time equivalents" in texas["combined_ratio"]
    assert (
        florida["capacity_supervisees"]
        == "has room to supervise 2.05 more full-time-equivalent providers"
    )
