"""The clinic's invoices, as mirrored from Stripe (by the webhook job and reconciliation)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.pagination import PageParams, paginate
from app.ledger.models import Invoice


async def list_invoices(
    session: AsyncSession, clinic_id: uuid.UUID, page: PageParams
) -> tuple[Sequence[Invoice], str | None]:
    stmt = select(Invoice).where(Invoice.clinic_id == clinic_id)
    return await paginate(session, stmt, page, created_at=Invoice.created_at, id_column=Invoice.id)
