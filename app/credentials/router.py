from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from app.auth.deps import OpsUser, PhysicianUser
from app.config import Settings
from app.credentials import checking, exclusions, provenance, review
from app.credentials.models import ExclusionImport, ReviewKind, ReviewStatus
from app.credentials.schemas import (
    CredentialCheckRead,
    CredentialChecks,
    CredentialStandingRead,
    ExclusionImportRead,
    ReviewDecision,
    ReviewItemRead,
)
from app.credentials.standing import standing_of
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.idempotency import AppRoute
from app.kit.pagination import Page, PageParams, page_params, paginate
from app.physicians.service import get_own_profile, get_physician

router = APIRouter(prefix="/v1", tags=["credentials"], route_class=AppRoute)
# The review decisions these modules register: exclusion matches (approve: confirmed excluded;
# reject: not the same person) and licenses the board shows with disciplinary actions.
_HANDLERS = (exclusions, checking)
PageDep = Annotated[PageParams, Depends(page_params)]


async def _checks(
    session: SessionDep, physician_id: uuid.UUID, settings: Settings
) -> CredentialChecks:
    history = await provenance.checks_of(session, physician_id)
    latest = provenance.latest_by_credential(history)
    standing = await standing_of(session, physician_id, latest, settings)
    return CredentialChecks(
        credentials=[CredentialStandingRead.model_validate(s) for s in standing],
        latest=[CredentialCheckRead.model_validate(c) for c in latest.values()],
        history=[CredentialCheckRead.model_validate(c) for c in history],
    )


@router.get(
    "/physicians/me/credential-checks",
    operation_id="my_credential_checks",
    responses=problem_responses(401, 403, 404),
)
async def my_checks(user: PhysicianUser, session: SessionDep, request: Request) -> CredentialChecks:
    """Each of the caller's credentials as it stands and what verifies it; what was checked
    about each, against what, and when."""
    physician = await get_own_profile(session, user)
    return await _checks(session, physician.id, request.app.state.settings)


@router.get(
    "/physicians/{physician_id}/credential-checks",
    operation_id="physician_credential_checks",
    responses=problem_responses(401, 403, 404, 422),
)
async def physician_checks(
    physician_id: uuid.UUID, user: OpsUser, session: SessionDep, request: Request
) -> CredentialChecks:
    """Operations: a physician's credentials as they stand and their checks."""
    physician = await get_physician(session, physician_id)
    return await _checks(session, physician.id, request.app.state.settings)


@router.get(
    "/exclusion-imports",
    operation_id="list_exclusion_imports",
    responses=problem_responses(401, 403, 422),
)
async def list_exclusion_imports(
    user: OpsUser, session: SessionDep, page: PageDep
) -> Page[ExclusionImportRead]:
    """Operations: the exclusion-list files imported, newest first (the first is current)."""
    rows, cursor = await paginate(
        session,
        select(ExclusionImport),
        page,
        created_at=ExclusionImport.imported_at,
        id_column=ExclusionImport.id,
    )
    return Page(items=[ExclusionImportRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/review-items", operation_id="list_review_items", responses=problem_responses(401, 403, 422)
)
async def list_items(
    user: OpsUser,
    session: SessionDep,
    page: PageDep,
    status: Annotated[ReviewStatus | None, Query()] = ReviewStatus.open,
    kind: Annotated[ReviewKind | None, Query()] = None,
) -> Page[ReviewItemRead]:
    """Operations' review queue (open items by default), newest first."""
    rows, cursor = await review.list_items(session, page, status=status, kind=kind)
    return Page(items=[ReviewItemRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get(
    "/review-items/{review_item_id}",
    operation_id="get_review_item",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_item(review_item_id: uuid.UUID, user: OpsUser, session: SessionDep) -> ReviewItemRead:
    return ReviewItemRead.model_validate(await review.get_item(session, review_item_id))


@router.post(
    "/review-items/{review_item_id}/decision",
    operation_id="decide_review_item",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def decide(
    review_item_id: uuid.UUID, body: ReviewDecision, user: OpsUser, session: SessionDep
) -> ReviewItemRead:
    """Approve or reject an open item, with the reason (audited; the physician is told)."""
    item = await review.decide(
        session,
        review_item_id,
        approve=body.decision == "approve",
        reason=body.reason,
        reviewer_id=user.id,
    )
    await session.commit()
    return ReviewItemRead.model_validate(item)
