from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.auth.deps import ClinicAdminUser, SettingsDep, require_role
from app.auth.models import Role, User
from app.clinics import roster, service, team
from app.clinics.jobs import send_invitation
from app.clinics.models import Clinic, IntakeStatus, MemberRole
from app.clinics.schemas import (
    ClinicCreate,
    ClinicRead,
    ClinicUpdate,
    IntakeCreate,
    IntakeRead,
    IntakeUpdate,
    InvitationAccept,
    InvitationCreate,
    InvitationRead,
    MemberRead,
    OwnershipTransfer,
    ProviderIn,
    ProviderRead,
    ProviderUpdate,
    RoleChange,
    TeamRead,
)
from app.db import SessionDep
from app.errors import problem_responses
from app.jobs.queue import defer_in_transaction
from app.kit.idempotency import AppRoute, idempotent
from app.kit.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/v1", tags=["clinics"], route_class=AppRoute)

ClinicReader = Annotated[User, Depends(require_role(Role.clinic_admin, Role.ops_admin))]
PageDep = Annotated[PageParams, Depends(page_params)]


def intake_read(intake: object) -> IntakeRead:
    return IntakeRead.model_validate(intake)


@router.post(
    "/clinics",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_clinic",
    responses=problem_responses(401, 403, 422),
)
@idempotent
async def create_clinic(
    body: ClinicCreate, user: ClinicAdminUser, session: SessionDep
) -> ClinicRead:
    """Create a clinic with its locations; the caller becomes its owner."""
    clinic = await service.create_clinic(session, user, body)
    await session.commit()
    return service.to_read(clinic)


@router.get("/clinics", operation_id="list_clinics", responses=problem_responses(401, 403, 422))
async def list_clinics(user: ClinicReader, session: SessionDep, page: PageDep) -> Page[ClinicRead]:
    """The caller's clinics (operations: every clinic), newest first."""
    rows, cursor = await service.list_clinics(session, user, page)
    return Page(items=[service.to_read(c) for c in rows], next_cursor=cursor)


@router.get(
    "/clinics/{clinic_id}",
    operation_id="get_clinic",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_clinic(clinic_id: uuid.UUID, user: ClinicReader, session: SessionDep) -> ClinicRead:
    """One clinic (its admins and operations)."""
    return service.to_read(await service.get_clinic(session, user, clinic_id))


@router.patch(
    "/clinics/{clinic_id}",
    operation_id="update_clinic",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_clinic(
    clinic_id: uuid.UUID,
    body: ClinicUpdate,
    user: ClinicAdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ClinicRead:
    """Change the clinic's name, ownership, contact or locations (its admins). The compliance
    flags of the clinic's intakes are recomputed for the new ownership and locations."""
    clinic = await service.get_clinic(session, user, clinic_id, manage=True)
    clinic = await service.update_clinic(
        session, clinic, body, actor_id=user.id, default_cap=settings.default_supervisee_cap
    )
    await session.commit()
    return service.to_read(clinic)


@router.post(
    "/clinics/{clinic_id}/intakes",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_intake",
    responses=problem_responses(401, 403, 404, 422),
)
@idempotent
async def create_intake(
    clinic_id: uuid.UUID,
    body: IntakeCreate,
    user: ClinicAdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> IntakeRead:
    """Start an intake (a draft) for the clinic's locations; it comes back with its compliance
    flags, which tell the clinic what to change before submitting."""
    clinic = await service.get_clinic(session, user, clinic_id, manage=True)
    intake = await service.create_intake(
        session, clinic, body, actor=user, default_cap=settings.default_supervisee_cap
    )
    await session.commit()
    return intake_read(intake)


@router.get(
    "/clinics/{clinic_id}/intakes",
    operation_id="list_clinic_intakes",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_clinic_intakes(
    clinic_id: uuid.UUID,
    user: ClinicReader,
    session: SessionDep,
    page: PageDep,
    status: IntakeStatus | None = None,
) -> Page[IntakeRead]:
    """The clinic's intakes, newest first."""
    clinic = await service.get_clinic(session, user, clinic_id)
    rows, cursor = await service.list_intakes(
        session, clinic, page, status=status.value if status else None
    )
    return Page(items=[intake_read(i) for i in rows], next_cursor=cursor)


# GET /v1/intakes/{intake_id} is in app.engagements.router: a confirmed intake shows its
# engagement's continuity, which only the engagements domain can tell.


@router.patch(
    "/intakes/{intake_id}",
    operation_id="update_intake",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_intake(
    intake_id: uuid.UUID,
    body: IntakeUpdate,
    user: ClinicAdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> IntakeRead:
    """Change a draft intake (409 `intake-not-editable` once submitted)."""
    intake, clinic = await service.get_intake(
        session, user, intake_id, manage=True, for_update=True
    )
    intake = await service.update_intake(
        session, intake, clinic, body, actor=user, default_cap=settings.default_supervisee_cap
    )
    await session.commit()
    return intake_read(intake)


# --- provider roster ------------------------------------------------------------------------


@router.get(
    "/clinics/{clinic_id}/providers",
    operation_id="list_clinic_providers",
    responses=problem_responses(401, 403, 404, 422),
)
async def list_clinic_providers(
    clinic_id: uuid.UUID, user: ClinicReader, session: SessionDep, page: PageDep
) -> Page[ProviderRead]:
    """The clinic's provider roster (its admins and operations), newest first."""
    clinic = await service.get_clinic(session, user, clinic_id)
    rows, cursor = await roster.list_providers(session, clinic, page)
    return Page(items=[ProviderRead.model_validate(p) for p in rows], next_cursor=cursor)


@router.post(
    "/clinics/{clinic_id}/providers",
    status_code=status.HTTP_201_CREATED,
    operation_id="add_clinic_provider",
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
async def add_clinic_provider(
    clinic_id: uuid.UUID,
    body: ProviderIn,
    user: ClinicAdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ProviderRead:
    """Add a person to the roster (the clinic's admins). The clinic's draft intakes are counted
    from the roster from now on: per person, by FTE and by the states they work in."""
    clinic = await service.get_clinic(session, user, clinic_id, manage=True)
    provider = await roster.add_provider(
        session, clinic, body, actor_id=user.id, default_cap=settings.default_supervisee_cap
    )
    await session.commit()
    return ProviderRead.model_validate(provider)


@router.get(
    "/clinics/{clinic_id}/providers/{provider_id}",
    operation_id="get_clinic_provider",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_clinic_provider(
    clinic_id: uuid.UUID, provider_id: uuid.UUID, user: ClinicReader, session: SessionDep
) -> ProviderRead:
    """One person of the roster."""
    clinic = await service.get_clinic(session, user, clinic_id)
    return ProviderRead.model_validate(await roster.get_provider(session, clinic, provider_id))


@router.patch(
    "/clinics/{clinic_id}/providers/{provider_id}",
    operation_id="update_clinic_provider",
    responses=problem_responses(401, 403, 404, 422),
)
async def update_clinic_provider(
    clinic_id: uuid.UUID,
    provider_id: uuid.UUID,
    body: ProviderUpdate,
    user: ClinicAdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ProviderRead:
    """Change a person's license, FTE, locations or services (the clinic's admins)."""
    clinic = await service.get_clinic(session, user, clinic_id, manage=True)
    provider = await roster.update_provider(
        session,
        clinic,
        provider_id,
        body,
        actor_id=user.id,
        default_cap=settings.default_supervisee_cap,
    )
    await session.commit()
    return ProviderRead.model_validate(provider)


@router.delete(
    "/clinics/{clinic_id}/providers/{provider_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="remove_clinic_provider",
    responses=problem_responses(401, 403, 404, 422),
)
async def remove_clinic_provider(
    clinic_id: uuid.UUID,
    provider_id: uuid.UUID,
    user: ClinicAdminUser,
    session: SessionDep,
    settings: SettingsDep,
) -> None:
    """Take a person off the roster (the clinic's admins)."""
    clinic = await service.get_clinic(session, user, clinic_id, manage=True)
    await roster.remove_provider(
        session, clinic, provider_id, actor_id=user.id, default_cap=settings.default_supervisee_cap
    )
    await session.commit()


# --- team -----------------------------------------------------------------------------------


def _member_read(clinic_id: uuid.UUID, row: dict[str, object]) -> MemberRead:
    return MemberRead.model_validate({"clinic_id": clinic_id, **row})


async def _team_read(session: SessionDep, clinic: Clinic) -> TeamRead:
    rows, pending = await team.members(session, clinic)
    return TeamRead(
        members=[_member_read(clinic.id, r) for r in rows],
        invitations=[InvitationRead.model_validate(i) for i in pending],
    )


@router.get(
    "/clinics/{clinic_id}/team",
    operation_id="get_clinic_team",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_clinic_team(
    clinic_id: uuid.UUID, user: ClinicReader, session: SessionDep
) -> TeamRead:
    """The clinic's team (every member and operations): members with their roles, and pending
    invitations."""
    clinic = await service.get_clinic(session, user, clinic_id)
    return await _team_read(session, clinic)


@router.post(
    "/clinics/{clinic_id}/invitations",
    status_code=status.HTTP_201_CREATED,
    operation_id="invite_clinic_member",
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
async def invite_clinic_member(
    clinic_id: uuid.UUID, body: InvitationCreate, user: ClinicAdminUser, session: SessionDep
) -> InvitationRead:
    """Invite a teammate by e-mail with a role (the owner): a single-use link, valid 7 days, is
    e-mailed; a pending invitation to the same address is replaced."""
    clinic = await service.get_clinic(session, user, clinic_id, roles=service.TEAM_ROLES)
    invitation = await team.invite(
        session, clinic, email=str(body.email), role=body.role.value, actor=user
    )
    await defer_in_transaction(session, send_invitation.name, invitation_id=str(invitation.id))
    await session.commit()
    return InvitationRead.model_validate(invitation)


@router.delete(
    "/clinics/{clinic_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="revoke_clinic_invitation",
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_clinic_invitation(
    clinic_id: uuid.UUID, invitation_id: uuid.UUID, user: ClinicAdminUser, session: SessionDep
) -> None:
    """Withdraw a pending invitation (the owner)."""
    clinic = await service.get_clinic(session, user, clinic_id, roles=service.TEAM_ROLES)
    await team.revoke(session, clinic, invitation_id, actor=user)
    await session.commit()


@router.post(
    "/invitations/accept",
    operation_id="accept_clinic_invitation",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def accept_clinic_invitation(
    body: InvitationAccept, user: ClinicAdminUser, session: SessionDep
) -> MemberRead:
    """Join a clinic's team with the invitation's token (the clinic account the invitation was
    e-mailed to; once, before it expires)."""
    member = await team.accept(session, user, body.token)
    await session.commit()
    return MemberRead(
        clinic_id=member.clinic_id,
        user_id=member.user_id,
        email=user.email,
        role=MemberRole(member.role),
        created_at=member.created_at,
    )


@router.patch(
    "/clinics/{clinic_id}/members/{user_id}",
    operation_id="change_clinic_member_role",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def change_clinic_member_role(
    clinic_id: uuid.UUID,
    user_id: uuid.UUID,
    body: RoleChange,
    user: ClinicAdminUser,
    session: SessionDep,
) -> TeamRead:
    """Change a teammate's role (the owner; the owner's own role changes only by a transfer)."""
    clinic = await service.get_clinic(session, user, clinic_id, roles=service.TEAM_ROLES)
    await team.change_role(session, clinic, user_id, body.role.value, actor=user)
    await session.commit()
    return await _team_read(session, clinic)


@router.delete(
    "/clinics/{clinic_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="remove_clinic_member",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def remove_clinic_member(
    clinic_id: uuid.UUID, user_id: uuid.UUID, user: ClinicAdminUser, session: SessionDep
) -> None:
    """Remove a teammate (the owner), or leave the team yourself (anyone but the owner)."""
    leaving = user_id == user.id
    clinic = await service.get_clinic(
        session, user, clinic_id, roles=None if leaving else service.TEAM_ROLES
    )
    await team.remove(session, clinic, user_id, actor=user)
    await session.commit()


@router.post(
    "/clinics/{clinic_id}/owner",
    operation_id="transfer_clinic_ownership",
    responses=problem_responses(401, 403, 404, 422),
)
async def transfer_clinic_ownership(
    clinic_id: uuid.UUID, body: OwnershipTransfer, user: ClinicAdminUser, session: SessionDep
) -> TeamRead:
    """Hand the clinic to a teammate (the owner); the previous owner stays as an admin."""
    clinic = await service.get_clinic(session, user, clinic_id, roles=service.TEAM_ROLES)
    await team.transfer_ownership(session, clinic, body.user_id, actor=user)
    await session.commit()
    return await _team_read(session, clinic)
