from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.auth.deps import ClinicAdminUser, CurrentUser, PhysicianUser, SettingsDep, require_role
from app.auth.models import Role, User
from app.clinics import service as clinics
from app.clinics.models import IntakeStatus
from app.clinics.schemas import IntakeRead
from app.clinics.service import get_clinic
from app.db import SessionDep
from app.engagements import continuity, service
from app.engagements import handoffs as handoffs  # registers what lower domains hand over
from app.engagements.schemas import EngagementRead, ResignRequest
from app.errors import problem_responses
from app.kit.idempotency import AppRoute, idempotent
from app.kit.pagination import Page, PageParams, page_params
from app.matching import flows
from app.matching.schemas import ConfirmBody
from app.physicians.service import get_own_profile

router = APIRouter(prefix="/v1", tags=["engagements"], route_class=AppRoute)
PageDep = Annotated[PageParams, Depends(page_params)]
ClinicReader = Annotated[User, Depends(require_role(Role.clinic_admin, Role.ops_admin))]

# Confirming an intake opens its engagement: the route is the intake's (tagged `matching`, where
# the frontends find it, next to accepting and declining), the answer is the engagement.
confirm_router = APIRouter(prefix="/v1", tags=["matching"], route_class=AppRoute)


@confirm_router.post(
    "/intakes/{intake_id}/confirm",
    status_code=status.HTTP_201_CREATED,
    operation_id="confirm_intake",
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
async def confirm_intake(
    intake_id: uuid.UUID,
    user: ClinicAdminUser,
    session: SessionDep,
    settings: SettingsDep,
    body: ConfirmBody | None = None,
) -> EngagementRead:
    """Confirm the accepted director(s): the engagement starts in `pending_payment`."""
    intake, clinic = await clinics.get_intake(
        session, user, intake_id, manage=True, for_update=True
    )
    engagement = await flows.confirm(
        session,
        intake,
        clinic,
        match_ids=([body.match_id] if body.match_id else []) + body.match_ids if body else [],
        actor=user,
        settings=settings,
    )
    await session.commit()
    return await service.to_read(session, engagement)


# An intake is the clinic's (tagged `clinics`), but a confirmed one shows its engagement's
# continuity, which only this domain can tell (clinics sit below engagements).
intake_router = APIRouter(prefix="/v1", tags=["clinics"], route_class=AppRoute)


@intake_router.get(
    "/intakes/{intake_id}",
    operation_id="get_intake",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_intake(intake_id: uuid.UUID, user: ClinicReader, session: SessionDep) -> IntakeRead:
    """One intake with its status and compliance flags."""
    intake, _ = await clinics.get_intake(session, user, intake_id)
    read = IntakeRead.model_validate(intake)
    if intake.status == IntakeStatus.confirmed.value:
        read.continuity = await service.intake_continuity(session, intake.id)
    return read


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
