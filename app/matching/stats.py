"""Offer statistics per physician (the responsiveness ranking factor)."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.matching.models import Offer, OfferStatus
from app.physicians.models import Physician


async def refresh_response_stats(session: AsyncSession) -> int:
    """Recount every physician's offers by outcome (the responsiveness factor). Run by a
    periodic job rather than on each answer, so accepting, declining and the cascade never lock
    physician rows just to keep statistics."""
    stats = (
        select(
            Offer.physician_id.label("pid"),
            func.count().label("received"),
            func.count().filter(Offer.status == OfferStatus.accepted.value).label("accepted"),
            func.count().filter(Offer.status == OfferStatus.declined.value).label("declined"),
            func.count().filter(Offer.status == OfferStatus.expired.value).label("expired"),
        )
        .group_by(Offer.physician_id)
        .subquery()
    )
    result = await session.execute(
        update(Physician)
        .where(Physician.id == stats.c.pid)
        .where(
            (Physician.offers_received != stats.c.received)
            | (Physician.offers_accepted != stats.c.accepted)
            | (Physician.offers_declined != stats.c.declined)
            | (Physician.offers_expired != stats.c.expired)
        )
        .values(
            offers_received=stats.c.received,
            offers_accepted=stats.c.accepted,
            offers_declined=stats.c.declined,
            offers_expired=stats.c.expired,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
