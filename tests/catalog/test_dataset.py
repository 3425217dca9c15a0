"""The state-rules data file: its schema, that every value is cited, the known facts, and the
generated coverage document."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from app.catalog import coverage, rules
from app.catalog.dataset import (
    FIELDS,
    MED_SPA_FIELDS,
    Dataset,
    StateRecord,
    validate_fact,
)
from app.catalog.types import state_codes
from tests.conftest import ROOT

DATA = rules.dataset()
BY_CODE = {s.code: s for s in DATA.states}


def value(code: str, field: str) -> Any:
    return BY_CODE[code].rules[field].value


def test_one_record_per_jurisdiction_with_every_field():
    assert {s.code for s in DATA.states} == state_codes()
    assert len(DATA.states) == 51
    for s in DATA.states:
        assert set(s.rules) == set(FIELDS), s.code


def test_every_known_value_is_cited_and_dated():
    for s in DATA.states:
        for name, fact in s.rules.items():
            assert fact.checked_on <= date(2026, 12, 31)
            if fact.value is None:
                assert fact.note, (s.code, name)  # an unknown says what was searched
                continue
            assert fact.citation, (s.code, name)
            assert fact.confidence in ("high", "medium", "low"), (s.code, name)
            if fact.confidence != "low":
                assert (fact.url or "").startswith("http"), (s.code, name)


def _record() -> dict[str, Any]:
    return json.loads(BY_CODE["TX"].model_dump_json())


@pytest.mark.parametrize(
    ("field", "fact", "message"),
    [
        (
            "pa_supervision_ratio",
            {"value": {"max": 4, "counts": "heads"}, "checked_on": "2026-12-02"},
            "needs a citation",
        ),
        (
            "pa_supervision_ratio",
            {
                "value": {"max": 4, "counts": "heads"},
                "citation": "x",
                "confidence": "high",
                "checked_on": "2026-12-02",
            },
            "needs the URL",
        ),
        ("cpom", {"value": None, "checked_on": "2026-12-02"}, "what was searched"),
        (
            "cpom",
            {"value": "lenient", "citation": "x", "confidence": "low", "checked_on": "2026-12-02"},
            "cpom",
        ),
        (
            "pa_supervision_ratio",
            {"value": 4, "citation": "x", "confidence": "low", "checked_on": "2026-12-02"},
            "pa_supervision_ratio",
        ),
        (
            "chart_review",
            {
                "value": [{"applies_to": ["np"], "summary": "some"}],
                "citation": "x",
                "confidence": "low",
                "checked_on": "2026-12-02",
            },
            "percent or a number of charts",
        ),
        (
            "malpractice_minimum",
            {
                "value": {"summary": "s", "per_claim_cents": 1.5},
                "citation": "x",
                "confidence": "low",
                "checked_on": "2026-12-02",
            },
            "malpractice_minimum",
        ),
    ],
)
def test_the_schema_refuses_an_uncited_or_mistyped_fact(field, fact, message):
    record = _record()
    record["rules"][field] = fact
    with pytest.raises(ValidationError, match=message):
        StateRecord.model_validate(record)


def test_the_schema_refuses_a_missing_or_unknown_field_and_a_second_record():
    record = _record()
    del record["rules"]["cpom"]
    with pytest.raises(ValidationError, match="fields missing"):
        StateRecord.model_validate(record)
    record = _record()
    record["rules"]["botox_parties"] = record["rules"]["cpom"]
    with pytest.raises(ValidationError, match="unknown fields"):
        StateRecord.model_validate(record)
    raw = json.loads(DATA.model_dump_json())
    raw["states"].append(copy.deepcopy(raw["states"][0]))
    with pytest.raises(ValidationError, match="one record per jurisdiction"):
        Dataset.model_validate(raw)


def test_validate_fact_normalizes_the_value():
    fact = validate_fact(
        "combined_supervisee_cap",
        {
            "value": {"max": 7, "counts": "fte"},
            "citation": "22 Tex. Admin. Code §193.7(d)",
            "url": "https://example.org/193.7",
            "confidence": "high",
            "checked_on": "2026-12-02",
        },
    )
    assert fact["value"] == {"max": 7, "counts": "fte"}
    assert fact["alternatives"] == []


# --- known facts, asserted against the loaded rules ----------------------------------------------


def test_texas_combined_cap_of_seven_full_time_equivalents():
    cap = value("TX", "combined_supervisee_cap")
    assert cap["max"] == 7
    assert cap["counts"] == "fte"
    assert cap.get("exceptions")  # facility-based practice, underserved areas
    assert "193.7" in (BY_CODE["TX"].rules["combined_supervisee_cap"].citation or "")


def test_texas_files_the_agreement_and_its_end_within_thirty_days():
    filings = value("TX", "filings")
    by_trigger = {f["trigger"]: f for f in filings}
    assert by_trigger["signing"]["within_days"] == 30
    assert by_trigger["termination"]["within_days"] == 30


def test_florida_satellite_office_rule():
    rule = value("FL", "satellite_offices")
    assert rule["max_offices"] == 1
    certs = " ".join(rule["board_certification"]).lower()
    assert "dermatology" in certs
    assert "plastic" in certs
    assert rule["max_miles_from_primary"] == 25
    assert rule["contiguous_county_allowed"] is True
    assert rule["max_miles_between_offices"] == 75
    assert rule["schedule_posted"] is True
    assert "458.348" in (BY_CODE["FL"].rules["satellite_offices"].citation or "")


def test_florida_notice_within_thirty_days():
    assert any(f["within_days"] == 30 for f in value("FL", "filings"))


def test_tennessee_chart_review_and_site_visits():
    reviews = value("TN", "chart_review")
    assert any(r.get("percent") == 20 for r in reviews)
    visits = value("TN", "site_visits")
    assert any(v["every_days"] == 30 and v["kind"] == "site_visit" for v in visits)


def test_california_ratios():
    assert value("CA", "pa_supervision_ratio")["max"] == 8
    assert value("CA", "np_collaboration_ratio") is not None


def test_maryland_physician_on_site():
    assert value("MD", "physician_onsite_when_delegates_treat") is True


def test_unknown_is_never_projected_as_allowed():
    for s in DATA.states:
        flat = rules.project({k: f.model_dump(mode="json") for k, f in s.rules.items()})
        for field, allowed in (
            ("supervision_injectables", "remote_supervision_allowed"),
            ("rn_injects_neurotoxins_fillers", "rn_may_inject_neurotoxins_under_delegation"),
            ("esthetician_lasers", "esthetician_may_use_lasers"),
        ):
            if s.rules[field].value is None:
                assert flat[allowed] is None, (s.code, field)
        for field, default in rules.CONSERVATIVE_DEFAULTS.items():
            if field in flat["defaults_applied"]:
                assert flat[field] == default


# --- coverage -----------------------------------------------------------------------------------


# The coverage reached so far (docs/state-rules.md shows it against the targets): a new data file
# may raise it, never lower it.
FLOOR = {"medium_or_better": 29, "high_facts": 217, "known_facts": 701}


def test_coverage_never_falls_below_what_was_reached():
    cov = coverage.coverage(DATA)
    assert len(cov.medium_or_better) >= FLOOR["medium_or_better"], cov.medium_or_better
    assert cov.facts["high"] >= FLOOR["high_facts"]
    assert sum(cov.facts.values()) - cov.facts["unknown"] >= FLOOR["known_facts"]


def test_the_targets_are_reported_against_the_data():
    cov = coverage.coverage(DATA)
    doc = coverage.render_markdown(DATA)
    assert (
        f"| jurisdictions with every med-spa field at high or medium | "
        f"{coverage.TARGET_MEDIUM_OR_BETTER} | {len(cov.medium_or_better)} |"
    ) in doc
    assert (
        f"| jurisdictions with every med-spa field at high | {coverage.TARGET_HIGH} | "
        f"{len(cov.all_high)} |"
    ) in doc
    report = coverage.render_text(DATA)
    assert report[1].startswith(f"every med-spa field high or medium: {len(cov.medium_or_better)}")


def test_coverage_counts_each_fact_once():
    cov = coverage.coverage(DATA)
    assert sum(cov.facts.values()) == 51 * len(FIELDS)
    for field in MED_SPA_FIELDS:
        assert sum(cov.per_field[field].values()) == 51


def test_state_rules_doc_is_generated_from_the_data():
    committed = (ROOT / "docs" / "state-rules.md").read_text()
    assert committed == coverage.render_markdown(DATA), "run `mdmatch rules docs`"


def test_the_json_schema_is_generated_from_the_models():
    from app.catalog.dataset import json_schema

    committed = (ROOT / "app" / "catalog" / "data" / "state_rules.schema.json").read_text()
    assert committed == json_schema(), "run `mdmatch rules docs`"
