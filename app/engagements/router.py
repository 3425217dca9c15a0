from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from app.auth.deps import CurrentUser, PhysicianUser, require_role
from app.auth.models import Role, User
from app.clinics.service import get_clinic
from app.db import SessionDep
from app.engagements import service
from app.engagements.schemas import EngagementRead
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
