"""HTTP for the filings state rules oblige: each party's list, operations' list across every
clinic, and marking a filing done."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from app.auth.deps import CurrentUser, OpsUser, PhysicianUser
from app.clinics.models import Clinic
from app.db import SessionDep
from app.documents import filings
from app.documents.filings import FilingDue, FilingRow
from app.documents.filings_schemas import FilingComplete, FilingRead
from app.documents.models import FilingStatus
from app.engagements.service import get_engagement
from app.errors import problem_responses
from app.kit.clock import today
from app.kit.idempotency import AppRoute
from app.kit.pagination import Page, PageParams, page_params
from app.physicians.service import get_own_profile

router = APIRouter(prefix="/v1", tags=["filings"], route_class=AppRoute)
PageDep = Annotated[PageParams, Depends(page_params)]


def _page(rows: list[FilingRow], cursor: str | None) -> Page[FilingRead]:
    on = today()
    return Page(
        items=[FilingRead.of(filing, name, on=on) for filing, name in rows], next_cursor=cursor
    )


@router.get(
    "/engagements/{engagement_id}/filings",
    operation_id="list_engagement_filings",
    responses=problem_responses(401, 404, 422),
)
async def engagement_filings(
    engagement_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[FilingRead]:
    """The state filings the engagement's agreements oblige, soonest deadline first (those
    without a deadline last): for the clinic's team, the engagement's directors and
    operations."""
    engagement = await get_engagement(session, user, engagement_id)
    return _page(*await filings.list_for_engagement(session, engagement.id, page))


@router.get(
    "/physicians/me/filings",
    operation_id="my_filings",
    responses=problem_responses(401, 403, 404, 422),
)
async def my_filings(user: PhysicianUser, session: SessionDep, page: PageDep) -> Page[FilingRead]:
    """The state filings on the caller's engagements, those they owe and those the clinic
    owes, soonest deadline first."""
    await get_own_profile(session, user)
    return _page(*await filings.list_for_physician(session, user, page))


@router.get("/filings", operation_id="list_filings", responses=problem_responses(401, 403, 422))
async def list_filings(
    user: OpsUser,
    session: SessionDep,
    page: PageDep,
    status: Annotated[FilingStatus | None, Query()] = None,
    due: Annotated[
        FilingDue | None,
        Query(description="Open filings past due, due within 7 days, or without a deadline"),
    ] = None,
    state: Annotated[str | None, Query(pattern="^[A-Z]{2}$")] = None,
) -> Page[FilingRead]:
    """Operations: every clinic's state filings, soonest deadline first (those without a
    deadline last), with the clinic's name and the days left or overdue."""
    return _page(*await filings.list_all(session, page, status=status, due=due, state=state))


@router.post(
    "/filings/{filing_id}/complete",
    operation_id="complete_filing",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def complete_filing(
    filing_id: uuid.UUID, body: FilingComplete, user: CurrentUser, session: SessionDep
) -> FilingRead:
    """Mark a filing done, with the day it was filed and the board's reference: by the party
    who owes it (the director, or an owner or admin of the clinic) or operations."""
    filing = await filings.complete_filing(
        session, filing_id, user=user, filed_on=body.filed_on, reference=body.reference
    )
    name = await session.scalar(select(Clinic.legal_name).where(Clinic.id == filing.clinic_id))
    await session.commit()
    return FilingRead.of(filing, name or "", on=today())
