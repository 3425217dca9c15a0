from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import AfterValidator

from app.auth.deps import OpsUser, SettingsDep
from app.catalog import service
from app.catalog.dataset import FIELDS
from app.catalog.schemas import (
    FactUpdate,
    ServiceList,
    ServiceRead,
    StateRuleList,
    StateRuleRead,
    StateRuleUpdate,
)
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.idempotency import AppRoute
from app.kit.openapi import DocumentedAs, code_enum

router = APIRouter(prefix="/v1", tags=["reference data"], route_class=AppRoute)

StateCode = Annotated[str, Path(min_length=2, max_length=2, pattern="^[A-Za-z]{2}$")]
RuleFields = code_enum("StateRuleField", FIELDS)


def _known_field(name: str) -> str:
    if name not in FIELDS:
        raise ValueError(f"not a rule field; one of {', '.join(FIELDS)}")
    return name


RuleField = Annotated[str, AfterValidator(_known_field), DocumentedAs(RuleFields), Path()]


@router.get("/services", operation_id="list_services")
async def list_services(session: SessionDep) -> ServiceList:
    """The service catalog, every item in one page."""
    rows = await service.list_services(session)
    return ServiceList(items=[ServiceRead.model_validate(r) for r in rows])


@router.get("/states", operation_id="list_states")
async def list_states(session: SessionDep, settings: SettingsDep) -> StateRuleList:
    """The 50 states and DC with their med-spa rules, every item in one page."""
    rows = await service.list_states(session)
    return StateRuleList(
        items=[service.to_read(r, default_cap=settings.default_supervisee_cap) for r in rows]
    )


@router.get("/states/{code}", operation_id="get_state", responses=problem_responses(404, 422))
async def get_state(code: StateCode, session: SessionDep, settings: SettingsDep) -> StateRuleRead:
    """One jurisdiction's rules. `null` means unknown, never "no limit" or "allowed"."""
    return service.to_read(
        await service.get_state(session, code), default_cap=settings.default_supervisee_cap
    )


@router.put(
    "/states/{code}",
    operation_id="update_state",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_state(
    code: StateCode,
    body: StateRuleUpdate,
    user: OpsUser,
    session: SessionDep,
    settings: SettingsDep,
) -> StateRuleRead:
    """Replace a state's editable rules (operations). `oversight_tier`, `reviewed_on` and, unless
    pinned, `onsite_required_services` are recomputed; the change is audited."""
    rule = await service.update_state(session, code, body, actor_id=user.id)
    await session.commit()
    return service.to_read(rule, default_cap=settings.default_supervisee_cap)


@router.put(
    "/states/{code}/rules/{field}",
    operation_id="update_state_rule",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_state_rule(
    code: StateCode,
    field: RuleField,
    body: FactUpdate,
    user: OpsUser,
    session: SessionDep,
    settings: SettingsDep,
) -> StateRuleRead:
    """Replace one rule with its source (operations): a known value needs a citation and a
    confidence (and the URL read, for high or medium); null means unknown and says in `note`
    what was searched. Dated today, audited, and never overwritten by a newer data file."""
    rule = await service.update_fact(session, code, field, body, actor_id=user.id)
    await session.commit()
    return service.to_read(rule, default_cap=settings.default_supervisee_cap)
