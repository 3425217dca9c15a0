"""What loading a state-rules data file does to the rules in force: a pure plan, so that
`mdmatch rules diff FILE` shows exactly what the loader would then write.

Per field: the file's cited fact replaces the current one, except where operations edited the
field (`operations_fields`): their fact is kept, and the plan says the file disagreed. A row
edited by operations before edits were tracked per field (data_version NULL, no cited facts)
keeps every flat value that differs from the file as an operations fact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.catalog import rules
from app.catalog.dataset import FIELDS, Dataset, StateRecord

RECORD_TEXTS = ("notable_rules", "caveats")
# What makes two facts different (checked_on alone is a re-check, not a change).
_COMPARED = ("value", "citation", "url", "confidence", "note", "alternatives")
LEGACY_PROVENANCE_NOTE = "Set by operations before rules were cited per field"


@dataclass(frozen=True, slots=True)
class Current:
    """The parts of a state_rules row the plan reads."""

    code: str
    rules: dict[str, dict[str, Any]]
    operations_fields: tuple[str, ...]
    data_version: str | None
    flat: dict[str, Any]
    texts: dict[str, str]
    sources: tuple[str, ...] = ()
    confidence: str = "low"
    reviewed_on: date | None = None


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    # The file's fact, when operations' own fact was kept instead.
    refused: dict[str, Any] | None = None


@dataclass(slots=True)
class StatePlan:
    code: str
    name: str
    is_new: bool
    skipped_newer: bool
    rules: dict[str, dict[str, Any]]
    texts: dict[str, str]
    operations_fields: list[str]
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def kept(self) -> list[FieldChange]:
        return [c for c in self.changes if c.refused is not None]

    @property
    def applied(self) -> list[FieldChange]:
        return [c for c in self.changes if c.refused is None]


def _same(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    return all(a.get(k) == b.get(k) for k in _COMPARED)


def _legacy_operations(record: StateRecord, current: Current) -> dict[str, dict[str, Any]]:
    """Operations facts for a row edited before per-field tracking: each flat value that differs
    from what the file's facts project."""
    cited = {name: fact.model_dump(mode="json") for name, fact in record.rules.items()}
    url = current.sources[0] if current.sources else None
    confidence = current.confidence if url else "low"
    return rules.cited_from_flat(
        current.flat,
        cited,
        provenance={
            "citation": "Operations review (before per-field citations)",
            "url": url,
            "confidence": confidence,
            "checked_on": (current.reviewed_on or date.min).isoformat(),
            "note": LEGACY_PROVENANCE_NOTE,
        },
    )


def plan_state(version: str, record: StateRecord, current: Current | None) -> StatePlan:
    incoming = {name: fact.model_dump(mode="json") for name, fact in record.rules.items()}
    texts = {"notable_rules": record.notable_rules, "caveats": record.caveats}
    if current is None:
        return StatePlan(
            code=record.code,
            name=record.name,
            is_new=True,
            skipped_newer=False,
            rules=incoming,
            texts=texts,
            operations_fields=[],
            changes=[FieldChange(name, None, incoming[name]) for name in FIELDS],
        )
    if current.data_version is not None and current.data_version > version:
        return StatePlan(
            code=record.code,
            name=record.name,
            is_new=False,
            skipped_newer=True,
            rules=current.rules,
            texts=current.texts,
            operations_fields=list(current.operations_fields),
        )
    held = dict(current.rules)
    ops = list(current.operations_fields)
    if current.data_version is None and not current.rules:
        legacy = _legacy_operations(record, current)
        held.update(legacy)
        ops = sorted(legacy) + [t for t in RECORD_TEXTS if current.texts[t] != texts[t]]
    merged: dict[str, dict[str, Any]] = {}
    changes: list[FieldChange] = []
    for name in FIELDS:
        before = current.rules.get(name)
        if name in ops and name in held:
            merged[name] = held[name]
            if not _same(held[name], incoming[name]):
                changes.append(FieldChange(name, before, held[name], refused=incoming[name]))
            continue
        merged[name] = incoming[name]
        if not _same(before, incoming[name]):
            changes.append(FieldChange(name, before, incoming[name]))
    merged_texts = {t: current.texts[t] if t in ops else texts[t] for t in RECORD_TEXTS}
    return StatePlan(
        code=record.code,
        name=record.name,
        is_new=False,
        skipped_newer=False,
        rules=merged,
        texts=merged_texts,
        operations_fields=sorted(ops),
        changes=changes,
    )


def plan(data: Dataset, current: dict[str, Current]) -> list[StatePlan]:
    return [plan_state(data.version, r, current.get(r.code)) for r in data.states]


def reviewed_on(cited: dict[str, dict[str, Any]]) -> date:
    """The day the state's rules were last checked (its newest fact)."""
    return max(date.fromisoformat(f["checked_on"]) for f in cited.values())


def show(value: Any) -> str:
    """A fact's value in one short line (for diffs and reports)."""
    if value is None:
        return "unknown"
    if isinstance(value, dict) and "max" in value:
        return f"{value['max']} ({value['counts']})"
    if isinstance(value, dict):
        return str(value.get("summary", value))[:70]
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return "; ".join(str(v.get("summary") or v.get("what")) for v in value)[:70]
        return ", ".join(str(v) for v in value) or "(none)"
    return str(value)
