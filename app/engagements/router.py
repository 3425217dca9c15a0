from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import CurrentUser, PhysicianUser, SettingsDep, require_role
from app.auth.models import Role, User
from app.clinics.service import get_clinic
from app.db import SessionDep
from app.engagements import continuity, service
from app.engagements.schemas import EngagementRead, ResignRequest
from app.errors import problem_responses
from app.kit.idempotency import AppRoute
from app.kit.pagination import Page, PageParams, page_params
from app.physicians.service import get_own_profile

router = APIRouter(prefix="/v1", tags=["engagements"], route_class=AppRoute)
PageDep = Annotated[PageParams, Depends(page_params)]
ClinicReader = Annotated[User, Depends(require_role(Role.clinic_admin, Role.ops_admin))]


@router.get(
    "/engagements/{engagement_id}",
    operation_id="get_engagement",
    responses=problem_responses(401, 404, 422),
)
async def get_engagement(
    engagement_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> EngagementRead:
    """An engagement (the clinic's admins, its directors, operations)."""
    engagement = await service.get_engagement(session, user, engagement_id)
    return await service.to_read(session, engagement)


@router.get(
    "/clinics/{clinic_id}/engagements",
    operation_id="list_clinic_engagements",
    responses=problem_responses(401, 403, 404, 422),
)
async def clinic_engagements(
    clinic_id: uuid.UUID, user: ClinicReader, session: SessionDep, page: PageDep
) -> Page[EngagementRead]:
    """The clinic's engagements, newest first."""
    clinic = await get_clinic(session, user, clinic_id)
    rows, cursor = await service.list_for_clinic(session, clinic.id, page)
    return Page(items=[await service.to_read(session, e) for e in rows], next_cursor=cursor)


@router.get(
    "/physicians/me/engagements",
    operation_id="list_my_engagements",
    responses=problem_responses(401, 403, 404, 422),
)
async def my_engagements(
    user: PhysicianUser, session: SessionDep, page: PageDep
) -> Page[EngagementRead]:
    """The engagements the caller directs, newest first."""
    physician = await get_own_profile(session, user)
    rows, cursor = await service.list_for_physician(session, physician.id, page)
    return Page(items=[await service.to_read(session, e) for e in rows], next_cursor=cursor)


@router.post(
    "/engagements/{engagement_id}/resign",
    operation_id="resign_engagement",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def resign(
    engagement_id: uuid.UUID,
    body: ResignRequest,
    user: PhysicianUser,
    session: SessionDep,
    settings: SettingsDep,
) -> EngagementRead:
    """Give notice on an engagement you direct: your oversight ends on `effective_on` (at
    least the notice period away) and a replacement search starts at once for your states.
    The clinic and operations are told; the engagement reads `ending` until a replacement
    accepts."""
    engagement = await continuity.resign(
        session,
        user,
        engagement_id,
        reason=body.reason,
        effective_on=body.effective_on,
        settings=settings,
    )
    read = await service.to_read(session, engagement)
    await session.commit()
    return read
