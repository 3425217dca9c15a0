"""Reference data: loading the catalog and the state rules, and operations' edits to a state."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.catalog import rules, ruleset
from app.catalog.cache import reference_cache
from app.catalog.dataset import Dataset, validate_fact
from app.catalog.models import Service, StateRule
from app.catalog.schemas import FactUpdate, StateRuleRead, StateRuleUpdate
from app.catalog.services import catalog_version, service_catalog
from app.errors import NotFound, ValidationFailed
from app.kit.clock import today

EDITABLE_FIELDS = tuple(StateRuleUpdate.model_fields)


async def load_services(session: AsyncSession) -> int:
    """Upsert the catalog from the data file (code-owned: the file wins)."""
    rows = [
        {
            **{k: getattr(s, k) for k in s.__slots__},
            "fit_specialties": list(s.fit_specialties),
            "catalog_version": catalog_version(),
        }
        for s in service_catalog().values()
    ]
    stmt = insert(Service).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Service.code],
        set_={c: stmt.excluded[c] for c in rows[0] if c != "code"},
        where=Service.catalog_version != stmt.excluded.catalog_version,
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def _derived(record: dict[str, Any], *, pinned: list[str] | None) -> dict[str, Any]:
    f = rules.facts(record)
    return {
        "oversight_tier": rules.oversight_tier(f),
        "onsite_required_services": (
            pinned if pinned is not None else rules.onsite_required_services(f, service_catalog())
        ),
        "onsite_services_pinned": pinned is not None,
    }


def _current(row: StateRule) -> ruleset.Current:
    return ruleset.Current(
        code=row.code,
        rules=dict(row.rules or {}),
        operations_fields=tuple(row.operations_fields or ()),
        data_version=row.data_version,
        flat={name: getattr(row, name) for name in rules.FLAT_TO_CITED},
        texts={t: getattr(row, t) for t in ruleset.RECORD_TEXTS},
        sources=tuple(row.sources or ()),
        confidence=row.confidence,
        reviewed_on=row.reviewed_on,
    )


def _write(row: StateRule, cited: dict[str, Any], texts: dict[str, str]) -> None:
    """Set a row's cited facts and everything projected or derived from them."""
    flat = rules.project(cited)
    row.rules = cited
    for name, value in flat.items():
        setattr(row, name, value)
    for name, value in texts.items():
        setattr(row, name, value)
    pinned = list(row.onsite_required_services) if row.onsite_services_pinned else None
    for name, value in _derived({**flat, "rules": cited}, pinned=pinned).items():
        setattr(row, name, value)
    row.reviewed_on = ruleset.reviewed_on(cited)


async def _locked_rows(session: AsyncSession) -> dict[str, StateRule]:
    rows = await session.scalars(select(StateRule).order_by(StateRule.code).with_for_update())
    return {r.code: r for r in rows}


async def plan_state_rules(
    session: AsyncSession, data: Dataset | None = None
) -> list[ruleset.StatePlan]:
    """What loading `data` (default: the packaged file) would change; writes nothing."""
    data = data or rules.dataset()
    rows = await session.scalars(select(StateRule))
    return ruleset.plan(data, {r.code: _current(r) for r in rows})


async def load_state_rules(session: AsyncSession, data: Dataset | None = None) -> int:
    """Apply a data file (default: the packaged one): new states are inserted; every field
    operations did not edit takes the file's cited fact; a row already on a newer file is left
    alone. Returns the number of rows written."""
    data = data or rules.dataset()
    rows = await _locked_rows(session)
    written = 0
    for p in ruleset.plan(data, {code: _current(r) for code, r in rows.items()}):
        row = rows.get(p.code)
        if p.skipped_newer or (
            row is not None and not p.changes and row.data_version == data.version
        ):
            continue
        if row is None:
            row = StateRule(code=p.code, onsite_services_pinned=False, onsite_required_services=[])
            session.add(row)
        row.name = p.name
        _write(row, p.rules, p.texts)
        row.operations_fields = p.operations_fields
        row.data_version = data.version
        written += 1
    await session.flush()
    return written


async def list_services(session: AsyncSession) -> Sequence[Service]:
    return (await session.scalars(select(Service).order_by(Service.category, Service.code))).all()


async def list_states(session: AsyncSession) -> Sequence[StateRule]:
    return (await session.scalars(select(StateRule).order_by(StateRule.code))).all()


async def get_state(session: AsyncSession, code: str, *, for_update: bool = False) -> StateRule:
    stmt = select(StateRule).where(StateRule.code == code.upper())
    if for_update:
        stmt = stmt.with_for_update()
    rule = await session.scalar(stmt)
    if rule is None:
        raise NotFound(f"No jurisdiction with code {code!r}; use a USPS code such as TX or DC.")
    return rule


async def states_by_code(session: AsyncSession, codes: Sequence[str]) -> dict[str, StateRule]:
    rows = await session.scalars(select(StateRule).where(StateRule.code.in_(list(codes))))
    return {r.code: r for r in rows}


_COMPUTED = {
    "rules",
    "disclaimer",
    "effective_pa_cap",
    "effective_np_cap",
    "effective_combined_cap",
}


def to_read(rule: StateRule, *, default_cap: int = rules.DEFAULT_SUPERVISEE_CAP) -> StateRuleRead:
    cited = {
        name: {**fact, "edited_by_operations": name in rule.operations_fields}
        for name, fact in rule.rules.items()
    }
    columns = {c: getattr(rule, c) for c in StateRuleRead.model_fields if c not in _COMPUTED}
    read = StateRuleRead.model_validate(
        columns | {"rules": cited, "disclaimer": rules.dataset().disclaimer}
    )
    caps = rules.supervisee_caps(rule.rules, default_cap)
    read.effective_pa_cap = caps["pa"].limit
    read.effective_np_cap = caps["np"].limit
    read.effective_combined_cap = caps["combined"].limit
    return read


def _audit_view(rule: StateRule) -> dict[str, Any]:
    return to_read(rule).model_dump(mode="json", exclude={"rules"})


async def _audited_change(
    session: AsyncSession,
    rule: StateRule,
    *,
    actor_id: uuid.UUID,
    action: str,
    before_view: dict[str, Any],
    before_rules: dict[str, Any],
) -> None:
    """Audit what changed: the flat fields and derived values, and each cited fact."""
    after_view = _audit_view(rule)
    changed_rules = sorted(k for k in rule.rules if rule.rules[k] != before_rules.get(k))
    await record_audit(
        session,
        actor_id=actor_id,
        action=action,
        object_type="state_rule",
        object_id=rule.code,
        before={k: v for k, v in before_view.items() if before_view[k] != after_view.get(k)}
        | ({"rules": {k: before_rules.get(k) for k in changed_rules}} if changed_rules else {}),
        after={k: v for k, v in after_view.items() if before_view.get(k) != after_view[k]}
        | ({"rules": {k: rule.rules[k] for k in changed_rules}} if changed_rules else {}),
    )
    reference_cache.clear()


async def update_state(
    session: AsyncSession, code: str, body: StateRuleUpdate, *, actor_id: uuid.UUID
) -> StateRule:
    """The flat form: each flat value that differs from what the cited facts say becomes an
    operations fact (cited to the form's first source), kept over any newer data file."""
    rule = await get_state(session, code, for_update=True)
    before_view, before_rules = _audit_view(rule), dict(rule.rules)
    sources = [str(u) for u in body.sources]
    url = sources[0] if sources else None
    flat = body.model_dump(mode="json", include=set(rules.FLAT_TO_CITED))
    changed = rules.cited_from_flat(
        flat,
        rule.rules,
        provenance={
            "citation": "Operations review",
            "url": url,
            "confidence": body.confidence if url else "low",
            "checked_on": today().isoformat(),
            "note": f"Set by operations with PUT /v1/states/{rule.code}",
        },
    )
    flat_names = {cited: name for name, (cited, _) in rules.FLAT_TO_CITED.items()}
    for field, fact in changed.items():
        changed[field] = _checked(field, fact, loc=["body", flat_names[field]])
    texts = {t: getattr(body, t) for t in ruleset.RECORD_TEXTS}
    edited_texts = {t for t, v in texts.items() if v != getattr(rule, t)}
    rule.operations_fields = sorted(set(rule.operations_fields) | set(changed) | edited_texts)
    pinned = body.onsite_required_services
    rule.onsite_services_pinned = pinned is not None
    rule.onsite_required_services = list(pinned or [])
    _write(rule, {**rule.rules, **changed}, texts)
    rule.reviewed_on = today()
    await session.flush()
    await _audited_change(
        session,
        rule,
        actor_id=actor_id,
        action="state_rule.updated",
        before_view=before_view,
        before_rules=before_rules,
    )
    return rule


def _checked(field: str, fact: dict[str, Any], *, loc: list[Any] | None = None) -> dict[str, Any]:
    """`fact` checked as the data file's are; a 422 naming `loc` (default: the body's member)."""
    try:
        return validate_fact(field, fact)
    except (ValidationError, ValueError) as exc:
        errors = (
            [{"loc": loc or ["body", *e["loc"]], "msg": e["msg"]} for e in exc.errors()]
            if isinstance(exc, ValidationError)
            else [{"loc": loc or ["body", "value"], "msg": str(exc)}]
        )
        raise ValidationFailed(errors) from None


async def update_fact(
    session: AsyncSession, code: str, field: str, body: FactUpdate, *, actor_id: uuid.UUID
) -> StateRule:
    """Replace one cited fact (operations): checked as the data file's facts are, dated today,
    audited, and kept over any newer data file."""
    rule = await get_state(session, code, for_update=True)
    fact = _checked(field, body.model_dump(mode="json") | {"checked_on": today().isoformat()})
    before_view, before_rules = _audit_view(rule), dict(rule.rules)
    rule.operations_fields = sorted(set(rule.operations_fields) | {field})
    pinned = list(rule.onsite_required_services) if rule.onsite_services_pinned else None
    rule.onsite_services_pinned = pinned is not None
    _write(rule, {**rule.rules, field: fact}, {t: getattr(rule, t) for t in ruleset.RECORD_TEXTS})
    await session.flush()
    await _audited_change(
        session,
        rule,
        actor_id=actor_id,
        action="state_rule.fact_updated",
        before_view=before_view,
        before_rules=before_rules,
    )
    return rule
