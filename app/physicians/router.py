from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, status

from app.auth.deps import OpsUser, PhysicianUser, SettingsDep
from app.catalog.types import UsState
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.idempotency import AppRoute, idempotent
from app.kit.openapi import DocumentedAs
from app.kit.pagination import Page, PageParams, page_params
from app.physicians import service, verification
from app.physicians.models import Physician, VerificationStatus
from app.physicians.npi import NppesClient
from app.physicians.schemas import (
    BoardCertificationCreate,
    BoardCertificationRead,
    DeaCreate,
    DeaRead,
    LicenseCreate,
    LicenseRead,
    MalpracticeCreate,
    MalpracticeRead,
    PhysicianCreate,
    PhysicianRead,
    PhysicianSummary,
    PhysicianUpdate,
    StatusChange,
    VerificationResult,
)

router = APIRouter(prefix="/v1/physicians", tags=["physicians"], route_class=AppRoute)


async def get_nppes(request: Request) -> NppesClient:
    client: NppesClient = request.app.state.nppes
    return client


def to_read(p: Physician) -> PhysicianRead:
    read = PhysicianRead.model_validate(p)
    read.states_licensed = service.verified_states(p)
    return read


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_physician_profile",
    responses=problem_responses(401, 403, 409, 422),
)
@idempotent
async def create_profile(
    body: PhysicianCreate, user: PhysicianUser, session: SessionDep
) -> PhysicianRead:
    """Create the caller's physician profile; it starts `pending` until operations verify it."""
    physician = await service.create_profile(session, user, body)
    await session.commit()
    return to_read(physician)


@router.get(
    "/me", operation_id="get_my_physician_profile", responses=problem_responses(401, 403, 404)
)
async def get_my_profile(user: PhysicianUser, session: SessionDep) -> PhysicianRead:
    """The caller's profile with its credentials and verification status."""
    return to_read(await service.get_own_profile(session, user))


@router.patch(
    "/me",
    operation_id="update_my_physician_profile",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_my_profile(
    body: PhysicianUpdate, user: PhysicianUser, session: SessionDep
) -> PhysicianRead:
    """Change any profile fields; changing the NPI or the name sends it back to verification."""
    physician = await service.get_own_profile(session, user, for_update=True)
    physician = await service.update_profile(session, physician, body, actor_id=user.id)
    await session.commit()
    return to_read(physician)


@router.post(
    "/me/licenses",
    status_code=status.HTTP_201_CREATED,
    operation_id="add_license",
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
async def add_license(body: LicenseCreate, user: PhysicianUser, session: SessionDep) -> LicenseRead:
    """Add a state license; it counts for matching once verified."""
    physician = await service.get_own_profile(session, user)
    lic = await service.add_license(session, physician, body, actor_id=user.id)
    await session.commit()
    return LicenseRead.model_validate(lic)


@router.post(
    "/me/dea",
    status_code=status.HTTP_201_CREATED,
    operation_id="add_dea_registration",
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
async def add_dea(body: DeaCreate, user: PhysicianUser, session: SessionDep) -> DeaRead:
    """Add a DEA registration (needed where controlled substances are prescribed)."""
    physician = await service.get_own_profile(session, user)
    dea = await service.add_dea(session, physician, body, actor_id=user.id)
    await session.commit()
    return DeaRead.model_validate(dea)


@router.post(
    "/me/malpractice",
    status_code=status.HTTP_201_CREATED,
    operation_id="add_malpractice_policy",
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
async def add_malpractice(
    body: MalpracticeCreate, user: PhysicianUser, session: SessionDep
) -> MalpracticeRead:
    """Add a malpractice policy covering the medical-director role."""
    physician = await service.get_own_profile(session, user)
    policy = await service.add_malpractice(session, physician, body, actor_id=user.id)
    await session.commit()
    return MalpracticeRead.model_validate(policy)


@router.post(
    "/me/board-certifications",
    status_code=status.HTTP_201_CREATED,
    operation_id="add_board_certification",
    responses=problem_responses(401, 403, 404, 409, 422),
)
@idempotent
async def add_board_certification(
    body: BoardCertificationCreate, user: PhysicianUser, session: SessionDep
) -> BoardCertificationRead:
    """Add a specialty board certification (or eligibility). It counts once operations verify
    the physician; rules that need board certification (Florida's satellite offices) read it."""
    physician = await service.get_own_profile(session, user)
    cert = await service.add_board_certification(session, physician, body, actor_id=user.id)
    await session.commit()
    return BoardCertificationRead.model_validate(cert)


@router.get("", operation_id="list_physicians", responses=problem_responses(401, 403, 422))
async def list_physicians(
    _ops: OpsUser,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    state: Annotated[UsState | None, Query(description="Holds a license there")] = None,
    verification_status: Annotated[
        Literal["pending", "verified", "rejected", "suspended"], DocumentedAs(VerificationStatus)
    ]
    | None = None,
) -> Page[PhysicianSummary]:
    """Physicians, newest first (operations)."""
    rows, cursor = await service.list_physicians(
        session, page, state=state, verification_status=verification_status
    )
    items = []
    for p in rows:
        summary = PhysicianSummary.model_validate(p)
        summary.states_licensed = service.verified_states(p)
        items.append(summary)
    return Page(items=items, next_cursor=cursor)


@router.get(
    "/{physician_id}", operation_id="get_physician", responses=problem_responses(401, 403, 404, 422)
)
async def get_physician(
    physician_id: uuid.UUID, _ops: OpsUser, session: SessionDep
) -> PhysicianRead:
    """One physician's full profile (operations)."""
    return to_read(await service.get_physician(session, physician_id))


@router.post(
    "/{physician_id}/verify",
    operation_id="verify_physician",
    responses=problem_responses(401, 403, 404, 409, 422, 503),
)
async def verify(
    physician_id: uuid.UUID,
    ops: OpsUser,
    session: SessionDep,
    nppes: Annotated[NppesClient, Depends(get_nppes)],
    settings: SettingsDep,
) -> VerificationResult:
    """Check the NPI (check digit and NPPES registry: an individual MD/DO whose last name
    matches) and require a current license and malpractice cover meeting the minimums. On
    success the identity is verified; each credential stays pending until its source backs it
    (a state board look-up, or a document operations approve: docs/credentials.md). Registry
    unreachable → 503, nothing changes."""
    physician = await verification.verify_physician(
        session, physician_id, nppes, actor_id=ops.id, settings=settings
    )
    await session.commit()
    return VerificationResult(
        verification_status=VerificationStatus(physician.verification_status),
        reasons=physician.verification_reasons,
    )


@router.post(
    "/{physician_id}/suspend",
    operation_id="suspend_physician",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def suspend(
    physician_id: uuid.UUID,
    body: StatusChange,
    ops: OpsUser,
    session: SessionDep,
    settings: SettingsDep,
) -> PhysicianRead:
    """Suspend a physician: no new offers until reinstated; every engagement they direct loses
    them today and starts a replacement search (clinic and operations notified)."""
    physician = await verification.suspend_physician(
        session, physician_id, reason=body.reason, actor_id=ops.id, settings=settings
    )
    await session.commit()
    return to_read(physician)


@router.post(
    "/{physician_id}/reinstate",
    operation_id="reinstate_physician",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def reinstate(
    physician_id: uuid.UUID, body: StatusChange, ops: OpsUser, session: SessionDep
) -> PhysicianRead:
    """Lift a suspension; the physician returns to the status they had before it."""
    physician = await verification.reinstate_physician(
        session, physician_id, reason=body.reason, actor_id=ops.id
    )
    await session.commit()
    return to_read(physician)
