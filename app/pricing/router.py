from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from app.auth.deps import OpsUser, SettingsDep, require_role
from app.auth.models import Role, User
from app.clinics import service as clinics
from app.db import SessionDep
from app.errors import problem_responses
from app.kit.idempotency import AppRoute
from app.kit.ratelimit import rate_limit
from app.pricing import service
from app.pricing.price_book import PriceBook
from app.pricing.schemas import (
    PriceBookList,
    PriceBookRead,
    PublishedPriceBook,
    QuoteRead,
    QuoteRequest,
)

router = APIRouter(prefix="/v1", tags=["quotes"], route_class=AppRoute)

ClinicReader = Annotated[User, Depends(require_role(Role.clinic_admin, Role.ops_admin))]


@router.post(
    "/quotes",
    operation_id="instant_quote",
    dependencies=[Depends(rate_limit("quotes", "rate_limit_quotes"))],
    responses=problem_responses(422, 429),
)
async def instant_quote(
    body: QuoteRequest, session: SessionDep, settings: SettingsDep
) -> QuoteRead:
    """An itemized monthly price at once, with compliance flags; nothing is stored."""
    return await service.instant_quote(
        session,
        body,
        default_cap=settings.default_supervisee_cap,
        cache_ttl=settings.reference_cache_seconds,
    )


@router.get(
    "/intakes/{intake_id}/quote",
    operation_id="get_intake_quote",
    responses=problem_responses(401, 403, 404, 422),
)
async def get_intake_quote(
    intake_id: uuid.UUID, user: ClinicReader, session: SessionDep
) -> QuoteRead:
    """The quote persisted when the intake was (last) submitted."""
    intake, _ = await clinics.get_intake(session, user, intake_id)
    return service.quote_read(await service.latest_quote(session, intake.id))


@router.get("/price-books/current", operation_id="get_current_price_book")
async def current_price_book(session: SessionDep) -> PublishedPriceBook:
    """The price book new quotes use."""
    book = await service.current_price_book(session)
    return PublishedPriceBook.model_validate(book.model_dump())


@router.get("/price-books", operation_id="list_price_books", responses=problem_responses(401, 403))
async def list_price_books(_ops: OpsUser, session: SessionDep) -> PriceBookList:
    """Every published price book, newest first (operations)."""
    rows = await service.list_price_books(session)
    return PriceBookList(
        items=[
            PriceBookRead(
                version=r.version, published_at=r.published_at, notes=r.notes, data=r.data
            )
            for r in rows
        ]
    )


@router.post(
    "/price-books",
    status_code=status.HTTP_201_CREATED,
    operation_id="publish_price_book",
    responses=problem_responses(401, 403, 409, 422),
)
async def publish_price_book(body: PriceBook, ops: OpsUser, session: SessionDep) -> PriceBookRead:
    """Publish a new price book version; quotes from now on use it (audited)."""
    row = await service.publish_price_book(session, body, actor_id=ops.id)
    await session.commit()
    return PriceBookRead(
        version=row.version, published_at=row.published_at, notes=row.notes, data=row.data
    )
