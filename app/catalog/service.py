"""Reference data: loading the catalog and the state rules, and operations' edits to a state."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.service import record_audit
from app.catalog import rules
from app.catalog.models import Service, StateRule
from app.catalog.schemas import StateRuleRead, StateRuleUpdate
from app.catalog.services import catalog_version, service_catalog
from app.errors import NotFound
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


async def load_state_rules(session: AsyncSession) -> int:
    """Insert missing states and refresh rows still on an older research version; rows that
    operations edited (data_version NULL) are never overwritten."""
    version, records = rules.seed_rules()
    rows = [
        {
            **r,
            **_derived(r, pinned=None),
            "reviewed_on": _version_date(version),
            "data_version": version,
        }
        for r in records
    ]
    stmt = insert(StateRule).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[StateRule.code],
        set_={c: stmt.excluded[c] for c in rows[0] if c != "code"},
        where=StateRule.data_version.is_not(None) & (StateRule.data_version < version),
    )
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


def _version_date(version: str) -> Any:
    from datetime import date

    return date.fromisoformat(version)


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


def to_read(rule: StateRule, *, default_cap: int = rules.DEFAULT_SUPERVISEE_CAP) -> StateRuleRead:
    read = StateRuleRead.model_validate(rule)
    f = rules.facts(rule)
    read.effective_pa_cap = rules.effective_pa_cap(f, default_cap)
    read.effective_np_cap = rules.effective_np_cap(f, default_cap)
    return read


async def update_state(
    session: AsyncSession, code: str, body: StateRuleUpdate, *, actor_id: uuid.UUID
) -> StateRule:
    rule = await get_state(session, code, for_update=True)
    before = to_read(rule).model_dump(mode="json")
    values = body.model_dump(mode="json", exclude={"onsite_required_services"})
    for field, value in values.items():
        setattr(rule, field, value)
    for field, value in _derived(values, pinned=body.onsite_required_services).items():
        setattr(rule, field, value)
    rule.reviewed_on = today()
    rule.data_version = None
    await session.flush()
    after = to_read(rule).model_dump(mode="json")
    await record_audit(
        session,
        actor_id=actor_id,
        action="state_rule.updated",
        object_type="state_rule",
        object_id=rule.code,
        before={k: v for k, v in before.items() if before[k] != after.get(k)},
        after={k: v for k, v in after.items() if before.get(k) != after[k]},
    )
    from app.catalog.cache import reference_cache

    reference_cache.clear()
    return rule
