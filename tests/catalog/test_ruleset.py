"""Loading a data file over the rules in force: the pure plan (what `mdmatch rules diff` shows)
and the loader that applies it."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from sqlalchemy import select

from app.catalog import rules, ruleset
from app.catalog.dataset import Dataset
from app.catalog.models import StateRule
from app.catalog.service import load_state_rules, plan_state_rules
from tests.factories import ops_headers

DATA = rules.dataset()


def newer(**changes: dict[str, Any]) -> Dataset:
    """The packaged data as a later version, with some facts replaced (state → field → fact)."""
    raw = json.loads(DATA.model_dump_json())
    raw["version"] = "2099-01-01"
    for state in raw["states"]:
        for field, fact in changes.get(state["code"], {}).items():
            state["rules"][field] = fact
    return Dataset.model_validate(raw)


def cited(**value: Any) -> dict[str, Any]:
    return {
        "citation": "Test Admin. Code §1.1",
        "url": "https://example.org/rule",
        "confidence": "high",
        "checked_on": "2099-01-01",
        **value,
    }


def current_of(record: Any, **overrides: Any) -> ruleset.Current:
    """The row a record was loaded into, as the plan reads it (with `overrides`)."""
    facts = {k: f.model_dump(mode="json") for k, f in record.rules.items()}
    flat = rules.project(facts)
    current = ruleset.Current(
        code=record.code,
        rules=facts,
        operations_fields=(),
        data_version=DATA.version,
        flat={k: flat[k] for k in rules.FLAT_TO_CITED},
        texts={"notable_rules": record.notable_rules, "caveats": record.caveats},
    )
    return dataclasses.replace(current, **overrides)


def tx_record(data: Dataset) -> Any:
    return next(s for s in data.states if s.code == "TX")


def test_the_same_file_changes_nothing():
    record = tx_record(DATA)
    plan = ruleset.plan_state(DATA.version, record, current_of(record))
    assert plan.changes == []
    assert plan.rules == {k: f.model_dump(mode="json") for k, f in record.rules.items()}


def test_a_new_state_takes_every_field():
    record = tx_record(DATA)
    plan = ruleset.plan_state(DATA.version, record, None)
    assert plan.is_new
    assert len(plan.changes) == len(record.rules)


def test_a_changed_fact_is_applied_and_shown():
    data = newer(TX={"malpractice_minimum": cited(value="none")})
    record = tx_record(data)
    plan = ruleset.plan_state(data.version, record, current_of(tx_record(DATA)))
    [change] = plan.changes
    assert change.field == "malpractice_minimum"
    assert change.after is not None
    assert change.after["value"] == "none"
    assert change.refused is None
    assert plan.rules["malpractice_minimum"]["value"] == "none"


def test_an_operations_edit_is_kept_and_the_disagreement_shown():
    old = tx_record(DATA)
    ops_fact = cited(value={"max": 5, "counts": "heads"}, checked_on="2026-12-02")
    facts = {k: f.model_dump(mode="json") for k, f in old.rules.items()}
    facts["pa_supervision_ratio"] = ops_fact
    current = current_of(old, rules=facts, operations_fields=("pa_supervision_ratio",))
    data = newer(TX={"pa_supervision_ratio": cited(value={"max": 9, "counts": "heads"})})
    plan = ruleset.plan_state(data.version, tx_record(data), current)
    [kept] = plan.kept
    assert kept.field == "pa_supervision_ratio"
    assert kept.after == ops_fact
    assert kept.refused is not None
    assert kept.refused["value"]["max"] == 9
    assert plan.rules["pa_supervision_ratio"] == ops_fact
    assert plan.applied == []


def test_a_row_on_a_newer_version_is_left_alone():
    record = tx_record(DATA)
    plan = ruleset.plan_state(DATA.version, record, current_of(record, data_version="2999-01-01"))
    assert plan.skipped_newer
    assert plan.changes == []


def test_a_row_operations_edited_before_citations_keeps_its_flat_values():
    record = tx_record(DATA)
    legacy = current_of(
        record,
        rules={},
        data_version=None,
        sources=("https://example.org/ops",),
        confidence="medium",
    )
    flat = dict(legacy.flat)
    flat["pa_supervision_ratio"] = 3
    legacy = dataclasses.replace(legacy, flat=flat)
    plan = ruleset.plan_state(DATA.version, record, legacy)
    assert plan.operations_fields == ["pa_supervision_ratio"]
    fact = plan.rules["pa_supervision_ratio"]
    assert fact["value"]["max"] == 3
    assert fact["url"] == "https://example.org/ops"
    assert fact["note"] == ruleset.LEGACY_PROVENANCE_NOTE
    # Every other field comes from the file.
    assert plan.rules["cpom"] == record.rules["cpom"].model_dump(mode="json")


async def test_loader_applies_a_newer_file_but_keeps_operations_edits(client, session, settings):
    headers = await ops_headers(client, session, settings)
    edited = await client.put(
        "/v1/states/TX/rules/malpractice_minimum",
        json={
            "value": {"summary": "Board rule, test", "per_claim_cents": 10_000_000},
            "citation": "Ops memo 7",
            "url": "https://example.org/memo",
            "confidence": "medium",
        },
        headers=headers,
    )
    assert edited.status_code == 200, edited.text
    data = newer(
        TX={
            "malpractice_minimum": cited(value="none"),
            "iv_therapy": cited(value="none", note="changed by the file"),
        }
    )
    plans = {p.code: p for p in await plan_state_rules(session, data)}
    assert [c.field for c in plans["TX"].kept] == ["malpractice_minimum"]
    assert [c.field for c in plans["TX"].applied] == ["iv_therapy"]
    assert all(not p.changes for code, p in plans.items() if code != "TX")

    written = await load_state_rules(session, data)
    assert written == 51  # every row moves to the new version
    row = await session.scalar(select(StateRule).where(StateRule.code == "TX"))
    assert row is not None
    await session.refresh(row)
    assert row.rules["malpractice_minimum"]["citation"] == "Ops memo 7"
    assert row.rules["iv_therapy"]["note"] == "changed by the file"
    assert row.data_version == "2099-01-01"
    # Loading the packaged (older) file again changes nothing.
    assert await load_state_rules(session) == 0
    await session.refresh(row)
    assert row.rules["iv_therapy"]["note"] == "changed by the file"
