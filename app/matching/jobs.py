from __future__ import annotations

import uuid

import structlog

from app.jobs.queue import queue
from app.jobs.runtime import get_runtime
from app.matching import service, sweeper

log = structlog.get_logger(__name__)


@queue.periodic(cron="* * * * *", periodic_id="offer-sweeper")
@queue.task(name="matching.sweep_offers", queueing_lock="offer-sweeper")
async def sweep_offers(timestamp: int) -> dict[str, int]:
    """Every minute: expire overdue offers, lapse unconfirmed acceptances, move cascades on."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        result = await sweeper.expire_overdue(session, runtime.settings)
        await session.commit()
    if any(result.values()):
        log.info("offers_swept", **result)
    return result


@queue.task(name="matching.advance", queueing_lock="advance")
async def advance_intake(intake_id: str) -> None:
    """Move one intake's cascade on (after a decline, or on demand)."""
    runtime = get_runtime()
    async with runtime.sessionmaker() as session:
        intake, clinic = await service.lock_intake(session, uuid.UUID(intake_id))
        await service.advance(session, intake, clinic, runtime.settings)
        await session.commit()
